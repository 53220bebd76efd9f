//! The one table of provider settings: each setting's canonical key (the TOML file's), how every shape
//! spells it (`CONNECTIVLY_SESSION_TTL`, `session_ttl=`, `sessionTtl`), and how a value is read into
//! [`Config`]. Adapters hand over the (name, value) pairs the user wrote; unknown names are refused with
//! the nearest known one, and every error names the setting the way the user wrote it.

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::SigningAlg;
use crate::scopes::ScopeDef;

/// Where a setting was written; it decides how the setting is spelled in messages and how strictly
/// a value is typed (the environment and files carry numbers as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `CONNECTIVLY_SESSION_TTL=900`.
    Env,
    /// `session_ttl = 900` in the server's TOML file.
    File,
    /// `Provider(..., session_ttl=900)`.
    Python,
    /// `Provider.open({ sessionTtl: 900 })`.
    Node,
}

/// One provider setting.
pub struct Setting {
    /// The TOML key, the base of every other spelling.
    pub key: &'static str,
    /// The keyword in the bindings where it differs from the key (`login_url`, `database`).
    binding: Option<&'static str>,
    apply: fn(&mut Config, &Input<'_>) -> std::result::Result<(), Bad>,
}

/// Why a value was refused: its type (a string for a number) or the value itself.
enum Bad {
    Type(String),
    Value(String),
}

impl From<String> for Bad {
    fn from(s: String) -> Bad {
        Bad::Value(s)
    }
}

impl From<&str> for Bad {
    fn from(s: &str) -> Bad {
        Bad::Value(s.to_string())
    }
}

impl Setting {
    /// The setting as a user of `shape` writes it.
    pub fn name(&self, shape: Shape) -> String {
        match shape {
            Shape::Env => format!("CONNECTIVLY_{}", self.key.to_ascii_uppercase()),
            Shape::File => self.key.to_string(),
            Shape::Python => self.binding.unwrap_or(self.key).to_string(),
            Shape::Node => camel(self.binding.unwrap_or(self.key)),
        }
    }

    /// Reads `value` into `config`. `null` leaves the default (an omitted JS field, Python `None`).
    pub fn apply(&self, config: &mut Config, shape: Shape, value: &Value) -> Result<()> {
        if value.is_null() {
            return Ok(());
        }
        let input = Input { value, lenient: matches!(shape, Shape::Env | Shape::File) };
        (self.apply)(config, &input).map_err(|bad| match bad {
            Bad::Type(detail) => Error::setting(self.key, detail).as_argument_error().for_shape(shape),
            Bad::Value(detail) => Error::setting(self.key, detail).for_shape(shape),
        })
    }
}

/// Settings of the standalone server only, in its file and environment; a binding that receives one
/// says so instead of "unknown".
pub const SERVER_ONLY: &[&str] = &["port", "bind", "demo_redirect_uri", "metrics_port", "shutdown_timeout"];

/// The standalone server's environment-only variables (without the prefix): read before any file.
pub const SERVER_ENV_ONLY: &[&str] = &["log", "log_format", "config"];

/// Every setting of the core, in the order the documentation lists them.
pub fn all() -> &'static [Setting] {
    SETTINGS
}

/// The setting a `shape` user calls `name`.
pub fn lookup(name: &str, shape: Shape) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name(shape) == name)
}

/// The message for a name no setting has: the nearest known spelling, or the shape's spelling when
/// the user wrote another shape's (`access_token_ttl` in Node), or a word that the setting belongs to
/// the server. `extra` are names the adapter knows besides the core's (the server's own settings).
pub fn unknown(name: &str, shape: Shape, extra: &[String]) -> Error {
    if shape != Shape::File && shape != Shape::Env {
        let key = snake(name);
        if SERVER_ONLY.contains(&key.as_str()) || SERVER_ENV_ONLY.contains(&key.as_str()) {
            return Error::config(format!(
                "{name} is a setting of the standalone server (CONNECTIVLY_{}); an embedded provider has no use for it",
                key.to_ascii_uppercase()
            ));
        }
    }
    let hint = suggestion(name, shape, extra);
    let what = match shape {
        Shape::Env => "unknown setting",
        Shape::File => "unknown setting",
        Shape::Python | Shape::Node => "unknown option",
    };
    match hint {
        Some(h) => Error::config(format!("{what} {name:?}; did you mean {h:?}?")),
        None => Error::config(format!("{what} {name:?}")),
    }
}

/// The name a user of `shape` most likely meant by `name`: this shape's spelling when `name` is another
/// shape's (`access_token_ttl` in Node, `redirectUrl`), else the nearest known name, `extra` included.
pub fn suggestion(name: &str, shape: Shape, extra: &[String]) -> Option<String> {
    let other = SETTINGS.iter().find(|s| {
        [Shape::Env, Shape::File, Shape::Python, Shape::Node].iter().any(|o| s.name(*o) == name) || camel(s.key) == name // `redirectUrl`: the server's name, camel-cased
    });
    if let Some(s) = other {
        return Some(s.name(shape));
    }
    let mut known: Vec<String> = SETTINGS.iter().map(|s| s.name(shape)).collect();
    known.extend(extra.iter().cloned());
    nearest(name, &known).map(str::to_string)
}

/// The known name closest to `given` when it is plausibly a typo of it (case, a dropped, doubled or
/// swapped letter, `-` for `_`).
pub fn nearest<'a>(given: &str, known: &'a [String]) -> Option<&'a str> {
    // Compared without the common prefix, which would make short names look alike
    // (`CONNECTIVLY_URL` is not a typo of `CONNECTIVLY_LOG`).
    let norm = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.strip_prefix("connectivly_").unwrap_or(&s).replace(['-', '_'], "")
    };
    let g = norm(given);
    known
        .iter()
        .map(|k| (distance(&g, &norm(k)), norm(k).len(), k))
        .filter(|(d, len, _)| *d <= (len / 4).clamp(1, 3))
        .map(|(d, _, k)| (d, k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A setting's canonical name as `shape` spells it, for messages about settings the table may not hold.
pub fn display(canonical: &str, shape: Shape) -> String {
    match SETTINGS.iter().find(|s| s.key == canonical) {
        Some(s) => s.name(shape),
        None => match shape {
            Shape::Env => format!("CONNECTIVLY_{}", canonical.to_ascii_uppercase()),
            Shape::File | Shape::Python => canonical.to_string(),
            Shape::Node => camel(canonical),
        },
    }
}

/// A value on its way into [`Config`].
struct Input<'a> {
    value: &'a Value,
    /// Text may stand for numbers and yes/no (environment variables, and the file for compatibility).
    lenient: bool,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Input<'_> {
    fn text(&self) -> std::result::Result<String, Bad> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) if self.lenient => Ok(n.to_string()),
            v => Err(Bad::Type(format!("must be a string, not {}", kind_of(v)))),
        }
    }

    fn int(&self, what: &str) -> std::result::Result<i64, Bad> {
        match self.value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
                .ok_or_else(|| Bad::Value(format!("must be a whole number of {what}, not {n}"))),
            Value::String(s) if self.lenient => s
                .trim()
                .parse()
                .map_err(|_| Bad::Value(format!("must be a whole number of {what}, not {:?}", s.trim()))),
            v => Err(Bad::Type(format!("must be a number of {what}, not {}", kind_of(v)))),
        }
    }

    fn flag(&self) -> std::result::Result<bool, Bad> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) if self.lenient && (n.as_u64() == Some(0) || n.as_u64() == Some(1)) => {
                Ok(n.as_u64() == Some(1))
            }
            Value::String(s) if self.lenient => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(Bad::Value(format!("must be true or false, not {:?}", s.trim()))),
            },
            v => Err(Bad::Type(format!("must be true or false, not {}", kind_of(v)))),
        }
    }

    fn alg(&self) -> std::result::Result<SigningAlg, Bad> {
        let s = self.text()?;
        SigningAlg::parse_any_case(s.trim())
            .ok_or_else(|| Bad::Value(format!(": {:?} is not a supported algorithm (RS256, ES256, EdDSA)", s.trim())))
    }

    fn scopes(&self) -> std::result::Result<Vec<ScopeDef>, Bad> {
        match self.value {
            Value::String(s) if self.lenient => parse_scope_list(s).map_err(Bad::Value),
            Value::Object(map) => map
                .iter()
                .map(|(name, d)| match d {
                    Value::String(d) if !d.trim().is_empty() => Ok(ScopeDef::new(name, d.trim())),
                    Value::String(_) => {
                        Err(Bad::Value(format!(": scope {name:?} needs a description (the consent page shows it)")))
                    }
                    v => Err(Bad::Type(format!(
                        ": the description of scope {name:?} must be a string, not {}",
                        kind_of(v)
                    ))),
                })
                .collect(),
            v => Err(Bad::Type(format!("must map each scope name to its description, not {}", kind_of(v)))),
        }
    }
}

/// `photos:read=Read your photos;photos:write=Upload photos`, the environment's form.
fn parse_scope_list(s: &str) -> std::result::Result<Vec<ScopeDef>, String> {
    s.split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let Some((name, description)) = entry.split_once('=') else {
                return Err(format!(
                    ": entry {entry:?} has no description: write {entry}=What it lets the app do \
                     (the consent page shows it)"
                ));
            };
            let (name, description) = (name.trim(), description.trim());
            if name.is_empty() {
                return Err(format!(": entry {entry:?} has no scope name"));
            }
            if description.is_empty() {
                return Err(format!(": scope {name:?} needs a description (the consent page shows it)"));
            }
            Ok(ScopeDef::new(name, description))
        })
        .collect()
}

fn u32_of(n: i64, what: &str) -> std::result::Result<u32, Bad> {
    u32::try_from(n).map_err(|_| Bad::Value(format!("must be from 0 to {} {what}", u32::MAX)))
}

macro_rules! setting {
    // `$body` assigns the setting (returning early with an error if need be).
    ($key:literal, |$c:ident, $v:ident| $body:expr) => {
        Setting {
            key: $key,
            binding: None,
            apply: |$c, $v| {
                $body;
                Ok(())
            },
        }
    };
    ($key:literal as $binding:literal, |$c:ident, $v:ident| $body:expr) => {
        Setting {
            key: $key,
            binding: Some($binding),
            apply: |$c, $v| {
                $body;
                Ok(())
            },
        }
    };
}

static SETTINGS: &[Setting] = &[
    setting!("redirect_url" as "login_url", |c, v| c.login_url = v.text()?),
    setting!("issuer", |c, v| c.issuer = v.text()?),
    setting!("database_url" as "database", |c, v| c.database_url = v.text()?),
    setting!("database_max_connections", |c, v| {
        let n = v.int("connections")?;
        c.database_max_connections =
            Some(u32::try_from(n).map_err(|_| Bad::Value(format!("must be from 1 to {} connections", u32::MAX)))?);
    }),
    setting!("database_acquire_timeout", |c, v| {
        let n = v.int("seconds")?;
        c.database_acquire_timeout = Some(u64::try_from(n).map_err(|_| Bad::from("must be at least 1 second"))?);
    }),
    setting!("api_key", |c, v| c.api_key = Some(v.text()?)),
    setting!("provider_name", |c, v| c.provider_name = v.text()?),
    setting!("provider_logo_uri", |c, v| c.provider_logo_uri = Some(v.text()?)),
    setting!("accent_color", |c, v| c.accent_color = v.text()?.trim().to_string()),
    setting!("scopes", |c, v| c.scopes = v.scopes()?),
    setting!("signing_alg", |c, v| c.signing_alg = v.alg()?),
    setting!("access_token_signing_alg", |c, v| c.access_token_signing_alg = Some(v.alg()?)),
    setting!("audience", |c, v| c.audience = Some(v.text()?)),
    setting!("session_ttl", |c, v| c.session_ttl = v.int("seconds")?),
    setting!("code_ttl", |c, v| c.code_ttl = v.int("seconds")?),
    setting!("access_token_ttl", |c, v| c.access_token_ttl = v.int("seconds")?),
    setting!("id_token_ttl", |c, v| c.id_token_ttl = v.int("seconds")?),
    setting!("refresh_token_ttl", |c, v| c.refresh_token_ttl = v.int("seconds")?),
    setting!("refresh_reuse_grace", |c, v| c.refresh_reuse_grace = v.int("seconds")?),
    setting!("key_rotation_interval", |c, v| {
        let i = v.int("seconds")?;
        if i < 0 {
            return Err("must be a number of seconds (0 = rotate on demand only)".into());
        }
        c.key_rotation_interval = (i > 0).then_some(i);
    }),
    setting!("secret", |c, v| c.secret = Some(v.text()?)),
    setting!("registration_token", |c, v| c.registration_token = Some(v.text()?)),
    setting!("failed_auth_limit_per_client", |c, v| {
        c.failed_auth_limit_per_client = u32_of(v.int("failures")?, "failures (0 = no limit)")?
    }),
    setting!("failed_limit_per_address", |c, v| {
        c.failed_limit_per_address = u32_of(v.int("failures")?, "failures (0 = no limit)")?
    }),
    setting!("require_pkce", |c, v| c.require_pkce = v.flag()?),
    setting!("allow_readable_database", |c, v| c.allow_readable_database = v.flag()?),
];

impl Config {
    /// A configuration from the settings a binding's user wrote (`issuer` and the login URL among
    /// them), every name checked against the table. Errors name settings as `shape` spells them; an
    /// unknown name or a value of the wrong type is an [argument error](Error::is_argument_error).
    pub fn from_settings<'a>(shape: Shape, pairs: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Result<Config> {
        let mut config = Config::new("", "");
        for (name, value) in pairs {
            let setting = lookup(name, shape).ok_or_else(|| unknown(name, shape, &[]).as_argument_error())?;
            setting.apply(&mut config, shape, value)?;
        }
        if config.issuer.is_empty() {
            return Err(Error::setting("issuer", "is required").for_shape(shape));
        }
        if config.login_url.is_empty() {
            return Err(Error::setting("redirect_url", "is required").for_shape(shape));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_per_shape() {
        let s = lookup("session_ttl", Shape::File).unwrap();
        assert_eq!(s.name(Shape::Env), "CONNECTIVLY_SESSION_TTL");
        assert_eq!(s.name(Shape::Node), "sessionTtl");
        assert_eq!(lookup("loginUrl", Shape::Node).unwrap().name(Shape::Env), "CONNECTIVLY_REDIRECT_URL");
        assert_eq!(lookup("database", Shape::Python).unwrap().key, "database_url");
        assert!(lookup("redirect_url", Shape::Python).is_none());
    }

    #[test]
    fn typos_get_the_nearest_name() {
        let m = |n: &str, s: Shape| unknown(n, s, &[]).message().to_string();
        assert!(
            m("acess_token_ttl", Shape::File).contains("did you mean \"access_token_ttl\"?"),
            "{}",
            m("acess_token_ttl", Shape::File)
        );
        assert!(m("sesionTtl", Shape::Node).contains("\"sessionTtl\""));
        assert!(m("session_ttl", Shape::Node).contains("\"sessionTtl\""), "another shape's spelling");
        assert!(m("redirect_url", Shape::Python).contains("\"login_url\""));
        assert!(m("redirectUrl", Shape::Node).contains("\"loginUrl\""));
        assert!(m("databaseUrl", Shape::Node).contains("\"database\""));
        assert!(m("port", Shape::Python).contains("standalone server"));
        assert!(!m("completely_different", Shape::File).contains("did you mean"));
    }

    #[test]
    fn values_are_typed_and_errors_name_the_setting() {
        let bad = |shape, name: &str, v: Value| {
            Config::from_settings(
                shape,
                [("issuer", &json!("https://id.example")), ("loginUrl", &json!("/l")), (name, &v)],
            )
            .unwrap_err()
            .message()
            .to_string()
        };
        let e = bad(Shape::Node, "sessionTtl", json!("900"));
        assert_eq!(e, "sessionTtl must be a number of seconds, not a string");
        let wrong = Config::from_settings(
            Shape::Node,
            [("issuer", &json!("https://id.example")), ("loginUrl", &json!("/l")), ("requirePkce", &json!("yes"))],
        )
        .unwrap_err();
        assert!(wrong.is_argument_error(), "a string for a boolean is a type error in a binding");
        let e = Config::from_settings(Shape::Node, [("sesionTtl", &json!(1))]).unwrap_err();
        assert!(e.is_argument_error() && e.message().ends_with("did you mean \"sessionTtl\"?"), "{}", e.message());
        let e = bad(Shape::Node, "signingAlg", json!("es512"));
        assert!(e.starts_with("signingAlg: \"es512\" is not a supported"), "{e}");
        let c = Config::from_settings(
            Shape::Node,
            [
                ("issuer", &json!("https://id.example")),
                ("loginUrl", &json!("/l")),
                ("signingAlg", &json!("es256")),
                ("failedLimitPerAddress", &json!(0)),
                ("keyRotationInterval", &json!(0)),
            ],
        )
        .unwrap();
        assert_eq!(c.signing_alg, SigningAlg::ES256);
        assert_eq!((c.failed_limit_per_address, c.key_rotation_interval), (0, None));
        let e = Config::from_settings(Shape::Python, [("issuer", &json!("https://id.example"))]).unwrap_err();
        assert_eq!(e.message(), "login_url is required");
    }

    #[test]
    fn env_text_and_scope_descriptions() {
        let mut c = Config::new("https://id.example", "/l");
        let s = lookup("scopes", Shape::File).unwrap();
        let e = s.apply(&mut c, Shape::Env, &json!("photos:read")).unwrap_err();
        assert!(
            e.message().starts_with("CONNECTIVLY_SCOPES: entry \"photos:read\" has no description"),
            "{}",
            e.message()
        );
        s.apply(&mut c, Shape::Env, &json!("photos:read=See photos; photos:write=Upload")).unwrap();
        assert_eq!(c.scopes[1].description, "Upload");
        lookup("session_ttl", Shape::File).unwrap().apply(&mut c, Shape::Env, &json!(" 600 ")).unwrap();
        assert_eq!(c.session_ttl, 600);
        let e = lookup("require_pkce", Shape::File).unwrap().apply(&mut c, Shape::File, &json!("maybe")).unwrap_err();
        assert_eq!(e.message(), "require_pkce must be true or false, not \"maybe\"");
    }

    #[test]
    fn nearest_is_conservative() {
        let known: Vec<String> = ["port", "bind", "issuer"].iter().map(|s| s.to_string()).collect();
        assert_eq!(nearest("prot", &known), Some("port"));
        assert_eq!(nearest("ISSUER", &known), Some("issuer"));
        assert_eq!(nearest("xyz", &known), None);
        let env: Vec<String> =
            ["CONNECTIVLY_LOG", "CONNECTIVLY_PORT", "CONNECTIVLY_ACCESS_TOKEN_TTL"].map(String::from).into();
        assert_eq!(nearest("CONNECTIVLY_URL", &env), None, "the README host's own variable");
        assert_eq!(nearest("CONNECTIVLY_ACESS_TOKEN_TTL", &env), Some("CONNECTIVLY_ACCESS_TOKEN_TTL"));
    }
}

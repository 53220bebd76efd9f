//! Server configuration: `CONNECTIVLY_*` environment variables (names shared with the original
//! connectivly where one existed) over an optional TOML file whose keys are the same names in lower
//! case without the prefix (`redirect_url = "..."`). The environment wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use connectivly::{Config, Error, Result, ScopeDef, SigningAlg};

/// Server-only settings around the core [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub core: Config,
    pub port: u16,
    pub bind: String,
    /// Redirect URI registered for the two demo clients created on first run.
    pub demo_redirect_uri: String,
    /// Serve `/metrics` on this separate port (bound to `bind`) instead of the main one.
    pub metrics_port: Option<u16>,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_timeout: std::time::Duration,
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
}

/// Where settings come from: the environment first, then the file.
struct Source {
    file: HashMap<String, String>,
    file_scopes: Option<Vec<ScopeDef>>,
}

thread_local! {
    static SOURCE: std::cell::RefCell<Option<Source>> = const { std::cell::RefCell::new(None) };
}

/// A setting by its env-var name without the prefix (`REDIRECT_URL`).
fn var(name: &str) -> Option<String> {
    if let Some(v) = std::env::var(format!("CONNECTIVLY_{name}")).ok().filter(|v| !v.trim().is_empty()) {
        return Some(v);
    }
    SOURCE.with(|s| s.borrow().as_ref().and_then(|src| src.file.get(&name.to_ascii_lowercase()).cloned()))
}

/// Known keys of the file, so a typo is an error rather than a silently ignored setting.
const FILE_KEYS: &[&str] = &[
    "redirect_url",
    "issuer",
    "port",
    "bind",
    "database_url",
    "database_max_connections",
    "database_acquire_timeout",
    "api_key",
    "provider_name",
    "provider_logo_uri",
    "accent_color",
    "signing_alg",
    "access_token_signing_alg",
    "audience",
    "session_ttl",
    "code_ttl",
    "access_token_ttl",
    "id_token_ttl",
    "refresh_token_ttl",
    "refresh_reuse_grace",
    "key_rotation_interval",
    "secret",
    "registration_token",
    "failed_auth_limit_per_client",
    "failed_limit_per_address",
    "require_pkce",
    "allow_readable_database",
    "scopes",
    "demo_redirect_uri",
    "metrics_port",
    "shutdown_timeout",
];

fn load_file(path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read the configuration file {}: {e}", path.display())))?;
    let table: toml::Table =
        text.parse().map_err(|e| Error::config(format!("{} is not valid TOML: {e}", path.display())))?;
    let mut file = HashMap::new();
    let mut file_scopes = None;
    for (k, v) in table {
        if !FILE_KEYS.contains(&k.as_str()) {
            return Err(Error::config(format!("unknown setting {k:?} in {}", path.display())));
        }
        match (k.as_str(), v) {
            ("scopes", toml::Value::Table(t)) => {
                let mut defs = Vec::new();
                for (name, desc) in t {
                    let desc =
                        desc.as_str().ok_or_else(|| Error::config("scopes: each value is a description string"))?;
                    defs.push(ScopeDef::new(name, desc));
                }
                file_scopes = Some(defs);
            }
            ("scopes", toml::Value::String(s)) => file_scopes = Some(parse_scopes(&s)?),
            (_, toml::Value::String(s)) => {
                file.insert(k, s);
            }
            (_, toml::Value::Integer(i)) => {
                file.insert(k, i.to_string());
            }
            (_, toml::Value::Boolean(b)) => {
                file.insert(k, b.to_string());
            }
            (k, _) => return Err(Error::config(format!("setting {k:?} must be a string or a number"))),
        }
    }
    Ok(Source { file, file_scopes })
}

/// The file to read: `--config`, else `CONNECTIVLY_CONFIG`, else `./connectivly.toml` when present.
pub fn config_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("CONNECTIVLY_CONFIG").map(PathBuf::from)).or_else(|| {
        let default = PathBuf::from("connectivly.toml");
        default.exists().then_some(default)
    })
}

fn algorithm(name: &str, value: &str) -> Result<SigningAlg> {
    SigningAlg::parse(value.trim()).map_err(|e| Error::config(format!("CONNECTIVLY_{name}: {}", e.message())))
}

fn seconds(name: &str, default: i64) -> Result<i64> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::config(format!("CONNECTIVLY_{name} must be a positive number of seconds"))),
    }
}

/// A yes/no setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
fn flag(name: &str, default: bool) -> Result<bool> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(Error::config(format!("CONNECTIVLY_{name} must be true or false, not {:?}", v.trim()))),
        },
    }
}

impl Settings {
    /// Reads the environment over the configuration file. `require_login_url` is false for
    /// subcommands that never serve flows.
    pub fn load(database_override: Option<String>, require_login_url: bool, file: Option<PathBuf>) -> Result<Settings> {
        let source = match &file {
            Some(p) => load_file(p)?,
            None => Source { file: HashMap::new(), file_scopes: None },
        };
        let file_scopes = source.file_scopes.clone();
        SOURCE.with(|s| *s.borrow_mut() = Some(source));
        let result = Self::read(database_override, require_login_url, file_scopes, file);
        SOURCE.with(|s| *s.borrow_mut() = None);
        result
    }

    /// From the environment only.
    pub fn from_env(database_override: Option<String>, require_login_url: bool) -> Result<Settings> {
        Self::load(database_override, require_login_url, None)
    }

    fn read(
        database_override: Option<String>,
        require_login_url: bool,
        file_scopes: Option<Vec<ScopeDef>>,
        config_file: Option<PathBuf>,
    ) -> Result<Settings> {
        let port: u16 = match var("PORT") {
            Some(p) => p.parse().map_err(|_| Error::config("CONNECTIVLY_PORT must be a port number"))?,
            None => 3000,
        };
        let login_url = match var("REDIRECT_URL") {
            Some(u) => u,
            None if require_login_url => {
                return Err(Error::config(
                    "CONNECTIVLY_REDIRECT_URL is required: the URL of your app's login endpoint, \
                     e.g. CONNECTIVLY_REDIRECT_URL=https://your-app.example.com/connectivly",
                ));
            }
            None => "http://localhost/unused".into(),
        };
        let issuer = var("ISSUER").unwrap_or_else(|| format!("http://localhost:{port}"));
        let mut core = Config::new(issuer, login_url);
        if let Some(db) = database_override.or_else(|| var("DATABASE_URL")) {
            core.database_url = db;
        }
        if let Some(n) = var("DATABASE_MAX_CONNECTIONS") {
            core.database_max_connections = Some(n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::config("CONNECTIVLY_DATABASE_MAX_CONNECTIONS must be a positive number of connections")
            })?);
        }
        if var("DATABASE_ACQUIRE_TIMEOUT").is_some() {
            core.database_acquire_timeout = Some(seconds("DATABASE_ACQUIRE_TIMEOUT", 0)? as u64);
        }
        core.api_key = var("API_KEY");
        if let Some(n) = var("PROVIDER_NAME") {
            core.provider_name = n;
        }
        core.provider_logo_uri = var("PROVIDER_LOGO_URI");
        if let Some(c) = var("ACCENT_COLOR") {
            core.accent_color = c.trim().to_string();
        }
        if let Some(a) = var("SIGNING_ALG") {
            core.signing_alg = algorithm("SIGNING_ALG", &a)?;
        }
        if let Some(a) = var("ACCESS_TOKEN_SIGNING_ALG") {
            core.access_token_signing_alg = Some(algorithm("ACCESS_TOKEN_SIGNING_ALG", &a)?);
        }
        core.audience = var("AUDIENCE");
        core.session_ttl = seconds("SESSION_TTL", core.session_ttl)?;
        core.code_ttl = seconds("CODE_TTL", core.code_ttl)?;
        core.access_token_ttl = seconds("ACCESS_TOKEN_TTL", core.access_token_ttl)?;
        core.id_token_ttl = seconds("ID_TOKEN_TTL", core.id_token_ttl)?;
        core.refresh_token_ttl = seconds("REFRESH_TOKEN_TTL", core.refresh_token_ttl)?;
        if let Some(g) = var("REFRESH_REUSE_GRACE") {
            core.refresh_reuse_grace = g
                .trim()
                .parse()
                .map_err(|_| Error::config("CONNECTIVLY_REFRESH_REUSE_GRACE must be seconds (0-300)"))?;
        }
        if let Some(i) = var("KEY_ROTATION_INTERVAL") {
            let i: i64 =
                i.trim().parse().map_err(|_| Error::config("CONNECTIVLY_KEY_ROTATION_INTERVAL must be seconds"))?;
            core.key_rotation_interval = (i > 0).then_some(i);
        }
        core.secret = var("SECRET");
        core.registration_token = var("REGISTRATION_TOKEN");
        for (name, slot) in [
            ("FAILED_AUTH_LIMIT_PER_CLIENT", &mut core.failed_auth_limit_per_client),
            ("FAILED_LIMIT_PER_ADDRESS", &mut core.failed_limit_per_address),
        ] {
            if let Some(v) = var(name) {
                *slot = v
                    .trim()
                    .parse()
                    .map_err(|_| Error::config(format!("CONNECTIVLY_{name} must be a number (0 = no limit)")))?;
            }
        }
        core.require_pkce = flag("REQUIRE_PKCE", core.require_pkce)?;
        core.allow_readable_database = flag("ALLOW_READABLE_DATABASE", core.allow_readable_database)?;
        match std::env::var("CONNECTIVLY_SCOPES").ok().filter(|v| !v.trim().is_empty()) {
            Some(s) => core.scopes = parse_scopes(&s)?,
            None => core.scopes = file_scopes.unwrap_or_default(),
        }
        Ok(Settings {
            core,
            port,
            bind: var("BIND").unwrap_or_else(|| "0.0.0.0".into()),
            demo_redirect_uri: var("DEMO_REDIRECT_URI").unwrap_or_else(|| "http://localhost:5000/auth".into()),
            metrics_port: match var("METRICS_PORT") {
                Some(p) => Some(
                    p.trim().parse().map_err(|_| Error::config("CONNECTIVLY_METRICS_PORT must be a port number"))?,
                ),
                None => None,
            },
            shutdown_timeout: std::time::Duration::from_secs(seconds("SHUTDOWN_TIMEOUT", 20)? as u64),
            config_file,
        })
    }
}

/// `CONNECTIVLY_SCOPES="photos:read=Read your photos;photos:write=Upload photos"`.
pub fn parse_scopes(s: &str) -> Result<Vec<ScopeDef>> {
    s.split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, description) = entry.split_once('=').unwrap_or((entry, entry));
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::config("CONNECTIVLY_SCOPES has an entry without a name"));
            }
            Ok(ScopeDef::new(name, description.trim()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_apply_and_env_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "redirect_url = \"https://app.example/login\"\nport = 4100\ncode_ttl = 30\n\
             provider_name = \"From File\"\naccent_color = \"#0F7B6C\"\n[scopes]\n\"photos:read\" = \"See photos\"\n",
        )
        .unwrap();
        let s = Settings::load(Some("memory:".into()), true, Some(path.clone())).unwrap();
        assert_eq!(s.port, 4100);
        assert_eq!(s.core.code_ttl, 30);
        assert_eq!(s.core.login_url, "https://app.example/login");
        assert_eq!(s.core.issuer, "http://localhost:4100");
        assert_eq!(s.core.scopes[0].name, "photos:read");
        assert_eq!(s.core.accent_color, "#0F7B6C"); // validated (and lower-cased) when the provider opens
        assert_eq!(s.config_file.as_deref(), Some(path.as_path()));
        std::fs::write(&path, "redirect_urll = \"x\"\n").unwrap();
        assert!(Settings::load(None, false, Some(path.clone())).unwrap_err().message().contains("unknown setting"));
        std::fs::write(&path, "not toml at all [").unwrap();
        assert!(Settings::load(None, false, Some(path)).is_err());
    }

    #[test]
    fn scopes_parse() {
        let s = parse_scopes("photos:read=Read your photos; photos:write=Upload").unwrap();
        assert_eq!(s[0].name, "photos:read");
        assert_eq!(s[1].description, "Upload");
        assert!(parse_scopes("=x").is_err());
    }
}

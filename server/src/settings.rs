//! Server configuration: `CONNECTIVLY_*` environment variables (names shared with the original
//! connectivly where one existed) over an optional TOML file whose keys are the same names in lower
//! case without the prefix (`redirect_url = "..."`). The environment wins. The core's table
//! ([`connectivly::settings`]) reads every provider setting; this module adds the server's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

// The server's own settings, beside the core's table: the core keeps their names, so that a binding
// given one can say it belongs to the server.
use connectivly::settings::{SERVER_ENV_ONLY, SERVER_ONLY, Shape};
use connectivly::{Config, Error, Result};

/// Server-only settings around the core [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub core: Config,
    pub port: u16,
    pub bind: String,
    /// Redirect URI registered for the two demo clients created on first run.
    pub demo_redirect_uri: String,
    /// How the user named `demo_redirect_uri`, when they set it (it only applies on the first run).
    pub demo_redirect_uri_label: Option<String>,
    /// Serve `/metrics` on this separate port (bound to `bind`) instead of the main one.
    pub metrics_port: Option<u16>,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_timeout: std::time::Duration,
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Each core setting's name as the user wrote it, for errors raised when the provider opens.
    labels: Vec<(&'static str, String)>,
}

/// Where each setting came from, so that a message names it the way the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Env,
    File,
}

/// The environment over the file, read once.
struct Source {
    file: serde_json::Map<String, serde_json::Value>,
    path: Option<PathBuf>,
    origins: HashMap<String, Origin>,
}

impl Source {
    fn env(key: &str) -> Option<String> {
        std::env::var(format!("CONNECTIVLY_{}", key.to_ascii_uppercase())).ok().filter(|v| !v.trim().is_empty())
    }

    /// A setting by its file key: the environment's value, else the file's.
    fn get(&mut self, key: &str) -> Option<(serde_json::Value, Shape)> {
        if let Some(v) = Self::env(key) {
            self.origins.insert(key.to_string(), Origin::Env);
            return Some((serde_json::Value::String(v), Shape::Env));
        }
        let v = self.file.get(key)?.clone();
        self.origins.insert(key.to_string(), Origin::File);
        Some((v, Shape::File))
    }

    /// `key` as the user wrote it: `CONNECTIVLY_SESSION_TTL`, or `session_ttl in connectivly.toml`.
    fn label(&self, key: &str) -> String {
        match (self.origins.get(key), &self.path) {
            (Some(Origin::File), Some(path)) => {
                format!("{} in {}", connectivly::settings::display(key, Shape::File), path.display())
            }
            _ => connectivly::settings::display(key, Shape::Env),
        }
    }

    fn error(&self, key: &str, detail: impl std::fmt::Display) -> Error {
        Error::config(format!("{} {detail}", self.label(key)))
    }

    /// A server setting that is a whole number (a port, seconds).
    fn number<T: std::str::FromStr>(&mut self, key: &str, what: &str) -> Result<Option<T>> {
        let Some((v, _)) = self.get(key) else { return Ok(None) };
        let text = match &v {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(self.error(key, format!("must be {what}, not {other}"))),
        };
        text.parse().map(Some).map_err(|_| self.error(key, format!("must be {what}, not {text:?}")))
    }

    fn text(&mut self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some((serde_json::Value::String(s), _)) => Ok(Some(s)),
            Some((other, _)) => Err(self.error(key, format!("must be a string, not {other}"))),
        }
    }
}

fn load_file(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read the configuration file {}: {e}", path.display())))?;
    let table: toml::Table =
        text.parse().map_err(|e| Error::config(format!("{} is not valid TOML: {e}", path.display())))?;
    let known: Vec<String> = connectivly::settings::all()
        .iter()
        .map(|s| s.key.to_string())
        .chain(SERVER_ONLY.iter().map(|k| k.to_string()))
        .collect();
    let server_keys = &known[connectivly::settings::all().len()..];
    let mut file = serde_json::Map::new();
    for (k, v) in table {
        if !known.contains(&k) {
            let hint = match connectivly::settings::suggestion(&k, Shape::File, server_keys) {
                Some(h) => format!("; did you mean {h:?}?"),
                None => " (docs/configuration.md lists every setting)".into(),
            };
            return Err(Error::config(format!("unknown setting {k:?} in {}{hint}", path.display())));
        }
        let v = serde_json::to_value(v)
            .map_err(|e| Error::config(format!("setting {k:?} in {} cannot be read: {e}", path.display())))?;
        file.insert(k, v);
    }
    Ok(file)
}

/// `CONNECTIVLY_*` variables that name no setting but look like a typo of one: a warning, not an
/// error, because other programs (test runners, the README's host app) use the prefix too.
fn warn_on_misspelt_env() {
    let known: Vec<String> = connectivly::settings::all()
        .iter()
        .map(|s| s.name(Shape::Env))
        .chain(SERVER_ONLY.iter().map(|k| format!("CONNECTIVLY_{}", k.to_ascii_uppercase())))
        .chain(SERVER_ENV_ONLY.iter().map(|k| format!("CONNECTIVLY_{}", k.to_ascii_uppercase())))
        .collect();
    for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
        if name.starts_with("CONNECTIVLY_")
            && !known.contains(&name)
            && let Some(hint) = connectivly::settings::nearest(&name, &known)
        {
            tracing::warn!("{name} is not a setting and is ignored; did you mean {hint}?");
        }
    }
}

/// The file to read: `--config`, else `CONNECTIVLY_CONFIG`, else `./connectivly.toml` when present.
pub fn config_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("CONNECTIVLY_CONFIG").map(PathBuf::from)).or_else(|| {
        let default = PathBuf::from("connectivly.toml");
        default.exists().then_some(default)
    })
}

impl Settings {
    /// Reads the environment over the configuration file. `require_login_url` is false for
    /// subcommands that never serve flows.
    pub fn load(database_override: Option<String>, require_login_url: bool, file: Option<PathBuf>) -> Result<Settings> {
        let file_values = match &file {
            Some(p) => load_file(p)?,
            None => serde_json::Map::new(),
        };
        warn_on_misspelt_env();
        let mut src = Source { file: file_values, path: file.clone(), origins: HashMap::new() };
        let port: u16 = src.number("port", "a port number")?.unwrap_or(3000);
        let mut core = Config::new(format!("http://localhost:{port}"), "");
        for setting in connectivly::settings::all() {
            if let Some((value, shape)) = src.get(setting.key) {
                setting.apply(&mut core, shape, &value).map_err(|e| src.rename(e))?;
            }
        }
        if core.login_url.is_empty() {
            if require_login_url {
                return Err(Error::config(
                    "CONNECTIVLY_REDIRECT_URL is required: the URL of your app's login endpoint, \
                     e.g. CONNECTIVLY_REDIRECT_URL=https://your-app.example.com/connectivly",
                ));
            }
            core.login_url = "http://localhost/unused".into();
        } else if core.login_url.trim_start().starts_with('/') && core.cookie_path() == "/" {
            // A path would send the browser to this server, not to the host app that logs users in —
            // unless the issuer has a path too: then a proxy shares the origin between the host app
            // and this server (docs/deploy.md), and `/login` is the host's.
            return Err(src.error(
                "redirect_url",
                format!(
                    "must be an absolute URL of your app's login endpoint (https://your-app.example.com{}), \
                     not a path on this server",
                    core.login_url.trim()
                ),
            ));
        }
        if let Some(db) = database_override {
            core.database_url = db;
            src.origins.remove("database_url");
        }
        let demo_redirect_uri = src.text("demo_redirect_uri")?;
        // Named only when the user set it: it applies on the first run alone, which the banner says.
        let demo_redirect_uri_label = demo_redirect_uri.is_some().then(|| src.label("demo_redirect_uri"));
        Ok(Settings {
            port,
            bind: src.text("bind")?.unwrap_or_else(|| "0.0.0.0".into()),
            demo_redirect_uri: demo_redirect_uri.unwrap_or_else(|| DEFAULT_DEMO_REDIRECT_URI.into()),
            demo_redirect_uri_label,
            metrics_port: src.number("metrics_port", "a port number")?,
            shutdown_timeout: std::time::Duration::from_secs(
                match src.number::<u64>("shutdown_timeout", "a positive number of seconds")? {
                    Some(0) => return Err(src.error("shutdown_timeout", "must be a positive number of seconds, not 0")),
                    Some(s) => s,
                    None => 20,
                },
            ),
            labels: connectivly::settings::all().iter().map(|s| (s.key, src.label(s.key))).collect(),
            core,
            config_file: file,
        })
    }

    /// From the environment only.
    pub fn from_env(database_override: Option<String>, require_login_url: bool) -> Result<Settings> {
        Self::load(database_override, require_login_url, None)
    }

    /// A core error about a setting (from [`Config::validate`] when the provider opens), naming the
    /// setting as the user wrote it.
    pub fn rename(&self, e: Error) -> Error {
        let labels = &self.labels;
        e.rename_setting(|key| {
            labels
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, l)| l.clone())
                .unwrap_or_else(|| connectivly::settings::display(key, Shape::Env))
        })
    }
}

impl Source {
    fn rename(&self, e: Error) -> Error {
        e.rename_setting(|key| self.label(key))
    }
}

/// The redirect URI of the demo clients when `CONNECTIVLY_DEMO_REDIRECT_URI` is not set.
pub const DEFAULT_DEMO_REDIRECT_URI: &str = "http://localhost:5000/auth";

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
    fn errors_name_the_setting_as_written_and_suggest_the_nearest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectivly.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::load(Some("memory:".into()), true, Some(path.clone()))
        };
        let e = load("acess_token_ttl = 60\n").unwrap_err();
        assert!(e.message().contains("unknown setting \"acess_token_ttl\""), "{}", e.message());
        assert!(e.message().ends_with("did you mean \"access_token_ttl\"?"), "{}", e.message());
        let e = load("redirect_url = \"https://a.example/l\"\nsession_ttl = \"soon\"\n").unwrap_err();
        assert_eq!(
            e.message(),
            format!("session_ttl in {} must be a whole number of seconds, not \"soon\"", path.display())
        );
        let e = load("redirect_url = \"https://a.example/l\"\nport = \"http\"\n").unwrap_err();
        assert!(e.message().starts_with("port in "), "{}", e.message());
        let e = load("redirect_url = \"/login\"\n").unwrap_err();
        assert!(e.message().contains("not a path on this server"), "{}", e.message());
        let s = load("redirect_url = \"/login\"\nissuer = \"https://app.example/auth\"\n").unwrap();
        assert_eq!(s.core.login_url, "/login", "a path on an origin the issuer shares with the host app");
        let e = load("login_url = \"https://a.example/l\"\n").unwrap_err();
        assert!(e.message().ends_with("did you mean \"redirect_url\"?"), "{}", e.message());
        // A core validation error, raised when the provider opens, names the file's key too.
        let s = load("redirect_url = \"https://a.example/l\"\napi_key = \"short\"\nsigning_alg = \"es256\"\n").unwrap();
        assert_eq!(s.core.signing_alg, connectivly::SigningAlg::ES256, "any case");
        let e = s.rename(s.core.clone().validate().unwrap_err());
        assert_eq!(e.message(), format!("api_key in {} must be at least 16 characters", path.display()));
        let s = load("redirect_url = \"localhost:4481/connectivly\"\n").unwrap();
        let e = s.rename(s.core.clone().validate().unwrap_err());
        assert!(
            e.message().starts_with(&format!(
                "redirect_url in {}: \"localhost:4481/connectivly\" is not an absolute",
                path.display()
            )),
            "{}",
            e.message()
        );
    }
}

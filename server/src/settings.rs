//! Server configuration from `CONNECTIVLY_*` environment variables (names shared with the original
//! connectivly where one existed).

use connectivly::{Config, Error, Result, ScopeDef, SigningAlg};

/// Server-only settings around the core [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub core: Config,
    pub port: u16,
    pub bind: String,
    /// Redirect URI registered for the two demo clients created on first run.
    pub demo_redirect_uri: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(format!("CONNECTIVLY_{name}")).ok().filter(|v| !v.trim().is_empty())
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

impl Settings {
    /// Reads the environment. `require_login_url` is false for subcommands that never serve flows.
    pub fn from_env(database_override: Option<String>, require_login_url: bool) -> Result<Settings> {
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
        core.api_key = var("API_KEY");
        if let Some(n) = var("PROVIDER_NAME") {
            core.provider_name = n;
        }
        if let Some(a) = var("SIGNING_ALG") {
            core.signing_alg = SigningAlg::parse(a.trim())?;
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
        if let Some(s) = var("SCOPES") {
            core.scopes = parse_scopes(&s)?;
        }
        Ok(Settings {
            core,
            port,
            bind: var("BIND").unwrap_or_else(|| "0.0.0.0".into()),
            demo_redirect_uri: var("DEMO_REDIRECT_URI").unwrap_or_else(|| "http://localhost:5000/auth".into()),
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
    fn scopes_parse() {
        let s = parse_scopes("photos:read=Read your photos; photos:write=Upload").unwrap();
        assert_eq!(s[0].name, "photos:read");
        assert_eq!(s[1].description, "Upload");
        assert!(parse_scopes("=x").is_err());
    }
}

//! Provider configuration. Adapters fill it from env vars (server) or keyword arguments (bindings).

use crate::error::{Error, Result};
use crate::keys::SigningAlg;
use crate::scopes::ScopeDef;

/// Everything a [`Provider`](crate::Provider) needs to open.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer URL: the base of every endpoint and the `iss` of every token. Never derived from
    /// request headers.
    pub issuer: String,
    /// The host's login endpoint; the browser is sent there with `?token=<session id>`.
    pub login_url: String,
    /// `sqlite://path.db` (the default, `sqlite://connectivly.db`), `postgres://…` or `memory:`.
    pub database_url: String,
    /// PostgreSQL: connections this instance may hold open (default 10). Instances × this must stay
    /// below the server's `max_connections`.
    pub database_max_connections: Option<u32>,
    /// PostgreSQL: seconds a request waits for a connection before failing with a storage error
    /// (HTTP 503; default 10).
    pub database_acquire_timeout: Option<u64>,
    /// An explicit host-API key. When unset the key lives (hashed) in the store.
    pub api_key: Option<String>,
    /// The name shown on the consent page.
    pub provider_name: String,
    /// A logo shown beside the provider name on the consent and error pages: a `data:image/…;base64,`
    /// URI (the page stays self-contained) or a path or URL on the issuer's own origin. Anything else
    /// is refused, so the page never loads a third party's asset on the provider's behalf.
    pub provider_logo_uri: Option<String>,
    /// Accent colour of the consent page (the Allow button), `#rgb` or `#rrggbb`. Validation keeps it
    /// to exactly that, because it is written into the page's stylesheet.
    pub accent_color: String,
    /// Host-defined scopes, in addition to the built-in `openid`, `profile`, `email`, `offline_access`.
    pub scopes: Vec<ScopeDef>,
    /// The algorithm that signs ID tokens, and access tokens unless `access_token_signing_alg` says otherwise.
    pub signing_alg: SigningAlg,
    /// The algorithm that signs access tokens (RFC 9068 JWTs), when it should differ from `signing_alg`.
    /// Access tokens are checked by this provider (or by resource servers through the JWKS), not by
    /// every client, so a provider can keep RS256 ID tokens for compatibility and sign access tokens
    /// with ES256 or EdDSA, many times cheaper.
    pub access_token_signing_alg: Option<SigningAlg>,
    /// `aud` of access tokens; defaults to the issuer.
    pub audience: Option<String>,
    /// How long a browser has from `/authorize` to approval and consent (seconds).
    pub session_ttl: i64,
    /// Authorization code lifetime (seconds).
    pub code_ttl: i64,
    /// Access token lifetime (seconds).
    pub access_token_ttl: i64,
    /// ID token lifetime (seconds).
    pub id_token_ttl: i64,
    /// Refresh token lifetime (seconds); each rotation starts a new one.
    pub refresh_token_ttl: i64,
    /// Seconds during which presenting an already-rotated refresh token is refused *without*
    /// revoking its family (tolerates a client's network retry). 0 = every replay revokes.
    pub refresh_reuse_grace: i64,
    /// Rotate signing keys when the active one is this old (seconds); `None` = only on demand.
    pub key_rotation_interval: Option<i64>,
    /// Encrypts signing keys at rest (AES-256-GCM under a key derived from this secret).
    pub secret: Option<String>,
    /// Enables Dynamic Client Registration (RFC 7591/7592) at `/oauth2/register` for callers
    /// presenting this initial access token. `None` (the default): registration is off.
    pub registration_token: Option<String>,
    /// Failed client authentications per client id *and source address* per minute before that pair
    /// is refused (429); 0 = no limit. Counting by the pair means nobody can lock a client out by
    /// failing on its behalf from elsewhere.
    pub failed_auth_limit_per_client: u32,
    /// Failed client authentications, wrong host-API keys and unknown consent sessions per source
    /// address per minute before it is refused (429); 0 = no limit. Behind a proxy every client shares
    /// its address: raise this or set 0 there.
    pub failed_limit_per_address: u32,
    /// Every authorization request must carry a PKCE `code_challenge` (S256), from confidential
    /// clients too (OAuth 2.1 §4.1.1). Default true; public clients need PKCE regardless.
    pub require_pkce: bool,
    /// Open a SQLite database (and its key file) that other local users can read. Off by default:
    /// the provider refuses to start on a group- or world-readable file, since it holds the signing
    /// keys' seal and every token's hash.
    pub allow_readable_database: bool,
}

impl Config {
    pub fn new(issuer: impl Into<String>, login_url: impl Into<String>) -> Config {
        Config {
            issuer: issuer.into(),
            login_url: login_url.into(),
            database_url: "sqlite://connectivly.db".into(),
            database_max_connections: None,
            database_acquire_timeout: None,
            api_key: None,
            provider_name: "Connectivly".into(),
            provider_logo_uri: None,
            accent_color: DEFAULT_ACCENT.into(),
            scopes: Vec::new(),
            signing_alg: SigningAlg::RS256,
            access_token_signing_alg: None,
            audience: None,
            session_ttl: 15 * 60,
            code_ttl: 60,
            access_token_ttl: 3600,
            id_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            refresh_reuse_grace: 0,
            key_rotation_interval: Some(90 * 24 * 3600),
            secret: None,
            registration_token: None,
            failed_auth_limit_per_client: 20,
            failed_limit_per_address: 60,
            require_pkce: true,
            allow_readable_database: false,
        }
    }

    /// Checks the configuration and normalises the issuer (no trailing slash). Errors name the setting
    /// by its canonical key; adapters rename it as their users write it ([`Error::for_shape`]).
    pub fn validate(mut self) -> Result<Config> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|_| Error::setting("issuer", format!(": {:?} is not an absolute URL", self.issuer)))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(Error::setting("issuer", "must be an http(s) URL"));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::setting("issuer", "must not have a query or fragment (OIDC Discovery §3)"));
        }
        if issuer.scheme() == "http" && !is_loopback(&issuer) {
            tracing::warn!(issuer = %self.issuer, "issuer is plain http on a non-loopback host: use https in production");
        }
        while self.issuer.ends_with('/') {
            self.issuer.pop();
        }
        self.login_url = self.login_url.trim().to_string();
        check_login_url(&self.login_url)?;
        for (key, ttl) in [
            ("session_ttl", self.session_ttl),
            ("code_ttl", self.code_ttl),
            ("access_token_ttl", self.access_token_ttl),
            ("id_token_ttl", self.id_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
        ] {
            if ttl <= 0 {
                return Err(Error::setting(key, format!("must be a positive number of seconds, not {ttl}")));
            }
        }
        if self.refresh_reuse_grace < 0 || self.refresh_reuse_grace > 300 {
            return Err(Error::setting("refresh_reuse_grace", "must be 0 to 300 seconds"));
        }
        if self.key_rotation_interval.is_some_and(|i| i < 3600) {
            return Err(Error::setting("key_rotation_interval", "must be at least 3600 seconds (0 = on demand only)"));
        }
        if self.database_max_connections == Some(0) {
            return Err(Error::setting("database_max_connections", "must be at least 1"));
        }
        if self.database_acquire_timeout == Some(0) {
            return Err(Error::setting("database_acquire_timeout", "must be at least 1 second"));
        }
        if self.registration_token.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(Error::setting("registration_token", "must be at least 16 characters"));
        }
        if self.secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(Error::setting("secret", "must be at least 16 characters"));
        }
        for s in &self.scopes {
            if !crate::scopes::valid_token(&s.name) {
                return Err(Error::setting("scopes", format!(": {:?} is not a valid scope name", s.name)));
            }
            if crate::scopes::builtin().iter().any(|b| b.name == s.name) {
                return Err(Error::setting(
                    "scopes",
                    format!(": {:?} is built in (openid, profile, email, offline_access): leave it out", s.name),
                ));
            }
        }
        if let Some(k) = &self.api_key
            && k.len() < 16
        {
            return Err(Error::setting("api_key", "must be at least 16 characters"));
        }
        if self.provider_name.trim().is_empty() {
            return Err(Error::setting("provider_name", "must not be empty"));
        }
        self.accent_color = normalize_color(&self.accent_color).ok_or_else(|| {
            Error::setting("accent_color", format!(": {:?} is not a hex colour (#rgb or #rrggbb)", self.accent_color))
        })?;
        if let Some(logo) = &self.provider_logo_uri {
            check_logo(logo, &issuer)?;
        }
        Ok(self)
    }

    /// The longest any token signed now can live: how long a retired key must stay published.
    pub fn max_signed_token_ttl(&self) -> i64 {
        self.access_token_ttl.max(self.id_token_ttl)
    }

    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.issuer)
    }

    /// The algorithm access tokens are signed with.
    pub fn access_token_alg(&self) -> SigningAlg {
        self.access_token_signing_alg.unwrap_or(self.signing_alg)
    }

    /// Whether cookies must carry `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The browser-binding cookie's name. On https the `__Host-` prefix (issuer at the origin's root)
    /// or `__Secure-` (issuer under a path) makes browsers refuse the cookie from plain http or, for
    /// `__Host-`, from a sibling subdomain (cookie tossing). Plain http (local development) allows no
    /// prefix.
    pub fn binding_cookie_name(&self) -> &'static str {
        match (self.secure_cookies(), self.cookie_path().as_str()) {
            (true, "/") => "__Host-connectivly_binding",
            (true, _) => "__Secure-connectivly_binding",
            (false, _) => "connectivly_binding",
        }
    }

    /// The path part of the issuer, where the browser-binding cookie is scoped ("/" at least).
    pub fn cookie_path(&self) -> String {
        let path = url::Url::parse(&self.issuer).map(|u| u.path().to_string()).unwrap_or_default();
        if path.is_empty() { "/".into() } else { path }
    }
}

/// The accent colour when none is configured.
pub const DEFAULT_ACCENT: &str = "#2f5bd3";

/// A `data:` logo larger than this is refused: the page carries it inline on every render.
const MAX_DATA_LOGO: usize = 64 * 1024;

/// `#rgb` / `#rrggbb` (any case) → `#rrggbb` in lower case; anything else → `None`.
fn normalize_color(c: &str) -> Option<String> {
    let hex = c.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let full: String = match hex.len() {
        3 => hex.chars().flat_map(|ch| [ch, ch]).collect(),
        6 => hex.into(),
        _ => return None,
    };
    Some(format!("#{}", full.to_ascii_lowercase()))
}

fn check_logo(logo: &str, issuer: &url::Url) -> Result<()> {
    if let Some(data) = logo.strip_prefix("data:") {
        let (mime, payload) = data.split_once(";base64,").ok_or_else(|| {
            Error::setting("provider_logo_uri", ": a data: URI must be base64 (data:image/png;base64,…)")
        })?;
        if !matches!(mime, "image/png" | "image/gif" | "image/jpeg" | "image/webp" | "image/svg+xml") {
            return Err(Error::setting(
                "provider_logo_uri",
                format!(": {mime:?} is not an image type (png, gif, jpeg, webp, svg+xml)"),
            ));
        }
        let body = payload.trim_end_matches('=');
        if body.is_empty()
            || payload.len() - body.len() > 2
            || !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(Error::setting("provider_logo_uri", ": the data: URI is not valid base64"));
        }
        if logo.len() > MAX_DATA_LOGO {
            return Err(Error::setting("provider_logo_uri", ": a data: logo must be at most 64 KiB"));
        }
        return Ok(());
    }
    if logo.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err(Error::setting("provider_logo_uri", "must not contain spaces, control characters or backslashes"));
    }
    // A relative path ("logo.svg") would resolve against each page's own URL: only "/…" or a full URL.
    let absolute = (logo.starts_with('/') && !logo.starts_with("//"))
        || logo.starts_with("https://")
        || logo.starts_with("http://");
    let same_origin = issuer.join(logo).is_ok_and(|u| u.origin() == issuer.origin() && u.fragment().is_none());
    if !absolute || !same_origin {
        return Err(Error::setting(
            "provider_logo_uri",
            "must be a data:image/…;base64 URI or a path or URL on the issuer's origin \
             (the consent page loads no third-party assets)",
        ));
    }
    Ok(())
}

/// The host's login endpoint: an absolute http(s) URL, or a path on the issuer's origin (an embedded
/// provider's host serves both). `localhost:4481/login` parses as a URL of scheme `localhost`, which
/// no browser follows: refused here rather than found out from a `Location` that leads nowhere.
fn check_login_url(login_url: &str) -> Result<()> {
    let u = login_url.trim();
    if u.is_empty() {
        return Err(Error::setting("redirect_url", "is required: the URL of your app's login endpoint"));
    }
    if u.contains('#') {
        return Err(Error::setting("redirect_url", "must not have a fragment"));
    }
    // Browsers drop tabs and newlines inside a URL ("/\t/evil.example" becomes "//evil.example"): no
    // whitespace or control character anywhere.
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::setting("redirect_url", "must not contain spaces or control characters"));
    }
    if u.starts_with('/') && !u.starts_with("//") && !u.contains('\\') {
        return Ok(());
    }
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(()),
        _ => Err(Error::setting(
            "redirect_url",
            format!(
                ": {u:?} is not an absolute http(s) URL (e.g. https://your-app.example.com/connectivly) \
                 or, for a provider embedded in your app, a path such as /connectivly"
            ),
        )),
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Config)) -> Result<Config> {
        let mut c = Config::new("https://id.example/oauth", "/login");
        f(&mut c);
        c.validate()
    }

    #[test]
    fn accent_colour_is_strict_hex() {
        assert_eq!(with(|_| {}).unwrap().accent_color, DEFAULT_ACCENT);
        assert_eq!(with(|c| c.accent_color = "#A1b".into()).unwrap().accent_color, "#aa11bb");
        assert_eq!(with(|c| c.accent_color = "#0F7B6C".into()).unwrap().accent_color, "#0f7b6c");
        for bad in ["red", "#ggg", "#12345", "0f7b6c", "#fff;}body{display:none", "#fff ", "", "#ffff"] {
            assert!(with(|c| c.accent_color = bad.into()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn logo_is_inline_or_same_origin() {
        for ok in [
            "data:image/png;base64,iVBORw0KGgo=",
            "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
            "/static/logo.svg",
            "https://id.example/static/logo.png",
        ] {
            assert!(with(|c| c.provider_logo_uri = Some(ok.into())).is_ok(), "{ok:?} refused");
        }
        for bad in [
            "https://cdn.example/logo.png",
            "http://id.example/logo.png",
            "//cdn.example/logo.png",
            "logo.png",
            "javascript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "data:image/png,rawbytes",
            "data:image/png;base64,\"><script>",
            "data:image/png;base64,",
            "/logo.png\" onerror=\"x",
            "/\\cdn.example/logo.png",
        ] {
            assert!(with(|c| c.provider_logo_uri = Some(bad.into())).is_err(), "{bad:?} accepted");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_DATA_LOGO));
        assert!(with(|c| c.provider_logo_uri = Some(huge)).is_err());
    }

    #[test]
    fn login_url_is_an_absolute_http_url_or_a_path() {
        for ok in ["/connectivly", "https://app.example/login?x=1", "http://localhost:4481/connectivly"] {
            assert!(with(|c| c.login_url = ok.into()).is_ok(), "{ok:?} refused");
        }
        for bad in
            ["localhost:4481/connectivly", "app.example/login", "//evil.example/x", "ftp://a.example/l", "", "/l#x"]
        {
            let e = with(|c| c.login_url = bad.into()).unwrap_err();
            assert!(e.message().starts_with("redirect_url"), "{bad:?}: {}", e.message());
            assert_eq!(e.setting_key(), Some("redirect_url"));
        }
        let e = with(|c| c.login_url = "localhost:4481/connectivly".into()).unwrap_err();
        assert!(e.for_shape(crate::settings::Shape::Node).message().starts_with("loginUrl: \"localhost:4481"));
    }

    #[test]
    fn provider_name_is_required() {
        assert!(with(|c| c.provider_name = "  ".into()).is_err());
    }

    #[test]
    fn pool_settings_from_a_binding_never_wrap() {
        use crate::settings::Shape;
        use serde_json::json;
        let open = |name: &str, v: serde_json::Value| {
            Config::from_settings(
                Shape::Python,
                [("issuer", &json!("https://id.example/oauth")), ("login_url", &json!("/login")), (name, &v)],
            )
            .and_then(Config::validate)
        };
        let c = open("database_max_connections", json!(4)).unwrap();
        assert_eq!(c.database_max_connections, Some(4));
        for bad in [json!(0), json!(-1), json!(i64::from(u32::MAX) + 1), json!(i64::MIN)] {
            let e = open("database_max_connections", bad.clone()).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Config);
            assert!(e.message().starts_with("database_max_connections "), "{bad}: {}", e.message());
        }
        for bad in [json!(0), json!(-1), json!(i64::MIN)] {
            let e = open("database_acquire_timeout", bad.clone()).unwrap_err();
            assert!(e.message().starts_with("database_acquire_timeout "), "{bad}: {}", e.message());
        }
    }
}

//! Framework-neutral HTTP types: what adapters hand to [`Provider::handle`](crate::Provider::handle)
//! and get back. Deliberately plain, so axum, Flask and Express can each fill them in a few lines.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Largest request body the provider reads; adapters should enforce the same limit before buffering.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP request, with `path` relative to the issuer (the adapter strips its mount prefix).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path below the issuer, starting with `/` (e.g. `/oauth2/token`). Percent-encoded as received.
    pub path: String,
    /// The raw query string without `?` (may be empty).
    pub query: String,
    /// Header names in any case; values as received. Adapters drop values that are not valid text.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The peer's address as the adapter sees it (for per-address rate limits); `None` when unknown.
    pub remote_addr: Option<String>,
}

impl Request {
    pub fn new(method: &str, path_and_query: &str) -> Request {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Request { method: method.to_ascii_uppercase(), path: path.into(), query: query.into(), ..Default::default() }
    }
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
    /// A form-encoded POST body.
    pub fn form(self, pairs: &[(&str, &str)]) -> Request {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.header("content-type", "application/x-www-form-urlencoded").body(body)
    }
    pub fn json(self, v: &Value) -> Request {
        self.header("content-type", "application/json").body(serde_json::to_vec(v).unwrap_or_default())
    }

    /// All values of a header, case-insensitively.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The header's value; more than one occurrence is an error (ambiguous credentials are refused).
    pub fn single_header<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>> {
        let mut it = self.header_values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(Error::invalid_request(format!("the {name} header is repeated")));
        }
        Ok(first)
    }

    /// A cookie's value (the first one with that name).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header_values("cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    /// Every value of the cookie `name` (a browser sends one per matching path, most specific first).
    pub fn cookies<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.header_values("cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"'))
    }

    pub fn content_type_is(&self, mime: &str) -> bool {
        self.header_values("content-type")
            .next()
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Why the request was refused, for the adapter's log line, when the body does not say it in
    /// OAuth's terms (an HTML error page, an error redirect). Error messages never hold a secret.
    pub reason: Option<String>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new(), reason: None }
    }

    /// Why the request was refused, if it was: the explicit reason, else the OAuth error of the body
    /// (`invalid_grant: the code was already used`) or of `WWW-Authenticate`. For logs.
    pub fn reason(&self) -> Option<String> {
        if let Some(r) = &self.reason {
            return Some(r.clone());
        }
        if self.status < 400 {
            return None;
        }
        if let Some(v) = self.body_json()
            && let Some(code) = v.get("error").and_then(Value::as_str)
        {
            return Some(match v.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{code}: {d}"),
                None => code.to_string(),
            });
        }
        let challenge = self.get_header("www-authenticate")?;
        let code = challenge.split("error=\"").nth(1)?.split('"').next()?;
        Some(code.to_string())
    }

    /// Records why the request was refused (see [`reason`](Self::reason)).
    pub fn with_reason(mut self, e: &Error) -> Response {
        self.reason = Some(format!("{}: {}", e.kind().code(), e.message()));
        self
    }
    pub fn json(status: u16, v: &impl serde::Serialize) -> Response {
        let mut r = Response::new(status).with_header("content-type", "application/json");
        r.body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
        r
    }
    pub fn html(status: u16, html: String) -> Response {
        let mut r = Response::new(status)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_header(
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'",
            )
            .with_header("x-frame-options", "DENY")
            .with_header("x-content-type-options", "nosniff")
            .with_header("referrer-policy", "no-referrer")
            .no_store();
        r.body = html.into_bytes();
        r
    }
    pub fn redirect(location: &str) -> Response {
        Response::new(302).with_header("location", location).with_header("cache-control", "no-store")
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// `Cache-Control: no-store` (+ `Pragma: no-cache`), required on every response carrying tokens.
    pub fn no_store(self) -> Response {
        let mut r = self;
        r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("cache-control"));
        r.with_header("cache-control", "no-store").with_header("pragma", "no-cache")
    }
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The answer to a body over [`MAX_BODY_BYTES`], for adapters that stop reading early.
    pub fn payload_too_large() -> Response {
        Response::oauth_error(&Error::new(ErrorKind::PayloadTooLarge, "the request body is too large"))
    }

    /// An OAuth error body (RFC 6749 §5.2) with the kind's status.
    pub fn oauth_error(e: &Error) -> Response {
        let mut body = serde_json::json!({"error": e.kind().code()});
        if !e.message().is_empty() {
            body["error_description"] = Value::String(e.message().into());
        }
        let mut r = Response::json(e.kind().http_status(), &body).no_store();
        match e.kind() {
            ErrorKind::InvalidClient => r = r.with_header("www-authenticate", "Basic realm=\"connectivly\""),
            ErrorKind::MethodNotAllowed => r = r.with_header("allow", "GET, POST"),
            ErrorKind::RateLimited => r = r.with_header("retry-after", "60"),
            _ => {}
        }
        r
    }
}

/// Decoded `application/x-www-form-urlencoded` (or query string) parameters.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a form body or query string. Invalid UTF-8 after decoding is refused, not replaced.
    pub fn parse(raw: &[u8]) -> Result<Params> {
        let mut pairs = Vec::new();
        for part in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode_component(k)?, decode_component(v)?));
        }
        Ok(Params { pairs })
    }

    /// The single value of `name`; empty values count as absent (RFC 6749 §3.1) and a repeated
    /// parameter is `invalid_request`.
    pub fn get(&self, name: &str) -> Result<Option<&str>> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.pairs {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(Error::invalid_request(format!("parameter {name} is repeated")));
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)?.ok_or_else(|| Error::invalid_request(format!("parameter {name} is required")))
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Percent-decodes a form component (`+` is a space) and requires UTF-8.
pub fn decode_component(raw: &[u8]) -> Result<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let (Some(h), Some(l)) = (raw.get(i + 1).and_then(|b| hex(*b)), raw.get(i + 2).and_then(|b| hex(*b)))
                else {
                    return Err(Error::invalid_request("malformed percent-encoding"));
                };
                out.push((h << 4) | l);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::invalid_request("parameters must be UTF-8"))
}

/// Percent-decodes one path segment (`+` stays a plus) and requires UTF-8.
pub fn decode_path_segment(raw: &str) -> Result<String> {
    decode_component(raw.replace('+', "%2B").as_bytes())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends query parameters to a URL string without re-serialising the URL itself, so the client
/// receives exactly the redirect URI it registered.
/// A fragment, if any, is dropped: redirect URIs may not carry one.
pub fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let base = url.split_once('#').map_or(url, |(b, _)| b);
    let mut out = String::with_capacity(base.len() + 64);
    out.push_str(base);
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    if !encoded.is_empty() {
        if base.contains('?') {
            if !base.ends_with('?') && !base.ends_with('&') {
                out.push('&');
            }
        } else {
            out.push('?');
        }
        out.push_str(&encoded);
    }
    out
}

/// The path with every secret-shaped segment (session ids in `/consent/{id}` and the host API)
/// cut to its prefix: what adapters may log.
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix("cly_").and_then(|rest| rest.find('_').map(|i| &seg[..4 + i + 1])) {
            Some(prefix) if seg.len() >= prefix.len() + 32 => format!("{prefix}…"),
            _ => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_decode_and_refuse_duplicates() {
        let p = Params::parse(b"a=1&b=x+y%21&c=&a=2").unwrap();
        assert_eq!(p.get("b").unwrap(), Some("x y!"));
        assert_eq!(p.get("c").unwrap(), None);
        assert!(p.get("a").is_err());
        assert!(Params::parse(b"a=%ff").is_err());
        assert!(Params::parse(b"a=%f").is_err());
        assert!(Params::parse(b"a=%").is_err());
        assert!(Params::parse(b"a=%zz").is_err());
        assert_eq!(Params::parse(b"a=%41").unwrap().get("a").unwrap(), Some("A"));
    }

    #[test]
    fn append_query_keeps_the_uri() {
        assert_eq!(append_query("https://a/cb", &[("code", "x y")]), "https://a/cb?code=x+y");
        assert_eq!(append_query("https://a/cb?k=v", &[("code", "1")]), "https://a/cb?k=v&code=1");
        assert_eq!(append_query("/login", &[("token", "t&")]), "/login?token=t%26");
    }

    #[test]
    fn redaction_keeps_only_prefixes_of_secrets() {
        let id = crate::secrets::new_secret(crate::secrets::prefix::SESSION);
        let p = redact_path(&format!("/api/auth_session/{id}/approve"));
        assert_eq!(p, "/api/auth_session/cly_ses_…/approve");
        assert_eq!(
            redact_path("/api/clients/cly_ci_XLWuUvEvsWdicHxo2_L-PQ"),
            "/api/clients/cly_ci_XLWuUvEvsWdicHxo2_L-PQ"
        );
        assert_eq!(redact_path("/oauth2/token"), "/oauth2/token");
    }

    #[test]
    fn cookies() {
        let r = Request::new("GET", "/").header("Cookie", "a=1; connectivly_binding=xyz");
        assert_eq!(r.cookie("connectivly_binding"), Some("xyz"));
        assert_eq!(r.cookie("b"), None);
    }
}

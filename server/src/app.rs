//! The axum adapter: every request goes to the core's `handle`, untouched but for type translation,
//! plus the operator's endpoints (`/healthz`, `/readyz`, `/metrics`).

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connectivly::Provider;
use connectivly::http::MAX_BODY_BYTES;
use tracing::Instrument;

/// The whole HTTP surface of the server, `/metrics` included.
pub fn app(provider: Provider) -> Router {
    app_with(provider, true)
}

/// The server's routes; `metrics` false when `/metrics` is served on a separate admin port.
pub fn app_with(provider: Provider, metrics: bool) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz));
    if metrics {
        router = router.route("/metrics", get(metrics_text));
    }
    router.fallback(handle).with_state(provider)
}

/// Only `/metrics` (and the health checks), for an admin port.
pub fn admin_app(provider: Provider) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(provider)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(provider): State<Provider>) -> Response {
    match provider.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", e.message())).into_response(),
    }
}

async fn metrics_text(State(provider): State<Provider>) -> Response {
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], provider.metrics().render()).into_response()
}

/// A request id: the caller's `X-Request-Id` when it is short and plain, else a fresh one.
fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:016x}", u64::from_ne_bytes(connectivly::secrets::random_bytes::<8>())))
}

async fn handle(State(provider): State<Provider>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let (parts, body) = req.into_parts();
    let id = request_id(&parts.headers);
    // Queries and bodies can hold codes and tokens, and paths session ids: none of them reach a log.
    let span = tracing::info_span!("request", request_id = %id, method = %parts.method,
        path = %connectivly::http::redact_path(parts.uri.path()));
    async move {
        let body = match to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => return into_axum(connectivly::Response::payload_too_large(), false),
        };
        let remote_addr =
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
        let core_req = connectivly::Request {
            method: parts.method.as_str().to_string(),
            path: relative_to_issuer(provider.issuer(), parts.uri.path()).to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
                .collect(),
            body: body.to_vec(),
            remote_addr,
        };
        let head = parts.method == axum::http::Method::HEAD;
        let resp = provider.handle(core_req).await;
        let ms = started.elapsed().as_millis() as u64;
        // A refusal says why (`reason` is Debug-quoted: a parameter echoed in it cannot forge a line).
        match resp.reason() {
            Some(reason) => tracing::info!(status = resp.status, ms, reason = ?reason, "request"),
            None => tracing::info!(status = resp.status, ms, "request"),
        }
        let mut out = into_axum(resp, head);
        if let Ok(v) = HeaderValue::from_str(&id) {
            out.headers_mut().insert("x-request-id", v);
        }
        out
    }
    .instrument(span)
    .await
}

/// The request path relative to the issuer's: with `CONNECTIVLY_ISSUER=https://id.example/auth`,
/// `/auth/oauth2/token` is the token endpoint, as discovery says. Paths outside it pass unchanged, so a
/// reverse proxy that strips the prefix keeps working, and so do the RFC 8414 root forms
/// (`/.well-known/oauth-authorization-server/auth`).
fn relative_to_issuer<'a>(issuer: &str, path: &'a str) -> &'a str {
    let prefix = issuer.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..])).unwrap_or("");
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

fn into_axum(resp: connectivly::Response, head: bool) -> Response {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(if head { Body::empty() } else { Body::from(resp.body) });
    *out.status_mut() = status;
    for (k, v) in resp.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative_to_issuer;

    #[test]
    fn paths_are_relative_to_the_issuer() {
        let at = |issuer, path| relative_to_issuer(issuer, path);
        assert_eq!(at("http://localhost:3000", "/oauth2/token"), "/oauth2/token");
        assert_eq!(at("https://id.example/auth", "/auth/oauth2/token"), "/oauth2/token");
        assert_eq!(at("https://id.example/auth", "/auth"), "/");
        assert_eq!(at("https://id.example/auth/", "/auth/"), "/");
        assert_eq!(at("https://id.example/auth", "/authx/oauth2/token"), "/authx/oauth2/token");
        assert_eq!(at("https://id.example/auth", "/oauth2/token"), "/oauth2/token", "proxy-stripped");
        assert_eq!(
            at("https://id.example/auth", "/.well-known/oauth-authorization-server/auth"),
            "/.well-known/oauth-authorization-server/auth"
        );
    }
}

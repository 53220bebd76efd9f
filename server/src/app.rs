//! The axum adapter: every request goes to the core's `handle`, untouched but for type translation.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use connectivly::Provider;
use connectivly::http::MAX_BODY_BYTES;

/// The whole HTTP surface of the server.
pub fn app(provider: Provider) -> Router {
    Router::new().fallback(handle).with_state(provider)
}

async fn handle(State(provider): State<Provider>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                [("content-type", "application/json")],
                r#"{"error":"invalid_request","error_description":"the request body is too large"}"#,
            )
                .into_response();
        }
    };
    let core_req = connectivly::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
            .collect(),
        body: body.to_vec(),
    };
    let head = parts.method == axum::http::Method::HEAD;
    let resp = provider.handle(core_req).await;
    // Queries and bodies can hold codes and tokens, and paths session ids: none of them reach a log.
    tracing::info!(
        method = %parts.method,
        path = %connectivly::http::redact_path(parts.uri.path()),
        status = resp.status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    into_axum(resp, head)
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

//! Operational counters in Prometheus text exposition format. Dependency-free: atomics and a small
//! fixed label set, so recording costs a few nanoseconds on the hot path.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Store failures, process-wide: counted where driver errors are converted (error.rs).
pub(crate) static STORE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Latency buckets, seconds.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Endpoint labels, fixed so cardinality stays bounded whatever paths clients send.
pub const ENDPOINTS: &[&str] = &[
    "discovery",
    "jwks",
    "authorize",
    "token",
    "userinfo",
    "revoke",
    "introspect",
    "register",
    "consent",
    "host_api",
    "other",
];

pub fn endpoint_of(path: &str) -> &'static str {
    let mut seg = path.trim_start_matches('/').split('/');
    match (seg.next(), seg.next()) {
        (Some(".well-known"), Some("jwks.json")) => "jwks",
        (Some(".well-known"), _) => "discovery",
        (Some("oauth2"), Some("authorize")) => "authorize",
        (Some("oauth2"), Some("token")) => "token",
        (Some("oauth2"), Some("userinfo")) => "userinfo",
        (Some("oauth2"), Some("revoke")) => "revoke",
        (Some("oauth2"), Some("introspect")) => "introspect",
        (Some("oauth2"), Some("register")) => "register",
        (Some("consent"), _) => "consent",
        (Some("api"), _) => "host_api",
        _ => "other",
    }
}

/// Requests by (endpoint, status), and one latency histogram per endpoint (indexed like `ENDPOINTS`).
#[derive(Debug, Default)]
struct Requests {
    counts: std::collections::BTreeMap<(&'static str, u16), u64>,
    latency: Vec<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The provider's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
    pub(crate) flows_started: AtomicU64,
    pub(crate) flows_approved: AtomicU64,
    pub(crate) flows_denied: AtomicU64,
    pub(crate) flows_completed: AtomicU64,
    pub(crate) tokens_authorization_code: AtomicU64,
    pub(crate) tokens_refresh_token: AtomicU64,
    pub(crate) tokens_client_credentials: AtomicU64,
    pub(crate) refresh_reuse_detected: AtomicU64,
    pub(crate) client_auth_failures: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn observe_request(&self, endpoint: &'static str, status: u16, elapsed: Duration) {
        let mut g = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *g.counts.entry((endpoint, status)).or_insert(0) += 1;
        if g.latency.is_empty() {
            g.latency =
                ENDPOINTS.iter().map(|_| Histogram { counts: vec![0; BUCKETS.len()], ..Default::default() }).collect();
        }
        let idx = ENDPOINTS.iter().position(|e| *e == endpoint).unwrap_or(ENDPOINTS.len() - 1);
        let h = &mut g.latency[idx];
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let g = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP connectivly_http_requests_total HTTP requests by endpoint and status.\n");
        out.push_str("# TYPE connectivly_http_requests_total counter\n");
        for ((endpoint, status), n) in &g.counts {
            let _ = writeln!(out, "connectivly_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP connectivly_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE connectivly_http_request_duration_seconds histogram\n");
        for (endpoint, h) in ENDPOINTS.iter().zip(g.latency.iter()) {
            for (b, c) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "connectivly_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "connectivly_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "connectivly_http_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}", h.sum);
            let _ =
                writeln!(out, "connectivly_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}", h.count);
        }
        drop(g);
        let counter = |out: &mut String, name: &str, help: &str, series: &[(&str, &AtomicU64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, v) in series {
                let _ = writeln!(out, "{name}{labels} {}", v.load(Ordering::Relaxed));
            }
        };
        counter(
            &mut out,
            "connectivly_flows_total",
            "Authorization flows by stage.",
            &[
                ("{stage=\"started\"}", &self.flows_started),
                ("{stage=\"approved\"}", &self.flows_approved),
                ("{stage=\"denied\"}", &self.flows_denied),
                ("{stage=\"completed\"}", &self.flows_completed),
            ],
        );
        counter(
            &mut out,
            "connectivly_tokens_issued_total",
            "Token responses by grant type.",
            &[
                ("{grant_type=\"authorization_code\"}", &self.tokens_authorization_code),
                ("{grant_type=\"refresh_token\"}", &self.tokens_refresh_token),
                ("{grant_type=\"client_credentials\"}", &self.tokens_client_credentials),
            ],
        );
        counter(
            &mut out,
            "connectivly_refresh_token_reuse_total",
            "Rotated refresh tokens presented again.",
            &[("", &self.refresh_reuse_detected)],
        );
        counter(
            &mut out,
            "connectivly_client_authentication_failures_total",
            "Failed client authentications at the token, revocation and introspection endpoints.",
            &[("", &self.client_auth_failures)],
        );
        counter(&mut out, "connectivly_store_errors_total", "Store failures (process-wide).", &[("", &STORE_ERRORS)]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe_request("token", 200, Duration::from_millis(3));
        inc(&m.flows_started);
        let text = m.render();
        assert!(text.contains("connectivly_http_requests_total{endpoint=\"token\",status=\"200\"} 1"));
        assert!(text.contains("connectivly_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.005\"} 1"));
        assert!(text.contains("connectivly_http_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.001\"} 0"));
        assert!(text.contains("connectivly_flows_total{stage=\"started\"} 1"));
    }

    #[test]
    fn endpoint_labels_are_bounded() {
        assert_eq!(endpoint_of("/oauth2/token"), "token");
        assert_eq!(endpoint_of("/.well-known/openid-configuration"), "discovery");
        assert_eq!(endpoint_of("/api/clients/x"), "host_api");
        assert_eq!(endpoint_of("/whatever/../x"), "other");
    }
}

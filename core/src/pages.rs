//! Server-rendered HTML: the consent page and error pages. No external assets, no scripts: everything
//! the page needs is inline, and the CSP (see `Response::html`) forbids anything else.

use crate::config::{Config, DEFAULT_ACCENT};
use crate::http::{Response, escape_html as esc};

const STYLE: &str = r#"
:root{color-scheme:light dark}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:30rem;margin:8vh auto;padding:1.5rem 1.75rem 1.75rem;background:#fff;border-top:4px solid var(--accent);border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);overflow-wrap:anywhere}
.brand{display:flex;gap:.5rem;align-items:center;margin:0 0 1.25rem;font-size:.9rem;font-weight:600;color:#4a5160}
.brand img{width:28px;height:28px;border-radius:6px;object-fit:contain}
.app{display:flex;gap:.875rem;align-items:center;margin-bottom:.5rem}
.app img{width:48px;height:48px;flex:none;border-radius:10px;object-fit:cover}
h1{font-size:1.3rem;line-height:1.3;margin:0 0 .5rem}
.app h1{margin:0}
.meta{font-size:.875rem;color:#5a6270;margin:.25rem 0}
.scopes{list-style:none;padding:0;margin:.5rem 0 0;border:1px solid #dde1e7;border-radius:8px}
.scopes li{padding:.6rem .85rem;border-top:1px solid #dde1e7}
.scopes li:first-child{border-top:0}
.scope{display:block;font-weight:600}
.note{display:block;font-size:.8rem;color:#5a6270}
.remember{display:flex;gap:.6rem;align-items:center;margin:1.25rem 0 0}
.remember input{width:1.25rem;height:1.25rem;margin:0;flex:none;accent-color:var(--accent)}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.5rem}
button{flex:1 1 9rem;min-height:2.75rem;font:inherit;font-weight:600;padding:.6rem 1rem;border-radius:8px;border:1px solid #8a93a3;background:#fff;color:#1d2330;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}
:focus-visible{outline:3px solid #1d2330;outline-offset:2px}
@media (max-width:32rem){body{background:#fff}main{margin:0;max-width:none;min-height:100vh;border-radius:0;box-shadow:none;padding:1.25rem 1.25rem 2rem}}
@media (prefers-color-scheme:dark){body{background:#15181e;color:#e6e8ec}main{background:#1f232b}button{background:#2a2f39;color:#e6e8ec;border-color:#6b7383}.meta,.note,.brand{color:#a9b0bc}.scopes,.scopes li{border-color:#394050}:focus-visible{outline-color:#e6e8ec}}
"#;

/// How the pages present the provider: its name, logo and accent colour.
pub struct Branding<'a> {
    pub name: &'a str,
    /// Already validated by [`Config::validate`]: a `data:image/…` URI or a same-origin URL.
    pub logo: Option<&'a str>,
    /// `#rrggbb`, validated by [`Config::validate`].
    pub accent: &'a str,
}

impl<'a> Branding<'a> {
    pub fn of(config: &'a Config) -> Branding<'a> {
        Branding {
            name: &config.provider_name,
            logo: config.provider_logo_uri.as_deref(),
            accent: &config.accent_color,
        }
    }
}

/// The accent goes into a stylesheet, where escaping does not help: anything but `#rrggbb` is
/// replaced (a second guard behind `Config::validate`).
fn accent_rgb(accent: &str) -> [u8; 3] {
    let parse = |hex: &str| -> Option<[u8; 3]> {
        let hex = hex.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some([byte(0)?, byte(2)?, byte(4)?])
    };
    parse(accent).or_else(|| parse(DEFAULT_ACCENT)).unwrap_or([0x2f, 0x5b, 0xd3])
}

/// WCAG relative luminance of an sRGB colour.
fn luminance([r, g, b]: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

/// Text colour on the accent: whichever of black and white contrasts more. One of them always reaches
/// 4.5:1 (WCAG AA), so any configured accent gives a readable Allow button.
fn on_accent(rgb: [u8; 3]) -> &'static str {
    let l = luminance(rgb);
    let with_white = 1.05 / (l + 0.05);
    let with_black = (l + 0.05) / 0.05;
    if with_white >= with_black { "#fff" } else { "#000" }
}

fn layout(title: &str, brand: &Branding<'_>, body: &str) -> String {
    let rgb = accent_rgb(brand.accent);
    let logo =
        brand.logo.map(|l| format!("<img src=\"{}\" alt=\"\" width=\"28\" height=\"28\">", esc(l))).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {provider}</title><style>{STYLE}:root{{--accent:#{r:02x}{g:02x}{b:02x};--on-accent:{on}}}</style>\
         </head><body><main><p class=\"brand\">{logo}<span>{provider}</span></p>{body}</main></body></html>",
        title = esc(title),
        provider = esc(brand.name),
        r = rgb[0],
        g = rgb[1],
        b = rgb[2],
        on = on_accent(rgb),
    )
}

impl crate::provider::Provider {
    /// An error page in this provider's branding: used wherever redirecting to the client would be unsafe.
    pub(crate) fn error_page(&self, status: u16, title: &str, message: &str) -> Response {
        error_page_branded(status, &Branding::of(self.config()), title, message)
    }
}

pub fn error_page_branded(status: u16, brand: &Branding<'_>, title: &str, message: &str) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", esc(title), esc(&sentence(message)));
    let mut resp = Response::html(status, layout(title, brand, &body));
    if status >= 400 {
        resp.reason = Some(message.to_string());
    }
    resp
}

/// What the landing page (`GET {issuer}/`) points to: absolute URLs, so the page reads the same
/// whether it was reached as `/oauth` or `/oauth/`.
pub struct LandingLinks<'a> {
    pub issuer: &'a str,
    pub openid_configuration: &'a str,
    pub oauth_authorization_server: &'a str,
    pub jwks_uri: &'a str,
    /// The base of the host API (`{issuer}/api/`).
    pub host_api: &'a str,
}

/// The page a newcomer sees on opening the issuer URL: which provider this is and where its
/// documents are, instead of a bare "Not found".
pub fn landing_page(brand: &Branding<'_>, links: &LandingLinks<'_>) -> Response {
    let link = |href: &str, label: &str| {
        format!(
            "<li><a class=\"scope\" href=\"{href}\">{label}</a><span class=\"note\">{href}</span></li>",
            href = esc(href)
        )
    };
    let body = format!(
        "<h1>OAuth 2.1 and OpenID Connect provider</h1>\
         <p><strong>{name}</strong> signs users in to apps. Point an OpenID Connect or OAuth client at the issuer \
         below; it finds everything else in the discovery document.</p>\
         <p class=\"meta\">Issuer</p><p><code>{issuer}</code></p>\
         <ul class=\"scopes\">{discovery}{metadata}{jwks}</ul>\
         <p class=\"meta\">The host API lives under <code>{api}</code> and needs the <code>X-API-KEY</code> \
         header.</p>",
        name = esc(brand.name),
        issuer = esc(links.issuer),
        discovery = link(links.openid_configuration, "OpenID Connect discovery document"),
        metadata = link(links.oauth_authorization_server, "OAuth authorization server metadata (RFC 8414)"),
        jwks = link(links.jwks_uri, "Public signing keys (JWKS)"),
        api = esc(links.host_api),
    );
    Response::html(200, layout("OpenID Connect provider", brand, &body))
}

/// Error messages are written for logs and API answers ("the request was started elsewhere"); on a
/// page they read as a sentence.
fn sentence(message: &str) -> String {
    let message = message.trim();
    // A message that starts with an identifier (`redirect_uri`, `client_id`) keeps its case.
    let first_word = message.split([' ', ':']).next().unwrap_or("");
    let mut out: String = if first_word.chars().all(|c| c.is_ascii_alphabetic()) {
        let mut chars = message.chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
    } else {
        message.to_string()
    };
    if !out.is_empty() && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

pub struct ConsentView<'a> {
    pub brand: Branding<'a>,
    pub app_name: &'a str,
    pub app_owner: Option<&'a str>,
    pub app_logo: Option<&'a str>,
    pub app_uri: Option<&'a str>,
    pub user: &'a str,
    pub scopes: &'a [(String, String)],
    pub action: &'a str,
    /// The consent ticket, posted back with the decision.
    pub ticket: &'a str,
    pub csrf: &'a str,
}

pub fn consent_page(v: &ConsentView<'_>) -> Response {
    let app = esc(v.app_name);
    let mut body = String::with_capacity(2048);
    body.push_str("<div class=\"app\">");
    if let Some(logo) = v.app_logo.filter(|l| l.starts_with("https://")) {
        body.push_str(&format!("<img src=\"{}\" alt=\"\" width=\"48\" height=\"48\">", esc(logo)));
    }
    body.push_str(&format!("<h1>{app} wants to access your {} account</h1></div>", esc(v.brand.name)));
    if let Some(owner) = v.app_owner {
        body.push_str(&format!("<p class=\"meta\">App created by {}</p>", esc(owner)));
    }
    if let Some(uri) = v.app_uri {
        body.push_str(&format!("<p class=\"meta\">{}</p>", esc(uri)));
    }
    body.push_str(&format!(
        "<p id=\"scopes-label\">Signed in as <strong>{}</strong>. {app} will be able to:</p>\
         <ul class=\"scopes\" aria-labelledby=\"scopes-label\">",
        esc(v.user)
    ));
    for (name, description) in v.scopes {
        body.push_str(&format!(
            "<li><span class=\"scope\">{}</span><span class=\"note\">{}</span></li>",
            esc(description),
            esc(name)
        ));
    }
    if v.scopes.is_empty() {
        body.push_str("<li><span class=\"scope\">Know that you use it (no other access)</span></li>");
    }
    // Deny comes first, so Enter in the form denies, and nothing is autofocused: a keypress meant for
    // the previous page must not grant access.
    body.push_str(&format!(
        "</ul><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"remember\"><input type=\"checkbox\" id=\"remember\" name=\"remember\" value=\"yes\">\
         <label for=\"remember\">Remember this decision</label></div>\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\">Allow</button>\
         </div></form>",
        action = esc(v.action),
        ticket = esc(v.ticket),
        csrf = esc(v.csrf),
    ));
    let title = format!("Authorize {}", v.app_name);
    Response::html(200, layout(&title, &v.brand, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn button_text_is_readable_on_every_accent() {
        for r in (0..=255).step_by(17) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(17) {
                    let text = if on_accent([r, g, b]) == "#fff" { [255; 3] } else { [0; 3] };
                    assert!(contrast([r, g, b], text) >= 4.5, "#{r:02x}{g:02x}{b:02x}");
                }
            }
        }
        assert_eq!(on_accent([0x2f, 0x5b, 0xd3]), "#fff");
        assert_eq!(on_accent([0xff, 0xd7, 0x00]), "#000");
    }

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            sentence("open the app again: it was started elsewhere"),
            "Open the app again: it was started elsewhere."
        );
        assert_eq!(sentence("There is nothing here."), "There is nothing here.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn branding_is_escaped_and_the_accent_cannot_reach_css() {
        let brand = Branding { name: "<b>Acme</b>", logo: Some("/l.svg\"><script>"), accent: "#000;}*{x" };
        let page = String::from_utf8(error_page_branded(404, &brand, "T", "M").body).unwrap();
        assert!(page.contains("&lt;b&gt;Acme&lt;/b&gt;"));
        assert!(page.contains("/l.svg&quot;&gt;&lt;script&gt;"));
        assert!(!page.contains("<script") && !page.contains("}*{x"));
        assert!(page.contains(&format!("--accent:{DEFAULT_ACCENT}")));
    }
}

//! Server-rendered HTML: the consent page and error pages. No external assets, no scripts.

use crate::http::{Response, escape_html as esc};

const STYLE: &str = r#"
:root{--accent:#2f5bd3;color-scheme:light dark}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:6vh auto;padding:2rem 1.75rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:.25rem 0 1rem}
.provider{font-size:.9rem;color:#5a6270;margin:0}
.app{display:flex;gap:.75rem;align-items:center;margin-bottom:1rem}
.app img{width:48px;height:48px;border-radius:8px;object-fit:cover}
ul{padding-left:1.2rem}
li{margin:.35rem 0}
.scope{font-weight:600}
.owner,.note{font-size:.875rem;color:#5a6270}
.remember{display:flex;gap:.5rem;align-items:center;margin:1rem 0 0}
.remember input{width:1.1rem;height:1.1rem}
.actions{display:flex;gap:.75rem;margin-top:1.5rem;flex-wrap:wrap}
button{flex:1 1 8rem;font:inherit;padding:.7rem 1rem;border-radius:8px;border:1px solid #c3c8d2;background:#fff;color:#1d2330;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
@media (prefers-color-scheme:dark){body{background:#15181e;color:#e6e8ec}main{background:#1f232b}button{background:#2a2f39;color:#e6e8ec;border-color:#444b57}.owner,.note,.provider{color:#a9b0bc}}
"#;

fn layout(title: &str, provider_name: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>\
         <p class=\"provider\">{provider}</p>{body}</main></body></html>",
        title = esc(title),
        provider = esc(provider_name),
    )
}

/// A plain error page: used wherever redirecting to the client would be unsafe.
pub fn error_page(status: u16, title: &str, message: &str) -> Response {
    error_page_named(status, "Connectivly", title, message)
}

pub fn error_page_named(status: u16, provider_name: &str, title: &str, message: &str) -> Response {
    let body = format!("<h1>{}</h1><p>{}</p>", esc(title), esc(message));
    Response::html(status, layout(title, provider_name, &body))
}

pub struct ConsentView<'a> {
    pub provider_name: &'a str,
    pub app_name: &'a str,
    pub app_owner: Option<&'a str>,
    pub app_logo: Option<&'a str>,
    pub app_uri: Option<&'a str>,
    pub user: &'a str,
    pub scopes: &'a [(String, String)],
    pub action: &'a str,
    pub csrf: &'a str,
}

pub fn consent_page(v: &ConsentView<'_>) -> Response {
    let mut body = String::with_capacity(2048);
    body.push_str("<div class=\"app\">");
    if let Some(logo) = v.app_logo.filter(|l| l.starts_with("https://")) {
        body.push_str(&format!("<img src=\"{}\" alt=\"\">", esc(logo)));
    }
    body.push_str(&format!("<h1>{} wants to access your account</h1></div>", esc(v.app_name)));
    if let Some(owner) = v.app_owner {
        body.push_str(&format!("<p class=\"owner\">App created by {}</p>", esc(owner)));
    }
    if let Some(uri) = v.app_uri {
        body.push_str(&format!("<p class=\"owner\">{}</p>", esc(uri)));
    }
    body.push_str(&format!("<p>Signed in as <strong>{}</strong>. It will be able to:</p><ul>", esc(v.user)));
    for (name, description) in v.scopes {
        body.push_str(&format!(
            "<li><span class=\"scope\">{}</span> <span class=\"note\">({})</span></li>",
            esc(description),
            esc(name)
        ));
    }
    if v.scopes.is_empty() {
        body.push_str("<li>Know that you use it (no other access)</li>");
    }
    body.push_str(&format!(
        "</ul><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p class=\"remember\"><input type=\"checkbox\" id=\"remember\" name=\"remember\" value=\"yes\">\
         <label for=\"remember\">Remember this decision</label></p>\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"primary\" autofocus>Allow</button>\
         </div></form>",
        action = esc(v.action),
        csrf = esc(v.csrf),
    ));
    let title = format!("Authorize {}", v.app_name);
    Response::html(200, layout(&title, v.provider_name, &body))
}

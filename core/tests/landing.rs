//! What a newcomer finds: a landing page at the issuer URL, and the metadata where RFC 8414 §3.1 and the
//! MCP authorization spec look for it when the issuer has a path.

mod common;

use common::*;
use connectivly::{Request, Response};
use serde_json::json;

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn get(env: &Env, path: &str, accept: Option<&str>) -> Response {
    let mut req = Request::new("GET", path);
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    env.call(req).await
}

#[tokio::test]
async fn the_issuer_url_shows_a_landing_page_with_the_documents() {
    let env = env_with("memory", |c| c.provider_name = "Acme <Photos> & Co".into()).await;
    let r = get(&env, "/", None).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(r.get_header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.get_header("vary"), Some("Accept"));
    assert!(r.get_header("content-security-policy").unwrap().contains("default-src 'none'"));
    let page = text(&r);
    // The name is escaped, never markup.
    assert!(page.contains("<strong>Acme &lt;Photos&gt; &amp; Co</strong>"), "{page}");
    assert!(!page.contains("<Photos>") && !page.contains("<script"), "{page}");
    assert!(page.contains(&format!("<code>{ISSUER}</code>")), "{page}");
    for doc in
        ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"]
    {
        assert!(page.contains(&format!("href=\"{ISSUER}{doc}\"")), "{doc}: {page}");
    }
    assert!(page.contains(&format!("<code>{ISSUER}/api/</code>")) && page.contains("X-API-KEY"), "{page}");

    // An embedded provider's mount hands `/oauth` and `/oauth/` over as "", or "/".
    assert_eq!(get(&env, "", None).await.body, r.body);
    let head = env.call(Request::new("HEAD", "/")).await;
    assert_eq!(head.status, 200);
    let post = env.call(Request::new("POST", "/").body("x=1")).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.get_header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn a_client_that_asks_for_json_gets_the_document_urls() {
    let env = env("memory").await;
    let want = json!({
        "issuer": ISSUER,
        "openid_configuration": format!("{ISSUER}/.well-known/openid-configuration"),
        "oauth_authorization_server": format!("{ISSUER}/.well-known/oauth-authorization-server"),
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
    });
    for accept in [
        "application/json",
        "application/json, text/plain, */*", // axios
        "text/html;q=0.5, application/json",
        "application/*",
    ] {
        let r = get(&env, "/", Some(accept)).await;
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.get_header("content-type"), Some("application/json"), "{accept}");
        assert_eq!(r.body_json().unwrap(), want, "{accept}");
        assert_eq!(r.get_header("vary"), Some("Accept"));
    }
    for accept in [
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", // a browser
        "*/*",                                                             // curl
        "application/json, text/html",                                     // a tie: the page
        "application/json;q=0",
        "application/json;q=banana",
        "image/png",
        ",;,;=q,,",
    ] {
        let r = get(&env, "/", Some(accept)).await;
        assert_eq!(r.status, 200, "{accept}");
        assert!(r.get_header("content-type").unwrap().starts_with("text/html"), "{accept}");
    }
}

#[tokio::test]
async fn an_issuer_with_a_path_answers_the_rfc_8414_path_form() {
    let issuer = "https://app.example.com/oauth";
    for env in envs_with(|c| c.issuer = issuer.into()).await {
        assert_eq!(
            env.provider.root_metadata_paths(),
            ["/.well-known/oauth-authorization-server/oauth", "/.well-known/openid-configuration/oauth"]
        );
        for path in env.provider.root_metadata_paths() {
            let r = get(&env, &path, None).await;
            assert_eq!(r.status, 200, "[{}] {path}: {}", env.kind, text(&r));
            let doc = r.body_json().unwrap();
            assert_eq!(doc["issuer"], issuer, "{path}");
            assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth2/token"));
            assert_eq!(env.call(Request::new("HEAD", &path)).await.status, 200);
            let post = env.call(Request::new("POST", &path)).await;
            assert_eq!(post.status, 405, "{path}");
            assert_eq!(post.get_header("allow"), Some("GET, HEAD"), "{path}");
        }
        // The ordinary paths below the issuer still serve, and say which methods they take.
        assert_eq!(get(&env, "/.well-known/openid-configuration", None).await.status, 200);
        let post = env.call(Request::new("POST", "/.well-known/openid-configuration")).await;
        assert_eq!((post.status, post.get_header("allow")), (405, Some("GET, HEAD")));
        let put = env.call(Request::new("PUT", "/oauth2/userinfo")).await;
        assert_eq!((put.status, put.get_header("allow")), (405, Some("GET, POST")));
        // Another issuer's path, a longer one, or the path form of a document this is not: 404, so a
        // client tries its next candidate (405 would say the document exists).
        for path in [
            "/.well-known/oauth-authorization-server/other",
            "/.well-known/oauth-authorization-server/oauth/x",
            "/.well-known/oauth-authorization-server/",
            "/.well-known/openid-configuration/oauth/",
            "/.well-known/jwks.json/oauth",
            "/.well-known/oauth-protected-resource",
            "/oauth2/nope",
        ] {
            let r = get(&env, path, None).await;
            assert_eq!(r.status, 404, "{path}: {}", text(&r));
            assert_eq!(r.body_json().unwrap()["error"], "not_found", "{path}");
        }
    }
}

#[tokio::test]
async fn an_issuer_at_the_root_has_no_path_form() {
    let env = env("memory").await;
    assert!(env.provider.root_metadata_paths().is_empty());
    assert_eq!(get(&env, "/.well-known/oauth-authorization-server/oauth", None).await.status, 404);
    assert_eq!(get(&env, "/.well-known/oauth-authorization-server", None).await.status, 200);
}

#[test]
fn root_metadata_paths_follow_the_issuer_as_a_client_sends_it() {
    assert_eq!(
        connectivly::root_metadata_paths("https://example.com/tenants/a%20b/"),
        ["/.well-known/oauth-authorization-server/tenants/a%20b", "/.well-known/openid-configuration/tenants/a%20b"]
    );
    assert!(connectivly::root_metadata_paths("https://example.com").is_empty());
    assert!(connectivly::root_metadata_paths("https://example.com/").is_empty());
    assert!(connectivly::root_metadata_paths("not a url").is_empty());
}

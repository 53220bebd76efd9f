//! `RemoteProvider` against a real server on loopback: same names, same results, same error kinds.

use connectivly::{Approval, Config, ErrorKind, NewClient, Provider, RemoteProvider, Request};

const KEY: &str = "remote-test-api-key-1234";

async fn serve() -> (Provider, String) {
    let mut cfg = Config::new("http://127.0.0.1:0", "https://app.example.com/connectivly");
    cfg.database_url = "memory:".into();
    cfg.api_key = Some(KEY.into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    cfg.issuer = url.clone();
    let provider = Provider::open(cfg).await.unwrap();
    let app = connectivly_server::app(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (provider, url)
}

#[tokio::test]
async fn remote_host_api_mirrors_the_native_one() {
    let (provider, url) = serve().await;
    let remote = RemoteProvider::new(&url, KEY).unwrap();
    let created = remote
        .create_client(NewClient {
            name: "Remote".into(),
            redirect_uris: vec!["https://r.example/cb".into()],
            owner: Some("o 1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.client_secret.is_some());
    assert_eq!(remote.get_client(&created.client.client_id).await.unwrap(), created.client);
    assert_eq!(remote.list_clients(Some("o 1")).await.unwrap().len(), 1);
    assert!(remote.list_clients(Some("o")).await.unwrap().is_empty());

    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fr.example%2Fcb&scope=openid%20email&state=s1\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        created.client.client_id
    );
    let r = provider.handle(Request::new("GET", &authorize)).await;
    let loc = r.get_header("location").unwrap();
    let id = loc.split("token=").nth(1).unwrap().to_string();

    let info = remote.auth_session(&id).await.unwrap();
    assert_eq!(info, provider.auth_session(&id).await.unwrap());
    assert_eq!(info.client.name, "Remote");

    let to = remote.approve(&id, Approval { skip_consent: true, ..Approval::new("ann") }).await.unwrap();
    assert!(to.starts_with("https://r.example/cb?code="), "{to}");
    let again = remote.approve(&id, Approval::new("ann")).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyUsed);
    let missing = remote.auth_session("cly_ses_nope").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    // Each error kind crosses the wire as itself, and as the native call names it: an approval of a
    // decided session is AlreadyUsed whatever its body...
    let used = remote.approve(&id, Approval::new("")).await.unwrap_err();
    assert_eq!(used.kind(), ErrorKind::AlreadyUsed);
    // ...and an invalid approval (no user) of a pending one is InvalidRequest, the session untouched.
    let r = provider.handle(Request::new("GET", &authorize)).await;
    let pending = r.get_header("location").unwrap().split("token=").nth(1).unwrap().to_string();
    let bad = remote.approve(&pending, Approval::new("")).await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidRequest, "{bad}");
    assert_eq!(provider.approve(&pending, Approval::new("")).await.unwrap_err().kind(), ErrorKind::InvalidRequest);
    assert_eq!(remote.auth_session(&pending).await.unwrap().status, "pending");

    let rotated = remote.rotate_client_secret(&created.client.client_id).await.unwrap();
    assert_ne!(rotated.client_secret, created.client_secret);
    remote.delete_client(&created.client.client_id).await.unwrap();
    assert_eq!(remote.get_client(&created.client.client_id).await.unwrap_err().kind(), ErrorKind::NotFound);

    let inactive = remote.introspect("not-a-token").await.unwrap();
    assert!(!inactive.active);
    assert_eq!(remote.verify_access_token("x", &[]).await.unwrap_err().kind(), ErrorKind::InvalidToken);

    let wrong_key = RemoteProvider::new(&url, "wrong-key-wrong-key").unwrap();
    assert_eq!(wrong_key.list_clients(None).await.unwrap_err().kind(), ErrorKind::Unauthorized);
    let nowhere = RemoteProvider::new("http://127.0.0.1:9", KEY).unwrap();
    assert_eq!(nowhere.list_clients(None).await.unwrap_err().kind(), ErrorKind::Remote);
}

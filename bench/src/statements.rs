//! Database statements per operation, as the SQLite store records them (the `count-statements`
//! feature), with the provider embedded in this process.

use std::collections::BTreeMap;

use connectivly::store::statement_log;
use connectivly::{Approval, Config, NewClient, Provider, Request, SigningAlg};

use crate::client::{BoxError, basic_auth};

fn take() -> Vec<String> {
    statement_log::take()
        .into_iter()
        .map(|sql| {
            let words: Vec<&str> = sql.split_whitespace().take(4).collect();
            format!("{} …", words.join(" "))
        })
        .collect()
}

/// Counts statements for each step of a flow and for the token grants; prints a table and, with
/// `verbose`, each statement.
pub async fn report(alg: SigningAlg, verbose: bool) -> Result<BTreeMap<&'static str, usize>, BoxError> {
    statement_log::record_statements(true);
    let dir = tempfile::tempdir()?;
    let mut config = Config::new("http://127.0.0.1:1", "http://127.0.0.1:9/login");
    config.database_url = format!("sqlite://{}", dir.path().join("statements.db").display());
    config.signing_alg = alg;
    let provider = Provider::open(config).await?;
    let client = provider
        .create_client(NewClient {
            name: "statements".into(),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            issue_refresh_tokens: true,
            ..Default::default()
        })
        .await?;
    let secret = client.client_secret.clone().ok_or("no secret")?;
    let auth = basic_auth(&client.client.client_id, &secret);

    let mut counts = BTreeMap::new();
    let mut statements: Vec<(&'static str, Vec<String>)> = Vec::new();
    // The first round warms caches (the provider's and SQLite's); the second is the one reported.
    for round in 0..2 {
        let (verifier, authorize) =
            crate::inprocess::authorize_request(&client.client.client_id, "http://127.0.0.1:9/cb");
        take();
        let r = provider.handle(authorize).await;
        let log_authorize = take();
        let location = r.get_header("location").ok_or("authorize did not redirect")?.to_string();
        let session = url::Url::parse(&location)?
            .query_pairs()
            .find(|(k, _)| k == "token")
            .ok_or("no session id")?
            .1
            .into_owned();
        let mut approval = Approval::new("alice");
        approval.skip_consent = true;
        let back = provider.approve(&session, approval).await?;
        let log_approve = take();
        let code = url::Url::parse(&back)?.query_pairs().find(|(k, _)| k == "code").ok_or("no code")?.1.into_owned();
        let token_req = Request::new("POST", "/oauth2/token").header("authorization", &auth).form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_verifier", &verifier),
        ]);
        let r = provider.handle(token_req).await;
        let log_token = take();
        let tokens: serde_json::Value = serde_json::from_slice(&r.body)?;
        let refresh = tokens["refresh_token"].as_str().ok_or("no refresh token")?;
        let access = tokens["access_token"].as_str().ok_or("no access token")?.to_string();
        let r = provider
            .handle(
                Request::new("POST", "/oauth2/token")
                    .header("authorization", &auth)
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]),
            )
            .await;
        if r.status != 200 {
            return Err(format!("refresh answered {}", r.status).into());
        }
        let log_refresh = take();
        let r = provider
            .handle(
                Request::new("POST", "/oauth2/token")
                    .header("authorization", &auth)
                    .form(&[("grant_type", "client_credentials")]),
            )
            .await;
        if r.status != 200 {
            return Err(format!("client_credentials answered {}", r.status).into());
        }
        let log_cc = take();
        provider.verify_access_token(&access, &[]).await?;
        let log_verify = take();
        if round == 1 {
            statements = vec![
                ("authorize", log_authorize),
                ("approve", log_approve),
                ("token (authorization_code)", log_token),
                ("token (refresh_token)", log_refresh),
                ("token (client_credentials)", log_cc),
                ("verify_access_token", log_verify),
            ];
        }
    }
    println!("Database statements per operation (SQLite store, as the store records them; BEGIN/COMMIT included):");
    let mut flow_total = 0;
    for (name, log) in &statements {
        println!("  {name:<28} {:>3}", log.len());
        if matches!(*name, "authorize" | "approve" | "token (authorization_code)") {
            flow_total += log.len();
        }
        counts.insert(*name, log.len());
        if verbose {
            for s in log {
                println!("      {s}");
            }
        }
    }
    println!("  {:<28} {flow_total:>3}", "full flow (the first three)");
    counts.insert("full flow", flow_total);
    provider.close().await;
    Ok(counts)
}

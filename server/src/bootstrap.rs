//! First run: the API key and two demo clients, printed once in the original connectivly's banner
//! format (`API Key:`, `Client ID:`, `Client Secret:` — scripts parse these labels).

use connectivly::{NewClient, Provider, Result};

const SETTING_BOOTSTRAPPED: &str = "bootstrapped_at";

/// What the banner shows.
#[derive(Debug)]
pub struct Banner {
    pub api_key: ApiKeyLine,
    pub clients: Vec<(String, String, Option<String>)>,
    pub first_run: bool,
    /// The redirect URI the demo clients were made with (first run only): a newcomer's client must
    /// use exactly this one.
    pub demo_redirect_uri: Option<String>,
    /// The demo-client setting, as the user wrote it, when it was set on a later run and changed nothing.
    pub ignored_demo_setting: Option<String>,
}

#[derive(Debug)]
pub enum ApiKeyLine {
    New(String),
    FromEnv,
    Unchanged,
}

/// `demo_setting`: how the user named the demo redirect URI setting, when they set it.
pub async fn run(provider: &Provider, demo_redirect_uri: &str, demo_setting: Option<&str>) -> Result<Banner> {
    let new_key = provider.ensure_api_key().await?;
    let first_run =
        provider.store().insert_setting_if_absent(SETTING_BOOTSTRAPPED, &connectivly::time::now().to_string()).await?;
    let mut clients = Vec::new();
    if first_run {
        for n in 1..=2 {
            let created = provider
                .create_client(NewClient {
                    name: format!("Client {n} App"),
                    redirect_uris: vec![demo_redirect_uri.to_string()],
                    ..Default::default()
                })
                .await?;
            clients.push((created.client.name, created.client.client_id, created.client_secret));
        }
    }
    // Set on a later run to a URI no client has: it changed nothing, which must not go unnoticed.
    // (The same value on every start, as a `.env` file gives, is no news.)
    let mut demo_uri_unused = false;
    if !first_run {
        let existing = provider.list_clients(None).await?;
        demo_uri_unused = !existing.iter().any(|c| c.redirect_uris.iter().any(|u| u == demo_redirect_uri));
        for c in existing.into_iter().take(10) {
            clients.push((c.name, c.client_id, None));
        }
    }
    let api_key = match (new_key, provider.config().api_key.is_some()) {
        (_, true) => ApiKeyLine::FromEnv,
        (Some(k), false) => ApiKeyLine::New(k),
        (None, false) => ApiKeyLine::Unchanged,
    };
    let ignored_demo_setting = demo_setting.filter(|_| demo_uri_unused).map(str::to_string);
    if let Some(name) = &ignored_demo_setting {
        tracing::warn!(
            "{name} only applies on the first run, when the demo clients are created; it changed nothing now"
        );
    }
    Ok(Banner {
        api_key,
        clients,
        first_run,
        demo_redirect_uri: first_run.then(|| demo_redirect_uri.to_string()),
        ignored_demo_setting,
    })
}

impl Banner {
    pub fn render(&self, issuer: &str, database_url: &str) -> String {
        let database_url = connectivly::store::redacted_url(database_url);
        let mut out = format!("Listening... {issuer}\n\n");
        match &self.api_key {
            ApiKeyLine::New(k) => out.push_str(&format!("API Key: {k}\n\n")),
            ApiKeyLine::FromEnv => out.push_str("Host API key: from CONNECTIVLY_API_KEY\n\n"),
            ApiKeyLine::Unchanged => out.push_str(&format!(
                "Reusing {database_url}: the API key and client secrets are unchanged and were shown at first run \
                 (`connectivly rotate-api-key` issues a new key).\n\n"
            )),
        }
        for (name, id, secret) in &self.clients {
            out.push_str(&format!("{name}\nClient ID: {id}\n"));
            if let Some(s) = secret {
                out.push_str(&format!("Client Secret: {s}\n"));
            }
            out.push('\n');
        }
        if let Some(uri) = &self.demo_redirect_uri {
            out.push_str(&format!(
                "Both demo clients accept only the redirect URI {uri} (CONNECTIVLY_DEMO_REDIRECT_URI, read on the \
                 first run only).\n"
            ));
        }
        if let Some(name) = &self.ignored_demo_setting {
            out.push_str(&format!(
                "{name} is set, but the demo clients already exist: it only applies on the first run. Register \
                 a client for another redirect URI with `connectivly clients create --name NAME --redirect-uri URI`.\n\n"
            ));
        }
        if self.first_run {
            out.push_str("Secrets are shown once and stored only as hashes: copy them now.\n");
        }
        out
    }
}

//! Command line: `connectivly` serves; subcommands manage clients and the API key.

use clap::{Args, Parser, Subcommand};
use connectivly::{Error, NewClient, Provider, Result};
use std::io::Write;

use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(name = "connectivly", version, about = "OAuth 2.1 + OpenID Connect for your app, which keeps its own login.")]
pub struct Cli {
    /// Database URL (overrides CONNECTIVLY_DATABASE_URL; default sqlite://connectivly.db).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// TOML configuration file (default: CONNECTIVLY_CONFIG, else ./connectivly.toml when present).
    /// Environment variables override it.
    #[arg(long, global = true)]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage client applications.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Issue a new host-API key; the old one stops working at once, in running servers too.
    RotateApiKey,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys (active and retired-but-published).
    List,
    /// Replace the active signing keys; old ones stay published until their tokens expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client and print its id and secret (shown once).
    Create(CreateArgs),
    /// List clients.
    List {
        #[arg(long)]
        owner: Option<String>,
    },
    /// Delete a client and revoke its tokens.
    Delete { client_id: String },
    /// Issue a new secret for a confidential client.
    RotateSecret { client_id: String },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for several).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; must use PKCE).
    #[arg(long)]
    pub public: bool,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub logo_uri: Option<String>,
    #[arg(long)]
    pub client_uri: Option<String>,
    /// A scope this client may be granted (repeat; client_credentials needs at least one).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Always issue refresh tokens, even without offline_access.
    #[arg(long)]
    pub refresh_tokens: bool,
    /// A resource server: may introspect access tokens issued to other clients.
    #[arg(long)]
    pub introspection: bool,
}

pub async fn run(cli: Cli) -> Result<()> {
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let settings = Settings::load(cli.database_url, serving, crate::settings::config_path(cli.config))?;
    let provider = Provider::open(settings.core.clone()).await.map_err(|e| settings.rename(e))?;
    let mut out = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock<'_>, s: String| {
        out.write_all(s.as_bytes()).and_then(|_| out.flush()).map_err(|e| Error::internal(format!("stdout: {e}")))
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            drop(out);
            serve(settings, provider).await
        }
        Command::RotateApiKey => {
            let key = provider.rotate_api_key().await?;
            w(&mut out, format!("API Key: {key}\nThe old key no longer works.\n"))
        }
        Command::Keys(KeysCommand::List) => {
            let mut s = String::new();
            for k in provider.signing_keys() {
                let state = match k.retired_at {
                    None => "active".to_string(),
                    Some(t) => format!("retired at {t}"),
                };
                s.push_str(&format!("{}\t{}\tcreated at {}\t{}\n", k.kid, k.alg, k.created_at, state));
            }
            w(&mut out, s)
        }
        Command::Keys(KeysCommand::Rotate) => {
            let mut s = String::new();
            for k in provider.rotate_keys().await? {
                s.push_str(&format!("New {} key: {}\n", k.alg, k.kid));
            }
            s.push_str("Running servers pick the new keys up within ten minutes (at once when they see a token signed by one).\n");
            w(&mut out, s)
        }
        Command::Clients(ClientsCommand::Create(a)) => {
            let c = provider
                .create_client(NewClient {
                    name: a.name,
                    owner: a.owner,
                    redirect_uris: a.redirect_uris,
                    public: a.public,
                    first_party: a.first_party,
                    logo_uri: a.logo_uri,
                    client_uri: a.client_uri,
                    allowed_scopes: (!a.scopes.is_empty()).then_some(a.scopes),
                    issue_refresh_tokens: a.refresh_tokens,
                    introspection_allowed: a.introspection,
                })
                .await?;
            let mut s = format!("{}\nClient ID: {}\n", c.client.name, c.client.client_id);
            if let Some(secret) = c.client_secret {
                s.push_str(&format!("Client Secret: {secret}\n"));
            }
            w(&mut out, s)
        }
        Command::Clients(ClientsCommand::List { owner }) => {
            let mut s = String::new();
            for c in provider.list_clients(owner.as_deref()).await? {
                s.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    c.client_id,
                    if c.public { "public" } else { "confidential" },
                    c.name,
                    c.redirect_uris.join(" ")
                ));
            }
            w(&mut out, s)
        }
        Command::Clients(ClientsCommand::Delete { client_id }) => {
            provider.delete_client(&client_id).await?;
            w(&mut out, format!("Deleted {client_id}\n"))
        }
        Command::Clients(ClientsCommand::RotateSecret { client_id }) => {
            let c = provider.rotate_client_secret(&client_id).await?;
            w(
                &mut out,
                format!("Client ID: {}\nClient Secret: {}\n", c.client.client_id, c.client_secret.unwrap_or_default()),
            )
        }
    }
}

async fn serve(settings: Settings, provider: Provider) -> Result<()> {
    let banner =
        crate::bootstrap::run(&provider, &settings.demo_redirect_uri, settings.demo_redirect_uri_label.as_deref())
            .await?;
    let addr = format!("{}:{}", settings.bind, settings.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| Error::config(format!("cannot listen on {addr}: {e}")))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.render(provider.issuer(), &settings.core.database_url).as_bytes());
        let _ = out.flush();
    }
    tracing::info!(%addr, issuer = provider.issuer(), "listening");
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    if let Some(port) = settings.metrics_port {
        let admin = format!("{}:{port}", settings.bind);
        let admin_listener = tokio::net::TcpListener::bind(&admin)
            .await
            .map_err(|e| Error::config(format!("cannot listen on {admin} (metrics): {e}")))?;
        let admin_app = crate::app::admin_app(provider.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin_listener, admin_app).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
        tracing::info!(%admin, "metrics on a separate port");
    }
    let grace = settings.shutdown_timeout;
    let app = crate::app::app_with(provider, settings.metrics_port.is_none());
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(true);
    });
    // In-flight requests get `shutdown_timeout` to finish; a stuck one cannot hold the process forever.
    let deadline = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r.map_err(|e| Error::internal(format!("server error: {e}")))?,
        () = deadline => tracing::warn!(seconds = grace.as_secs(), "requests still running at the shutdown deadline"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

//! `connectivly`: the standalone server. Configuration from `CONNECTIVLY_*` env vars.

use clap::Parser;

use connectivly_server::cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONNECTIVLY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connectivly: {}", e.message());
            std::process::ExitCode::from(match e.kind() {
                connectivly::ErrorKind::Config | connectivly::ErrorKind::InvalidRequest => 2,
                _ => 1,
            })
        }
    }
}

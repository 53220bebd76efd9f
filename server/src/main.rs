//! `connectivly`: the standalone server. Configuration from `CONNECTIVLY_*` env vars.

use clap::Parser;

use connectivly_server::cli;

// jemalloc rather than glibc's malloc: a server allocates and frees small buffers on every request
// from several threads. Measured with `connectivly-bench load` (ES256, 64 connections, runs
// alternating with a glibc build): 3,423–3,774 sign-in flows per second against 3,033–3,263, and
// resident memory that stays flat under sustained load where glibc's per-thread arenas crept upward
// (from the first minute to the second: glibc 20.2 → 20.6 MiB, jemalloc 22.0 → 22.1). Idle RSS is
// about 1 MiB higher (12.5–12.8 against 11.2–12.0 MiB).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONNECTIVLY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Human-readable by default; one JSON object per line for log pipelines.
    let json = std::env::var("CONNECTIVLY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colour codes only for a terminal: in a file or a log collector they are noise (and cost a
    // formatting pass per line).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().with_current_span(true).with_span_list(false).init();
    } else {
        builder.init();
    }
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

//! `connectivly-bench`: measures a Connectivly server under load, the signing floor, and the
//! database statements each operation costs. Prints figures; asserts nothing about time.

mod client;
mod idtoken;
mod inprocess;
mod load;
mod server;
mod signing;
mod statements;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::client::BoxError;
use crate::load::{Scenario, Target};

#[derive(Parser)]
#[command(version, about = "Load generator and figures for Connectivly")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs scenarios against a server: one it starts (`--server`) or one already running (`--url`).
    Load(LoadArgs),
    /// Pure signing and verification cost per algorithm on this machine (one thread).
    Sign {
        /// Seconds of work per measurement.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// The token endpoint in this process (no HTTP): CPU per token response next to pure signing.
    Token {
        /// Seconds of work per figure.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Database statements per operation, on a SQLite file, with the provider in this process.
    Statements {
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Also print each statement.
        #[arg(long, short)]
        verbose: bool,
    },
}

#[derive(clap::Args)]
struct LoadArgs {
    /// A `connectivly` binary to start for the run, on a fresh SQLite file (reports its CPU and memory).
    #[arg(long, conflicts_with = "url")]
    server: Option<PathBuf>,
    /// A running server's address (`http://127.0.0.1:3000`); needs `--api-key`.
    #[arg(long, requires = "api_key")]
    url: Option<String>,
    #[arg(long, env = "CONNECTIVLY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Scenarios to run, in order.
    #[arg(long, short, value_enum, value_delimiter = ',', default_value = "flow,client-credentials,introspect,verify")]
    scenario: Vec<Scenario>,
    /// Concurrent connections, each running one iteration at a time.
    #[arg(long, short, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds per scenario.
    #[arg(long, short, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before each scenario.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Signing algorithm of a server started with `--server` (ID tokens, and access tokens unless
    /// `--access-token-alg` says otherwise).
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// `CONNECTIVLY_ACCESS_TOKEN_SIGNING_ALG` of a server started with `--server` (default: `--alg`).
    #[arg(long)]
    access_token_alg: Option<String>,
    /// `CONNECTIVLY_LOG` of a server started with `--server` (its log goes to a file).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Print the server's resident memory this many times during each scenario (`--server` only).
    #[arg(long, default_value_t = 4)]
    rss_samples: u32,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connectivly-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Sign { seconds } => {
            println!("{:<6} {:>12} {:>12}", "alg", "sign", "verify");
            for alg in ["RS256", "ES256", "EdDSA"] {
                let (s, v) = signing::cost(alg, Duration::from_secs_f64(seconds));
                println!("{alg:<6} {:>12} {:>12}", fmt_us(s), fmt_us(v));
            }
            Ok(())
        }
        Command::Token { seconds } => {
            // One thread, as for the signing floor the ratio divides by.
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(inprocess::report(Duration::from_secs_f64(seconds)))
        }
        Command::Statements { alg, verbose } => {
            let alg = connectivly::SigningAlg::parse(&alg)?;
            runtime(2)?.block_on(statements::report(alg, verbose)).map(drop)
        }
        Command::Load(args) => load(args),
    }
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?)
}

fn load(args: LoadArgs) -> Result<(), BoxError> {
    let spawned = match &args.server {
        Some(bin) => Some(server::Spawned::start(bin, &args.alg, args.access_token_alg.as_deref(), &args.server_log)?),
        None => None,
    };
    let (addr, api_key): (SocketAddr, String) = match (&spawned, &args.url) {
        (Some(s), _) => (s.addr, s.api_key.clone()),
        (None, Some(url)) => {
            let u = url::Url::parse(url)?;
            if u.scheme() != "http" {
                return Err("the load generator speaks plain http to a local server".into());
            }
            let host = u.host_str().ok_or("no host")?;
            let port = u.port_or_known_default().ok_or("no port")?;
            let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?.next().ok_or("unresolvable")?;
            (addr, args.api_key.clone().ok_or("--api-key is required with --url")?)
        }
        (None, None) => return Err("give --server <connectivly binary> or --url <running server>".into()),
    };
    let pid = spawned.as_ref().map(|s| s.pid());
    // The signing floor is measured before the load, on a quiet machine.
    let at_alg = args.access_token_alg.clone().unwrap_or_else(|| args.alg.clone());
    let floor = spawned.as_ref().map(|_| {
        let id = signing::cost(&args.alg, Duration::from_millis(500)).0;
        let at = if at_alg == args.alg { id } else { signing::cost(&at_alg, Duration::from_millis(500)).0 };
        (id, at)
    });
    if let Some(pid) = pid {
        std::thread::sleep(Duration::from_secs(1));
        let algs = if at_alg == args.alg {
            args.alg.clone()
        } else {
            format!("{} ID tokens, {at_alg} access tokens", args.alg)
        };
        println!("server: {} (pid {pid}), {algs}, SQLite file", args.server.as_ref().unwrap().display());
        println!("server RSS idle: {:.1} MiB", server::rss_mib(pid).unwrap_or(f64::NAN));
    }
    // One core for the load generator: it must not starve the server it measures.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let target = Arc::new(rt.block_on(Target::prepare(addr, &api_key))?);
    println!(
        "{} concurrent connections, {:.0} s per scenario after {:.0} s warm-up\n",
        args.concurrency, args.duration, args.warmup
    );
    let mut failed = false;
    for scenario in args.scenario {
        let cpu_before = pid.and_then(server::cpu_seconds);
        let sampler = pid.map(|pid| rss_sampler(pid, args.warmup, args.duration, args.rss_samples));
        let outcome = rt.block_on(load::run(
            target.clone(),
            scenario,
            args.concurrency,
            Duration::from_secs_f64(args.warmup),
            Duration::from_secs_f64(args.duration),
        ))?;
        let cpu_after = pid.and_then(server::cpu_seconds);
        println!("{}", scenario.label());
        println!(
            "  {:>10.0} /s   p50 {}   p99 {}   max {}   ok {}   errors {}",
            outcome.per_second(),
            fmt_ms(outcome.percentile(0.50)),
            fmt_ms(outcome.percentile(0.99)),
            fmt_ms(outcome.max()),
            outcome.ok,
            outcome.errors
        );
        if let Some(e) = &outcome.first_error {
            println!("  first error: {e}");
            failed = true;
        }
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            // Warm-up iterations used server CPU too: scale by the measured share of the wall time.
            let share = args.duration / (args.duration + args.warmup);
            let per_op = Duration::from_secs_f64((after - before) * share / outcome.ok.max(1) as f64);
            print!("  server CPU per operation {}", fmt_us(per_op));
            let (ids, ats) = scenario.signatures();
            if let Some((id_floor, at_floor)) = floor.filter(|_| ids + ats > 0) {
                let signing = id_floor * ids + at_floor * ats;
                let what: Vec<String> = [(ids, &args.alg), (ats, &at_alg)]
                    .iter()
                    .filter(|(n, _)| *n > 0)
                    .map(|(n, alg)| format!("{n}× {alg}"))
                    .collect();
                print!(
                    "   pure signing {} ({})   ratio {:.2}",
                    fmt_us(signing),
                    what.join(" + "),
                    per_op.as_secs_f64() / signing.as_secs_f64()
                );
            }
            println!();
        }
        if let Some(s) = sampler {
            let samples = s.join().unwrap_or_default();
            let list: Vec<String> = samples.iter().map(|(t, m)| format!("{t:.1}s {m:.1}")).collect();
            println!("  server RSS MiB: {}", list.join(", "));
        }
        println!();
    }
    if failed {
        return Err("some iterations failed (see `first error` above)".into());
    }
    Ok(())
}

/// Samples the server's RSS `n` times evenly through the measured part of a scenario.
fn rss_sampler(pid: u32, warmup: f64, duration: f64, n: u32) -> std::thread::JoinHandle<Vec<(f64, f64)>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        std::thread::sleep(Duration::from_secs_f64(warmup));
        for i in 1..=n.max(1) {
            std::thread::sleep(Duration::from_secs_f64(duration / n.max(1) as f64 * 0.999));
            if let Some(m) = server::rss_mib(pid) {
                out.push((duration / n.max(1) as f64 * i as f64, m));
            }
        }
        out
    })
}

fn fmt_us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

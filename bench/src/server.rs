//! Starts a `connectivly` server for a run (fresh SQLite file, loopback port) and reads its CPU time
//! and resident memory from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::BoxError;

pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    pub api_key: String,
    _dir: tempfile::TempDir,
}

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture we run on.
const TICKS_PER_SEC: f64 = 100.0;

impl Spawned {
    pub fn start(binary: &Path, alg: &str, access_token_alg: Option<&str>, log: &str) -> Result<Spawned, BoxError> {
        // Absolute, because the server runs in its own temporary directory.
        let binary = std::fs::canonicalize(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_file = std::fs::File::create(dir.path().join("server.log"))?;
        let mut child = Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONNECTIVLY_PORT", port.to_string())
            .env("CONNECTIVLY_BIND", "127.0.0.1")
            .env("CONNECTIVLY_ISSUER", format!("http://127.0.0.1:{port}"))
            .env("CONNECTIVLY_REDIRECT_URL", "http://127.0.0.1:9/login")
            .env("CONNECTIVLY_DATABASE_URL", format!("sqlite://{}", dir.path().join("bench.db").display()))
            .env("CONNECTIVLY_SIGNING_ALG", alg)
            .envs(access_token_alg.map(|a| ("CONNECTIVLY_ACCESS_TOKEN_SIGNING_ALG", a)))
            .env("CONNECTIVLY_LOG", log)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(key) = line.strip_prefix("API Key:")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(key.trim().to_string());
                }
            }
        });
        let api_key = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(k) => k,
            Err(_) => {
                let _ = child.kill();
                return Err("the server printed no API key within 60 s".into());
            }
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("the server did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Spawned { child, addr, api_key, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Resident set size in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

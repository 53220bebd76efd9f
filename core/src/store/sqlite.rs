//! SQLite store: the embedded default. WAL mode, so several processes (gunicorn workers, a server
//! beside a Flask app) can share one file; `busy_timeout` makes writers of different processes wait
//! for each other instead of failing. `synchronous=NORMAL` in WAL mode survives a process crash
//! (SIGKILL) without losing a committed transaction; only an OS crash or power loss can drop the
//! last few commits.
//!
//! Statements run on the calling thread. A SQLite statement on a warm page cache takes a few
//! microseconds, while handing it to a connection thread and back (what async SQLite drivers do)
//! costs two context switches, which dominated the whole flow's CPU time. Writers of this process
//! queue on one writer connection (a mutex, not SQLite's sleeping busy handler); reads use a small
//! set of reader connections and never wait for writers (WAL).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::{
    AuthorizationRecord, ClientRecord, GrantRecord, RefreshTokenRecord, SessionRecord, SessionStatus, Store,
    TokenOrigin, alg_from_str, migrations,
};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::KeyRecord;
use crate::scopes;

/// Reader connections kept open between calls.
const MAX_IDLE_READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Write transactions between two checkpoints. A write of this schema touches 3–7 pages, so this is
/// several times SQLite's 1,000-page default: each checkpoint ends with a short one inline (see
/// [`Checkpointer`]), and fewer of those block writers less (measured with `connectivly-bench`: 200
/// writes gave about half the gain of 1,000). Under sustained sign-ins the WAL file levels off near
/// 55 MB (it is reused from its start, not grown).
const WRITES_PER_CHECKPOINT: u32 = 1000;

#[derive(Debug)]
enum Target {
    File(String),
    /// `sqlite::memory:`: a database that lives in its one connection.
    Memory,
}

pub struct SqliteStore {
    target: Target,
    flags: OpenFlags,
    /// Taken with [`lock_writer`](Self::lock_writer): a task waiting to write yields its worker
    /// thread to other requests instead of putting it to sleep.
    writer: Mutex<Option<Connection>>,
    /// Signalled whenever the writer is released.
    writer_released: tokio::sync::Notify,
    readers: Mutex<Vec<Connection>>,
    closed: AtomicBool,
    writes: AtomicU32,
    checkpointer: Option<Arc<Checkpointer>>,
    /// The process that opened the connections: a forked child must never close them (see Drop).
    pid: u32,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("target", &self.target).finish_non_exhaustive()
    }
}

/// Parses `sqlite://path`, `sqlite:path`, `sqlite:///abs/path` and `sqlite::memory:`; a `?mode=…`
/// suffix (`ro`, `rw`, `rwc`, `memory`) is honoured, other parameters are refused.
fn parse_url(url: &str) -> Result<(Target, OpenFlags)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| Error::config("invalid SQLite URL: expected sqlite://path"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let base = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let mut flags = base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let mut memory = path == ":memory:" || path.is_empty();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("mode", "ro")) => flags = base | OpenFlags::SQLITE_OPEN_READ_ONLY,
            Some(("mode", "rw")) => flags = base | OpenFlags::SQLITE_OPEN_READ_WRITE,
            Some(("mode", "rwc")) => {}
            Some(("mode", "memory")) => memory = true,
            _ => return Err(Error::config(format!("invalid SQLite URL: unsupported parameter {pair:?}"))),
        }
    }
    if memory {
        return Ok((Target::Memory, flags));
    }
    let path = percent_decode(path);
    Ok((Target::File(path), flags))
}

/// The file a SQLite URL names (`None`: in memory, or not a valid URL).
pub(super) fn file_path(url: &str) -> Option<String> {
    match parse_url(url) {
        Ok((Target::File(path), _)) => Some(path),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn storage(e: rusqlite::Error) -> Error {
    // SQLite messages may name tables or constraints but never hold bound values.
    tracing::error!(error = %e, "store error");
    crate::metrics::STORE_ERRORS.fetch_add(1, Ordering::Relaxed);
    Error::storage("the store is unavailable; try again")
}

/// Statement recording for `connectivly-bench statements`: compiled in only with the
/// `count-statements` feature, and even then off until [`record_statements`] turns it on, so a
/// binary built alongside the bench runs as usual.
#[cfg(feature = "count-statements")]
pub mod statement_log {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    static ON: AtomicBool = AtomicBool::new(false);
    static LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    const CAP: usize = 10_000;

    pub fn record_statements(on: bool) {
        ON.store(on, Ordering::Relaxed);
    }
    /// The statements executed since the last call, in order.
    pub fn take() -> Vec<&'static str> {
        std::mem::take(&mut *LOG.lock().unwrap_or_else(|p| p.into_inner()))
    }
    pub(super) fn note(sql: &'static str) {
        if ON.load(Ordering::Relaxed) {
            let mut log = LOG.lock().unwrap_or_else(|p| p.into_inner());
            if log.len() < CAP {
                log.push(sql);
            }
        }
    }
}

/// Starts a write transaction, taking the database's write lock at once (no upgrade deadlocks).
fn begin(c: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    #[cfg(feature = "count-statements")]
    statement_log::note("BEGIN IMMEDIATE");
    c.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn commit(tx: rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    #[cfg(feature = "count-statements")]
    statement_log::note("COMMIT");
    tx.commit()
}

/// Prepares a statement (from the connection's cache).
fn stmt<'c>(conn: &'c Connection, sql: &'static str) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    #[cfg(feature = "count-statements")]
    statement_log::note(sql);
    conn.prepare_cached(sql)
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let (target, flags) = parse_url(url)?;
        let conn = open_connection(&target, flags, true)?;
        let flags = flags - OpenFlags::SQLITE_OPEN_CREATE;
        let checkpointer = match &target {
            Target::File(path) if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) => Some(Arc::new(Checkpointer {
                path: path.clone(),
                flags,
                conn: Mutex::new(None),
                running: AtomicBool::new(false),
                catch_up: AtomicBool::new(false),
                pid: std::process::id(),
            })),
            _ => None,
        };
        let store = SqliteStore {
            target,
            flags,
            writer: Mutex::new(Some(conn)),
            writer_released: tokio::sync::Notify::new(),
            readers: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            writes: AtomicU32::new(0),
            checkpointer,
            pid: std::process::id(),
        };
        store.write(migrate).await?;
        Ok(store)
    }

    /// Runs `f` on the writer connection (one writer per process; other processes wait in SQLite's
    /// busy handler).
    async fn write<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let result = {
            let mut guard = WriterGuard { guard: Some(self.lock_writer().await), released: &self.writer_released };
            let conn = guard.conn().ok_or_else(closed)?;
            if let Some(cp) = &self.checkpointer
                && cp.catch_up.swap(false, Ordering::AcqRel)
            {
                // The frames written while the background checkpoint ran, a few: once they are in
                // the database file too, this write starts the WAL over from its beginning.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "WAL checkpoint deferred");
                }
            }
            f(conn).map_err(storage)
        };
        if let Some(cp) = &self.checkpointer
            && self.writes.fetch_add(1, Ordering::Relaxed) % WRITES_PER_CHECKPOINT == WRITES_PER_CHECKPOINT - 1
            && !self.closed.load(Ordering::Acquire)
        {
            cp.start();
        }
        result
    }

    /// The writer connection, waiting without blocking the thread. Deliberately not a fair (FIFO)
    /// async mutex: one hands the lock to the next waiter while that task may still sit in a run
    /// queue behind a 400 µs RSA signature, and every other writer waits for it too (measured: RS256
    /// sign-ins 20–30 % slower). Here whoever runs first takes it; waiters are woken on release.
    async fn lock_writer(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        loop {
            let released = self.writer_released.notified();
            tokio::pin!(released);
            // Registered before trying, so a release between the try and the wait is not missed.
            released.as_mut().enable();
            if let Some(guard) = self.try_writer() {
                return guard;
            }
            released.await;
        }
    }

    fn try_writer(&self) -> Option<std::sync::MutexGuard<'_, Option<Connection>>> {
        match self.writer.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `f` on a reader connection (WAL: readers see the last commit and never block writers).
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        if matches!(self.target, Target::Memory) {
            return self.write(|c| f(c)).await;
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => open_connection(&self.target, self.flags, false)?,
        };
        let result = f(&conn).map_err(storage);
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if readers.len() < MAX_IDLE_READERS && !self.closed.load(Ordering::Acquire) {
            readers.push(conn);
        }
        result
    }
}

/// Copies the WAL back into the database file (a checkpoint) off the request path.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the writer
/// connection: every other write of the process waits behind it, fsync included (measured: 12–23 %
/// fewer flows per second with it inline). Here the writer's automatic checkpoint is off and a
/// PASSIVE checkpoint (it never blocks writers or readers) runs every [`WRITES_PER_CHECKPOINT`]
/// writes on a connection of its own, on a blocking-pool thread when a tokio runtime is at hand;
/// the next write then checkpoints the few frames written meanwhile, so the WAL starts over.
/// Other processes on the file checkpoint after their own writes the same way; the last connection
/// to close checkpoints whatever is left.
struct Checkpointer {
    path: String,
    flags: OpenFlags,
    conn: Mutex<Option<Connection>>,
    running: AtomicBool,
    /// Set after a background checkpoint: SQLite restarts the WAL only when a write begins with
    /// every frame checkpointed, which concurrent writes prevent; the next write catches up first.
    catch_up: AtomicBool,
    pid: u32,
}

impl Checkpointer {
    fn start(self: &Arc<Self>) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let cp = self.clone();
        let run = move || {
            cp.run();
            cp.catch_up.store(true, Ordering::Release);
            cp.running.store(false, Ordering::Release);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(run)),
            Err(_) => run(),
        }
    }

    fn run(&self) {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            match open_connection(&Target::File(self.path.clone()), self.flags, false) {
                Ok(c) => *guard = Some(c),
                Err(e) => {
                    return tracing::warn!(error = %e.message(), "cannot open a connection for the WAL checkpoint");
                }
            }
        }
        let Some(conn) = guard.as_ref() else { return };
        // A busy or partial checkpoint is not an error: the next one carries on where it stopped.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "WAL checkpoint deferred");
        }
    }

    fn close(&self) {
        drop(self.conn.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // As for the store's own connections: a forked child must not close the parent's.
        if self.pid != std::process::id()
            && let Some(c) = self.conn.get_mut().unwrap_or_else(|p| p.into_inner()).take()
        {
            std::mem::forget(c);
        }
    }
}

/// The writer, released on drop with a wake-up for one waiting writer.
struct WriterGuard<'a> {
    guard: Option<std::sync::MutexGuard<'a, Option<Connection>>>,
    released: &'a tokio::sync::Notify,
}

impl WriterGuard<'_> {
    fn conn(&mut self) -> Option<&mut Connection> {
        self.guard.as_mut().and_then(|g| g.as_mut())
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        self.released.notify_one();
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::Closed, "the provider is closed")
}

fn open_connection(target: &Target, flags: OpenFlags, writer: bool) -> Result<Connection> {
    let cannot = |e: rusqlite::Error| Error::storage(format!("cannot open the SQLite database: {e}"));
    let conn = match target {
        Target::Memory => Connection::open_in_memory_with_flags(flags).map_err(cannot)?,
        Target::File(path) => Connection::open_with_flags(path, flags).map_err(cannot)?,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(cannot)?;
    conn.set_prepared_statement_cache_capacity(64);
    // WAL is a property of the file: the writer sets it once, readers find it.
    if writer && matches!(target, Target::File(_)) && !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(cannot)?;
        // Checkpoints run off the request path (see Checkpointer).
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(cannot)?;
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(cannot)?;
    Ok(conn)
}

/// Applies pending migrations under SQLite's write lock, so two processes starting on one new
/// file apply each migration exactly once.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS connectivly_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 =
        tx.query_row("SELECT COALESCE(MAX(version), 0) FROM connectivly_migrations", [], |r| r.get(0))?;
    for (version, sql) in migrations::SQLITE.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO connectivly_migrations (version, applied_at) VALUES (?, ?)",
            params![version, crate::time::now()],
        )?;
    }
    tx.commit()
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // A forked child inherits the parent's connections; closing them there could disturb the
        // parent's locks and WAL, so the child lets them go without closing.
        if self.pid != std::process::id() {
            if let Some(c) = self.writer.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
                std::mem::forget(c);
            }
            for c in self.readers.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
                std::mem::forget(c);
            }
        }
    }
}

fn json_text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

/// A column that failed to decode, reported like any other row error.
fn corrupt(what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into())
}

fn parse_map(s: &str) -> rusqlite::Result<Map<String, Value>> {
    serde_json::from_str(s).map_err(|_| corrupt("corrupt JSON column"))
}

fn opt_json(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())
}

/// The columns each `*_from_row` reads, in the order it reads them by position: a lookup by name
/// scans the row's column names for every field (measured: a fifth of reading a client).
macro_rules! columns {
    (clients) => {
        "client_id, secret_hash, name, owner, redirect_uris, public, first_party, logo_uri, client_uri, created_at, allowed_scopes, issue_refresh_tokens, tokens_revoked_before, registration_token_hash, introspection_allowed"
    };
    (auth_sessions) => {
        "id_hash, client_id, redirect_uri, scopes, state, nonce, code_challenge, prompt, max_age, login_hint, binding_hash, status, subject, claims, granted_scopes, auth_time, remember, created_at, expires_at, consent_hash"
    };
    (refresh_tokens) => {
        "token_hash, authorization_id, client_id, scopes, created_at, expires_at, rotated_at"
    };
    (grants) => {
        "subject, client_id, scopes, created_at, updated_at"
    };
    (authorizations) => {
        "id, code_hash, client_id, redirect_uri, subject, scopes, claims, nonce, code_challenge, auth_time, code_expires_at, code_used, revoked, created_at, expires_at"
    };
}

fn client_from_row(r: &Row<'_>) -> rusqlite::Result<ClientRecord> {
    let uris: String = r.get(4)?;
    Ok(ClientRecord {
        client_id: r.get(0)?,
        secret_hash: r.get(1)?,
        name: r.get(2)?,
        owner: r.get(3)?,
        redirect_uris: serde_json::from_str(&uris).map_err(|_| corrupt("corrupt redirect_uris"))?,
        public: r.get(5)?,
        first_party: r.get(6)?,
        logo_uri: r.get(7)?,
        client_uri: r.get(8)?,
        created_at: r.get(9)?,
        allowed_scopes: match r.get::<_, Option<String>>(10)? {
            Some(s) => Some(serde_json::from_str(&s).map_err(|_| corrupt("corrupt allowed_scopes"))?),
            None => None,
        },
        issue_refresh_tokens: r.get(11)?,
        tokens_revoked_before: r.get(12)?,
        registration_token_hash: r.get(13)?,
        introspection_allowed: r.get(14)?,
    })
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.get(0)?,
        client_id: r.get(1)?,
        redirect_uri: r.get(2)?,
        scopes: scopes::split(&r.get::<_, String>(3)?),
        state: r.get(4)?,
        nonce: r.get(5)?,
        code_challenge: r.get(6)?,
        prompt: r.get(7)?,
        max_age: r.get(8)?,
        login_hint: r.get(9)?,
        binding_hash: r.get(10)?,
        status: SessionStatus::parse(&r.get::<_, String>(11)?).map_err(|_| corrupt("corrupt session status"))?,
        subject: r.get(12)?,
        claims: parse_map(&r.get::<_, String>(13)?)?,
        granted_scopes: scopes::split(&r.get::<_, String>(14)?),
        auth_time: r.get(15)?,
        remember: r.get(16)?,
        created_at: r.get(17)?,
        expires_at: r.get(18)?,
        consent_hash: r.get(19)?,
    })
}

fn refresh_from_row(r: &Row<'_>) -> rusqlite::Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: r.get(0)?,
        authorization_id: r.get(1)?,
        client_id: r.get(2)?,
        scopes: scopes::split(&r.get::<_, String>(3)?),
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
        rotated_at: r.get(6)?,
    })
}

fn grant_from_row(r: &Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        subject: r.get(0)?,
        client_id: r.get(1)?,
        scopes: scopes::split(&r.get::<_, String>(2)?),
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn authorization_from_row(r: &Row<'_>) -> rusqlite::Result<AuthorizationRecord> {
    Ok(AuthorizationRecord {
        id: r.get(0)?,
        code_hash: r.get(1)?,
        client_id: r.get(2)?,
        redirect_uri: r.get(3)?,
        subject: r.get(4)?,
        scopes: scopes::split(&r.get::<_, String>(5)?),
        claims: parse_map(&r.get::<_, String>(6)?)?,
        nonce: r.get(7)?,
        code_challenge: r.get(8)?,
        auth_time: r.get(9)?,
        code_expires_at: r.get(10)?,
        code_used: r.get(11)?,
        revoked: r.get(12)?,
        created_at: r.get(13)?,
        expires_at: r.get(14)?,
    })
}

fn insert_refresh(conn: &Connection, t: &RefreshTokenRecord) -> rusqlite::Result<()> {
    stmt(
        conn,
        "INSERT INTO refresh_tokens (token_hash, authorization_id, client_id, scopes, created_at, expires_at, rotated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        t.token_hash,
        t.authorization_id,
        t.client_id,
        scopes::join(&t.scopes),
        t.created_at,
        t.expires_at,
        t.rotated_at
    ])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| stmt(c, "SELECT value FROM settings WHERE key = ?")?.query_row([key], |r| r.get(0)).optional())
            .await
    }
    async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<bool> {
        self.write(|c| {
            let n = stmt(c, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")?
                .execute([key, value])?;
            Ok(n == 1)
        })
        .await
    }
    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|c| {
            stmt(
                c,
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([key, value])?;
            Ok(())
        }).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows: Vec<(String, String, Vec<u8>, i64, Option<i64>)> = self
            .read(|c| {
                stmt(c, "SELECT kid, alg, private_der, created_at, retired_at FROM signing_keys")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect()
            })
            .await?;
        rows.into_iter()
            .map(|(kid, alg, private_der, created_at, retired_at)| {
                Ok(KeyRecord { kid, alg: alg_from_str(&alg)?, private_der, created_at, retired_at })
            })
            .collect()
    }
    async fn insert_key_if_none(&self, key: &KeyRecord) -> Result<bool> {
        self.write(|c| {
            let n = stmt(
                c,
                "INSERT INTO signing_keys (kid, alg, private_der, created_at, retired_at) \
                 SELECT ?, ?, ?, ?, NULL WHERE NOT EXISTS \
                 (SELECT 1 FROM signing_keys WHERE alg = ? AND retired_at IS NULL)",
            )?
            .execute(params![
                key.kid,
                key.alg.as_str(),
                key.private_der,
                key.created_at,
                key.alg.as_str()
            ])?;
            Ok(n == 1)
        })
        .await
    }

    async fn insert_client(&self, cl: &ClientRecord) -> Result<()> {
        self.write(|c| {
            stmt(
                c,
                "INSERT INTO clients (client_id, secret_hash, name, owner, redirect_uris, public, first_party, logo_uri, \
                 client_uri, created_at, allowed_scopes, issue_refresh_tokens, tokens_revoked_before, \
                 registration_token_hash, introspection_allowed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                cl.client_id,
                cl.secret_hash,
                cl.name,
                cl.owner,
                serde_json::to_string(&cl.redirect_uris).unwrap_or_default(),
                cl.public,
                cl.first_party,
                cl.logo_uri,
                cl.client_uri,
                cl.created_at,
                opt_json(&cl.allowed_scopes),
                cl.issue_refresh_tokens,
                cl.tokens_revoked_before,
                cl.registration_token_hash,
                cl.introspection_allowed
            ])?;
            Ok(())
        }).await
    }
    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(clients), " FROM clients WHERE client_id = ?"))?
                .query_row([client_id], client_from_row)
                .optional()
        })
        .await
    }
    async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<ClientRecord>> {
        self.read(|c| match owner {
            Some(o) => stmt(
                c,
                concat!("SELECT ", columns!(clients), " FROM clients WHERE owner = ? ORDER BY created_at, rowid"),
            )?
            .query_map([o], client_from_row)?
            .collect(),
            None => stmt(c, concat!("SELECT ", columns!(clients), " FROM clients ORDER BY created_at, rowid"))?
                .query_map([], client_from_row)?
                .collect(),
        })
        .await
    }
    async fn update_client(&self, cl: &ClientRecord) -> Result<bool> {
        self.write(|c| {
            let n = stmt(
                c,
                "UPDATE clients SET secret_hash = ?, name = ?, owner = ?, redirect_uris = ?, public = ?, first_party = ?, \
                 logo_uri = ?, client_uri = ?, allowed_scopes = ?, issue_refresh_tokens = ?, tokens_revoked_before = ?, \
                 registration_token_hash = ?, introspection_allowed = ? WHERE client_id = ?",
            )?
            .execute(params![
                cl.secret_hash,
                cl.name,
                cl.owner,
                serde_json::to_string(&cl.redirect_uris).unwrap_or_default(),
                cl.public,
                cl.first_party,
                cl.logo_uri,
                cl.client_uri,
                opt_json(&cl.allowed_scopes),
                cl.issue_refresh_tokens,
                cl.tokens_revoked_before,
                cl.registration_token_hash,
                cl.introspection_allowed,
                cl.client_id
            ])?;
            Ok(n == 1)
        }).await
    }
    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        self.write(|c| Ok(stmt(c, "DELETE FROM clients WHERE client_id = ?")?.execute([client_id])? == 1)).await
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        self.write(|c| {
            stmt(
                c,
                "INSERT INTO auth_sessions (id_hash, client_id, redirect_uri, scopes, state, nonce, code_challenge, \
                 prompt, max_age, login_hint, binding_hash, status, subject, claims, granted_scopes, auth_time, \
                 created_at, expires_at, remember, consent_hash) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                s.id_hash,
                s.client_id,
                s.redirect_uri,
                scopes::join(&s.scopes),
                s.state,
                s.nonce,
                s.code_challenge,
                s.prompt,
                s.max_age,
                s.login_hint,
                s.binding_hash,
                s.status.as_str(),
                s.subject,
                json_text(&s.claims),
                scopes::join(&s.granted_scopes),
                s.auth_time,
                s.created_at,
                s.expires_at,
                s.remember,
                s.consent_hash
            ])?;
            Ok(())
        })
        .await
    }
    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(auth_sessions), " FROM auth_sessions WHERE id_hash = ?"))?
                .query_row([id_hash], session_from_row)
                .optional()
        })
        .await
    }
    async fn transition_session(
        &self,
        s: &SessionRecord,
        from: SessionStatus,
        authorization: Option<&AuthorizationRecord>,
    ) -> Result<bool> {
        self.write(|c| {
            let tx = begin(c)?;
            let n = stmt(
                &tx,
                "UPDATE auth_sessions SET status = ?, subject = ?, claims = ?, granted_scopes = ?, auth_time = ?, \
                 remember = ?, consent_hash = ? WHERE id_hash = ? AND status = ?",
            )?
            .execute(params![
                s.status.as_str(),
                s.subject,
                json_text(&s.claims),
                scopes::join(&s.granted_scopes),
                s.auth_time,
                s.remember,
                s.consent_hash,
                s.id_hash,
                from.as_str()
            ])?;
            if n != 1 {
                return Ok(false); // dropping `tx` rolls back
            }
            if let Some(a) = authorization {
                stmt(
                    &tx,
                    "INSERT INTO authorizations (id, code_hash, client_id, redirect_uri, subject, scopes, claims, nonce, \
                     code_challenge, auth_time, code_expires_at, code_used, revoked, created_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    a.id,
                    a.code_hash,
                    a.client_id,
                    a.redirect_uri,
                    a.subject,
                    scopes::join(&a.scopes),
                    json_text(&a.claims),
                    a.nonce,
                    a.code_challenge,
                    a.auth_time,
                    a.code_expires_at,
                    a.code_used,
                    a.revoked,
                    a.created_at,
                    a.expires_at
                ])?;
            }
            commit(tx)?;
            Ok(true)
        }).await
    }

    async fn get_authorization_by_code(&self, code_hash: &str) -> Result<Option<AuthorizationRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(authorizations), " FROM authorizations WHERE code_hash = ?"))?
                .query_row([code_hash], authorization_from_row)
                .optional()
        })
        .await
    }
    async fn get_authorization(&self, id: &str) -> Result<Option<AuthorizationRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(authorizations), " FROM authorizations WHERE id = ?"))?
                .query_row([id], authorization_from_row)
                .optional()
        })
        .await
    }
    async fn redeem_code(&self, id: &str, refresh: Option<&RefreshTokenRecord>) -> Result<bool> {
        self.write(|c| {
            let tx = begin(c)?;
            let n =
                stmt(&tx, "UPDATE authorizations SET code_used = 1 WHERE id = ? AND code_used = 0")?.execute([id])?;
            if n != 1 {
                return Ok(false);
            }
            if let Some(t) = refresh {
                insert_refresh(&tx, t)?;
            }
            commit(tx)?;
            Ok(true)
        })
        .await
    }
    async fn revoke_authorization(&self, id: &str) -> Result<()> {
        self.write(|c| {
            stmt(c, "UPDATE authorizations SET revoked = 1 WHERE id = ?")?.execute([id])?;
            Ok(())
        })
        .await
    }

    async fn revoke_client_authorizations(&self, client_id: &str) -> Result<u64> {
        self.write(|c| {
            let n = stmt(c, "UPDATE authorizations SET revoked = 1 WHERE client_id = ? AND revoked = 0")?
                .execute([client_id])?;
            Ok(n as u64)
        })
        .await
    }

    async fn revoke_subject_authorizations(&self, subject: &str, client_id: Option<&str>) -> Result<u64> {
        self.write(|c| {
            let n = stmt(
                c,
                "UPDATE authorizations SET revoked = 1 WHERE subject = ? AND (? IS NULL OR client_id = ?) AND revoked = 0",
            )?
            .execute(params![subject, client_id, client_id])?;
            Ok(n as u64)
        }).await
    }

    async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(refresh_tokens), " FROM refresh_tokens WHERE token_hash = ?"))?
                .query_row([token_hash], refresh_from_row)
                .optional()
        })
        .await
    }
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: &RefreshTokenRecord,
        now: i64,
        authorization_expires_at: i64,
    ) -> Result<bool> {
        self.write(|c| {
            let tx = begin(c)?;
            let n = stmt(&tx, "UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL")?
                .execute(params![now, old_hash])?;
            if n != 1 {
                return Ok(false);
            }
            insert_refresh(&tx, new)?;
            stmt(&tx, "UPDATE authorizations SET expires_at = MAX(expires_at, ?) WHERE id = ?")?
                .execute(params![authorization_expires_at, new.authorization_id])?;
            commit(tx)?;
            Ok(true)
        })
        .await
    }

    async fn revoke_jti(&self, jti: &str, expires_at: i64) -> Result<()> {
        self.write(|c| {
            stmt(c, "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")?
                .execute(params![jti, expires_at])?;
            Ok(())
        })
        .await
    }
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        self.read(|c| stmt(c, "SELECT 1 FROM revoked_tokens WHERE jti = ?")?.exists([jti])).await
    }
    async fn access_token_revoked(&self, jti: &str, origin: TokenOrigin<'_>) -> Result<bool> {
        self.read(|c| match origin {
            TokenOrigin::Grant(gid) => stmt(
                c,
                "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?1) \
                 OR NOT EXISTS (SELECT 1 FROM authorizations WHERE id = ?2 AND revoked = 0)",
            )?
            .query_row(params![jti, gid], |r| r.get(0)),
            TokenOrigin::Client { client_id, issued_at } => stmt(
                c,
                "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?1) \
                 OR NOT EXISTS (SELECT 1 FROM clients WHERE client_id = ?2 \
                                AND (tokens_revoked_before IS NULL OR tokens_revoked_before < ?3))",
            )?
            .query_row(params![jti, client_id, issued_at], |r| r.get(0)),
        })
        .await
    }

    async fn upsert_grant(&self, g: &GrantRecord) -> Result<()> {
        self.write(|c| {
            stmt(
                c,
                "INSERT INTO grants (subject, client_id, scopes, created_at, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
            )?
            .execute(params![g.subject, g.client_id, scopes::join(&g.scopes), g.created_at, g.updated_at])?;
            Ok(())
        }).await
    }
    async fn get_grant(&self, subject: &str, client_id: &str) -> Result<Option<GrantRecord>> {
        self.read(|c| {
            stmt(c, concat!("SELECT ", columns!(grants), " FROM grants WHERE subject = ? AND client_id = ?"))?
                .query_row([subject, client_id], grant_from_row)
                .optional()
        })
        .await
    }
    async fn list_grants(&self, subject: &str) -> Result<Vec<GrantRecord>> {
        self.read(|c| {
            stmt(
                c,
                concat!("SELECT ", columns!(grants), " FROM grants WHERE subject = ? ORDER BY created_at, client_id"),
            )?
            .query_map([subject], grant_from_row)?
            .collect()
        })
        .await
    }
    async fn delete_grant(&self, subject: &str, client_id: &str) -> Result<bool> {
        self.write(|c| {
            Ok(stmt(c, "DELETE FROM grants WHERE subject = ? AND client_id = ?")?.execute([subject, client_id])? == 1)
        })
        .await
    }

    async fn rotate_key(&self, old_kid: &str, new: &KeyRecord, now: i64) -> Result<bool> {
        self.write(|c| {
            let tx = begin(c)?;
            let n = stmt(&tx, "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL")?
                .execute(params![now, old_kid])?;
            if n != 1 {
                return Ok(false);
            }
            stmt(
                &tx,
                "INSERT INTO signing_keys (kid, alg, private_der, created_at, retired_at) VALUES (?, ?, ?, ?, NULL)",
            )?
            .execute(params![new.kid, new.alg.as_str(), new.private_der, new.created_at])?;
            commit(tx)?;
            Ok(true)
        })
        .await
    }
    async fn replace_key_der(&self, kid: &str, private_der: &[u8]) -> Result<bool> {
        self.write(|c| {
            Ok(stmt(c, "UPDATE signing_keys SET private_der = ? WHERE kid = ?")?.execute(params![private_der, kid])?
                == 1)
        })
        .await
    }
    async fn delete_retired_keys(&self, before: i64) -> Result<u64> {
        self.write(|c| {
            let n = stmt(c, "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?")?
                .execute([before])?;
            Ok(n as u64)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut n = 0;
        // One statement per write lock: a large purge must not hold the writer for long at once.
        for sql in [
            "DELETE FROM auth_sessions WHERE expires_at < ?",
            "DELETE FROM authorizations WHERE expires_at < ?",
            "DELETE FROM refresh_tokens WHERE expires_at < ?",
            "DELETE FROM revoked_tokens WHERE expires_at < ?",
        ] {
            n += self.write(|c| stmt(c, sql)?.execute([now])).await? as u64;
        }
        Ok(n)
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(cp) = &self.checkpointer {
            cp.close();
        }
        drop(self.lock_writer().await.take());
        self.writer_released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers waiting for the writer connection are all woken in the end (no lost wake-up), and a
    /// close releases the ones still waiting with `Closed` instead of leaving them hanging.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_writers_all_finish_and_close_releases_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&format!("sqlite://{}/w.db", dir.path().display())).await.unwrap());
        let spawn_writers = |n: usize, tag: &'static str| {
            (0..n)
                .map(|i| {
                    let s = store.clone();
                    tokio::spawn(async move { s.put_setting(&format!("{tag}{i}"), "v").await })
                })
                .collect::<Vec<_>>()
        };
        let all = tokio::time::timeout(Duration::from_secs(60), async {
            for t in spawn_writers(500, "a") {
                t.await.unwrap().unwrap();
            }
        });
        all.await.expect("a writer was never woken");
        for i in 0..500 {
            assert_eq!(store.get_setting(&format!("a{i}")).await.unwrap().as_deref(), Some("v"));
        }
        let late = spawn_writers(200, "b");
        store.close().await;
        for t in late {
            let r = tokio::time::timeout(Duration::from_secs(60), t).await.expect("a writer hung after close");
            if let Err(e) = r.unwrap() {
                assert_eq!(e.kind(), ErrorKind::Closed);
            }
        }
    }

    /// The writer's automatic checkpoint is off; without the off-path checkpoints the WAL would
    /// grow by a page or more per write, forever (here past 24 MB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_keep_the_wal_small() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}/c.db", dir.path().display())).await.unwrap();
        let wal = dir.path().join("c.db-wal");
        let mut largest = 0;
        for i in 0..6000 {
            store.put_setting("k", &format!("{i:0>3000}")).await.unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        assert!(largest < 10 << 20, "the WAL reached {largest} bytes");
        // Everything written is in the database file once the store is closed (the last connection
        // checkpoints what is left).
        store.close().await;
        let conn = Connection::open(dir.path().join("c.db")).unwrap();
        let v: String = conn.query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| r.get(0)).unwrap();
        assert_eq!(v, format!("{:0>3000}", 5999));
    }

    #[test]
    fn urls() {
        assert!(matches!(parse_url("sqlite://a/b.db").unwrap().0, Target::File(p) if p == "a/b.db"));
        assert!(matches!(parse_url("sqlite:///abs/b.db").unwrap().0, Target::File(p) if p == "/abs/b.db"));
        assert!(matches!(parse_url("sqlite:b.db").unwrap().0, Target::File(p) if p == "b.db"));
        assert!(matches!(parse_url("sqlite://my%20dir/b.db").unwrap().0, Target::File(p) if p == "my dir/b.db"));
        assert!(matches!(parse_url("sqlite::memory:").unwrap().0, Target::Memory));
        assert!(matches!(parse_url("sqlite://x.db?mode=memory").unwrap().0, Target::Memory));
        assert!(parse_url("sqlite://x.db?cache=shared").is_err());
        assert!(parse_url("postgres://x").is_err());
    }
}

//! Protection at rest for a SQLite file database (the embedded default).
//!
//! The file holds signing keys and the hashes of every live secret, so other local users must not
//! read it: a new database is created with mode 0600 (SQLite gives its `-wal` and `-shm` files the
//! database's mode), and an existing file that group or others can read is refused unless the
//! operator says it is meant to be shared (`allow_readable_database`).
//!
//! Signing keys are sealed (AES-256-GCM) even when no `secret` is configured: a key-encryption key
//! is generated on first start into `<database>.key` (0600) beside the file. A copy of the
//! database alone then yields no usable signing key. An explicit `secret` takes precedence, and is
//! what deployments on PostgreSQL (no file to put a key beside) configure on every instance.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secrets;

/// The key file that seals the signing keys of the database at `db`.
pub fn key_file_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

/// Before the store opens: creates a missing database file private to this user, and refuses an
/// existing database (or its `-wal` / `-shm`) that others can read, unless `allow_readable`.
pub fn prepare_database_file(db: &Path, allow_readable: bool) -> Result<()> {
    let mut companions = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        companions.push(PathBuf::from(name));
    }
    for path in &companions {
        if path.exists() {
            check_private(path, allow_readable, "CONNECTIVLY_ALLOW_READABLE_DATABASE")?;
        }
    }
    if !db.exists() {
        create_private(db)?;
    }
    Ok(())
}

/// The key-encryption key of the database at `db`: read from its key file, or created there when
/// the store holds no sealed key yet (`has_sealed_keys` false). A missing key file beside sealed
/// keys is an error, never a new key: the old keys would be lost to a new seal.
pub fn load_or_create_key(db: &Path, allow_readable: bool, has_sealed_keys: bool) -> Result<String> {
    let path = key_file_path(db);
    if !path.exists() {
        if has_sealed_keys {
            return Err(Error::config(format!(
                "the signing keys in {} are sealed, but their key file {} is missing: restore it beside the \
                 database, or set the secret they were sealed with (CONNECTIVLY_SECRET)",
                db.display(),
                path.display()
            )));
        }
        write_new_key(&path)?;
    }
    check_private(&path, allow_readable, "CONNECTIVLY_ALLOW_READABLE_DATABASE")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::config(format!("cannot read the key file {}: {e}", path.display())))?;
    let key = text.trim();
    if key.len() < 32 {
        return Err(Error::config(format!("the key file {} is damaged (too short)", path.display())));
    }
    Ok(key.to_string())
}

/// Writes a new random key to `path` without ever exposing a partial file: the key goes to a private
/// temporary file first, then is linked into place, which fails if another process got there first
/// (its key then wins, and this one is discarded).
fn write_new_key(path: &Path) -> Result<()> {
    let key = secrets::new_secret("cly_kek_");
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", secrets::new_id("")));
    let tmp = PathBuf::from(tmp);
    let cannot = |e: std::io::Error| Error::config(format!("cannot create the key file {}: {e}", path.display()));
    {
        use std::io::Write;
        let mut f = open_private_new(&tmp).map_err(cannot)?;
        f.write_all(key.as_bytes()).and_then(|_| f.write_all(b"\n")).and_then(|_| f.sync_all()).map_err(cannot)?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created the key file that seals the signing keys");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot(e)),
    }
}

fn create_private(path: &Path) -> Result<()> {
    match open_private_new(path) {
        Ok(_) => Ok(()),
        // Another process created it at the same moment: its mode is checked like any existing file.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::storage(format!("cannot create the SQLite database {}: {e}", path.display()))),
    }
}

fn open_private_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Refuses a file that group or others may read or write, naming the fix.
#[cfg(unix)]
fn check_private(path: &Path, allow_readable: bool, setting: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if allow_readable {
        return Ok(());
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::config(format!("cannot read the mode of {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{} can be read by other users (mode {:o}); it holds signing keys and token hashes. Run \
             `chmod 600 {}` (and the same for its -wal, -shm and .key files), or set {setting}=true if it is \
             shared on purpose",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _allow_readable: bool, _setting: &str) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_private_and_readable_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        prepare_database_file(&db, false).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = prepare_database_file(&db, false).unwrap_err();
        assert!(e.message().contains("chmod 600") && e.message().contains("CONNECTIVLY_ALLOW_READABLE_DATABASE"));
        prepare_database_file(&db, true).unwrap();
    }

    #[test]
    fn key_file_is_created_once_and_required_once_keys_are_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let k1 = load_or_create_key(&db, false, false).unwrap();
        assert_eq!(mode(&key_file_path(&db)), 0o600);
        assert_eq!(load_or_create_key(&db, false, true).unwrap(), k1, "the same key on every start");
        std::fs::remove_file(key_file_path(&db)).unwrap();
        let e = load_or_create_key(&db, false, true).unwrap_err();
        assert!(e.message().contains("missing"), "{}", e.message());
        assert!(!key_file_path(&db).exists(), "no new key replaces a lost one");
    }
}

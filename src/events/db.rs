//! Opening the database file: existence and header checks, the TypeScript server's pragmas,
//! migrations, and mapping SQLite failures to errors a user can act on.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::{Result, StoreError};
use super::migrate;

/// How long SQLite itself waits on a lock before giving up (the TypeScript server's value).
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Whether opening may create a new database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and its folder) when it does not exist.
    Create,
    /// The file must already exist; a missing file is [`StoreError::Missing`].
    Existing,
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Opens `path`, checks that it really is an SQLite database, applies the pragmas and runs
/// pending migrations. Nothing is written to a file that fails a check.
pub fn open(path: &Path, mode: OpenMode) -> Result<Connection> {
    let path = path.to_path_buf();
    check_file(&path, mode)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(&path, flags).map_err(|e| classify(&path, e))?;
    configure(&conn, &path)?;
    migrate::run(&conn, &path)?;
    Ok(conn)
}

/// An in-memory database with the full schema (for tests and benches).
pub fn open_in_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    let path = PathBuf::from(":memory:");
    configure(&conn, &path)?;
    migrate::run(&conn, &path)?;
    Ok(conn)
}

fn check_file(path: &Path, mode: OpenMode) -> Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            Err(StoreError::Invalid(format!("{} is a directory, not a database file", path.display())))
        }
        Ok(meta) if meta.len() == 0 => Ok(()),
        Ok(_) => {
            let mut header = [0u8; 16];
            let mut file = fs::File::open(path).map_err(|source| StoreError::Io {
                context: format!("cannot read {}", path.display()),
                source,
            })?;
            match file.read_exact(&mut header) {
                Ok(()) if &header == SQLITE_HEADER => Ok(()),
                _ => Err(StoreError::NotADatabase { path: path.to_path_buf() }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match mode {
            OpenMode::Existing => Err(StoreError::Missing { path: path.to_path_buf() }),
            OpenMode::Create => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                        context: format!("cannot create {}", dir.display()),
                        source,
                    })?;
                }
                Ok(())
            }
        },
        Err(source) => Err(StoreError::Io { context: format!("cannot open {}", path.display()), source }),
    }
}

/// Applies the TypeScript server's pragmas (sqlite/database.ts), after first proving the
/// file is readable so that a damaged file is never switched to WAL or otherwise written.
fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map_err(|e| classify(path, e))?;
    let wal: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| classify(path, e))?;
    if path != Path::new(":memory:") && !wal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "{} could not be switched to WAL mode (got {wal}); is it on a read-only or network filesystem?",
            path.display()
        )));
    }
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 2000;
         PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -64000;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 268435456;",
    )
    .map_err(|e| classify(path, e))?;
    Ok(())
}

/// Turns a raw SQLite error about `path` into the store error a user can act on.
pub fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
        let detail = msg.clone().unwrap_or_else(|| f.to_string());
        match f.code {
            C::NotADatabase => return StoreError::NotADatabase { path: path.to_path_buf() },
            C::DatabaseCorrupt => return StoreError::Corrupt { path: path.to_path_buf(), detail },
            C::DatabaseBusy | C::DatabaseLocked => {
                return StoreError::Locked {
                    path: path.to_path_buf(),
                    waited_ms: BUSY_TIMEOUT.as_millis() as u64,
                }
            }
            _ => {}
        }
    }
    StoreError::Sqlite(e)
}

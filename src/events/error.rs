//! Errors of the event store, each worded so that a user can act on it.

use std::path::PathBuf;

/// Everything that can go wrong in the event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file does not exist and the caller asked not to create it.
    #[error("no event database at {path} (pass --db PATH or set TRON_EVENT_STORE_DB)")]
    Missing { path: PathBuf },
    /// The file exists but is not an SQLite database; it was left untouched.
    #[error("{path} is not an SQLite database (the file was left untouched)")]
    NotADatabase { path: PathBuf },
    /// The file is an SQLite database whose content is damaged; it was left untouched.
    #[error("{path} is corrupt: {detail} (the file was left untouched; try `sqlite3 {path} .recover`)")]
    Corrupt { path: PathBuf, detail: String },
    /// Another process kept the database locked for longer than we were willing to wait.
    #[error("{path} is locked by another writer (gave up after waiting {waited_ms} ms); is another tron or the TypeScript server busy with it?")]
    Locked { path: PathBuf, waited_ms: u64 },
    /// The database was written by a newer schema than this tron knows.
    #[error("{path} has schema version {found}, newer than this tron understands ({known}); upgrade tron")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    /// No session with this id.
    #[error("session not found: {0}")]
    SessionNotFound(String),
    /// No event with this id.
    #[error("event not found: {0}")]
    EventNotFound(String),
    /// The request itself was wrong (bad argument, bad import line ...).
    #[error("{0}")]
    Invalid(String),
    /// A payload or stored row did not hold the JSON we expected.
    #[error("bad JSON in {context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Sqlite(e.into())
    }
}

/// Result alias for the event store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether this error means "the database was busy" (worth retrying later).
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Locked { .. }) || is_busy_sqlite(self)
    }
}

fn is_busy_sqlite(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        }
        _ => false,
    }
}

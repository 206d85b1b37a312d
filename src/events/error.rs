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

impl From<StoreError> for crate::core::TronError {
    /// Store errors as the library-wide error (and so as JSON-RPC error codes): unknown
    /// sessions and events keep their kind, bad requests become invalid input, and the
    /// database's own troubles become internal errors with the actionable message.
    fn from(e: StoreError) -> Self {
        use crate::core::TronError;
        match e {
            StoreError::SessionNotFound(id) => {
                TronError::SessionNotFound(crate::core::SessionId::from_raw(id))
            }
            StoreError::EventNotFound(id) => TronError::NotFound { what: "event", id },
            StoreError::Invalid(msg) => TronError::InvalidInput(msg),
            StoreError::Sqlite(inner) => TronError::Database(inner),
            other => TronError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{RpcErrorCode, TronError};

    #[test]
    fn store_errors_map_to_rpc_codes() {
        let code = |e: StoreError| TronError::from(e).rpc_code();
        assert_eq!(code(StoreError::SessionNotFound("sess_x".into())), RpcErrorCode::SessionNotFound);
        assert_eq!(code(StoreError::EventNotFound("evt_x".into())), RpcErrorCode::NotFound);
        assert_eq!(code(StoreError::Invalid("bad".into())), RpcErrorCode::InvalidParams);
        let locked = StoreError::Locked { path: "/tmp/x.db".into(), waited_ms: 5000 };
        let e = TronError::from(locked);
        assert_eq!(e.rpc_code(), RpcErrorCode::InternalError);
        assert!(e.to_string().contains("/tmp/x.db"));
    }
}

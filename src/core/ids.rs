//! Branded identifiers.
//!
//! Every id that crosses the wire or the database is a string in the TypeScript server
//! (`evt_<12 hex>`, `sess_<12 hex>`, `ws_<12 hex>`, `blob_<12 hex>`; other writers, such as
//! the upstream Rust port, use `evt_<uuid v7>`, so any non-empty string is accepted). Each kind
//! gets its own newtype so that a session id can never be passed where an event id is
//! expected. They serialize as plain JSON strings, display as the raw string, parse from
//! any non-empty string (ids written by other versions are accepted as they are), and
//! deref to `str`.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An id string was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must not be empty")]
pub struct EmptyIdError {
    /// Which id kind was being parsed ("event id", "session id", ...).
    pub kind: &'static str,
}

macro_rules! branded_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an existing id string without checking it.
            pub fn from_raw(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Consumes the id, returning the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = EmptyIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                if s.is_empty() {
                    Err(EmptyIdError { kind: $kind })
                } else {
                    Ok(Self(s.to_owned()))
                }
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                String::column_result(value).map(Self)
            }
        }
    };
}

branded_id!(
    /// Id of one persisted event. tron creates `evt_<uuid v7 as 32 hex>` (time-ordered and
    /// collision-free at any database size; the TypeScript server's 12 random hex digits
    /// collide with a probability of ~0.2% per million events).
    EventId,
    "event id"
);
branded_id!(
    /// Id of a session: `sess_` followed by 12 hex digits in ids tron creates.
    SessionId,
    "session id"
);
branded_id!(
    /// Id of a workspace (one per working directory): `ws_` followed by 12 hex digits.
    WorkspaceId,
    "workspace id"
);

/// 12 lowercase hex digits from a random UUID, as the TypeScript server makes ids.
pub fn short_hex() -> String {
    let uuid = uuid::Uuid::new_v4();
    uuid.simple().to_string()[..12].to_owned()
}

impl EventId {
    /// A fresh `evt_<uuid v7>` id.
    pub fn new() -> Self {
        Self(format!("evt_{}", uuid::Uuid::now_v7().simple()))
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionId {
    /// A fresh `sess_<12 hex>` id.
    pub fn new() -> Self {
        Self(format!("sess_{}", short_hex()))
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkspaceId {
    /// A fresh `ws_<12 hex>` id.
    pub fn new() -> Self {
        Self(format!("ws_{}", short_hex()))
    }
}

impl Default for WorkspaceId {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_json_strings() {
        let id: SessionId = serde_json::from_str("\"sess_abc\"").unwrap();
        assert_eq!(id.as_str(), "sess_abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"sess_abc\"");
        assert_eq!(&*id, "sess_abc");
        assert_eq!(id.to_string(), "sess_abc");
    }

    #[test]
    fn empty_id_is_rejected() {
        let err = "  ".parse::<EventId>().unwrap_err();
        assert_eq!(err.to_string(), "event id must not be empty");
    }

    #[test]
    fn new_ids_have_the_typescript_shapes() {
        assert!(SessionId::new().starts_with("sess_"));
        assert_eq!(SessionId::new().len(), 17);
        assert!(WorkspaceId::new().starts_with("ws_"));
        let a = EventId::new();
        assert!(a.starts_with("evt_") && a.len() == 36, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}

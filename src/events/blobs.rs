//! Content-addressed blobs (large tool results, prompts): stored once per SHA-256 of their
//! bytes, with a reference count.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::error::{Result, StoreError};
use super::EventStore;

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub id: String,
    pub hash: String,
    pub content: Vec<u8>,
    pub mime_type: String,
    pub ref_count: i64,
}

/// Lowercase hex SHA-256 of `bytes` (the blob's address).
pub fn hash_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl EventStore {
    /// Stores `content` and returns its blob id (`blob_<12 hex>`). Storing the same bytes
    /// again returns the same id and increments the reference count.
    pub fn store_blob(&self, content: &[u8], mime_type: &str) -> Result<String> {
        let hash = hash_hex(content);
        self.write(|conn| {
            let existing: Option<String> = conn
                .prepare_cached("SELECT id FROM blobs WHERE hash = ?1")?
                .query_row([&hash], |r| r.get(0))
                .optional()?;
            if let Some(id) = existing {
                conn.prepare_cached("UPDATE blobs SET ref_count = COALESCE(ref_count,0) + 1 WHERE id = ?1")?
                    .execute([&id])?;
                return Ok(id);
            }
            let id = format!("blob_{}", crate::core::ids::short_hex());
            conn.prepare_cached(
                "INSERT INTO blobs (id, hash, content, mime_type, size_original, size_compressed, compression, created_at, ref_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'none', ?6, 1)",
            )?
            .execute(params![id, hash, content, mime_type, content.len() as i64, super::now_iso()])?;
            Ok(id)
        })
    }

    /// A blob by id.
    pub fn blob(&self, id: &str) -> Result<Blob> {
        self.connection()
            .prepare_cached("SELECT id, hash, content, COALESCE(mime_type,'text/plain'), COALESCE(ref_count,0) FROM blobs WHERE id = ?1")?
            .query_row([id], |r| {
                Ok(Blob { id: r.get(0)?, hash: r.get(1)?, content: r.get(2)?, mime_type: r.get(3)?, ref_count: r.get(4)? })
            })
            .optional()?
            .ok_or_else(|| StoreError::Invalid(format!("blob not found: {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_are_stored_once_with_a_reference_count() {
        let store = EventStore::open_in_memory().unwrap();
        let a = store.store_blob(b"hello", "text/plain").unwrap();
        let b = store.store_blob(b"hello", "text/plain").unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with("blob_"));
        let blob = store.blob(&a).unwrap();
        assert_eq!(blob.content, b"hello");
        assert_eq!(blob.ref_count, 2);
        assert_eq!(blob.hash, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_ne!(store.store_blob(b"other", "text/plain").unwrap(), a);
    }
}

//! The vector table: sqlite-vec's `vec0` virtual table `memory_vectors(event_id TEXT PRIMARY
//! KEY, workspace_id TEXT NOT NULL, embedding float[512])`, exactly as the TypeScript server
//! creates it, and its nearest-neighbour search (brute force, L2 distance on unit vectors).
//!
//! Vectors of another size than 512 (a smaller test model) live in `memory_vectors_<dims>`
//! with the same columns, so the TypeScript table never holds vectors it cannot read.
//!
//! Search is an exact scan (sqlite-vec has no approximate index). Measured on a 2-core VM
//! (benches/embed.rs): about 80 ms for 100,000 x 384 and 110 ms for 100,000 x 512 vectors;
//! a binary-quantised prefilter in a second vec0 `bit[N]` table was tried and was no faster
//! (vec0's top-k selection over a few hundred candidates dominates) at about 50% recall, so
//! it is not used.
//!
//! sqlite-vec is compiled in and registered for every connection opened after
//! [`register`]; call it before opening the event store.

use std::collections::HashSet;
use std::sync::Once;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::{EmbedError, Result};

/// The dimensions of the TypeScript server's table.
pub const TS_DIMENSIONS: usize = 512;

/// One nearest neighbour.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The `memory.ledger` event.
    pub event_id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// Euclidean distance between the unit vectors (0..=2).
    pub distance: f32,
    /// Cosine similarity, `1 - distance² / 2` for unit vectors (1 = same direction).
    pub score: f32,
}

/// Registers sqlite-vec with SQLite for every connection opened from now on (idempotent).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_vec_init has the signature of an SQLite extension entry point
        // (db, error message, API routines); sqlite3_auto_extension takes it untyped.
        unsafe {
            type Entry = unsafe extern "C" fn(
                *mut rusqlite::ffi::sqlite3,
                *mut *mut std::os::raw::c_char,
                *const rusqlite::ffi::sqlite3_api_routines,
            ) -> std::os::raw::c_int;
            let entry: Entry =
                std::mem::transmute::<*const (), Entry>(sqlite_vec::sqlite3_vec_init as *const ());
            rusqlite::ffi::sqlite3_auto_extension(Some(entry));
        }
    });
}

/// The table that holds `dims`-dimensional vectors.
pub fn table_name(dims: usize) -> String {
    if dims == TS_DIMENSIONS {
        "memory_vectors".to_owned()
    } else {
        format!("memory_vectors_{dims}")
    }
}

/// The vector table of one dimension on a connection.
#[derive(Debug)]
pub struct VectorTable {
    name: String,
    dims: usize,
}

impl VectorTable {
    /// Creates the table when missing (vec0 must be registered on `conn`) and checks that an
    /// existing one holds `dims`-dimensional vectors.
    pub fn ensure(conn: &Connection, dims: usize) -> Result<Self> {
        if dims == 0 {
            return Err(EmbedError::Invalid("vectors need at least one dimension".into()));
        }
        let vec0: bool = conn.prepare("SELECT 1 FROM pragma_module_list WHERE name = 'vec0'")?.exists([])?;
        if !vec0 {
            return Err(EmbedError::Invalid(
                "sqlite-vec is not loaded on this connection (call embed::store::register before opening the database)"
                    .into(),
            ));
        }
        let name = table_name(dims);
        let existing: Option<String> = conn
            .query_row("SELECT sql FROM sqlite_master WHERE name = ?1", [&name], |r| r.get(0))
            .optional()?;
        match existing {
            Some(sql) => {
                if let Some(found) = declared_dims(&sql) {
                    if found != dims {
                        return Err(EmbedError::TableDimensions { table: name, table_dims: found, dims });
                    }
                }
            }
            None => conn.execute_batch(&format!(
                "CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0(\n    event_id TEXT PRIMARY KEY,\n    workspace_id TEXT NOT NULL,\n    embedding float[{dims}]\n)"
            ))?,
        }
        Ok(Self { name, dims })
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vector size.
    pub fn dimensions(&self) -> usize {
        self.dims
    }

    /// Stores (or replaces) vectors. Run it inside the caller's transaction.
    pub fn upsert(&self, conn: &Connection, rows: &[(String, String, Vec<f32>)]) -> Result<()> {
        let mut delete = conn.prepare_cached(&format!("DELETE FROM {} WHERE event_id = ?1", self.name))?;
        let mut insert = conn.prepare_cached(&format!(
            "INSERT INTO {} (event_id, workspace_id, embedding) VALUES (?1, ?2, ?3)",
            self.name
        ))?;
        for (event_id, workspace_id, v) in rows {
            if v.len() != self.dims {
                return Err(EmbedError::TableDimensions {
                    table: self.name.clone(),
                    table_dims: self.dims,
                    dims: v.len(),
                });
            }
            delete.execute([event_id])?;
            insert.execute(params![event_id, workspace_id, as_blob(v)])?;
        }
        Ok(())
    }

    /// The ids of every event that has a vector.
    pub fn indexed_ids(&self, conn: &Connection) -> Result<HashSet<String>> {
        let mut stmt = conn.prepare(&format!("SELECT event_id FROM {}", self.name))?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// How many vectors the table holds.
    pub fn count(&self, conn: &Connection) -> Result<usize> {
        // Counted in the `_rowids` shadow table: a count(*) on the virtual table walks every
        // chunk (30 ms and more at 100,000 rows).
        let n: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {}_rowids", self.name), [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Removes every vector (a rebuild).
    pub fn clear(&self, conn: &Connection) -> Result<()> {
        conn.execute_batch(&format!("DELETE FROM {}", self.name))?;
        Ok(())
    }

    /// The `limit` nearest vectors to `query` (a unit vector), nearest first; only those of
    /// `workspace` when given.
    pub fn search(
        &self,
        conn: &Connection,
        query: &[f32],
        limit: usize,
        workspace: Option<&str>,
    ) -> Result<Vec<Neighbour>> {
        if query.len() != self.dims {
            return Err(EmbedError::TableDimensions {
                table: self.name.clone(),
                table_dims: self.dims,
                dims: query.len(),
            });
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = if workspace.is_some() { " AND workspace_id = ?3" } else { "" };
        let sql = format!(
            "SELECT event_id, workspace_id, distance FROM {} WHERE embedding MATCH ?1 AND k = ?2{filter} ORDER BY distance",
            self.name
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let map = |r: &rusqlite::Row<'_>| {
            let distance: f64 = r.get(2)?;
            let d = distance as f32;
            Ok(Neighbour {
                event_id: r.get(0)?,
                workspace_id: r.get(1)?,
                distance: d,
                score: 1.0 - d * d / 2.0,
            })
        };
        let blob = as_blob(query);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match workspace {
            Some(ws) => {
                stmt.query_map(params![blob, limit, ws], map)?.collect::<rusqlite::Result<Vec<_>>>()?
            }
            None => stmt.query_map(params![blob, limit], map)?.collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }
}

/// The little-endian f32 blob sqlite-vec reads.
pub fn as_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `N` of the first `float[N]` in a CREATE statement.
fn declared_dims(sql: &str) -> Option<usize> {
    let lower = sql.to_ascii_lowercase();
    let start = lower.find("float[")? + "float[".len();
    let end = lower[start..].find(']')? + start;
    lower[start..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        register();
        Connection::open_in_memory().unwrap()
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::embed::pool::l2_normalize(&mut v);
        v
    }

    #[test]
    fn the_512_table_is_the_typescript_one() {
        assert_eq!(table_name(512), "memory_vectors");
        assert_eq!(table_name(384), "memory_vectors_384");
        assert_eq!(
            declared_dims("CREATE VIRTUAL TABLE x USING vec0(a TEXT, embedding float[512])"),
            Some(512)
        );
    }

    #[test]
    fn round_trip_and_nearest_first() {
        let c = conn();
        let t = VectorTable::ensure(&c, 3).unwrap();
        let rows = vec![
            ("a".to_string(), "ws1".to_string(), unit(&[1.0, 0.0, 0.0])),
            ("b".to_string(), "ws1".to_string(), unit(&[1.0, 1.0, 0.0])),
            ("c".to_string(), "ws2".to_string(), unit(&[0.0, 0.0, 1.0])),
        ];
        t.upsert(&c, &rows).unwrap();
        assert_eq!(t.count(&c).unwrap(), 3);
        let hits = t.search(&c, &unit(&[1.0, 0.1, 0.0]), 3, None).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| h.event_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(hits[0].score > 0.99 && hits[2].score.abs() < 1e-6, "{hits:?}");
        let only_ws2 = t.search(&c, &unit(&[1.0, 0.0, 0.0]), 3, Some("ws2")).unwrap();
        assert_eq!(only_ws2.len(), 1);
        assert_eq!(only_ws2[0].event_id, "c");
        // Replacing keeps one row per event.
        t.upsert(&c, &[("a".into(), "ws1".into(), unit(&[0.0, 0.0, 1.0]))]).unwrap();
        assert_eq!(t.count(&c).unwrap(), 3);
        assert_eq!(t.search(&c, &unit(&[0.0, 0.0, 1.0]), 1, None).unwrap()[0].score, 1.0);
    }

    #[test]
    fn wrong_sizes_are_refused() {
        let c = conn();
        let t = VectorTable::ensure(&c, 3).unwrap();
        assert!(t.upsert(&c, &[("a".into(), "w".into(), vec![1.0, 0.0])]).is_err());
        assert!(t.search(&c, &[1.0], 1, None).is_err());
        assert_eq!(t.count(&c).unwrap(), 0);
    }
}

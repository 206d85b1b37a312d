//! The vector table: sqlite-vec's `vec0` virtual table `memory_vectors(event_id TEXT PRIMARY
//! KEY, workspace_id TEXT NOT NULL, embedding float[512])`, exactly as the TypeScript server
//! creates it, and its nearest-neighbour search (brute force, L2 distance on unit vectors).
//!
//! Vectors of another size than 512 (a smaller test model) live in `memory_vectors_<dims>`
//! with the same columns, so the TypeScript table never holds vectors it cannot read.
//!
//! Search is exact (a full scan) up to [`EXACT_UP_TO`] vectors. Above that, a full scan of
//! float vectors cannot stay under 20 ms (100,000 x 512 floats is 200 MB), so tron keeps a
//! companion table `<table>_bits` (same ids, `bit[dims]`: the sign of each value, 64 bytes
//! for 512 dimensions), finds [`OVERSAMPLE`] x `limit` candidates by Hamming distance there,
//! and ranks those by their exact float distance. The float table stays the source of truth;
//! the bits table is rebuilt from it whenever their row counts differ (e.g. after the
//! TypeScript server added vectors).
//!
//! sqlite-vec is compiled in and registered for every connection opened after
//! [`register`]; call it before opening the event store.

use std::collections::HashSet;
use std::sync::Once;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::{EmbedError, Result};

/// The dimensions of the TypeScript server's table.
pub const TS_DIMENSIONS: usize = 512;

/// Up to this many vectors, search scans every float vector (exact).
pub const EXACT_UP_TO: usize = 20_000;

/// Candidates taken from the binary prefilter per requested result (at least 200 in all).
pub const OVERSAMPLE: usize = 20;

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
    /// The binary companion table, when `dims` is a multiple of 8.
    bits: Option<String>,
    exact_up_to: usize,
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
        let bits = (dims % 8 == 0).then(|| format!("{name}_bits"));
        let table = Self { name, dims, bits, exact_up_to: EXACT_UP_TO };
        table.sync_bits(conn)?;
        Ok(table)
    }

    /// Search scans every vector up to `n` vectors (default [`EXACT_UP_TO`]); above it, it
    /// uses the binary prefilter.
    pub fn with_exact_up_to(mut self, n: usize) -> Self {
        self.exact_up_to = n;
        self
    }

    /// Creates the bits table when missing and rebuilds it when it does not match the floats.
    fn sync_bits(&self, conn: &Connection) -> Result<()> {
        let Some(bits) = &self.bits else { return Ok(()) };
        conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE IF NOT EXISTS {bits} USING vec0(\n    event_id TEXT PRIMARY KEY,\n    workspace_id TEXT NOT NULL,\n    embedding bit[{}]\n)",
            self.dims
        ))?;
        if count_rows(conn, bits)? != count_rows(conn, &self.name)? {
            conn.execute_batch(&format!(
                "DELETE FROM {bits};
                 INSERT INTO {bits} (event_id, workspace_id, embedding)
                     SELECT event_id, workspace_id, vec_quantize_binary(embedding) FROM {}",
                self.name
            ))?;
        }
        Ok(())
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
        let mut bits = match &self.bits {
            Some(b) => Some((
                conn.prepare_cached(&format!("DELETE FROM {b} WHERE event_id = ?1"))?,
                conn.prepare_cached(&format!(
                    "INSERT INTO {b} (event_id, workspace_id, embedding) VALUES (?1, ?2, vec_quantize_binary(?3))"
                ))?,
            )),
            None => None,
        };
        for (event_id, workspace_id, v) in rows {
            if v.len() != self.dims {
                return Err(EmbedError::TableDimensions {
                    table: self.name.clone(),
                    table_dims: self.dims,
                    dims: v.len(),
                });
            }
            let blob = as_blob(v);
            delete.execute([event_id])?;
            insert.execute(params![event_id, workspace_id, blob])?;
            if let Some((delete_bits, insert_bits)) = bits.as_mut() {
                delete_bits.execute([event_id])?;
                insert_bits.execute(params![event_id, workspace_id, blob])?;
            }
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
        count_rows(conn, &self.name)
    }

    /// Removes every vector (a rebuild).
    pub fn clear(&self, conn: &Connection) -> Result<()> {
        conn.execute_batch(&format!("DELETE FROM {}", self.name))?;
        if let Some(bits) = &self.bits {
            conn.execute_batch(&format!("DELETE FROM {bits}"))?;
        }
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
        match &self.bits {
            Some(bits) if self.count(conn)? > self.exact_up_to => {
                self.search_prefiltered(conn, bits, query, limit, workspace)
            }
            _ => self.search_exact(conn, query, limit, workspace),
        }
    }

    /// Full scan of the float vectors.
    pub fn search_exact(
        &self,
        conn: &Connection,
        query: &[f32],
        limit: usize,
        workspace: Option<&str>,
    ) -> Result<Vec<Neighbour>> {
        self.knn(conn, &self.name, "?1", query, limit, workspace, |r| {
            let d = r.get::<_, f64>(2)? as f32;
            Ok(Neighbour {
                event_id: r.get(0)?,
                workspace_id: r.get(1)?,
                distance: d,
                score: 1.0 - d * d / 2.0,
            })
        })
    }

    /// Hamming-distance candidates from the bits table, ranked by their exact float distance.
    fn search_prefiltered(
        &self,
        conn: &Connection,
        bits: &str,
        query: &[f32],
        limit: usize,
        workspace: Option<&str>,
    ) -> Result<Vec<Neighbour>> {
        let k = limit.saturating_mul(OVERSAMPLE).max(200);
        let candidates = self.knn(conn, bits, "vec_quantize_binary(?1)", query, k, workspace, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut reader = FloatReader::new(conn, &self.name, self.dims)?;
        let mut out = Vec::with_capacity(candidates.len());
        for (event_id, workspace_id) in candidates {
            let Some(v) = reader.read(&event_id)? else { continue };
            let d2: f32 = v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
            out.push(Neighbour { event_id, workspace_id, distance: d2.sqrt(), score: 1.0 - d2 / 2.0 });
        }
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        out.truncate(limit);
        Ok(out)
    }

    /// A vec0 KNN query on `table` with the query vector bound through `query_sql`.
    #[allow(clippy::too_many_arguments)]
    fn knn<T>(
        &self,
        conn: &Connection,
        table: &str,
        query_sql: &str,
        query: &[f32],
        k: usize,
        workspace: Option<&str>,
        map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let filter = if workspace.is_some() { " AND workspace_id = ?3" } else { "" };
        let sql = format!(
            "SELECT event_id, workspace_id, distance FROM {table} WHERE embedding MATCH {query_sql} AND k = ?2{filter} ORDER BY distance"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let blob = as_blob(query);
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        let rows = match workspace {
            Some(ws) => stmt.query_map(params![blob, k, ws], map)?.collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt.query_map(params![blob, k], map)?.collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }
}

/// Rows of a vec0 table, counted in its `_rowids` shadow table (a `count(*)` on the virtual
/// table itself walks every chunk: 30 ms and more at 100,000 rows).
fn count_rows(conn: &Connection, table: &str) -> Result<usize> {
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}_rowids"), [], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Reads single float vectors of a vec0 table. A vec0 point query (`WHERE event_id = ?`)
/// costs about 0.4 ms, too much for re-ranking hundreds of candidates, so this reads the
/// vector straight from sqlite-vec's shadow tables (`<t>_rowids` gives chunk and offset,
/// `<t>_vector_chunks00` holds each chunk's vectors back to back), falling back to the
/// point query when that layout is not there.
struct FloatReader<'c> {
    conn: &'c Connection,
    table: String,
    dims: usize,
    shadow: bool,
}

impl<'c> FloatReader<'c> {
    fn new(conn: &'c Connection, table: &str, dims: usize) -> Result<Self> {
        let shadow = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
            .exists([format!("{table}_vector_chunks00")])?;
        Ok(Self { conn, table: table.to_owned(), dims, shadow })
    }

    fn read(&mut self, event_id: &str) -> Result<Option<Vec<f32>>> {
        let bytes = if self.shadow {
            self.read_shadow(event_id)?
        } else {
            self.conn
                .prepare_cached(&format!("SELECT embedding FROM {} WHERE event_id = ?1", self.table))?
                .query_row([event_id], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
        };
        Ok(bytes
            .filter(|b| b.len() == self.dims * 4)
            .map(|b| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
    }

    fn read_shadow(&self, event_id: &str) -> Result<Option<Vec<u8>>> {
        let place: Option<(i64, i64)> = self
            .conn
            .prepare_cached(&format!(
                "SELECT c._rowid_, r.chunk_offset FROM {t}_rowids r JOIN {t}_vector_chunks00 c ON c.rowid = r.chunk_id WHERE r.id = ?1",
                t = self.table
            ))?
            .query_row([event_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((row, offset)) = place else { return Ok(None) };
        let chunks = format!("{}_vector_chunks00", self.table);
        let blob = self.conn.blob_open(rusqlite::MAIN_DB, chunks.as_str(), "vectors", row, true)?;
        let mut buf = vec![0u8; self.dims * 4];
        let at = usize::try_from(offset).unwrap_or(0) * buf.len();
        blob.read_at_exact(&mut buf, at)?;
        Ok(Some(buf))
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
    fn the_binary_prefilter_finds_the_same_neighbours_on_separated_data() {
        let c = conn();
        let t = VectorTable::ensure(&c, 16).unwrap().with_exact_up_to(0);
        // 300 vectors around 3 well-separated directions.
        let rows: Vec<(String, String, Vec<f32>)> = (0..300)
            .map(|i| {
                let mut v = vec![0.01 * ((i * 7) % 11) as f32; 16];
                for (d, x) in v.iter_mut().enumerate() {
                    *x += if d % 3 == i % 3 { 1.0 } else { -0.5 };
                }
                (format!("e{i}"), format!("w{}", i % 2), unit(&v))
            })
            .collect();
        t.upsert(&c, &rows).unwrap();
        let q = rows[4].2.clone();
        let fast = t.search(&c, &q, 5, None).unwrap();
        let exact = t.search_exact(&c, &q, 5, None).unwrap();
        assert_eq!(fast.len(), 5);
        assert!(fast[0].distance < 1e-3, "the query itself (or an identical vector) comes first");
        assert!(
            fast.iter().zip(&exact).all(|(a, b)| (a.distance - b.distance).abs() < 1e-4),
            "{fast:?} vs {exact:?}"
        );
        let ws = t.search(&c, &q, 5, Some("w1")).unwrap();
        assert!(ws.iter().all(|n| n.workspace_id == "w1"));
    }

    #[test]
    fn the_bits_table_is_rebuilt_when_it_misses_rows() {
        let c = conn();
        let t = VectorTable::ensure(&c, 8).unwrap();
        t.upsert(&c, &[("a".into(), "w".into(), unit(&[1.0; 8]))]).unwrap();
        // Vectors added by someone who does not know the bits table (the TypeScript server).
        c.execute(
            "INSERT INTO memory_vectors_8 (event_id, workspace_id, embedding) VALUES ('b', 'w', ?1)",
            [as_blob(&unit(&[-1.0; 8]))],
        )
        .unwrap();
        let count =
            |t: &str| c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("memory_vectors_8_bits"), 1);
        let t = VectorTable::ensure(&c, 8).unwrap().with_exact_up_to(0);
        assert_eq!(count("memory_vectors_8_bits"), 2);
        assert_eq!(t.search(&c, &unit(&[-1.0; 8]), 1, None).unwrap()[0].event_id, "b");
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

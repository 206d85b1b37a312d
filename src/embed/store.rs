//! The vector table: sqlite-vec's `vec0` virtual table `memory_vectors(event_id TEXT PRIMARY
//! KEY, workspace_id TEXT NOT NULL, embedding float[512])`, exactly as the TypeScript server
//! creates it, and its nearest-neighbour search (brute force, L2 distance on unit vectors).
//!
//! Vectors of another size than 512 (a smaller test model) live in `memory_vectors_<dims>`
//! with the same columns, so the TypeScript table never holds vectors it cannot read.
//!
//! Search is an exact scan (sqlite-vec has no approximate index). Measured on a loaded 2-core
//! VM (benches/embed.rs): about 90 ms for 100,000 x 384 and 120 ms for 100,000 x 512 vectors;
//! a `count(*)` alone walks every chunk, and the crate compiles sqlite-vec without SIMD. A
//! binary-quantised prefilter in a second vec0 `bit[N]` table was tried and was no faster at
//! about 50% recall, so it is not used. A long-running process searches a [`MemoryIndex`]
//! instead: the same exact ranking over vectors held in memory, about 15 ms (384) and 20 ms
//! (512) for 100,000 vectors on the same VM.
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
#[derive(Debug, Clone)]
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

/// The vectors of one table held in memory, for a long-running process (the server) that
/// searches often: an exact scan of 100,000 x 384 floats in Rust instead of vec0's per-row
/// work. Load it once ([`MemoryIndex::load`]) and [`MemoryIndex::push`] new vectors as they
/// are stored.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    dims: usize,
    ids: Vec<(String, String)>,
    data: Vec<f32>,
}

impl MemoryIndex {
    /// An empty index of `dims`-dimensional vectors.
    pub fn new(dims: usize) -> Self {
        Self { dims, ..Default::default() }
    }

    /// Every vector of `table`.
    pub fn load(conn: &Connection, table: &VectorTable) -> Result<Self> {
        let mut index = Self::new(table.dims);
        let mut stmt =
            conn.prepare(&format!("SELECT event_id, workspace_id, embedding FROM {}", table.name))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            if blob.len() != index.dims * 4 {
                continue;
            }
            index.ids.push((r.get(0)?, r.get(1)?));
            index.data.extend(blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        Ok(index)
    }

    /// Adds one vector (a unit vector of the index's size).
    pub fn push(&mut self, event_id: String, workspace_id: String, v: &[f32]) -> Result<()> {
        if v.len() != self.dims {
            return Err(EmbedError::Invalid(format!(
                "a {}-dim vector for a {}-dim index",
                v.len(),
                self.dims
            )));
        }
        self.ids.push((event_id, workspace_id));
        self.data.extend_from_slice(v);
        Ok(())
    }

    /// How many vectors it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `limit` vectors nearest to the unit vector `query`, nearest first (only
    /// `workspace`'s when given); the same ranking and scores as [`VectorTable::search`].
    pub fn search(&self, query: &[f32], limit: usize, workspace: Option<&str>) -> Result<Vec<Neighbour>> {
        if query.len() != self.dims {
            return Err(EmbedError::Invalid(format!(
                "a {}-dim query for a {}-dim index",
                query.len(),
                self.dims
            )));
        }
        // Large indexes are scanned by several threads, each keeping its own best `limit`.
        let threads = if self.len() >= PARALLEL_FROM {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
        } else {
            1
        };
        let per = self.len().div_ceil(threads).max(1);
        let mut scored: Vec<(f32, usize)> = std::thread::scope(|scope| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let start = t * per;
                    let end = ((t + 1) * per).min(self.len());
                    scope.spawn(move || self.best(query, start..end, limit, workspace))
                })
                .collect();
            parts.into_iter().flat_map(|p| p.join().unwrap_or_default()).collect()
        });
        let by_score = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0);
        let limit = limit.min(scored.len());
        if limit == 0 {
            return Ok(Vec::new());
        }
        scored.select_nth_unstable_by(limit - 1, by_score);
        scored.truncate(limit);
        scored.sort_by(by_score);
        Ok(scored
            .into_iter()
            .map(|(score, i)| Neighbour {
                event_id: self.ids[i].0.clone(),
                workspace_id: self.ids[i].1.clone(),
                distance: (2.0 - 2.0 * score).max(0.0).sqrt(),
                score,
            })
            .collect())
    }
}

/// From this many vectors on, [`MemoryIndex::search`] scans with several threads.
const PARALLEL_FROM: usize = 20_000;

impl MemoryIndex {
    /// The best `limit` (score, index) of the vectors in `range` (unsorted).
    fn best(
        &self,
        query: &[f32],
        range: std::ops::Range<usize>,
        limit: usize,
        workspace: Option<&str>,
    ) -> Vec<(f32, usize)> {
        let dims = self.dims.max(1);
        let mut scored: Vec<(f32, usize)> = range
            .filter(|i| workspace.is_none_or(|w| self.ids[*i].1 == w))
            .map(|i| (dot(&self.data[i * dims..(i + 1) * dims], query), i))
            .collect();
        if limit > 0 && scored.len() > limit {
            scored.select_nth_unstable_by(limit - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(limit);
        }
        scored
    }
}

/// Dot product with eight independent sums, so the compiler can use SIMD lanes without
/// reordering a single floating-point sum.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
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
    fn the_memory_index_ranks_like_the_table() {
        let c = conn();
        let t = VectorTable::ensure(&c, 12).unwrap();
        let rows: Vec<(String, String, Vec<f32>)> = (0..50)
            .map(|i| {
                let v: Vec<f32> = (0..12).map(|d| (i as f32 * 1.37 + d as f32 * 0.71).sin()).collect();
                (format!("e{i}"), format!("w{}", i % 3), unit(&v))
            })
            .collect();
        t.upsert(&c, &rows).unwrap();
        let index = MemoryIndex::load(&c, &t).unwrap();
        assert_eq!(index.len(), 50);
        for q in [&rows[3].2, &rows[17].2] {
            let want = t.search(&c, q, 5, None).unwrap();
            let got = index.search(q, 5, None).unwrap();
            let ids = |n: &[Neighbour]| n.iter().map(|x| x.event_id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&got), ids(&want));
            assert!(got.iter().zip(&want).all(|(a, b)| (a.score - b.score).abs() < 1e-4));
            let ws = index.search(q, 5, Some("w1")).unwrap();
            assert_eq!(ids(&ws), ids(&t.search(&c, q, 5, Some("w1")).unwrap()));
        }
        let mut index = index;
        index.push("new".into(), "w0".into(), &rows[3].2).unwrap();
        assert!(index.push("bad".into(), "w0".into(), &[1.0]).is_err());
        assert_eq!(index.search(&rows[3].2, 2, None).unwrap().len(), 2);
    }

    #[test]
    fn a_large_index_scanned_in_parallel_ranks_like_a_full_sort() {
        let dims = 8;
        let mut index = MemoryIndex::new(dims);
        let n = PARALLEL_FROM + 5_001;
        for i in 0..n {
            let v: Vec<f32> = (0..dims).map(|d| ((i * 31 + d * 17) as f32 * 0.013).sin()).collect();
            index.push(format!("e{i}"), format!("w{}", i % 4), &unit(&v)).unwrap();
        }
        let q = unit(&[0.3, -0.2, 0.9, 0.1, 0.0, 0.5, -0.7, 0.2]);
        for ws in [None, Some("w2")] {
            let got = index.search(&q, 10, ws).unwrap();
            let mut all: Vec<(f32, usize)> = (0..n)
                .filter(|i| ws.is_none_or(|w| index.ids[*i].1 == w))
                .map(|i| (dot(&index.data[i * dims..(i + 1) * dims], &q), i))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0));
            let want: Vec<String> = all[..10].iter().map(|(_, i)| index.ids[*i].0.clone()).collect();
            assert_eq!(got.iter().map(|h| h.event_id.clone()).collect::<Vec<_>>(), want);
        }
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

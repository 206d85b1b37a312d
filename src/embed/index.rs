//! Memory entries (`memory.ledger` events) and their vectors: the backfill that embeds the
//! entries without a vector, in batches, and the search that embeds a query and returns the
//! nearest entries.

use std::collections::HashMap;

use rusqlite::Connection;

use super::error::{EmbedError, Result};
use super::model::Embedder;
use super::store::VectorTable;
use super::text::build_embedding_text;
use crate::events::types::MemoryLedgerPayload;
use crate::events::{EventStore, StoreError};

/// One `memory.ledger` event.
#[derive(Debug, Clone)]
pub struct MemoryEntry {
    /// The event id.
    pub event_id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// When it was written.
    pub timestamp: String,
    /// The ledger payload.
    pub payload: MemoryLedgerPayload,
}

impl MemoryEntry {
    /// The text that is embedded for it.
    pub fn text(&self) -> String {
        build_embedding_text(&self.payload)
    }
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexReport {
    /// Memory entries in the database.
    pub entries: usize,
    /// Entries that already had a vector.
    pub already_indexed: usize,
    /// Entries embedded now.
    pub indexed: usize,
    /// Entries with nothing to embed (every section empty) or a payload that does not parse.
    pub skipped: usize,
    /// The vector table.
    pub table: String,
}

/// A search hit with its entry.
#[derive(Debug, Clone)]
pub struct MemoryHit {
    /// Cosine similarity to the query (1 = same direction).
    pub score: f32,
    /// Distance between the unit vectors.
    pub distance: f32,
    /// The entry.
    pub entry: MemoryEntry,
}

const ENTRY_COLUMNS: &str = "id, session_id, workspace_id, timestamp, payload";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(MemoryEntry, bool)> {
    let payload: String = r.get(4)?;
    let parsed = serde_json::from_str::<MemoryLedgerPayload>(&payload);
    Ok((
        MemoryEntry {
            event_id: r.get(0)?,
            session_id: r.get(1)?,
            workspace_id: r.get(2)?,
            timestamp: r.get(3)?,
            payload: parsed.as_ref().cloned().unwrap_or_default(),
        },
        parsed.is_ok(),
    ))
}

/// Every memory entry, oldest first; the flag is false for a payload that does not parse.
pub fn memory_entries(conn: &Connection) -> Result<Vec<(MemoryEntry, bool)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS} FROM events WHERE type = 'memory.ledger' ORDER BY timestamp, id"
    ))?;
    let rows = stmt.query_map([], entry_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The memory entries of `table`'s size without a vector, with their texts (similar
/// lengths together), and the counts of a report over them.
pub fn pending(conn: &Connection, table: &VectorTable) -> Result<(Vec<(MemoryEntry, String)>, IndexReport)> {
    let done = table.indexed_ids(conn)?;
    let mut report = IndexReport { table: table.name().to_owned(), ..Default::default() };
    let mut todo: Vec<(MemoryEntry, String)> = Vec::new();
    for (entry, parsed) in memory_entries(conn)? {
        report.entries += 1;
        if done.contains(&entry.event_id) {
            report.already_indexed += 1;
            continue;
        }
        let text = entry.text();
        if !parsed || text.trim().is_empty() {
            report.skipped += 1;
            continue;
        }
        todo.push((entry, text));
    }
    // Similar lengths in one batch waste less work on padding.
    todo.sort_by_key(|(_, text)| text.len());
    Ok((todo, report))
}

/// Embeds one batch of [`pending`] entries: `(event id, workspace id, vector)` rows for
/// [`VectorTable::upsert`].
pub fn embed_rows(
    embedder: &Embedder,
    batch: &[(MemoryEntry, String)],
) -> Result<Vec<(String, String, Vec<f32>)>> {
    let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
    let vectors = embedder.embed(&texts)?;
    Ok(batch.iter().zip(vectors).map(|((e, _), v)| (e.event_id.clone(), e.workspace_id.clone(), v)).collect())
}

/// Embeds every memory entry that has no vector yet, `batch_size` texts per model run, and
/// stores each batch in its own transaction (an interrupted backfill keeps what it did).
/// `progress(done, total)` is called after each batch. `rebuild` drops every vector first.
pub fn backfill(
    store: &EventStore,
    embedder: &Embedder,
    batch_size: usize,
    rebuild: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<IndexReport> {
    if batch_size == 0 {
        return Err(EmbedError::Invalid("--batch-size must be at least 1".into()));
    }
    let table = in_transaction(store, |c| VectorTable::ensure(c, embedder.dimensions()))?;
    if rebuild {
        in_transaction(store, |c| table.clear(c))?;
    }
    let (todo, mut report) = pending(store.connection(), &table)?;
    let total = todo.len();
    progress(0, total);
    for chunk in todo.chunks(batch_size) {
        let rows = embed_rows(embedder, chunk)?;
        in_transaction(store, |c| table.upsert(c, &rows))?;
        report.indexed += rows.len();
        progress(report.indexed, total);
    }
    Ok(report)
}

/// The `limit` memory entries nearest to `query`, best first (only `workspace`'s when given).
pub fn search(
    store: &EventStore,
    embedder: &Embedder,
    query: &str,
    limit: usize,
    workspace: Option<&str>,
) -> Result<Vec<MemoryHit>> {
    if query.trim().is_empty() {
        return Err(EmbedError::Invalid("the search query is empty".into()));
    }
    if limit == 0 {
        return Err(EmbedError::Invalid("--limit must be at least 1".into()));
    }
    let table = in_transaction(store, |c| VectorTable::ensure(c, embedder.dimensions()))?;
    let vector = embedder.embed_one(query)?;
    let conn = store.connection();
    let neighbours = table.search(conn, &vector, limit, workspace)?;
    hits(conn, neighbours)
}

/// The memory entries of `neighbours`, in their order; a vector whose event is gone (a
/// deleted session) is not a hit.
pub fn hits(conn: &Connection, neighbours: Vec<super::store::Neighbour>) -> Result<Vec<MemoryHit>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {ENTRY_COLUMNS} FROM events WHERE id = ?1"))?;
    let mut entries: HashMap<String, MemoryEntry> = HashMap::new();
    for n in &neighbours {
        if let Ok((entry, _)) = stmt.query_row([&n.event_id], entry_row) {
            entries.insert(n.event_id.clone(), entry);
        }
    }
    Ok(neighbours
        .into_iter()
        .filter_map(|n| {
            entries.remove(&n.event_id).map(|entry| MemoryHit { score: n.score, distance: n.distance, entry })
        })
        .collect())
}

/// Runs `f` in one write transaction of the event store (with its lock retries); any error
/// rolls the transaction back.
pub(crate) fn in_transaction<T>(
    store: &EventStore,
    mut f: impl FnMut(&Connection) -> Result<T>,
) -> Result<T> {
    let mut failure: Option<EmbedError> = None;
    let out = store.write(|c| match f(c) {
        Ok(v) => Ok(v),
        Err(EmbedError::Sqlite(e)) => Err(StoreError::Sqlite(e)),
        Err(EmbedError::Store(e)) => Err(e),
        Err(other) => {
            let message = other.to_string();
            failure = Some(other);
            Err(StoreError::Invalid(message))
        }
    });
    match (out, failure) {
        (_, Some(e)) => Err(e),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(e.into()),
    }
}

//! Memory vectors kept current by a long-running server: after a memory entry is written,
//! the entries without a vector are embedded and stored (the TypeScript server's
//! `embedMemory` after each ledger write, which also picks up entries written while the
//! model was unavailable).
//!
//! The model is loaded on first use and kept; when it cannot be loaded (not installed, no
//! ONNX Runtime) that is logged once and memory simply stays unindexed, as the TypeScript
//! server fails silently. The store thread only reads and writes: the model runs on the
//! caller's blocking thread, so embedding never holds up event writes.
//!
//! It also answers `memory.search`: the first search loads every stored vector into a
//! [`MemoryIndex`], which the catch-up keeps current, so a search scans memory (100,000
//! vectors in under 20 ms) rather than the vec0 table.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::index::{embed_rows, hits, in_transaction, pending, MemoryHit};
use super::model::{load_configured, Embedder, Overrides};
use super::store::{MemoryIndex, VectorTable};
use super::{EmbedError, Result};
use crate::events::{StoreError, StoreHandle};
use crate::settings::{EnvLookup, Settings};

/// Whether the settings let memory be embedded (`context.memory.embedding.enabled`, on
/// unless set to false).
pub fn enabled(settings: &Settings) -> bool {
    settings.get(&format!("{}.enabled", super::locate::SETTINGS_KEY)).and_then(|v| v.as_bool()) != Some(false)
}

/// Embeds new memory entries for a server (one per process).
pub struct LiveIndexer {
    env: EnvLookup,
    data_dir: PathBuf,
    /// The loaded model, or why it could not be loaded (not retried: a restart picks up a
    /// newly installed model).
    model: Mutex<Option<std::result::Result<Arc<Embedder>, String>>>,
    /// One catch-up at a time, so no entry is embedded twice.
    busy: Mutex<()>,
    /// Every stored vector, held in memory once the first search loaded it (a search then
    /// scans memory instead of the vec0 table), kept current by [`LiveIndexer::catch_up`].
    index: Mutex<Option<MemoryIndex>>,
}

impl std::fmt::Debug for LiveIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndexer").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl LiveIndexer {
    /// An indexer reading the model's location from `env` and the data dir.
    pub fn new(env: EnvLookup, data_dir: PathBuf) -> Self {
        Self { env, data_dir, model: Mutex::new(None), busy: Mutex::new(()), index: Mutex::new(None) }
    }

    fn embedder(&self, settings: &Settings) -> Option<Arc<Embedder>> {
        self.load(settings).ok()
    }

    /// The model, or why it cannot be loaded (loaded once; see [`LiveIndexer`]).
    fn load(&self, settings: &Settings) -> std::result::Result<Arc<Embedder>, String> {
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let env = self.env.clone();
            let loaded = load_configured(settings, &move |k| env(k), &self.data_dir, Overrides::default());
            if let Err(e) = &loaded {
                tracing::info!(component = "embed", error = %e, "memory entries are not embedded");
            }
            *slot = Some(loaded.map(Arc::new).map_err(|e| e.to_string()));
        }
        slot.clone().expect("set above")
    }

    /// The `limit` memory entries nearest to `query` (only `workspace`'s when given), best
    /// first. The first search loads every stored vector into memory; later ones scan
    /// memory (see [`MemoryIndex`]). Blocks, like [`LiveIndexer::catch_up`].
    pub fn search(
        &self,
        store: &StoreHandle,
        settings: &Settings,
        query: &str,
        limit: usize,
        workspace: Option<&str>,
    ) -> Result<Vec<MemoryHit>> {
        if !enabled(settings) {
            return Err(EmbedError::Invalid(
                "memory search is off (context.memory.embedding.enabled is false)".into(),
            ));
        }
        if query.trim().is_empty() {
            return Err(EmbedError::Invalid("the search query is empty".into()));
        }
        if limit == 0 {
            return Err(EmbedError::Invalid("limit must be at least 1".into()));
        }
        let embedder = self.load(settings).map_err(EmbedError::Invalid)?;
        let vector = embedder.embed_one(query)?;
        let rt = tokio::runtime::Handle::current();
        let on_store = |e: EmbedError| StoreError::Invalid(e.to_string());
        let neighbours = {
            let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
            if index.is_none() {
                let dims = embedder.dimensions();
                let loaded = rt.block_on(store.run(move |s| {
                    let table = in_transaction(s, |c| VectorTable::ensure(c, dims)).map_err(on_store)?;
                    MemoryIndex::load(s.connection(), &table).map_err(on_store)
                }))?;
                *index = Some(loaded);
            }
            index.as_ref().expect("loaded above").search(&vector, limit, workspace)?
        };
        Ok(rt.block_on(store.run(move |s| hits(s.connection(), neighbours).map_err(on_store)))?)
    }

    /// Embeds every memory entry without a vector and stores the vectors; how many. Blocks:
    /// call it on a blocking thread of a tokio runtime (it waits for the store on it).
    pub fn catch_up(&self, store: &StoreHandle, settings: &Settings) -> Result<usize> {
        if !enabled(settings) {
            return Ok(0);
        }
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let Some(embedder) = self.embedder(settings) else { return Ok(0) };
        let rt = tokio::runtime::Handle::current();
        let dims = embedder.dimensions();
        let on_store = |e: EmbedError| StoreError::Invalid(e.to_string());
        let (table, todo) = rt.block_on(store.run(move |s| {
            let table = in_transaction(s, |c| VectorTable::ensure(c, dims)).map_err(on_store)?;
            let (todo, _) = pending(s.connection(), &table).map_err(on_store)?;
            Ok((table, todo))
        }))?;
        let mut stored = 0;
        for chunk in todo.chunks(8) {
            let rows = embed_rows(&embedder, chunk)?;
            let (t, n, kept) = (table.clone(), rows.len(), rows.clone());
            rt.block_on(store.run(move |s| in_transaction(s, |c| t.upsert(c, &rows)).map_err(on_store)))?;
            stored += n;
            if let Some(index) = self.index.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                for (event_id, workspace_id, v) in kept {
                    index.push(event_id, workspace_id, &v)?;
                }
            }
        }
        Ok(stored)
    }
}

//! Memory vectors kept current by a long-running server: after a memory entry is written,
//! the entries without a vector are embedded and stored (the TypeScript server's
//! `embedMemory` after each ledger write, which also picks up entries written while the
//! model was unavailable).
//!
//! The model is loaded on first use and kept; when it cannot be loaded (not installed, no
//! ONNX Runtime) that is logged once and memory simply stays unindexed, as the TypeScript
//! server fails silently. The store thread only reads and writes: the model runs on the
//! caller's blocking thread, so embedding never holds up event writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::index::{embed_rows, in_transaction, pending};
use super::model::{load_configured, Embedder, Overrides};
use super::store::VectorTable;
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
}

impl std::fmt::Debug for LiveIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndexer").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl LiveIndexer {
    /// An indexer reading the model's location from `env` and the data dir.
    pub fn new(env: EnvLookup, data_dir: PathBuf) -> Self {
        Self { env, data_dir, model: Mutex::new(None), busy: Mutex::new(()) }
    }

    fn embedder(&self, settings: &Settings) -> Option<Arc<Embedder>> {
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let env = self.env.clone();
            let loaded = load_configured(settings, &move |k| env(k), &self.data_dir, Overrides::default());
            if let Err(e) = &loaded {
                tracing::info!(component = "embed", error = %e, "memory entries are not embedded");
            }
            *slot = Some(loaded.map(Arc::new).map_err(|e| e.to_string()));
        }
        slot.as_ref().and_then(|r| r.as_ref().ok()).cloned()
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
            let (t, n) = (table.clone(), rows.len());
            rt.block_on(store.run(move |s| in_transaction(s, |c| t.upsert(c, &rows)).map_err(on_store)))?;
            stored += n;
        }
        Ok(stored)
    }
}

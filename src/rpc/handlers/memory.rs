//! `memory.getLedger` and `memory.updateLedger`: the memory ledger (see
//! [`crate::context::memory`]) as the iOS app reads and triggers it; `memory.search`: the
//! entries nearest in meaning to a query (see [`crate::embed::live`]).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::context::memory::{self, LedgerOutcome};
use crate::core::errors::RpcError;
use crate::llm::models::{self, ModelInfo};
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_str_list, opt_usize, required_str, Params};
use crate::rpc::ServerState;
use crate::settings::Settings;

/// `memory.getLedger {workingDirectory, limit?, offset?, tags?}` -> `{entries, hasMore,
/// totalCount}`: the workspace's ledger entries, newest first (50 by default); with `tags`,
/// only entries having any of them.
pub async fn get_ledger(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let path = required_str(p, "workingDirectory")?.to_owned();
    let limit = opt_usize(p, "limit")?.unwrap_or(50);
    let offset = opt_usize(p, "offset")?.unwrap_or(0);
    let tags = opt_str_list(p, "tags")?.unwrap_or_default();
    let events =
        state.store.run(move |s| s.workspace_events(&path, "memory.ledger")).await.map_err(store_error)?;
    let matching: Vec<_> = events
        .iter()
        .filter(|e| {
            tags.is_empty()
                || e.payload["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| tags.iter().any(|w| t == w.as_str())))
        })
        .collect();
    let total = matching.len();
    let entries: Vec<Value> =
        matching.into_iter().skip(offset).take(limit).map(memory::ledger_entry).collect();
    Ok(json!({ "entries": entries, "hasMore": offset + limit < total, "totalCount": total }))
}

/// `memory.updateLedger {sessionId}` -> `{written, title?, entryType?, reason?}`: writes the
/// ledger entry of the session's latest cycle now.
pub async fn update_ledger(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let id = session.clone();
    let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    let model = models::lookup(&row.latest_model).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    let settings = state.settings.current();
    Ok(match write_entry(state, &session, &settings, model).await {
        Some(LedgerOutcome::Written { title, entry_type, .. }) => {
            json!({ "written": true, "title": title, "entryType": entry_type })
        }
        Some(LedgerOutcome::Skipped(reason)) => json!({ "written": false, "reason": reason }),
        None => json!({ "written": false, "reason": "no model with credentials for the ledger" }),
    })
}

/// Writes the ledger entry of `session`'s latest cycle (fail-silent, see
/// [`memory::write_with`]) and, when one was written, pushes `agent.memory_updated {title,
/// entryType}` and indexes it for `memory.search`. `None`
/// when no ledger model has credentials.
pub(crate) async fn write_entry(
    state: &Arc<ServerState>,
    session: &str,
    settings: &Settings,
    model: &'static ModelInfo,
) -> Option<LedgerOutcome> {
    let auth_file = state.paths.auth_file();
    let outcome = memory::write_with(&state.store, session, settings, model, &auth_file, &state.env).await;
    if let Some(LedgerOutcome::Written { title, entry_type, .. }) = &outcome {
        let data = json!({ "title": title, "entryType": entry_type });
        state.publish(&Event::new("agent.memory_updated", Some(session), data));
        state.index_memory();
    }
    outcome
}

/// `memory.search {query, limit?, workspaceId?}` -> `{entries: [{id, type, content, source,
/// relevance, timestamp, sessionId, workspaceId, title}], totalCount}`: the memory entries
/// nearest in meaning to `query` (10 by default), best first, in the shape of the earlier
/// TypeScript server's `memory.search` (`relevance` is the cosine similarity, `source` the
/// session). Needs the embedding model (`tron embed fetch`); without it, a clear error.
pub async fn search(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let query = required_str(p, "query")?.to_owned();
    let limit = opt_usize(p, "limit")?.unwrap_or(10);
    let workspace = crate::rpc::params::opt_str(p, "workspaceId")?.map(str::to_owned);
    search_entries(state, query, limit, workspace).await
}

#[cfg(all(feature = "embed", feature = "vector-search"))]
async fn search_entries(
    state: &Arc<ServerState>,
    query: String,
    limit: usize,
    workspace: Option<String>,
) -> Result<Value, RpcError> {
    let (indexer, state2) = (state.memory_indexer(), Arc::clone(state));
    let hits = tokio::task::spawn_blocking(move || {
        let settings = state2.settings.current();
        indexer.search(&state2.store, &settings, &query, limit, workspace.as_deref())
    })
    .await
    .map_err(|e| RpcError::internal(e.to_string()))?
    .map_err(|e| match e {
        crate::embed::EmbedError::Invalid(m) => RpcError::invalid_params(m),
        other => RpcError::internal(other.to_string()),
    })?;
    let entries: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({
                "id": h.entry.event_id,
                "type": h.entry.payload.entry_type,
                "content": h.entry.text(),
                "source": h.entry.session_id,
                "relevance": h.score,
                "timestamp": h.entry.timestamp,
                "sessionId": h.entry.session_id,
                "workspaceId": h.entry.workspace_id,
                "title": h.entry.payload.title,
            })
        })
        .collect();
    Ok(json!({ "totalCount": entries.len(), "entries": entries }))
}

#[cfg(not(all(feature = "embed", feature = "vector-search")))]
async fn search_entries(
    _: &Arc<ServerState>,
    _: String,
    _: usize,
    _: Option<String>,
) -> Result<Value, RpcError> {
    Err(RpcError::new(
        crate::core::errors::RpcErrorCode::NotAvailable,
        "memory search needs a tron built with the `embed` and `vector-search` features",
    ))
}

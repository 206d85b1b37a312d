//! `memory.getLedger` and `memory.updateLedger`: the memory ledger (see
//! [`crate::context::memory`]) as the iOS app reads and triggers it.

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::context::memory::{self, LedgerOutcome};
use crate::core::errors::RpcError;
use crate::llm::models;
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_str_list, opt_usize, required_str, Params};
use crate::rpc::ServerState;

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
    let auth_file = state.paths.auth_file();
    let outcome = memory::write_with(&state.store, &session, &settings, model, &auth_file, &state.env).await;
    Ok(match outcome {
        Some(LedgerOutcome::Written { event, title, entry_type }) => {
            super::skill::publish(state, &session, std::slice::from_ref(&*event));
            let data = json!({ "title": title, "entryType": entry_type });
            state.publish(&Event::new("agent.memory_updated", Some(&session), data));
            json!({ "written": true, "title": title, "entryType": entry_type })
        }
        Some(LedgerOutcome::Skipped(reason)) => json!({ "written": false, "reason": reason }),
        None => json!({ "written": false, "reason": "no model with credentials for the ledger" }),
    })
}

//! `tree.getVisualization`, `tree.getBranches`, `tree.getSubtree`, and `search.content` /
//! `search.events` (one handler). `tree.getAncestors` lives in [`super::events`].
//!
//! Results are the TypeScript server's adapter shapes (its declared `TreeGetSubtreeResult`
//! and `TreeBranchInfo` types are not what it sends; the iOS app decodes none of these).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::RpcError;
use crate::events::{SearchOptions, StoreError};
use crate::rpc::params::{opt_bool, opt_str, opt_str_list, opt_usize, required_str, Params};
use crate::rpc::ServerState;

/// `tree.getVisualization {sessionId, maxDepth?, messagesOnly?}` -> `{sessionId,
/// rootEventId, headEventId, nodes, totalEvents}`.
pub async fn visualization(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let max_depth = opt_usize(p, "maxDepth")?;
    let messages_only = opt_bool(p, "messagesOnly")?.unwrap_or(false);
    let tree = state
        .store
        .run(move |s| s.tree_visualization(&session, max_depth, messages_only))
        .await
        .map_err(store_error)?;
    Ok(json!(tree))
}

/// `tree.getBranches {sessionId}` -> `{mainBranch, forks}`, each branch `{branchPointEventId,
/// firstEventId, isMain, eventCount}`.
pub async fn branches(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let branches = state.store.run(move |s| s.branches(&session)).await.map_err(store_error)?;
    Ok(json!(branches))
}

/// `tree.getSubtree {eventId, maxDepth?, direction?}` -> `{nodes}` (whole events):
/// `descendants` (default) below the event, or `ancestors` root first up to and including it
/// (`maxDepth` applies to descendants only). An unknown event gives no nodes, as the
/// TypeScript server.
pub async fn subtree(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "eventId")?.to_owned();
    let max_depth = opt_usize(p, "maxDepth")?;
    let ancestors = match opt_str(p, "direction")? {
        None | Some("descendants") => false,
        Some("ancestors") => true,
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "direction must be 'descendants' or 'ancestors', not '{other}'"
            )))
        }
    };
    let nodes = state
        .store
        .run(move |s| {
            let found = if ancestors { s.ancestors(&id) } else { s.descendants(&id, max_depth) };
            match found {
                Err(StoreError::EventNotFound(_)) => Ok(Vec::new()),
                other => other,
            }
        })
        .await
        .map_err(store_error)?;
    Ok(json!({ "nodes": nodes }))
}

/// `search.content` / `search.events {query, sessionId?, workspaceId?, types?, limit?}` ->
/// `{results: [{eventId, sessionId, type, timestamp, snippet, score}], totalCount}`, best
/// first. An unknown session or workspace only filters everything out.
pub async fn search(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let query = required_str(p, "query")?.to_owned();
    let opts = SearchOptions {
        session_id: opt_str(p, "sessionId")?.map(str::to_owned),
        workspace_id: opt_str(p, "workspaceId")?.map(str::to_owned),
        types: opt_str_list(p, "types")?.unwrap_or_default(),
        limit: opt_usize(p, "limit")?.filter(|&l| l > 0), // 0: no limit, as TypeScript
        raw: false,
    };
    let results = state.store.run(move |s| s.search(&query, &opts)).await.map_err(store_error)?;
    let total = results.len();
    Ok(json!({ "results": results, "totalCount": total }))
}

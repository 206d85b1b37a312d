//! `session.*`: create, resume, list, delete (archives, as the TypeScript server does),
//! archive, unarchive, fork.

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::RpcError;
use crate::events::{ListOptions, NewSession};
use crate::llm::models;
use crate::rpc::adapters::session_info;
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_bool, opt_str, opt_usize, required_str, Params};
use crate::rpc::{Connection, ServerState};

/// The registry's model for `id`, or `INVALID_PARAMS` `Unknown model: <id>` (the
/// TypeScript server's message).
pub(crate) fn model_param(id: &str) -> Result<&'static models::ModelInfo, RpcError> {
    models::lookup(id).map_err(|_| RpcError::invalid_params(format!("Unknown model: {id}")))
}

/// The `worktree` of a session's wire shapes for a session without a worktree of its own
/// (see src/platform/worktree): `{isolated: false, path}`.
pub(crate) fn worktree_info(working_directory: &str) -> Value {
    json!({ "isolated": false, "path": working_directory })
}

/// `session.create {workingDirectory, model?}` -> `{sessionId, model, createdAt}` (the model
/// defaults to the `server.defaultModel` setting); pushes
/// `session.created {sessionId, workingDirectory, model, worktree}` (before the response, as
/// the TypeScript server does) and binds the connection to the new session. In a git
/// repository the session may get its own worktree first (`session.isolation.mode`, see
/// [`super::worktree::isolate_new_session`]). The model is
/// kept as the client named it (an alias such as `claude-sonnet-4-5` stays the alias).
pub async fn create(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let dir = required_str(p, "workingDirectory")?;
    let model_id = match opt_str(p, "model")? {
        Some(m) => m.to_owned(),
        None => state.settings.current().server.default_model.clone(),
    };
    let model = model_param(&model_id)?;
    if !std::path::Path::new(dir).is_dir() {
        return Err(RpcError::invalid_params(format!("workingDirectory {dir} is not a directory")));
    }
    let new = NewSession {
        working_directory: dir.to_owned(),
        model: model_id,
        provider: Some(model.provider.as_str().to_owned()),
        ..Default::default()
    };
    let (row, _) = state.store.run(move |s| s.create_session(new)).await.map_err(store_error)?;
    let id = row.id.as_str().to_owned();
    conn.rebind = Some(id.clone());
    let worktree = match super::worktree::isolate_new_session(state, &id, &row.working_directory).await {
        Some(r) => json!({"isolated": true, "path": r.path, "branch": r.branch, "baseCommit": r.base_commit}),
        None => worktree_info(&row.working_directory),
    };
    let data = json!({
        "sessionId": id,
        "workingDirectory": row.working_directory,
        "model": row.latest_model,
        "worktree": worktree,
    });
    state.publish(&Event::new("session.created", Some(&id), data));
    Ok(json!({ "sessionId": id, "model": row.latest_model, "createdAt": row.created_at }))
}

/// `session.resume {sessionId}` -> `{sessionId, model, messageCount, lastActivity}`; binds
/// the connection.
pub async fn resume(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "sessionId")?.to_owned();
    let lookup = id.clone();
    let row = state.store.run(move |s| s.session(&lookup)).await.map_err(store_error)?;
    conn.rebind = Some(id.clone());
    Ok(json!({
        "sessionId": id,
        "model": row.latest_model,
        "messageCount": row.message_count,
        "lastActivity": row.last_activity_at,
    }))
}

/// `session.list {workingDirectory?, limit?, offset?, includeArchived?|includeEnded?}` ->
/// `{sessions: [...]}`, most recent activity first.
pub async fn list(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let include_archived = opt_bool(p, "includeArchived")?.or(opt_bool(p, "includeEnded")?).unwrap_or(false);
    let opts = ListOptions {
        working_directory: opt_str(p, "workingDirectory")?.map(str::to_owned),
        include_archived,
        limit: Some(opt_usize(p, "limit")?.unwrap_or(50)),
        offset: opt_usize(p, "offset")?.unwrap_or(0),
        ..Default::default()
    };
    let rows = state
        .store
        .run(move |s| {
            let rows = s.list_sessions(&opts)?;
            rows.into_iter()
                .map(|row| {
                    let previews = s.previews(row.id.as_str())?;
                    Ok((row, previews))
                })
                .collect::<crate::events::Result<Vec<_>>>()
        })
        .await
        .map_err(store_error)?;
    let sessions: Vec<Value> = rows
        .into_iter()
        .map(|(row, previews)| {
            let running = state.run(row.id.as_str()).is_some();
            session_info(&row, running, previews)
        })
        .collect();
    Ok(json!({ "sessions": sessions }))
}

async fn set_archived(state: &Arc<ServerState>, p: &Params, archived: bool) -> Result<(), RpcError> {
    let id = required_str(p, "sessionId")?.to_owned();
    if archived && state.run(&id).is_some() {
        return Err(RpcError::new(
            crate::core::errors::RpcErrorCode::SessionBusy,
            format!("Session {id} is running; abort it first"),
        ));
    }
    let key = id.clone();
    state.store.run(move |s| s.set_archived(&key, archived)).await.map_err(store_error)?;
    Ok(())
}

/// `session.delete {sessionId}` -> `{deleted: true}`. Archives: nothing is deleted.
pub async fn delete(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    if let Ok(Some(id)) = opt_str(p, "sessionId") {
        super::worktree::release_at_end(state, id).await;
    }
    set_archived(state, p, true).await?;
    Ok(json!({ "deleted": true }))
}

/// `session.archive {sessionId}` / `session.unarchive` -> `{success: true}`.
pub async fn archive(state: &Arc<ServerState>, p: &Params, archived: bool) -> Result<Value, RpcError> {
    if let (true, Ok(Some(id))) = (archived, opt_str(p, "sessionId")) {
        super::worktree::release_at_end(state, id).await;
    }
    set_archived(state, p, archived).await?;
    Ok(json!({ "success": true }))
}

/// `session.fork {sessionId, fromEventId?}` -> `{newSessionId, rootEventId,
/// forkedFromEventId, forkedFromSessionId, worktree}`; from the session's head when no event
/// is given. Pushes `session.forked {sourceSessionId, sourceEventId, newSessionId,
/// newRootEventId, worktree}`.
pub async fn fork(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "sessionId")?.to_owned();
    let from = opt_str(p, "fromEventId")?.map(str::to_owned);
    let result = state
        .store
        .run(move |s| {
            let row = s.session(&id)?;
            let from = match from {
                Some(event) => {
                    let e = s.event(&event)?;
                    if e.session_id.as_str() != id {
                        let on_chain = match &row.head_event_id {
                            Some(head) => s.ancestors(head.as_str())?.iter().any(|a| a.id.as_str() == event),
                            None => false,
                        };
                        if !on_chain {
                            return Err(crate::events::StoreError::Invalid(format!(
                                "event {event} is not part of session {id}"
                            )));
                        }
                    }
                    event
                }
                None => row.head_event_id.map(|h| h.into_string()).ok_or_else(|| {
                    crate::events::StoreError::Invalid(format!("session {id} has no events"))
                })?,
            };
            Ok((s.fork(&from, None, None)?, row.working_directory))
        })
        .await
        .map_err(store_error)?;
    let (result, dir) = result;
    let new_id = result.new_session_id.as_str().to_owned();
    let worktree =
        match super::worktree::acquire_for_fork(state, result.forked_from_session_id.as_str(), &new_id).await
        {
            Some(path) => json!({ "isolated": true, "path": path }),
            None => worktree_info(&dir),
        };
    let data = json!({
        "sourceSessionId": result.forked_from_session_id,
        "sourceEventId": result.forked_from_event_id,
        "newSessionId": new_id,
        "newRootEventId": result.root_event_id,
        "worktree": worktree,
    });
    state.publish(&Event::new("session.forked", None, data));
    Ok(json!({
        "newSessionId": new_id,
        "rootEventId": result.root_event_id,
        "forkedFromEventId": result.forked_from_event_id,
        "forkedFromSessionId": result.forked_from_session_id,
        "worktree": worktree,
    }))
}

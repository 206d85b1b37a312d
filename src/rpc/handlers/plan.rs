//! `plan.enter|exit|getState` (plan mode: tools taken away until the plan is approved or
//! cancelled) and `todo.list|getSummary|getBacklog|getBacklogCount|restore` (the session's
//! todo list and the workspace's backlog), with the TypeScript server's params, results and
//! error codes. State is read back from the session's events (see [`crate::agent::plan`]).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::plan::{self, PlanMode, DEFAULT_BLOCKED_TOOLS};
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::{NewEvent, SessionEvent, StoreError};
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_bool, opt_str, opt_str_list, opt_usize, required_str, Params};
use crate::rpc::ServerState;

/// The events of `session` along its head, in order.
async fn history(state: &ServerState, session: &str) -> Result<Vec<SessionEvent>, RpcError> {
    let id = session.to_owned();
    state.store.run(move |s| s.head_chain(&id)).await.map_err(store_error)
}

async fn append(state: &ServerState, session: &str, kind: &str, payload: Value) -> Result<(), RpcError> {
    let id = session.to_owned();
    let event = NewEvent::raw(kind, payload);
    state.store.run(move |s| s.append(&id, event)).await.map_err(store_error)?;
    Ok(())
}

/// `plan.enter {sessionId, skillName, blockedTools?}` -> `{success, blockedTools}`;
/// `ALREADY_IN_PLAN_MODE` when it is.
pub async fn enter(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let skill = required_str(p, "skillName")?;
    let blocked = opt_str_list(p, "blockedTools")?
        .unwrap_or_else(|| DEFAULT_BLOCKED_TOOLS.iter().map(|t| (*t).to_owned()).collect());
    if PlanMode::from_events(&history(state, session).await?).is_some() {
        return Err(RpcError::new(
            RpcErrorCode::from("ALREADY_IN_PLAN_MODE"),
            "Session is already in plan mode",
        ));
    }
    append(state, session, "plan.mode_entered", json!({"skillName": skill, "blockedTools": blocked})).await?;
    Ok(json!({ "success": true, "blockedTools": blocked }))
}

/// `plan.exit {sessionId, reason: approved|cancelled, planPath?}` -> `{success}`;
/// `NOT_IN_PLAN_MODE` when it is not.
pub async fn exit(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let reason = required_str(p, "reason")?;
    if !["approved", "cancelled"].contains(&reason) {
        return Err(RpcError::invalid_params("reason must be \"approved\" or \"cancelled\""));
    }
    let plan_path = opt_str(p, "planPath")?;
    if PlanMode::from_events(&history(state, session).await?).is_none() {
        return Err(RpcError::new(RpcErrorCode::from("NOT_IN_PLAN_MODE"), "Session is not in plan mode"));
    }
    let mut payload = json!({ "reason": reason });
    if let Some(path) = plan_path {
        payload["planPath"] = json!(path);
    }
    append(state, session, "plan.mode_exited", payload).await?;
    Ok(json!({ "success": true }))
}

/// `plan.getState {sessionId}` -> `{isActive, skillName?, blockedTools}`.
pub async fn get_state(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    Ok(match PlanMode::from_events(&history(state, session).await?) {
        Some(plan) => {
            json!({ "isActive": true, "skillName": plan.skill_name, "blockedTools": plan.blocked_tools })
        }
        None => json!({ "isActive": false, "blockedTools": [] }),
    })
}

/// `todo.list {sessionId}` -> `{todos, summary}`.
pub async fn todo_list(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let todos = plan::todos(&history(state, session).await?);
    Ok(json!({ "summary": plan::todo_summary(&todos), "todos": todos }))
}

/// `todo.getSummary {sessionId}` -> `{summary}`.
pub async fn todo_summary(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    Ok(json!({ "summary": plan::todo_summary(&plan::todos(&history(state, session).await?)) }))
}

/// One `task_backlog` row as the iOS app's `RpcBackloggedTask`.
fn backlog_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let metadata: Option<String> = row.get("metadata")?;
    let mut task = json!({
        "id": row.get::<_, String>("id")?,
        "content": row.get::<_, String>("content")?,
        "activeForm": row.get::<_, String>("active_form")?,
        "status": row.get::<_, String>("status")?,
        "source": row.get::<_, String>("source")?,
        "createdAt": row.get::<_, String>("created_at")?,
        "backloggedAt": row.get::<_, String>("backlogged_at")?,
        "backlogReason": row.get::<_, String>("backlog_reason")?,
        "sourceSessionId": row.get::<_, String>("source_session_id")?,
        "workspaceId": row.get::<_, String>("workspace_id")?,
    });
    for (key, column) in [
        ("completedAt", "completed_at"),
        ("restoredToSessionId", "restored_to_session_id"),
        ("restoredAt", "restored_at"),
    ] {
        if let Some(v) = row.get::<_, Option<String>>(column)? {
            task[key] = json!(v);
        }
    }
    if let Some(m) = metadata.and_then(|m| serde_json::from_str::<Value>(&m).ok()) {
        task["metadata"] = m;
    }
    Ok(task)
}

/// `todo.getBacklog {workspaceId, includeRestored?, limit?}` -> `{tasks, totalCount}`:
/// newest first, 100 at most by default.
pub async fn backlog(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let workspace = required_str(p, "workspaceId")?.to_owned();
    let include_restored = opt_bool(p, "includeRestored")?.unwrap_or(false);
    let limit = opt_usize(p, "limit")?.unwrap_or(100);
    let tasks = state
        .store
        .run(move |s| {
            let mut sql = String::from("SELECT * FROM task_backlog WHERE workspace_id = ?1");
            if !include_restored {
                sql.push_str(" AND restored_to_session_id IS NULL");
            }
            sql.push_str(" ORDER BY backlogged_at DESC");
            if limit > 0 {
                sql.push_str(&format!(" LIMIT {limit}"));
            }
            let mut stmt = s.connection().prepare(&sql)?;
            let rows = stmt.query_map([&workspace], backlog_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
        .map_err(store_error)?;
    Ok(json!({ "totalCount": tasks.len(), "tasks": tasks }))
}

/// `todo.getBacklogCount {workspaceId}` -> `{count}`: backlogged tasks not yet restored.
pub async fn backlog_count(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let workspace = required_str(p, "workspaceId")?.to_owned();
    let count: i64 = state
        .store
        .run(move |s| {
            Ok(s.connection().query_row(
                "SELECT COUNT(*) FROM task_backlog WHERE workspace_id = ?1 AND restored_to_session_id IS NULL",
                [&workspace],
                |r| r.get(0),
            )?)
        })
        .await
        .map_err(store_error)?;
    Ok(json!({ "count": count }))
}

/// `todo.restore {sessionId, taskIds}` -> `{restoredTodos, restoredCount}`: backlogged tasks
/// join the session's todo list as new pending todos (a `todo.write` snapshot); their
/// backlog rows are marked restored. Rows already restored are skipped.
pub async fn restore(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let ids = opt_str_list(p, "taskIds")?.filter(|ids| !ids.is_empty());
    let Some(ids) = ids else { return Err(RpcError::invalid_params("taskIds must be a non-empty array")) };
    let current = plan::todos(&history(state, &session).await?);
    let id = session.clone();
    let (restored, event) = state
        .store
        .run(move |s| {
            s.session(&id)?;
            let now = crate::events::now_iso();
            let mut restored = Vec::new();
            s.write(|conn| {
                restored.clear();
                for task in &ids {
                    let row = conn
                        .query_row(
                            "SELECT content, active_form, source, created_at, metadata, restored_to_session_id
                             FROM task_backlog WHERE id = ?1",
                            [task],
                            |r| {
                                Ok((
                                    r.get::<_, String>(0)?,
                                    r.get::<_, String>(1)?,
                                    r.get::<_, String>(2)?,
                                    r.get::<_, String>(3)?,
                                    r.get::<_, Option<String>>(4)?,
                                    r.get::<_, Option<String>>(5)?,
                                ))
                            },
                        )
                        .ok();
                    let Some((content, active_form, source, created, metadata, None)) = row else { continue };
                    conn.execute(
                        "UPDATE task_backlog SET restored_to_session_id = ?1, restored_at = ?2 WHERE id = ?3",
                        rusqlite::params![id, now, task],
                    )?;
                    let mut meta = metadata
                        .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    meta["restoredFrom"] = json!(task);
                    meta["originalCreatedAt"] = json!(created);
                    restored.push(json!({
                        "id": format!("todo_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
                        "content": content,
                        "activeForm": active_form,
                        "status": "pending",
                        "source": source,
                        "createdAt": now,
                        "metadata": meta,
                    }));
                }
                Ok::<_, StoreError>(())
            })?;
            if restored.is_empty() {
                return Ok((restored, None));
            }
            let mut todos: Vec<Value> = current.iter().filter_map(|t| serde_json::to_value(t).ok()).collect();
            todos.extend(restored.iter().cloned());
            let event =
                s.append(&id, NewEvent::raw("todo.write", json!({"todos": todos, "trigger": "restore"})))?;
            Ok((restored, Some(event)))
        })
        .await
        .map_err(store_error)?;
    if let Some(event) = event {
        let todos = event.payload["todos"].clone();
        state.publish(&Event::new(
            "agent.todos_updated",
            Some(&session),
            json!({ "todos": todos, "restoredCount": restored.len() }),
        ));
    }
    Ok(json!({ "restoredCount": restored.len(), "restoredTodos": restored }))
}

//! `events.getHistory`, `events.getSince`, `events.append`, `message.delete`, and
//! `tree.getAncestors`.
//!
//! `events.append` and `message.delete` are the only methods whose persisted event is
//! broadcast as `event.new` (the TypeScript `EventController.onEventCreated`); everything a
//! run, a model switch, a compaction... persists is read back with `getHistory` /
//! `getSince`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::RpcError;
use crate::events::{SessionEvent, StoreError};
use crate::rpc::params::{opt_str, opt_str_list, opt_usize, required_str, Params};
use crate::rpc::{Connection, ServerState};

/// Default page size of `events.getHistory`.
const HISTORY_LIMIT: usize = 100;

/// `events.getHistory {sessionId, types?, limit?, beforeEventId?}` -> `{events (newest
/// first), hasMore, oldestEventId}`.
///
/// Unlike the TypeScript adapter, `beforeEventId` is honoured (only strictly older events
/// are returned): the iOS app pages with it while `hasMore` is true, and would loop forever
/// on a server that ignores it.
pub async fn history(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let types = opt_str_list(p, "types")?;
    let filtered = types.is_some();
    let limit = opt_usize(p, "limit")?.unwrap_or(HISTORY_LIMIT).max(1);
    let before = opt_str(p, "beforeEventId")?.map(str::to_owned);
    let paging = before.is_some();
    let (page, has_more) = state
        .store
        .run(move |s| {
            s.session(&session)?;
            let mut events = s.events(&session)?;
            if let Some(before) = before.as_ref() {
                let pos = events.iter().position(|e| e.id.as_str() == before).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "beforeEventId {before} is not an event of session {session}"
                    ))
                })?;
                events.truncate(pos);
            }
            let mut newest_first: Vec<SessionEvent> = events
                .into_iter()
                .rev()
                .filter(|e| types.as_ref().is_none_or(|t| t.iter().any(|t| t == e.event_type.as_str())))
                .collect();
            let has_more = newest_first.len() > limit;
            newest_first.truncate(limit);
            Ok((newest_first, has_more))
        })
        .await
        .map_err(store_error)?;
    // The newest page of the whole history: the client now has everything up to its top.
    if !paging && !filtered {
        if let Some(newest) = page.first() {
            conn.mark_synced(newest.session_id.as_str(), newest.sequence);
        }
    }
    let oldest = page.last().map(|e| e.id.clone());
    Ok(json!({ "events": page, "hasMore": has_more, "oldestEventId": oldest }))
}

/// `events.getSince {sessionId, afterEventId?, limit?}` -> `{events (oldest first),
/// nextCursor, hasMore}`; without `sessionId` an empty list, and 100 events at most when no
/// `limit` is given (as the TypeScript `event-store.adapter.ts` @5341a2a).
pub async fn since(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let Some(session) = opt_str(p, "sessionId")?.map(str::to_owned) else {
        return Ok(json!({ "events": [], "hasMore": false }));
    };
    let after = opt_str(p, "afterEventId")?.map(str::to_owned);
    let limit = Some(opt_usize(p, "limit")?.unwrap_or(HISTORY_LIMIT));
    let (page, has_more) = state
        .store
        .run(move |s| {
            let after_sequence = match &after {
                Some(id) => {
                    let e = s.event(id)?;
                    if e.session_id.as_str() != session {
                        return Err(StoreError::Invalid(format!(
                            "event {id} is not part of session {session}"
                        )));
                    }
                    e.sequence
                }
                None => {
                    s.session(&session)?;
                    -1
                }
            };
            let mut events = s.events_since(&session, after_sequence, limit.map(|l| l + 1))?;
            let has_more = limit.is_some_and(|l| events.len() > l);
            if let Some(l) = limit {
                events.truncate(l);
            }
            Ok((events, has_more))
        })
        .await
        .map_err(store_error)?;
    if let Some(last) = page.last() {
        conn.mark_synced(last.session_id.as_str(), last.sequence);
    }
    let cursor = page.last().map(|e| e.id.clone());
    Ok(json!({ "events": page, "nextCursor": cursor, "hasMore": has_more }))
}

/// `events.append {sessionId, type, payload, parentId?}` -> `{event, newHeadEventId}`: persists
/// the event (on the session head, or after `parentId`, which must be an event of the
/// session) and broadcasts it as `event.new {event}` (`events.handler.ts` @3caa0be,
/// `event-store.adapter.ts` @5341a2a, `event-controller.ts` @ae66e8b). `payload` must be an
/// object.
pub async fn append(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let kind = required_str(p, "type")?.to_owned();
    let payload = match p.get("payload") {
        None | Some(Value::Null) => return Err(RpcError::missing_param("payload")),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(RpcError::invalid_params("payload must be an object")),
    };
    let parent = opt_str(p, "parentId")?.map(str::to_owned);
    let id = session.clone();
    let event = state
        .store
        .run(move |s| {
            s.session(&id)?;
            let mut new = crate::events::NewEvent::raw(kind.as_str(), payload);
            if let Some(parent) = parent {
                let e = s.event(&parent)?;
                if e.session_id.as_str() != id {
                    return Err(StoreError::Invalid(format!("event {parent} is not part of session {id}")));
                }
                new = new.with_parent(e.id);
            }
            s.append(&id, new)
        })
        .await
        .map_err(store_error)?;
    let head = event.id.clone();
    state.publish(&crate::rpc::Event::new("event.new", Some(&session), json!({ "event": event })));
    Ok(json!({ "event": event, "newHeadEventId": head }))
}

/// `tree.getAncestors {eventId}` -> `{events}`: the chain from the root to the event, root
/// first (across a fork into its source session), as the iOS app renders forks.
pub async fn ancestors(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "eventId")?.to_owned();
    let events = state.store.run(move |s| s.ancestors(&id)).await.map_err(store_error)?;
    Ok(json!({ "events": events }))
}

/// `message.delete {sessionId, targetEventId, reason?}` -> `{success, deletionEventId,
/// targetType}`: persists `message.deleted`; the message stays in the log and leaves the
/// context (reconstruction skips it). Only `message.user`, `message.assistant` and
/// `tool.result` events of the session can be deleted.
pub async fn delete_message(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let target = required_str(p, "targetEventId")?.to_owned();
    let reason = opt_str(p, "reason")?.unwrap_or("user_request").to_owned();
    if state.run(&session).is_some() {
        return Err(RpcError::new(
            crate::core::errors::RpcErrorCode::SessionBusy,
            format!("Session {session} is running; delete messages when it is done"),
        ));
    }
    let id = session.clone();
    let (event, target_type) = state
        .store
        .run(move |s| {
            let e = s.event(&target)?;
            if e.session_id.as_str() != id {
                return Err(StoreError::Invalid(format!("event {target} is not part of session {id}")));
            }
            let kind = e.event_type.as_str().to_owned();
            if !matches!(kind.as_str(), "message.user" | "message.assistant" | "tool.result") {
                return Err(StoreError::Invalid(format!("event {target} is a {kind}, not a message")));
            }
            let mut payload = json!({ "targetEventId": target, "targetType": kind, "reason": reason });
            if let Some(turn) = e.payload.get("turn").and_then(Value::as_i64) {
                payload["targetTurn"] = json!(turn);
            }
            let event = s.append(&id, crate::events::NewEvent::raw("message.deleted", payload))?;
            Ok((event, kind))
        })
        .await
        .map_err(store_error)?;
    let deletion = event.id.clone();
    // As the TypeScript server (`EventController.deleteMessage` -> `event_new`, which
    // `server.ts` @0b37067 also sends as `agent.message_deleted`).
    let deleted = json!({
        "targetEventId": event.payload["targetEventId"],
        "targetType": event.payload["targetType"],
        "targetTurn": event.payload.get("targetTurn"),
        "reason": event.payload["reason"],
    });
    state.publish(&crate::rpc::Event::new("event.new", Some(&session), json!({ "event": event })));
    let mut deleted = deleted;
    if let Some(obj) = deleted.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    state.publish(&crate::rpc::Event::new("agent.message_deleted", Some(&session), deleted));
    Ok(json!({ "success": true, "deletionEventId": deletion, "targetType": target_type }))
}

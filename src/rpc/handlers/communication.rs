//! `communication.send|receive|subscribe|unsubscribe`: the message bus between sessions
//! (see [`crate::rpc::ui`]), for clients.
//!
//! The TypeScript server lists these methods but only stubs them (its Rust port answers
//! `{sent: true}` and the like without doing anything). tron serves them over the same bus
//! the `send_message` / `receive_messages` tools use, with the tools' field names:
//! - `send {sessionId (sender), targetSessionId, messageType, payload, replyTo?}` ->
//!   `{success: true, messageId}` (the target must be a session of this server);
//! - `receive {sessionId, type?, fromSessionId?, limit? (20), markAsRead? (true),
//!   unreadOnly? (true)}` -> `{messages: [{id, fromSessionId, toSessionId, type, payload,
//!   timestamp, replyTo?}], unreadCount}`, newest first;
//! - `subscribe {sessionId, pattern? ("*", "prefix.*" or a type)}` -> `{subscribed: true,
//!   subscriptionId}`: from then on each matching message to the session is pushed as a
//!   `communication.message` event (data: the message) of that session;
//! - `unsubscribe {subscriptionId}` -> `{unsubscribed: true}` (`NOT_FOUND` for an unknown
//!   id).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::rpc::params::{opt_bool, opt_str, opt_usize, required_str, Params};
use crate::rpc::ui::Subscription;
use crate::rpc::{Connection, ServerState};
use crate::tools::messaging::{ReceiveFilter, DEFAULT_LIMIT};

async fn existing(state: &ServerState, session: &str) -> Result<(), RpcError> {
    let id = session.to_owned();
    state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    Ok(())
}

/// `communication.send`.
pub async fn send(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let from = required_str(p, "sessionId")?;
    let to = required_str(p, "targetSessionId")?;
    let message_type = required_str(p, "messageType")?;
    if message_type.is_empty() {
        return Err(RpcError::invalid_params("messageType must not be empty"));
    }
    let payload = p
        .get("payload")
        .cloned()
        .ok_or_else(|| RpcError::invalid_params("payload is required (the message content)"))?;
    let reply_to = opt_str(p, "replyTo")?.map(str::to_owned);
    existing(state, from).await?;
    let message = crate::rpc::ui::post(state, from, to, message_type, payload, reply_to)
        .await
        .map_err(|e| RpcError::new(RpcErrorCode::SessionNotFound, e))?;
    Ok(json!({ "success": true, "messageId": message.id }))
}

/// `communication.receive`.
pub async fn receive(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let limit = opt_usize(p, "limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 {
        return Err(RpcError::invalid_params("limit must be at least 1"));
    }
    let filter = ReceiveFilter {
        message_type: opt_str(p, "type")?.map(str::to_owned),
        from_session_id: opt_str(p, "fromSessionId")?.map(str::to_owned),
        unread_only: opt_bool(p, "unreadOnly")?.unwrap_or(true),
    };
    let mark = opt_bool(p, "markAsRead")?.unwrap_or(true);
    existing(state, session).await?;
    let (messages, unread) = state.ui.bus.take(session, &filter, limit, mark);
    let messages: Vec<Value> = messages.iter().map(|m| m.to_json()).collect();
    Ok(json!({ "messages": messages, "unreadCount": unread }))
}

/// `communication.subscribe`: the subscription lasts until `communication.unsubscribe` or
/// until this client disconnects.
pub async fn subscribe(
    state: &Arc<ServerState>,
    conn: &mut Connection,
    p: &Params,
) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let pattern = opt_str(p, "pattern")?.unwrap_or("*");
    if pattern.is_empty() {
        return Err(RpcError::invalid_params("pattern must be \"*\", \"prefix.*\" or a message type"));
    }
    existing(state, session).await?;
    let id = state.ui.subscribe(Subscription { session_id: session.to_owned(), pattern: pattern.to_owned() });
    conn.subscriptions.push(id.clone());
    Ok(json!({ "subscribed": true, "subscriptionId": id }))
}

/// `communication.unsubscribe`.
pub fn unsubscribe(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let id = required_str(p, "subscriptionId")?;
    if !state.ui.unsubscribe(id) {
        return Err(RpcError::new(RpcErrorCode::NotFound, format!("no subscription {id}")));
    }
    conn.subscriptions.retain(|s| s != id);
    Ok(json!({ "unsubscribed": true }))
}

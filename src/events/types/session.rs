//! Session lifecycle payloads: `session.start`, `session.end`, `session.fork`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::TokenUsage;
use crate::core::{EventId, SessionId};

/// Written as the root event (sequence 0, `parentId: null`) when a session is created.
/// Extra creation metadata is spread into the payload and lands in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStartPayload {
    /// The session's working directory.
    pub working_directory: String,
    /// Model id the session starts with.
    pub model: String,
    /// Provider id (may be absent; then detected from the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Session title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Custom system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Session tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Set when this session was created as a fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Source of a forked session inside `session.start` (`forkedFrom`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkedFrom {
    /// Session forked from.
    pub session_id: SessionId,
    /// Event forked from.
    pub event_id: EventId,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a session ends (`reason`: completed | aborted | error | timeout).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEndPayload {
    /// Why the session ended: `completed`, `aborted`, `error` or `timeout`.
    pub reason: String,
    /// Optional summary text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Token usage over the whole session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_usage: Option<TokenUsage>,
    /// Session duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written as the root event of a forked session; its `parentId` is the source event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionForkPayload {
    /// Session forked from.
    pub source_session_id: SessionId,
    /// Event forked from.
    pub source_event_id: EventId,
    /// Name given to the fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why it was forked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

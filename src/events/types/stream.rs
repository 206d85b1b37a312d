//! Streaming boundary payloads: `stream.turn_start`, `stream.turn_end`, and the delta types
//! `stream.text_delta` / `stream.thinking_delta` (defined upstream, not persisted by the
//! current server).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::common::{present, TokenUsage};

/// Written at the start of every agent turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamTurnStartPayload {
    /// Turn number within the run (1-based).
    pub turn: i64,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written at the end of every agent turn, after that turn's `message.assistant`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamTurnEndPayload {
    /// Turn number within the run.
    pub turn: i64,
    /// The turn's token usage (zeros when the provider reported none).
    pub token_usage: TokenUsage,
    /// Canonical token record (source/computed/meta), raw.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub token_record: Option<Value>,
    /// Cost of the turn in USD (kept as the exact JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Number>,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Text delta for streaming reconstruction (a type the union defines; not persisted by the
/// current server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamTextDeltaPayload {
    /// The text chunk.
    pub delta: String,
    /// Turn number.
    pub turn: i64,
    /// Content block index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_index: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Thinking delta for streaming reconstruction (a type the union defines; not persisted by
/// the current server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamThinkingDeltaPayload {
    /// The thinking chunk.
    pub delta: String,
    /// Turn number.
    pub turn: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

//! Tool execution payloads: `tool.call`, `tool.result`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Written when a tool starts executing (right after the pre-tool `message.assistant`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallPayload {
    /// Provider's tool-call id (matches the `tool_use` block id).
    pub tool_call_id: String,
    /// Tool name.
    pub name: String,
    /// Tool arguments (a JSON object; `{}` when none).
    pub arguments: Value,
    /// Turn number within the run.
    pub turn: i64,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a tool finishes. `content` is the text result, truncated above the size
/// limit; above the blob threshold the full text goes to the blob store (`blobId`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultPayload {
    /// The tool call this result answers.
    pub tool_call_id: String,
    /// Result text (possibly truncated).
    pub content: String,
    /// Whether the tool failed.
    pub is_error: bool,
    /// Execution time in milliseconds (absent when the agent did not report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Files the tool touched (older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_files: Option<Vec<String>>,
    /// Whether `content` was truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Blob holding the full content, when it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

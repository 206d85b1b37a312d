//! Failure payloads: `error.agent`, `error.tool`, `error.provider`, `turn.failed`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// Written when an agent run throws (then `recoverable: false`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorAgentPayload {
    /// Error message.
    pub error: String,
    /// Error code / class name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether the user can retry.
    pub recoverable: bool,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a tool execution errors outside its normal result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorToolPayload {
    /// Tool name.
    pub tool_name: String,
    /// Tool call id.
    pub tool_call_id: String,
    /// Error message.
    pub error: String,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when the LLM provider returns an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorProviderPayload {
    /// Provider id.
    pub provider: String,
    /// Error message.
    pub error: String,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// Suggested wait before retrying (kept as the exact JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Number>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a turn fails (provider error, context limit, ...), so the client sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnFailedPayload {
    /// The failed turn.
    pub turn: i64,
    /// Human-readable message.
    pub error: String,
    /// Category code (`PAUTH`, `PRATE`, `NET`, `CTX`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Whether the user can retry.
    pub recoverable: bool,
    /// Content produced before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_content: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

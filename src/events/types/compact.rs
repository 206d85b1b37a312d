//! Context-size payloads: `compact.boundary`, `compact.summary`, `context.cleared`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::core::EventId;

/// Written after a successful context compaction. The current server writes token counts,
/// ratio, reason and summary; the `range` of the original design is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactBoundaryPayload {
    /// Events that were summarized (original design; usually absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<CompactRange>,
    /// Context tokens before compaction.
    pub original_tokens: i64,
    /// Context tokens after compaction.
    pub compacted_tokens: i64,
    /// Compression ratio (kept as the exact JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_ratio: Option<Number>,
    /// What triggered it (`auto`, `manual`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The summary that replaced the compacted messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `range` of a `compact.boundary` (`{from, to}` event ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactRange {
    /// First summarized event.
    pub from: EventId,
    /// Last summarized event.
    pub to: EventId,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written after `compact.boundary` by the explicit compaction path, with the summary text
/// and what was extracted from the compacted range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactSummaryPayload {
    /// The summary text.
    pub summary: String,
    /// Key decisions preserved from the compacted range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_decisions: Option<Vec<String>>,
    /// Files modified in the compacted range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_modified: Option<Vec<String>>,
    /// The matching `compact.boundary` event (original design; often absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary_event_id: Option<EventId>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when the context is cleared without a summary (everything before is dropped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextClearedPayload {
    /// Context tokens before clearing.
    pub tokens_before: i64,
    /// Context tokens after clearing (system prompt and tools only).
    pub tokens_after: i64,
    /// `manual` or `automatic`.
    pub reason: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

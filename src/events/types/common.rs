//! Small shapes shared by several payload families (token usage) and serde helpers.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Token counts of one LLM response or of a whole session/subagent run, as the TypeScript
/// server writes them inside `message.assistant`, `stream.turn_end`, `session.end`,
/// `subagent.*` and `notification.subagent_result` payloads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input (prompt) tokens as reported by the provider.
    pub input_tokens: i64,
    /// Output (completion) tokens.
    pub output_tokens: i64,
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<i64>,
    /// Tokens written to the prompt cache (all TTLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<i64>,
    /// Tokens written to the 5-minute prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation5m_tokens: Option<i64>,
    /// Tokens written to the 1-hour prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation1h_tokens: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Deserializes an optional JSON value so that an explicit `null` stays `Some(Null)`
/// (plain `Option<Value>` would turn it into `None` and drop the key on re-serialization).
/// Use with `#[serde(default, deserialize_with = "...")]`: a missing key is `None`.
pub(crate) fn present<'de, D>(deserializer: D) -> Result<Option<Value>, D::Error>
where
    D: Deserializer<'de>,
{
    Value::deserialize(deserializer).map(Some)
}

/// Current time in the TypeScript server's timestamp format: ISO 8601, UTC, milliseconds,
/// `Z` suffix (what `new Date().toISOString()` produces), e.g. `2026-01-02T03:04:05.678Z`.
pub fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

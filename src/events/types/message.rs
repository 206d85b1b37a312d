//! Conversation payloads: `message.user`, `message.assistant`, `message.system`,
//! `message.deleted`. Content blocks stay raw JSON here (their typed model is `crate::core`'s).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{present, TokenUsage};
use crate::core::EventId;

/// Written once per prompt before the agent runs (the user's text, or a content-block
/// array when there are attachments), and after a turn's tools ran / on interrupt with the
/// `tool_result` blocks as content (those carry no `turn`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageUserPayload {
    /// A plain string when the prompt is text only, otherwise an array of content blocks.
    pub content: Value,
    /// Turn number (older versions; the current server omits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<i64>,
    /// Number of attached images (older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_count: Option<i64>,
    /// Skills attached to this prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<SkillRef>>,
    /// Spells (one-shot skills) attached to this prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spells: Option<Vec<SkillRef>>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageUserPayload {
    /// The prompt text when `content` is a plain string.
    pub fn text(&self) -> Option<&str> {
        self.content.as_str()
    }
}

/// A skill or spell reference inside `message.user` (`{name, source}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillRef {
    /// Skill name.
    pub name: String,
    /// Where it came from: `global` or `project`.
    pub source: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written per turn: before the first tool call with `stopReason: "tool_use"`, at turn end
/// with `"end_turn"` when no tool ran, and on interrupt with `"interrupted"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAssistantPayload {
    /// Content blocks (`text`, `thinking`, `tool_use`, ...), raw.
    pub content: Vec<Value>,
    /// Token usage of the response (absent when the provider reported none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    /// Canonical token record (source/computed/meta), raw.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub token_record: Option<Value>,
    /// Turn number within the run.
    pub turn: i64,
    /// Model that produced the response.
    pub model: String,
    /// `end_turn`, `tool_use`, `max_tokens`, `stop_sequence` or `interrupted`.
    pub stop_reason: String,
    /// LLM call latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<i64>,
    /// Whether the content has thinking blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_thinking: Option<bool>,
    /// Set on the partial message persisted when a run is interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written for injected system text (`source`: compaction | context | hook | error | inject).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSystemPayload {
    /// The text.
    pub content: String,
    /// `compaction`, `context`, `hook`, `error` or `inject`.
    pub source: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a message is soft-deleted from the context; the target event stays in the
/// log and reconstruction skips it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeletedPayload {
    /// The deleted event.
    pub target_event_id: EventId,
    /// Its type: `message.user`, `message.assistant` or `tool.result`.
    pub target_type: String,
    /// Its turn, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_turn: Option<i64>,
    /// `user_request`, `content_policy` or `context_management`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

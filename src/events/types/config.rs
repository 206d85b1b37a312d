//! Configuration change payloads: `config.model_switch`, `config.prompt_update`,
//! `config.reasoning_level`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Written when the session's model is switched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigModelSwitchPayload {
    /// Model before the switch.
    pub previous_model: String,
    /// Model after the switch.
    pub new_model: String,
    /// Why it was switched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when the system prompt changes (the text itself lives in the blob store).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPromptUpdatePayload {
    /// Hash of the previous prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
    /// Hash of the new prompt.
    pub new_hash: String,
    /// Blob holding the new prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_blob_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written before a run whose requested reasoning level differs from the session's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigReasoningLevelPayload {
    /// Level before (`low`, `medium`, `high`, `xhigh`), absent when none was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_level: Option<String>,
    /// Level after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_level: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

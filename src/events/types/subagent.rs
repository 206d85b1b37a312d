//! Subagent lifecycle payloads (written into the parent session): `subagent.spawned`,
//! `subagent.status_update`, `subagent.completed`, `subagent.failed`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::TokenUsage;
use crate::core::SessionId;

/// Written when a subagent session is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentSpawnedPayload {
    /// The subagent's session.
    pub subagent_session_id: SessionId,
    /// `subsession`, `tmux` or `fork`.
    pub spawn_type: String,
    /// Task/prompt given to it.
    pub task: String,
    /// Its model.
    pub model: String,
    /// Tools enabled for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Skills loaded for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    /// Its working directory.
    pub working_directory: String,
    /// Tmux session name (tmux spawns only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_session_name: Option<String>,
    /// Turn limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written periodically while a subagent runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentStatusUpdatePayload {
    /// The subagent's session.
    pub subagent_session_id: SessionId,
    /// `running`, `paused` or `waiting_input`.
    pub status: String,
    /// Its current turn.
    pub current_turn: i64,
    /// What it is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// Its token usage so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a subagent finishes successfully.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentCompletedPayload {
    /// The subagent's session.
    pub subagent_session_id: SessionId,
    /// Summary of what it did.
    pub result_summary: String,
    /// Turns taken.
    pub total_turns: i64,
    /// Its total token usage.
    pub total_token_usage: TokenUsage,
    /// Run time in milliseconds.
    pub duration: i64,
    /// Files it modified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_modified: Option<Vec<String>>,
    /// Its final response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_output: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a subagent fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubagentFailedPayload {
    /// The subagent's session.
    pub subagent_session_id: SessionId,
    /// Error message.
    pub error: String,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Whether it can be retried.
    pub recoverable: bool,
    /// Work completed before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_result: Option<String>,
    /// Turn at which it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at_turn: Option<i64>,
    /// Run time until the failure, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

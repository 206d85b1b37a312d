//! In-chat notification payloads: `notification.interrupted`,
//! `notification.subagent_result`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::TokenUsage;
use crate::core::SessionId;

/// Written after an interrupted run's partial content, as the last event of that run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationInterruptedPayload {
    /// When the interruption happened (ISO 8601, ms).
    pub timestamp: String,
    /// Turn at which the run was interrupted.
    pub turn: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written into the parent session when a non-blocking subagent (one spawned by a tool
/// call) completes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSubagentResultPayload {
    /// The parent (spawning) session.
    pub parent_session_id: SessionId,
    /// The subagent's session.
    pub subagent_session_id: SessionId,
    /// Task given to the subagent.
    pub task: String,
    /// Summary of its result.
    pub result_summary: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Turns it took.
    pub total_turns: i64,
    /// Run time in milliseconds.
    pub duration: i64,
    /// Its token usage (absent when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    /// When it completed (ISO 8601, ms).
    pub completed_at: String,
    /// Warning (e.g. output truncated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

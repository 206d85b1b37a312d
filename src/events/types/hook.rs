//! Hook audit payloads: `hook.triggered`, `hook.completed`, `hook.background_started`,
//! `hook.background_completed`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Written when blocking hooks start executing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTriggeredPayload {
    /// Hooks being run.
    pub hook_names: Vec<String>,
    /// Hook event (`PreToolUse`, `SessionStart`, ...).
    pub hook_event: String,
    /// Tool, for tool hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Tool call, for tool hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Timestamp of the triggering event.
    pub timestamp: String,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when blocking hooks finish.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookCompletedPayload {
    /// Hooks that ran.
    pub hook_names: Vec<String>,
    /// Hook event.
    pub hook_event: String,
    /// `continue`, `block` or `modify`.
    pub result: String,
    /// Run time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Reason for a block/modify result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tool, for tool hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Tool call, for tool hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Timestamp of the triggering event.
    pub timestamp: String,
    /// Id of the agent run that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when fire-and-forget (background) hooks start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookBackgroundStartedPayload {
    /// Hooks being run.
    pub hook_names: Vec<String>,
    /// Hook event (`PostToolUse`, `SessionEnd`, ...).
    pub hook_event: String,
    /// Correlates with `hook.background_completed`.
    pub execution_id: String,
    /// Timestamp of the triggering event.
    pub timestamp: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when background hooks finish (possibly after the agent moved on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookBackgroundCompletedPayload {
    /// Hooks that ran.
    pub hook_names: Vec<String>,
    /// Hook event.
    pub hook_event: String,
    /// Correlates with `hook.background_started`.
    pub execution_id: String,
    /// `continue` (all succeeded) or `error`.
    pub result: String,
    /// Run time in milliseconds.
    pub duration: i64,
    /// Error message when `result` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Timestamp of the triggering event.
    pub timestamp: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

//! Plan-mode payloads: `plan.mode_entered`, `plan.mode_exited`, `plan.created` (defined in
//! upstream `types/plan.ts` and replayed by its plan-mode reconstruction).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Written when plan mode is entered (write tools blocked until the plan is approved).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanModeEnteredPayload {
    /// Skill that entered plan mode.
    pub skill_name: String,
    /// Tools blocked meanwhile (typically Write, Edit, Bash).
    pub blocked_tools: Vec<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when plan mode ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanModeExitedPayload {
    /// `approved`, `cancelled` or `timeout`.
    pub reason: String,
    /// Approved plan file (only when approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_path: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a plan file is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCreatedPayload {
    /// Absolute path of the plan file.
    pub plan_path: String,
    /// Plan title.
    pub title: String,
    /// SHA-256 of the plan content.
    pub content_hash: String,
    /// Estimated tokens of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

//! Task payloads: `todo.write` (session todo snapshot) and the task-manager broadcasts
//! `task.*`, `project.*`, `area.*` (upstream marks these broadcast-only: the task tables
//! are the source of truth).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::present;

/// Written whenever the session's todo list changes: the complete list (a snapshot, not a
/// diff).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoWritePayload {
    /// The complete current list.
    pub todos: Vec<TodoItem>,
    /// `tool`, `command`, `skill` or `restore`.
    pub trigger: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of `todo.write`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoItem {
    /// Item id.
    pub id: String,
    /// Imperative text ("Run tests").
    pub content: String,
    /// Progressive text shown while active ("Running tests").
    pub active_form: String,
    /// `pending`, `in_progress` or `completed`.
    pub status: String,
    /// `agent`, `user` or `skill`.
    pub source: String,
    /// Creation time (ISO 8601).
    pub created_at: String,
    /// Completion time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a task is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCreatedPayload {
    /// Task id.
    pub task_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Owning project (always written; `null` when none).
    pub project_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a task changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUpdatedPayload {
    /// Task id.
    pub task_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Names of the changed fields.
    pub changed_fields: Vec<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a task is deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDeletedPayload {
    /// Task id.
    pub task_id: String,
    /// Title.
    pub title: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a project is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectCreatedPayload {
    /// Project id.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Owning area (always written; `null` when none).
    pub area_id: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a project changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUpdatedPayload {
    /// Project id.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when a project is deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDeletedPayload {
    /// Project id.
    pub project_id: String,
    /// Title.
    pub title: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when an area is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaCreatedPayload {
    /// Area id.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when an area changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaUpdatedPayload {
    /// Area id.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Status.
    pub status: String,
    /// Names of the changed fields.
    pub changed_fields: Vec<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Broadcast when an area is deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaDeletedPayload {
    /// Area id.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

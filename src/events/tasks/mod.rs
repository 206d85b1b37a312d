//! Tasks, projects and areas (the TypeScript server's PARA task manager): the domain types,
//! the repository over the `tasks` / `projects` / `areas` / `task_dependencies` /
//! `task_activity` tables (migrations 007 and 008), and the task summary the model sees.
//!
//! Owns: ids (`task_` / `proj_` / `area_` + 12 hex), the service rules of the TypeScript
//! server (status timestamps, notes appended with the date, activity rows, dependencies
//! without cycles, at most two levels of tasks), and row <-> domain mapping (JSON `tags`,
//! `metadata`). Must not: know the wire (rpc/) or the tool's texts (tools/task_manager.rs).
//!
//! Every operation is a method on [`EventStore`] and runs in one write transaction, so a
//! failed operation changes nothing. Async code reaches them through
//! [`StoreHandle::run`](super::StoreHandle::run). Deliberate differences from the
//! TypeScript server: statuses and priorities are checked (an unknown value would break
//! the iOS decoder), a rejected hierarchy or dependency leaves no partial write, and the
//! tool's field update and dependency edits commit together.

mod context;
pub mod params;
mod projects;
mod repo;
mod rows;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::{Number, Value};

pub use context::task_context;
pub use params::{
    AreaFilter, AreaUpdate, DependencyEdits, NewArea, NewProject, NewTask, Patch, ProjectFilter,
    ProjectUpdate, TaskFilter, TaskUpdate,
};

/// Task statuses (`backlog → pending → in_progress → completed/cancelled`).
pub const TASK_STATUSES: &[&str] = &["backlog", "pending", "in_progress", "completed", "cancelled"];
/// Task priorities.
pub const TASK_PRIORITIES: &[&str] = &["low", "medium", "high", "critical"];
/// Where a task came from.
pub const TASK_SOURCES: &[&str] = &["agent", "user", "skill", "system"];
/// Project statuses.
pub const PROJECT_STATUSES: &[&str] = &["active", "paused", "completed", "archived"];
/// Area statuses.
pub const AREA_STATUSES: &[&str] = &["active", "archived"];

/// What a task operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A failure the TypeScript service throws (`Task not found: <id>`, `Circular dependency
    /// detected`, hierarchy errors ...), with its exact message.
    #[error("{0}")]
    Rejected(String),
    /// A parameter of the wrong type or an unknown enum value (tron's own check).
    #[error("{0}")]
    Invalid(String),
    /// SQLite refused the statement (a foreign key, a constraint, an FTS query syntax
    /// error); the message is SQLite's own, as the TypeScript server shows it.
    #[error("{0}")]
    Sql(String),
    /// The store itself failed (locked, stopped ...).
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<rusqlite::Error> for TaskError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(f, msg) => match f.code {
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    TaskError::Store(super::StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, msg)))
                }
                _ => TaskError::Sql(msg.unwrap_or_else(|| f.to_string())),
            },
            other => TaskError::Sql(other.to_string()),
        }
    }
}

/// Result alias for task operations.
pub type TaskResult<T> = std::result::Result<T, TaskError>;

/// A task, as the TypeScript server and the iOS app (`RpcTask`) spell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub project_id: Option<String>,
    pub parent_task_id: Option<String>,
    pub workspace_id: Option<String>,
    pub area_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub active_form: Option<String>,
    pub notes: Option<String>,
    pub status: String,
    pub priority: String,
    pub source: String,
    pub tags: Vec<String>,
    pub due_date: Option<String>,
    pub deferred_until: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub estimated_minutes: Option<Number>,
    pub actual_minutes: Number,
    pub created_by_session_id: Option<String>,
    pub last_session_id: Option<String>,
    pub last_session_at: Option<String>,
    pub sort_order: Number,
    pub metadata: Option<Value>,
}

/// A blocking (or related) edge between two tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDependency {
    pub blocker_task_id: String,
    pub blocked_task_id: String,
    pub relationship: String,
    pub created_at: String,
}

/// One row of a task's activity log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskActivity {
    pub id: i64,
    pub task_id: String,
    pub session_id: Option<String>,
    pub event_id: Option<String>,
    pub action: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub detail: Option<String>,
    pub minutes_logged: Option<Number>,
    pub timestamp: String,
}

/// A task with its subtasks, dependencies and 10 most recent activity rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskWithDetails {
    #[serde(flatten)]
    pub task: Task,
    pub subtasks: Vec<Task>,
    pub blocked_by: Vec<TaskDependency>,
    pub blocks: Vec<TaskDependency>,
    pub recent_activity: Vec<TaskActivity>,
}

/// `{tasks, total}`: one page and the count of all matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskList {
    pub tasks: Vec<Task>,
    pub total: i64,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub workspace_id: Option<String>,
    pub area_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub metadata: Option<Value>,
}

/// A project with the counts of its top-level tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectWithProgress {
    #[serde(flatten)]
    pub project: Project,
    pub task_count: i64,
    pub completed_task_count: i64,
}

/// A project with its tasks and its area.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectWithDetails {
    #[serde(flatten)]
    pub project: ProjectWithProgress,
    pub tasks: Vec<Task>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<Area>,
}

/// `{projects, total}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectList {
    pub projects: Vec<ProjectWithProgress>,
    pub total: i64,
}

/// An area (an ongoing responsibility).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    pub id: String,
    pub workspace_id: String,
    pub title: String,
    pub description: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub sort_order: Number,
    pub created_at: String,
    pub updated_at: String,
    pub metadata: Value,
}

/// An area with the counts of its projects and tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaWithCounts {
    #[serde(flatten)]
    pub area: Area,
    pub project_count: i64,
    pub task_count: i64,
    pub active_task_count: i64,
}

/// `{areas, total}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaList {
    pub areas: Vec<AreaWithCounts>,
    pub total: i64,
}

/// A new id: `<prefix>_` + 12 hex digits, as the TypeScript server makes them.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", crate::core::ids::short_hex())
}

/// Whether a JSON number is non-zero (JavaScript truthiness).
pub fn truthy(n: &Number) -> bool {
    n.as_f64().is_some_and(|f| f != 0.0)
}

/// Checks `value` against `allowed` (`<what> must be one of ...`).
pub(crate) fn check_enum(what: &str, value: &str, allowed: &[&str]) -> TaskResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(TaskError::Invalid(format!("Invalid {what}: {value} (expected one of {})", allowed.join(", "))))
    }
}

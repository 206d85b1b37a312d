//! What task, project and area operations take, and reading them from a JSON object (an
//! RPC request's params or the tool's arguments use the same keys). A key that is absent
//! is "not given"; `null` is "set to NULL" where the TypeScript server allows it.

use serde_json::{Map, Number, Value};

use super::{TaskError, TaskResult};

/// An update of one optional field: `None` leaves it, `Some(None)` clears it.
pub type Patch<T> = Option<Option<T>>;

type Json = Map<String, Value>;

fn wrong(key: &str, what: &str) -> TaskError {
    TaskError::Invalid(format!("{key} must be {what}"))
}

/// An optional string (`null` and absent both mean none).
pub fn string(m: &Json, key: &str) -> TaskResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(key, "a string")),
    }
}

/// A string that counts only when non-empty (JavaScript truthiness).
pub fn nonempty(m: &Json, key: &str) -> TaskResult<Option<String>> {
    Ok(string(m, key)?.filter(|s| !s.is_empty()))
}

/// A string patch: absent -> `None`, `null` -> `Some(None)`.
pub fn patch_string(m: &Json, key: &str) -> TaskResult<Patch<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(wrong(key, "a string")),
    }
}

/// An optional number.
pub fn number(m: &Json, key: &str) -> TaskResult<Option<Number>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.clone())),
        Some(_) => Err(wrong(key, "a number")),
    }
}

fn patch_number(m: &Json, key: &str) -> TaskResult<Patch<Number>> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => Ok(Some(Some(n.clone()))),
        Some(_) => Err(wrong(key, "a number")),
    }
}

/// An optional list of strings.
pub fn strings(m: &Json, key: &str) -> TaskResult<Option<Vec<String>>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong(key, "a list of strings")))
            .collect::<TaskResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(wrong(key, "a list of strings")),
    }
}

/// A string or a list of strings (status / priority filters); an empty string is none.
fn one_or_many(m: &Json, key: &str) -> TaskResult<Option<Vec<String>>> {
    match m.get(key) {
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        _ => strings(m, key),
    }
}

/// JavaScript truthiness of a flag.
fn flag(m: &Json, key: &str) -> bool {
    match m.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => super::truthy(n),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A new task. Defaults: status `pending`, priority `medium`, source `agent`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub active_form: Option<String>,
    pub project_id: Option<String>,
    pub parent_task_id: Option<String>,
    pub workspace_id: Option<String>,
    pub area_id: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub source: Option<String>,
    pub tags: Option<Vec<String>>,
    pub due_date: Option<String>,
    pub deferred_until: Option<String>,
    pub estimated_minutes: Option<Number>,
    /// The session creating it (`created_by_session_id`, `last_session_id`).
    pub session_id: Option<String>,
}

impl NewTask {
    /// From `tasks.create` params (tags under `tags`) or the tool's arguments (`addTags`).
    pub fn from_json(m: &Json, tags_key: &str) -> TaskResult<Self> {
        Ok(Self {
            title: string(m, "title")?.unwrap_or_default(),
            description: string(m, "description")?,
            active_form: string(m, "activeForm")?,
            project_id: string(m, "projectId")?,
            parent_task_id: string(m, "parentTaskId")?,
            workspace_id: string(m, "workspaceId")?,
            area_id: string(m, "areaId")?,
            status: nonempty(m, "status")?,
            priority: nonempty(m, "priority")?,
            source: nonempty(m, "source")?,
            tags: strings(m, tags_key)?,
            due_date: string(m, "dueDate")?,
            deferred_until: string(m, "deferredUntil")?,
            estimated_minutes: number(m, "estimatedMinutes")?,
            session_id: nonempty(m, "sessionId")?,
        })
    }
}

/// A change to a task (`tasks.update`, the tool's `update`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskUpdate {
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub active_form: Patch<String>,
    pub priority: Patch<String>,
    pub due_date: Patch<String>,
    pub deferred_until: Patch<String>,
    pub estimated_minutes: Patch<Number>,
    pub project_id: Patch<String>,
    pub area_id: Patch<String>,
    pub parent_task_id: Patch<String>,
    pub add_tags: Option<Vec<String>>,
    pub remove_tags: Option<Vec<String>>,
    /// Appended as `[YYYY-MM-DD] <text>` on a new line.
    pub notes: Option<String>,
    pub status: Option<String>,
    pub session_id: Option<String>,
}

impl TaskUpdate {
    /// From `tasks.update` params or the tool's arguments (same keys).
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            title: patch_string(m, "title")?,
            description: patch_string(m, "description")?,
            active_form: patch_string(m, "activeForm")?,
            priority: patch_string(m, "priority")?,
            due_date: patch_string(m, "dueDate")?,
            deferred_until: patch_string(m, "deferredUntil")?,
            estimated_minutes: patch_number(m, "estimatedMinutes")?,
            project_id: patch_string(m, "projectId")?,
            area_id: patch_string(m, "areaId")?,
            parent_task_id: patch_string(m, "parentTaskId")?,
            add_tags: strings(m, "addTags")?,
            remove_tags: strings(m, "removeTags")?,
            notes: nonempty(m, "notes")?,
            status: nonempty(m, "status")?,
            session_id: nonempty(m, "sessionId")?,
        })
    }
}

/// The tool's dependency edits of the task being updated (all `blocks` edges).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DependencyEdits {
    /// Tasks this task blocks.
    pub add_blocks: Vec<String>,
    /// Tasks blocking this task.
    pub add_blocked_by: Vec<String>,
    pub remove_blocks: Vec<String>,
    pub remove_blocked_by: Vec<String>,
}

impl DependencyEdits {
    /// From the tool's `addBlocks` / `addBlockedBy` / `removeBlocks` / `removeBlockedBy`.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            add_blocks: strings(m, "addBlocks")?.unwrap_or_default(),
            add_blocked_by: strings(m, "addBlockedBy")?.unwrap_or_default(),
            remove_blocks: strings(m, "removeBlocks")?.unwrap_or_default(),
            remove_blocked_by: strings(m, "removeBlockedBy")?.unwrap_or_default(),
        })
    }
}

/// Which tasks a list shows. By default: not completed / cancelled, not in the backlog,
/// not deferred past today.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    /// Explicit statuses (then completed and backlog tasks are not hidden by default).
    pub status: Option<Vec<String>>,
    pub include_completed: bool,
    pub include_deferred: bool,
    pub include_backlog: bool,
    pub priority: Option<Vec<String>>,
    /// Every tag must be present.
    pub tags: Option<Vec<String>>,
    /// Equality when given (`Some(None)` matches nothing, as `= NULL` does upstream).
    pub project_id: Patch<String>,
    pub workspace_id: Patch<String>,
    pub area_id: Patch<String>,
    /// `Some(None)`: top-level tasks only.
    pub parent_task_id: Patch<String>,
    pub due_before: Option<String>,
}

impl TaskFilter {
    /// From `tasks.list` params or the tool's `filter` object.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            status: one_or_many(m, "status")?,
            include_completed: flag(m, "includeCompleted"),
            include_deferred: flag(m, "includeDeferred"),
            include_backlog: flag(m, "includeBacklog"),
            priority: one_or_many(m, "priority")?,
            tags: strings(m, "tags")?,
            project_id: patch_string(m, "projectId")?,
            workspace_id: patch_string(m, "workspaceId")?,
            area_id: patch_string(m, "areaId")?,
            parent_task_id: patch_string(m, "parentTaskId")?,
            due_before: nonempty(m, "dueBefore")?,
        })
    }
}

/// A new project (status `active`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewProject {
    pub title: String,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub workspace_id: Option<String>,
    pub area_id: Option<String>,
}

/// A change to a project; `tags` replaces the whole list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectUpdate {
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub status: Patch<String>,
    pub tags: Option<Vec<String>>,
    pub area_id: Patch<String>,
}

impl ProjectUpdate {
    /// From `projects.update` params.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            title: patch_string(m, "title")?,
            description: patch_string(m, "description")?,
            status: patch_string(m, "status")?,
            tags: strings(m, "tags")?,
            area_id: patch_string(m, "areaId")?,
        })
    }
}

/// Which projects a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectFilter {
    pub status: Option<Vec<String>>,
    pub workspace_id: Option<String>,
    /// Equality when given.
    pub area_id: Patch<String>,
}

impl ProjectFilter {
    /// From `projects.list` params.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            status: one_or_many(m, "status")?,
            workspace_id: nonempty(m, "workspaceId")?,
            area_id: patch_string(m, "areaId")?,
        })
    }
}

/// A new area (status `active`, workspace `default` unless given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewArea {
    pub title: String,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub workspace_id: Option<String>,
    pub metadata: Option<Value>,
}

/// A change to an area; `tags` replaces the whole list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AreaUpdate {
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub status: Patch<String>,
    pub tags: Option<Vec<String>>,
    pub sort_order: Patch<Number>,
    pub metadata: Patch<Value>,
}

impl AreaUpdate {
    /// From `areas.update` params.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self {
            title: patch_string(m, "title")?,
            description: patch_string(m, "description")?,
            status: patch_string(m, "status")?,
            tags: strings(m, "tags")?,
            sort_order: patch_number(m, "sortOrder")?,
            metadata: match m.get("metadata") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(v) => Some(Some(v.clone())),
            },
        })
    }
}

/// Which areas a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AreaFilter {
    pub status: Option<String>,
    pub workspace_id: Option<String>,
}

impl AreaFilter {
    /// From `areas.list` params.
    pub fn from_json(m: &Json) -> TaskResult<Self> {
        Ok(Self { status: nonempty(m, "status")?, workspace_id: nonempty(m, "workspaceId")? })
    }
}

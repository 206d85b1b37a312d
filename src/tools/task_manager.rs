//! `TaskManager`: the agent's persistent tasks, projects and areas (the TypeScript server's
//! PARA task manager, 17 actions). Every action runs on the store thread through
//! [`StoreHandle::run`]; the result is the TypeScript tool's text: an action line, a blank
//! line and a snapshot of the entity, or a list. A failure is `Error: <message>` (not-found
//! on get / delete is `<Kind> not found: <id>`), with `isError: true`.

use rusqlite::OptionalExtension;
use serde_json::{json, Map, Value};

mod format;

use format::{area_detail, project_detail, task_detail};

use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::events::tasks::{
    self, AreaFilter, AreaUpdate, DependencyEdits, NewArea, NewProject, NewTask, ProjectFilter,
    ProjectUpdate, TaskError, TaskFilter, TaskUpdate,
};
use crate::events::{EventStore, StoreHandle};

const DESCRIPTION: &str = r#"Persistent task, project, and area manager (PARA model). Tasks survive across sessions.

## PARA Model
- **Projects**: Time-bound scoped efforts with tasks
- **Areas**: Ongoing responsibilities the agent maintains awareness of (e.g., "Security", "Code Quality")
- **Tasks**: Individual work items, optionally linked to a project and/or area

## Actions

### Tasks
- **create**: Create a task. Required: title. Optional: description, activeForm, status, priority, projectId, parentTaskId, areaId, addTags, dueDate, deferredUntil, estimatedMinutes
- **update**: Update a task. Required: taskId. Optional: status, title, description, priority, notes (appends), addTags/removeTags, addBlocks/addBlockedBy/removeBlocks/removeBlockedBy, dueDate, deferredUntil, projectId, parentTaskId, areaId
- **get**: Get task details. Required: taskId
- **list**: List tasks. Optional: filter (status, priority, tags, projectId, areaId, includeCompleted, includeDeferred, includeBacklog), limit, offset
- **search**: Full-text search. Required: query. Optional: limit
- **log_time**: Log time spent. Required: taskId, minutes. Optional: timeNote
- **delete**: Delete a task. Required: taskId

### Projects
- **create_project**: Create project. Required: projectTitle. Optional: projectDescription, projectTags, workspaceId, areaId
- **update_project**: Update project. Required: projectId. Optional: projectTitle, projectDescription, projectStatus, projectTags, areaId
- **get_project**: Get project details with tasks. Required: projectId
- **delete_project**: Delete project (orphans tasks). Required: projectId
- **list_projects**: List projects. Optional: filter by status/workspaceId/areaId

### Areas
- **create_area**: Create area. Required: areaTitle. Optional: areaDescription, areaTags
- **update_area**: Update area. Required: areaId. Optional: areaTitle, areaDescription, areaStatus (active/archived), areaTags
- **get_area**: Get area details with counts. Required: areaId
- **delete_area**: Delete area (unlinks projects/tasks). Required: areaId
- **list_areas**: List areas. Optional: areaStatus filter

## Status Model
backlog → pending → in_progress → completed/cancelled

## Key Behaviors
- status→in_progress auto-sets startedAt; status→completed auto-sets completedAt
- notes append with timestamps (never replace)
- Tasks with deferredUntil > today are hidden from default list
- Dependencies: addBlocks/addBlockedBy create blocking relationships; circular deps rejected"#;

/// The tool's name.
pub const NAME: &str = "TaskManager";

/// The 17 actions.
pub const ACTIONS: [&str; 17] = [
    "create",
    "update",
    "get",
    "list",
    "search",
    "log_time",
    "delete",
    "create_project",
    "update_project",
    "list_projects",
    "get_project",
    "delete_project",
    "create_area",
    "update_area",
    "get_area",
    "delete_area",
    "list_areas",
];

/// The `TaskManager` tool of one session.
#[derive(Debug, Clone)]
pub struct TaskManagerTool {
    store: StoreHandle,
    session_id: String,
}

impl TaskManagerTool {
    /// The tool for `session_id` (its workspace is looked up when a task is created).
    pub fn new(store: StoreHandle, session_id: impl Into<String>) -> Self {
        Self { store, session_id: session_id.into() }
    }
}

fn schema() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let with = |desc: &str| json!({"type": "array", "items": {"type": "string"}, "description": desc});
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ACTIONS, "description": "Action to perform"},
            "title": {"type": "string", "description": "Task title (imperative form)"},
            "description": {"type": "string", "description": "Task description (markdown)"},
            "activeForm": {"type": "string", "description": "Present continuous form for spinner display"},
            "taskId": {"type": "string", "description": "Task ID for update/get/delete/log_time"},
            "status": {"type": "string", "enum": tasks::TASK_STATUSES},
            "priority": {"type": "string", "enum": tasks::TASK_PRIORITIES},
            "addTags": strings,
            "removeTags": strings,
            "dueDate": {"type": "string", "description": "YYYY-MM-DD deadline"},
            "deferredUntil": {"type": "string", "description": "YYYY-MM-DD: hidden until this date"},
            "estimatedMinutes": {"type": "number"},
            "notes": {"type": "string", "description": "Appended to existing notes with timestamp"},
            "projectId": {"type": "string"},
            "parentTaskId": {"type": "string"},
            "addBlocks": with("Task IDs this task blocks"),
            "addBlockedBy": with("Task IDs blocking this task"),
            "removeBlocks": strings,
            "removeBlockedBy": strings,
            "minutes": {"type": "number", "description": "Minutes to log"},
            "timeNote": {"type": "string"},
            "query": {"type": "string", "description": "Search query"},
            "filter": {"type": "object", "description": "Filter object for list actions"},
            "limit": {"type": "number"},
            "offset": {"type": "number"},
            "projectTitle": {"type": "string"},
            "projectDescription": {"type": "string"},
            "projectStatus": {"type": "string", "enum": tasks::PROJECT_STATUSES},
            "projectTags": strings,
            "workspaceId": {"type": "string"},
            "areaId": {"type": "string", "description": "Area ID for linking or area operations"},
            "areaTitle": {"type": "string", "description": "Area title"},
            "areaDescription": {"type": "string", "description": "Area description"},
            "areaStatus": {"type": "string", "enum": tasks::AREA_STATUSES, "description": "Area status"},
            "areaTags": with("Area tags")
        },
        "required": ["action"]
    })
}

impl Tool for TaskManagerTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(NAME, DESCRIPTION, schema())
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let (args, session) = (arguments.clone(), self.session_id.clone());
            match self.store.run(move |store| Ok(run(store, &session, &args))).await {
                Ok(result) => result,
                Err(e) => ToolResult::error(format!("Error: {e}")),
            }
        })
    }
}

/// Runs one call on the store thread.
pub fn run(store: &EventStore, session: &str, args: &JsonObject) -> ToolResult {
    let action = args.get("action").and_then(Value::as_str).unwrap_or_default();
    match action_result(store, session, action, args) {
        Ok(Outcome::Ok(text)) => ToolResult::text(text),
        Ok(Outcome::Fail(text)) => ToolResult::error(text),
        Err(e) => {
            tracing::error!(action, error = %e, "TaskManager error");
            ToolResult::error(format!("Error: {e}"))
        }
    }
}

enum Outcome {
    Ok(String),
    Fail(String),
}

use Outcome::{Fail, Ok as Done};

type Args = Map<String, Value>;

/// A string argument, when given and non-empty (JavaScript truthiness).
fn arg(args: &Args, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn limit(args: &Args, default: usize) -> usize {
    args.get("limit").and_then(Value::as_f64).filter(|n| *n > 0.0).map_or(default, |n| n as usize)
}

fn workspace_of(store: &EventStore, session: &str) -> Result<Option<String>, TaskError> {
    store
        .connection()
        .query_row("SELECT workspace_id FROM sessions WHERE id = ?1", [session], |r| r.get(0))
        .optional()
        .map_err(TaskError::from)
}

fn action_result(store: &EventStore, session: &str, action: &str, args: &Args) -> Result<Outcome, TaskError> {
    let sid = Some(session.to_owned()).filter(|s| !s.is_empty());
    Ok(match action {
        "create" => {
            if arg(args, "title").is_none() {
                return Ok(Fail("Error: title is required for create".into()));
            }
            let mut p = NewTask::from_json(args, "addTags")?;
            p.source = None;
            p.session_id = sid;
            p.workspace_id = workspace_of(store, session)?;
            let task = store.create_task(&p)?;
            let details = store.task_details(&task.id)?.expect("just created");
            let line = format!("Created task {}: {} [{}]", task.id, task.title, task.status);
            Done(format!("{line}\n\n{}", task_detail(store, &details)?))
        }
        "update" => {
            let Some(id) = arg(args, "taskId") else {
                return Ok(Fail("Error: taskId is required for update".into()));
            };
            let mut p = TaskUpdate::from_json(args)?;
            p.session_id = sid;
            let task = store.update_task_with_dependencies(&id, &p, &DependencyEdits::from_json(args)?)?;
            let details = store.task_details(&id)?.expect("just updated");
            let line = format!("Updated task {}: {} [{}]", task.id, task.title, task.status);
            Done(format!("{line}\n\n{}", task_detail(store, &details)?))
        }
        "get" => {
            let Some(id) = arg(args, "taskId") else {
                return Ok(Fail("Error: taskId is required for get".into()));
            };
            match store.task_details(&id)? {
                Some(d) => Done(task_detail(store, &d)?),
                None => Fail(format!("Task not found: {id}")),
            }
        }
        "list" => {
            let mut filter = match args.get("filter") {
                Some(Value::Object(f)) => TaskFilter::from_json(f)?,
                _ => TaskFilter::default(),
            };
            if let Some(ws) = arg(args, "workspaceId") {
                filter.workspace_id = Some(Some(ws));
            }
            let offset =
                args.get("offset").and_then(Value::as_f64).filter(|n| *n > 0.0).map_or(0, |n| n as usize);
            let list = store.list_tasks(&filter, limit(args, 20), offset)?;
            if list.tasks.is_empty() {
                return Ok(Done("No tasks found.".into()));
            }
            let mut lines = vec![format!("Tasks ({}/{}):", list.tasks.len(), list.total)];
            for t in &list.tasks {
                let mark = match t.status.as_str() {
                    "completed" => 'x',
                    "in_progress" => '>',
                    "cancelled" => '-',
                    "backlog" => 'b',
                    _ => ' ',
                };
                let mut meta = Vec::new();
                if t.priority != "medium" {
                    meta.push(format!("P:{}", t.priority));
                }
                if let Some(d) = t.due_date.as_deref().filter(|d| !d.is_empty()) {
                    meta.push(format!("due:{d}"));
                }
                let suffix = if meta.is_empty() { String::new() } else { format!(" ({})", meta.join(", ")) };
                lines.push(format!("[{mark}] {}: {}{suffix}", t.id, t.title));
            }
            Done(lines.join("\n"))
        }
        "search" => {
            let Some(query) = arg(args, "query") else {
                return Ok(Fail("Error: query is required for search".into()));
            };
            let found = store.search_tasks(&query, limit(args, 10))?;
            if found.is_empty() {
                return Ok(Done(format!("No tasks matching \"{query}\"")));
            }
            let mut lines = vec![format!("Search results for \"{query}\" ({}):", found.len())];
            lines.extend(found.iter().map(|t| format!("  {}: {} [{}]", t.id, t.title, t.status)));
            Done(lines.join("\n"))
        }
        "log_time" => {
            let Some(id) = arg(args, "taskId") else {
                return Ok(Fail("Error: taskId is required for log_time".into()));
            };
            let minutes = match args.get("minutes") {
                Some(Value::Number(n)) if n.as_f64().is_some_and(|m| m > 0.0) => n.clone(),
                _ => return Ok(Fail("Error: minutes must be a positive number".into())),
            };
            let note = args.get("timeNote").and_then(Value::as_str);
            let task = store.log_task_time(&id, &minutes, sid.as_deref(), note)?;
            let details = store.task_details(&id)?.expect("just logged");
            let estimate = task
                .estimated_minutes
                .as_ref()
                .filter(|n| tasks::truthy(n))
                .map_or(String::new(), |e| format!("/{e}min"));
            let line =
                format!("Logged {minutes}min on {}. Total: {}min{estimate}", task.id, task.actual_minutes);
            Done(format!("{line}\n\n{}", task_detail(store, &details)?))
        }
        "delete" => {
            let Some(id) = arg(args, "taskId") else {
                return Ok(Fail("Error: taskId is required for delete".into()));
            };
            let Some(details) = store.task_details(&id)? else {
                return Ok(Fail(format!("Task not found: {id}")));
            };
            let snapshot = task_detail(store, &details)?;
            store.delete_task(&id)?;
            Done(format!("Deleted task {id}: {}\n\n{snapshot}", details.task.title))
        }
        "create_project" => {
            let Some(title) = arg(args, "projectTitle") else {
                return Ok(Fail("Error: projectTitle is required".into()));
            };
            let workspace = match arg(args, "workspaceId") {
                Some(ws) => Some(ws),
                None => workspace_of(store, session)?,
            };
            let p = NewProject {
                title,
                description: tasks::params::string(args, "projectDescription")?,
                tags: tasks::params::strings(args, "projectTags")?,
                workspace_id: workspace,
                area_id: tasks::params::string(args, "areaId")?,
            };
            let project = store.create_project(&p)?;
            let details = store.project_details(&project.id)?.expect("just created");
            Done(format!("Created project {}: {}\n\n{}", project.id, project.title, project_detail(&details)))
        }
        "update_project" => {
            let Some(id) = arg(args, "projectId") else {
                return Ok(Fail("Error: projectId is required".into()));
            };
            let p = ProjectUpdate {
                title: tasks::params::string(args, "projectTitle")?.map(Some),
                description: tasks::params::string(args, "projectDescription")?.map(Some),
                status: tasks::params::string(args, "projectStatus")?.map(Some),
                tags: tasks::params::strings(args, "projectTags")?,
                area_id: tasks::params::string(args, "areaId")?.map(Some),
            };
            let project = store.update_project(&id, &p)?;
            let details = store.project_details(&id)?.expect("just updated");
            let line = format!("Updated project {}: {} [{}]", project.id, project.title, project.status);
            Done(format!("{line}\n\n{}", project_detail(&details)))
        }
        "list_projects" => {
            let filter = ProjectFilter {
                status: arg(args, "projectStatus").map(|s| vec![s]),
                workspace_id: arg(args, "workspaceId"),
                area_id: arg(args, "areaId").map(Some),
            };
            let list = store.list_projects(&filter, 50, 0)?;
            if list.projects.is_empty() {
                return Ok(Done("No projects found.".into()));
            }
            let mut lines = vec![format!("Projects ({}):", list.projects.len())];
            for p in &list.projects {
                let progress = if p.task_count > 0 {
                    format!(" ({}/{} tasks)", p.completed_task_count, p.task_count)
                } else {
                    String::new()
                };
                lines.push(format!(
                    "  {}: {} [{}]{progress}",
                    p.project.id, p.project.title, p.project.status
                ));
            }
            Done(lines.join("\n"))
        }
        "get_project" | "delete_project" => {
            let Some(id) = arg(args, "projectId") else {
                return Ok(Fail(format!("Error: projectId is required for {action}")));
            };
            let Some(details) = store.project_details(&id)? else {
                return Ok(Fail(format!("Project not found: {id}")));
            };
            let snapshot = project_detail(&details);
            if action == "get_project" {
                Done(snapshot)
            } else {
                store.delete_project(&id)?;
                Done(format!("Deleted project {id}: {}\n\n{snapshot}", details.project.project.title))
            }
        }
        "create_area" => {
            let Some(title) = arg(args, "areaTitle") else {
                return Ok(Fail("Error: areaTitle is required for create_area".into()));
            };
            let p = NewArea {
                title,
                description: tasks::params::string(args, "areaDescription")?,
                tags: tasks::params::strings(args, "areaTags")?,
                workspace_id: None,
                metadata: None,
            };
            let area = store.create_area(&p)?;
            let counts = store.area_with_counts(&area.id)?.expect("just created");
            let line = format!("Created area {}: {} [{}]", area.id, area.title, area.status);
            Done(format!("{line}\n\n{}", area_detail(&counts)))
        }
        "update_area" => {
            let Some(id) = arg(args, "areaId") else {
                return Ok(Fail("Error: areaId is required for update_area".into()));
            };
            let p = AreaUpdate {
                title: tasks::params::string(args, "areaTitle")?.map(Some),
                description: tasks::params::string(args, "areaDescription")?.map(Some),
                status: tasks::params::string(args, "areaStatus")?.map(Some),
                tags: tasks::params::strings(args, "areaTags")?,
                ..Default::default()
            };
            let area = store.update_area(&id, &p)?;
            let counts = store.area_with_counts(&id)?.expect("just updated");
            let line = format!("Updated area {}: {} [{}]", area.id, area.title, area.status);
            Done(format!("{line}\n\n{}", area_detail(&counts)))
        }
        "get_area" | "delete_area" => {
            let Some(id) = arg(args, "areaId") else {
                return Ok(Fail(format!("Error: areaId is required for {action}")));
            };
            let Some(area) = store.area_with_counts(&id)? else {
                return Ok(Fail(format!("Area not found: {id}")));
            };
            let snapshot = area_detail(&area);
            if action == "get_area" {
                Done(snapshot)
            } else {
                store.delete_area(&id)?;
                Done(format!("Deleted area {id}: {}\n\n{snapshot}", area.area.title))
            }
        }
        "list_areas" => {
            let filter = AreaFilter { status: arg(args, "areaStatus"), workspace_id: None };
            let list = store.list_areas(&filter, 50, 0)?;
            if list.areas.is_empty() {
                return Ok(Done("No areas found.".into()));
            }
            let mut lines = vec![format!("Areas ({}):", list.areas.len())];
            for a in &list.areas {
                lines.push(format!(
                    "  {}: {} [{}] {}p/{}t ({} active)",
                    a.area.id,
                    a.area.title,
                    a.area.status,
                    a.project_count,
                    a.task_count,
                    a.active_task_count
                ));
            }
            Done(lines.join("\n"))
        }
        other => Fail(format!("Unknown action: {}", if other.is_empty() { "undefined" } else { other })),
    })
}

#[cfg(test)]
mod tests;

//! Task operations on [`EventStore`]: create, read, update (status timestamps, notes,
//! tags, hierarchy), delete, list, search, time logging, dependencies and activity.

use std::collections::{HashSet, VecDeque};

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::Number;

use super::rows::{self, tx};
use super::{
    check_enum, new_id, DependencyEdits, NewTask, Task, TaskActivity, TaskDependency, TaskError, TaskFilter,
    TaskList, TaskResult, TaskUpdate, TaskWithDetails, TASK_PRIORITIES, TASK_SOURCES, TASK_STATUSES,
};
use crate::events::{now_iso, EventStore};

/// How many activity rows [`EventStore::task_details`] carries.
const RECENT_ACTIVITY: usize = 10;

pub(super) fn get(conn: &Connection, id: &str) -> TaskResult<Option<Task>> {
    Ok(conn.prepare_cached("SELECT * FROM tasks WHERE id = ?1")?.query_row([id], rows::task).optional()?)
}

fn not_found(id: &str) -> TaskError {
    TaskError::Rejected(format!("Task not found: {id}"))
}

/// One `task_activity` row.
#[allow(clippy::too_many_arguments)]
pub(super) fn log(
    conn: &Connection,
    task: &str,
    session: Option<&str>,
    action: &str,
    old: Option<&str>,
    new: Option<&str>,
    detail: Option<&str>,
    minutes: Option<Sql>,
) -> TaskResult<()> {
    conn.prepare_cached(
        "INSERT INTO task_activity (task_id, session_id, event_id, action, old_value, new_value, detail,
            minutes_logged, timestamp) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        task,
        session,
        action,
        old,
        new,
        detail,
        minutes.unwrap_or(Sql::Null),
        now_iso()
    ])?;
    Ok(())
}

fn details(conn: &Connection, task: Task) -> TaskResult<TaskWithDetails> {
    let subtasks = conn
        .prepare_cached("SELECT * FROM tasks WHERE parent_task_id = ?1 ORDER BY sort_order")?
        .query_map([&task.id], rows::task)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let deps = |sql: &str| -> TaskResult<Vec<TaskDependency>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_map([&task.id], rows::dependency)?
            .collect::<rusqlite::Result<_>>()?)
    };
    let blocked_by = deps("SELECT * FROM task_dependencies WHERE blocked_task_id = ?1")?;
    let blocks = deps("SELECT * FROM task_dependencies WHERE blocker_task_id = ?1")?;
    let recent_activity = activity(conn, &task.id, RECENT_ACTIVITY)?;
    Ok(TaskWithDetails { task, subtasks, blocked_by, blocks, recent_activity })
}

fn activity(conn: &Connection, id: &str, limit: usize) -> TaskResult<Vec<TaskActivity>> {
    Ok(conn
        .prepare_cached("SELECT * FROM task_activity WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2")?
        .query_map(params![id, limit as i64], rows::activity)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Whether making `blocker` block `blocked` would close a cycle of `blocks` edges (a task
/// blocking itself counts).
fn creates_cycle(conn: &Connection, blocker: &str, blocked: &str) -> TaskResult<bool> {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([blocked.to_owned()]);
    let mut next = conn.prepare_cached(
        "SELECT blocked_task_id FROM task_dependencies WHERE blocker_task_id = ?1 AND relationship = 'blocks'",
    )?;
    while let Some(current) = queue.pop_front() {
        if current == blocker {
            return Ok(true);
        }
        if !seen.insert(current.clone()) {
            continue;
        }
        for id in next.query_map([&current], |r| r.get::<_, String>(0))? {
            queue.push_back(id?);
        }
    }
    Ok(false)
}

fn add_dependency(conn: &Connection, blocker: &str, blocked: &str) -> TaskResult<()> {
    if creates_cycle(conn, blocker, blocked)? {
        return Err(TaskError::Rejected("Circular dependency detected".into()));
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO task_dependencies (blocker_task_id, blocked_task_id, relationship, created_at)
         VALUES (?1, ?2, 'blocks', ?3)",
    )?
    .execute(params![blocker, blocked, now_iso()])?;
    let (on_blocked, on_blocker) =
        (format!("Blocked by {blocker} (blocks)"), format!("Blocks {blocked} (blocks)"));
    log(conn, blocked, None, "dependency_added", None, None, Some(&on_blocked), None)?;
    log(conn, blocker, None, "dependency_added", None, None, Some(&on_blocker), None)
}

fn remove_dependency(conn: &Connection, blocker: &str, blocked: &str) -> TaskResult<()> {
    let removed = conn
        .prepare_cached("DELETE FROM task_dependencies WHERE blocker_task_id = ?1 AND blocked_task_id = ?2")?
        .execute([blocker, blocked])?;
    if removed > 0 {
        let detail = format!("No longer blocked by {blocker}");
        log(conn, blocked, None, "dependency_removed", None, None, Some(&detail), None)?;
    }
    Ok(())
}

fn check_status(status: &str) -> TaskResult<()> {
    check_enum("status", status, TASK_STATUSES)
}

fn update_task(conn: &Connection, id: &str, p: &TaskUpdate) -> TaskResult<Task> {
    let existing = get(conn, id)?.ok_or_else(|| not_found(id))?;
    // (camelCase field, column, value), in the TypeScript server's order.
    let mut sets: Vec<(&str, &str, Sql)> = Vec::new();
    let text = |v: &Option<String>| rows::text(v.clone());
    for (field, col, patch) in [
        ("title", "title", &p.title),
        ("description", "description", &p.description),
        ("activeForm", "active_form", &p.active_form),
        ("priority", "priority", &p.priority),
        ("dueDate", "due_date", &p.due_date),
        ("deferredUntil", "deferred_until", &p.deferred_until),
    ] {
        if let Some(v) = patch {
            sets.push((field, col, text(v)));
        }
    }
    if let Some(Some(priority)) = &p.priority {
        check_enum("priority", priority, TASK_PRIORITIES)?;
    }
    if let Some(v) = &p.estimated_minutes {
        sets.push(("estimatedMinutes", "estimated_minutes", v.as_ref().map_or(Sql::Null, rows::to_sql)));
    }
    if let Some(v) = &p.project_id {
        sets.push(("projectId", "project_id", text(v)));
    }
    if let Some(v) = &p.area_id {
        sets.push(("areaId", "area_id", text(v)));
    }
    if let Some(parent) = &p.parent_task_id {
        if let Some(parent) = parent {
            if get(conn, parent)?.is_some_and(|t| t.parent_task_id.is_some()) {
                return Err(TaskError::Rejected(
                    "Cannot nest under a subtask (max 2-level hierarchy)".into(),
                ));
            }
        }
        sets.push(("parentTaskId", "parent_task_id", text(parent)));
    }
    if p.add_tags.is_some() || p.remove_tags.is_some() {
        let mut tags = existing.tags.clone();
        for tag in p.add_tags.iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        if let Some(remove) = &p.remove_tags {
            tags.retain(|t| !remove.contains(t));
        }
        sets.push(("tags", "tags", rows::tags_json(&tags)));
    }
    let session = p.session_id.as_deref();
    if let Some(note) = &p.notes {
        let line = format!("[{}] {note}", &now_iso()[..10]);
        let notes = match existing.notes.as_deref() {
            Some(old) if !old.is_empty() => format!("{old}\n{line}"),
            _ => line,
        };
        sets.push(("notes", "notes", Sql::Text(notes)));
        log(conn, id, session, "note_added", None, None, Some(note), None)?;
    }
    if let Some(status) = p.status.as_deref().filter(|s| *s != existing.status) {
        check_status(status)?;
        sets.push(("status", "status", Sql::Text(status.to_owned())));
        if status == "in_progress" && existing.started_at.is_none() {
            sets.push(("startedAt", "started_at", Sql::Text(now_iso())));
        }
        if status == "completed" || status == "cancelled" {
            sets.push(("completedAt", "completed_at", Sql::Text(now_iso())));
        }
        let was_done = existing.status == "completed" || existing.status == "cancelled";
        if was_done && (status == "pending" || status == "in_progress") {
            sets.push(("completedAt", "completed_at", Sql::Null));
        }
        log(conn, id, session, "status_changed", Some(&existing.status), Some(status), None, None)?;
    }
    if let Some(s) = session {
        sets.push(("lastSessionId", "last_session_id", Sql::Text(s.to_owned())));
        sets.push(("lastSessionAt", "last_session_at", Sql::Text(now_iso())));
    }
    if p.status.is_none() && p.notes.is_none() {
        let changed: Vec<&str> = sets
            .iter()
            .map(|(f, _, _)| *f)
            .filter(|f| *f != "lastSessionId" && *f != "lastSessionAt")
            .collect();
        if !changed.is_empty() {
            let detail = format!("Updated: {}", changed.join(", "));
            log(conn, id, session, "updated", None, None, Some(&detail), None)?;
        }
    }
    rows::update(conn, "tasks", id, sets.into_iter().map(|(_, c, v)| (c, v)).collect())?;
    get(conn, id)?.ok_or_else(|| not_found(id))
}

impl EventStore {
    /// Creates a task (the TypeScript service's `createTask`): `started_at` / `completed_at`
    /// when created in progress / done, sort order after its siblings, a `created` activity
    /// row. A subtask of a subtask is refused.
    pub fn create_task(&self, p: &NewTask) -> TaskResult<Task> {
        let status = p.status.clone().unwrap_or_else(|| "pending".into());
        let priority = p.priority.clone().unwrap_or_else(|| "medium".into());
        let source = p.source.clone().unwrap_or_else(|| "agent".into());
        check_status(&status)?;
        check_enum("priority", &priority, TASK_PRIORITIES)?;
        check_enum("source", &source, TASK_SOURCES)?;
        tx(self, |conn| {
            if let Some(parent) = &p.parent_task_id {
                if get(conn, parent)?.is_some_and(|t| t.parent_task_id.is_some()) {
                    return Err(TaskError::Rejected(
                        "Subtasks cannot have children (max 2-level hierarchy: project → task → subtask)"
                            .into(),
                    ));
                }
            }
            let id = new_id("task");
            let now = now_iso();
            let started = (p.status.as_deref() == Some("in_progress")).then(|| now.clone());
            let completed =
                matches!(p.status.as_deref(), Some("completed" | "cancelled")).then(|| now.clone());
            conn.prepare_cached(
                "INSERT INTO tasks (id, project_id, parent_task_id, workspace_id, area_id, title, description,
                    active_form, status, priority, source, tags, due_date, deferred_until, estimated_minutes,
                    created_by_session_id, last_session_id, last_session_at, created_at, updated_at,
                    started_at, completed_at, sort_order)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?17, ?17, ?17,
                    ?18, ?19,
                    (SELECT COALESCE(MAX(sort_order), 0) + 1 FROM tasks WHERE project_id IS ?2 AND parent_task_id IS ?3))",
            )?
            .execute(params![
                id,
                p.project_id,
                p.parent_task_id,
                p.workspace_id,
                p.area_id,
                p.title,
                p.description,
                p.active_form,
                status,
                priority,
                source,
                rows::tags_json(p.tags.as_deref().unwrap_or_default()),
                p.due_date,
                p.deferred_until,
                p.estimated_minutes.as_ref().map_or(Sql::Null, rows::to_sql),
                p.session_id,
                now,
                started,
                completed,
            ])?;
            let detail = format!("Created: {}", p.title);
            log(conn, &id, p.session_id.as_deref(), "created", None, None, Some(&detail), None)?;
            get(conn, &id)?.ok_or_else(|| not_found(&id))
        })
    }

    /// The task `id`, if any.
    pub fn task(&self, id: &str) -> TaskResult<Option<Task>> {
        get(self.connection(), id)
    }

    /// The task with its subtasks, dependencies and recent activity (`tasks.get`).
    pub fn task_details(&self, id: &str) -> TaskResult<Option<TaskWithDetails>> {
        let conn = self.connection();
        get(conn, id)?.map(|t| details(conn, t)).transpose()
    }

    /// Updates a task (`Task not found: <id>` when missing); see [`TaskUpdate`].
    pub fn update_task(&self, id: &str, p: &TaskUpdate) -> TaskResult<Task> {
        tx(self, |conn| update_task(conn, id, p))
    }

    /// The tool's `update`: the field update, then the dependency edits, all or nothing.
    /// Returns the task as the field update left it.
    pub fn update_task_with_dependencies(
        &self,
        id: &str,
        p: &TaskUpdate,
        deps: &DependencyEdits,
    ) -> TaskResult<Task> {
        tx(self, |conn| {
            let task = update_task(conn, id, p)?;
            for blocked in &deps.add_blocks {
                add_dependency(conn, id, blocked)?;
            }
            for blocker in &deps.add_blocked_by {
                add_dependency(conn, blocker, id)?;
            }
            for blocked in &deps.remove_blocks {
                remove_dependency(conn, id, blocked)?;
            }
            for blocker in &deps.remove_blocked_by {
                remove_dependency(conn, blocker, id)?;
            }
            Ok(task)
        })
    }

    /// Makes `blocker` block `blocked` (`Circular dependency detected` when it would close a
    /// cycle); adding an existing edge again changes nothing but the activity log.
    pub fn add_task_dependency(&self, blocker: &str, blocked: &str) -> TaskResult<()> {
        tx(self, |conn| add_dependency(conn, blocker, blocked))
    }

    /// Removes the edge `blocker` -> `blocked`, if present.
    pub fn remove_task_dependency(&self, blocker: &str, blocked: &str) -> TaskResult<()> {
        tx(self, |conn| remove_dependency(conn, blocker, blocked))
    }

    /// Deletes a task (its subtasks, dependencies and activity go with it); whether it existed.
    pub fn delete_task(&self, id: &str) -> TaskResult<bool> {
        tx(self, |conn| {
            let Some(task) = get(conn, id)? else { return Ok(false) };
            let detail = format!("Deleted: {}", task.title);
            log(conn, id, None, "deleted", None, None, Some(&detail), None)?;
            Ok(conn.prepare_cached("DELETE FROM tasks WHERE id = ?1")?.execute([id])? > 0)
        })
    }

    /// Adds `minutes` to the task's actual time, with a `time_logged` activity row.
    pub fn log_task_time(
        &self,
        id: &str,
        minutes: &Number,
        session: Option<&str>,
        note: Option<&str>,
    ) -> TaskResult<Task> {
        tx(self, |conn| {
            if get(conn, id)?.is_none() {
                return Err(not_found(id));
            }
            conn.prepare_cached(
                "UPDATE tasks SET actual_minutes = actual_minutes + ?1, updated_at = ?2 WHERE id = ?3",
            )?
            .execute(params![rows::to_sql(minutes), now_iso(), id])?;
            let detail = note.map_or_else(|| format!("Logged {minutes}min"), str::to_owned);
            log(conn, id, session, "time_logged", None, None, Some(&detail), Some(rows::to_sql(minutes)))?;
            get(conn, id)?.ok_or_else(|| not_found(id))
        })
    }

    /// The task's activity, newest first.
    pub fn task_activity(&self, id: &str, limit: usize) -> TaskResult<Vec<TaskActivity>> {
        activity(self.connection(), id, limit)
    }

    /// Tasks matching `filter`, by priority (critical first) then most recently updated.
    pub fn list_tasks(&self, filter: &TaskFilter, limit: usize, offset: usize) -> TaskResult<TaskList> {
        list(self.connection(), filter, limit, offset)
    }

    /// Full-text search over title, description, notes and tags (the query is FTS5 syntax,
    /// as upstream; a syntax error is an error).
    pub fn search_tasks(&self, query: &str, limit: usize) -> TaskResult<Vec<Task>> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT t.* FROM tasks t JOIN tasks_fts f ON f.task_id = t.id
                 WHERE tasks_fts MATCH ?1 ORDER BY rank LIMIT ?2",
            )?
            .query_map(params![query, limit as i64], rows::task)?
            .collect::<rusqlite::Result<_>>()?)
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

pub(super) fn list(conn: &Connection, f: &TaskFilter, limit: usize, offset: usize) -> TaskResult<TaskList> {
    let mut wheres: Vec<String> = Vec::new();
    let mut values: Vec<Sql> = Vec::new();
    if let Some(statuses) = &f.status {
        wheres.push(format!("status IN ({})", placeholders(statuses.len())));
        values.extend(statuses.iter().cloned().map(Sql::Text));
    } else {
        if !f.include_completed {
            wheres.push("status NOT IN ('completed', 'cancelled')".into());
        }
        if !f.include_backlog {
            wheres.push("status != 'backlog'".into());
        }
    }
    if !f.include_deferred {
        wheres.push("(deferred_until IS NULL OR deferred_until <= date('now'))".into());
    }
    if let Some(priorities) = &f.priority {
        wheres.push(format!("priority IN ({})", placeholders(priorities.len())));
        values.extend(priorities.iter().cloned().map(Sql::Text));
    }
    for tag in f.tags.iter().flatten() {
        wheres.push("EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = ?)".into());
        values.push(Sql::Text(tag.clone()));
    }
    for (col, v) in [("project_id", &f.project_id), ("workspace_id", &f.workspace_id)] {
        if let Some(v) = v {
            wheres.push(format!("{col} = ?"));
            values.push(rows::text(v.clone()));
        }
    }
    match &f.parent_task_id {
        Some(None) => wheres.push("parent_task_id IS NULL".into()),
        Some(Some(p)) => {
            wheres.push("parent_task_id = ?".into());
            values.push(Sql::Text(p.clone()));
        }
        None => {}
    }
    if let Some(v) = &f.area_id {
        wheres.push("area_id = ?".into());
        values.push(rows::text(v.clone()));
    }
    if let Some(d) = &f.due_before {
        wheres.push("due_date IS NOT NULL AND due_date <= ?".into());
        values.push(Sql::Text(d.clone()));
    }
    let clause = if wheres.is_empty() { String::new() } else { format!("WHERE {}", wheres.join(" AND ")) };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM tasks {clause}"),
        params_from_iter(values.iter()),
        |r| r.get(0),
    )?;
    values.push(Sql::Integer(limit as i64));
    values.push(Sql::Integer(offset as i64));
    let tasks = conn
        .prepare(&format!(
            "SELECT * FROM tasks {clause}
             ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2
                 WHEN 'low' THEN 3 END, updated_at DESC
             LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(values.iter()), rows::task)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(TaskList { tasks, total })
}

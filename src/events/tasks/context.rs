//! The task summary the model sees each run (the TypeScript `TaskContextBuilder`): in
//! progress / pending / blocked counts, the tasks in progress, active project progress,
//! active areas and overdue / deferred warnings. Across all workspaces, as upstream.

use rusqlite::Connection;

use super::{rows, truthy, AreaFilter, TaskResult};
use crate::events::EventStore;

fn count(conn: &Connection, sql: &str) -> TaskResult<i64> {
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

fn plural(n: i64, word: &str, always: bool) -> String {
    // `always`: plural whenever n != 1; otherwise only when n > 1 (the warnings line).
    let s = if (always && n != 1) || (!always && n > 1) { "s" } else { "" };
    format!("{n} {word}{s}")
}

/// The task summary for the system prompt, or `None` when there is nothing open (no task
/// in progress, pending or blocked, no active project with tasks, no active area).
/// Lines are joined with `\n`, without a heading or a trailing newline. A database error
/// is logged and gives `None` (the run goes on without the summary).
pub fn task_context(store: &EventStore) -> Option<String> {
    build(store).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "task context unavailable");
        None
    })
}

fn build(store: &EventStore) -> TaskResult<Option<String>> {
    let conn = store.connection();
    let in_progress = conn
        .prepare_cached("SELECT * FROM tasks WHERE status = 'in_progress' ORDER BY updated_at DESC")?
        .query_map([], rows::task)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let pending = count(
        conn,
        "SELECT COUNT(*) FROM tasks WHERE status = 'pending'
         AND (deferred_until IS NULL OR deferred_until <= date('now'))",
    )?;
    let overdue = count(
        conn,
        "SELECT COUNT(*) FROM tasks WHERE due_date IS NOT NULL AND due_date < date('now')
         AND status NOT IN ('completed', 'cancelled')",
    )?;
    let deferred = count(
        conn,
        "SELECT COUNT(*) FROM tasks WHERE deferred_until IS NOT NULL AND deferred_until > date('now')
         AND status NOT IN ('completed', 'cancelled')",
    )?;
    let blocked = count(
        conn,
        "SELECT COUNT(DISTINCT t.id) FROM tasks t
         JOIN task_dependencies d ON d.blocked_task_id = t.id
         JOIN tasks blocker ON blocker.id = d.blocker_task_id
         WHERE t.status NOT IN ('completed', 'cancelled') AND blocker.status NOT IN ('completed', 'cancelled')
           AND d.relationship = 'blocks'",
    )?;
    let projects = conn
        .prepare_cached(
            "SELECT p.title, SUM(CASE WHEN t.status IN ('completed', 'cancelled') THEN 1 ELSE 0 END) AS done,
                 COUNT(t.id) AS total
             FROM projects p JOIN tasks t ON t.project_id = p.id AND t.parent_task_id IS NULL
             WHERE p.status = 'active'
             GROUP BY p.id HAVING total > 0 ORDER BY p.updated_at DESC",
        )?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let areas =
        store.list_areas(&AreaFilter { status: Some("active".into()), workspace_id: None }, 100, 0)?.areas;

    if in_progress.is_empty() && pending == 0 && blocked == 0 && projects.is_empty() && areas.is_empty() {
        return Ok(None);
    }
    let mut lines: Vec<String> = Vec::new();
    let counts: Vec<String> =
        [(in_progress.len() as i64, "in progress"), (pending, "pending"), (blocked, "blocked")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
    if !counts.is_empty() {
        lines.push(format!("Active: {}", counts.join(", ")));
    }
    if !in_progress.is_empty() {
        lines.push("In Progress:".into());
        for t in &in_progress {
            let mut meta = Vec::new();
            if t.priority != "medium" {
                meta.push(format!("P:{}", t.priority));
            }
            if let Some(est) = t.estimated_minutes.as_ref().filter(|n| truthy(n)) {
                meta.push(format!("{}/{est}min", t.actual_minutes));
            }
            if let Some(due) = t.due_date.as_deref().filter(|d| !d.is_empty()) {
                meta.push(format!("due:{due}"));
            }
            let suffix = if meta.is_empty() { String::new() } else { format!(" ({})", meta.join(", ")) };
            lines.push(format!("  - [{}] {}{suffix}", t.id, t.title));
        }
    }
    if !projects.is_empty() {
        let parts: Vec<String> = projects.iter().map(|(t, d, n)| format!("{t} ({d}/{n})")).collect();
        lines.push(format!("Projects: {}", parts.join(", ")));
    }
    if !areas.is_empty() {
        lines.push("Areas:".into());
        for a in &areas {
            let desc = a
                .area
                .description
                .as_deref()
                .filter(|d| !d.is_empty())
                .map_or(String::new(), |d| format!(" — {d}"));
            let mut meta = Vec::new();
            if a.task_count > 0 {
                meta.push(plural(a.active_task_count, "active task", true));
            }
            if a.project_count > 0 {
                meta.push(plural(a.project_count, "project", true));
            }
            let suffix = if meta.is_empty() { String::new() } else { format!(" ({})", meta.join(", ")) };
            lines.push(format!("  - {}{desc}{suffix}", a.area.title));
        }
    }
    let mut warnings = Vec::new();
    if overdue > 0 {
        warnings.push(format!("{} overdue", plural(overdue, "task", false)));
    }
    if deferred > 0 {
        warnings.push(format!("{} deferred", plural(deferred, "task", false)));
    }
    if !warnings.is_empty() {
        lines.push(warnings.join(" | "));
    }
    Ok(Some(lines.join("\n")))
}

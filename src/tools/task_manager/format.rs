//! The TypeScript tool's entity snapshots: TaskDetail, ProjectDetail, AreaDetail.

use crate::events::tasks::{self, AreaWithCounts, ProjectWithDetails, TaskError, TaskWithDetails};
use crate::events::EventStore;

fn mark(status: &str) -> char {
    match status {
        "completed" => 'x',
        "in_progress" => '>',
        _ => ' ',
    }
}

fn plural(n: i64, word: &str) -> String {
    format!("{n} {word}{}", if n != 1 { "s" } else { "" })
}

/// The task snapshot (TaskDetail).
pub(super) fn task_detail(store: &EventStore, d: &TaskWithDetails) -> Result<String, TaskError> {
    let t = &d.task;
    let some = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let mut lines = vec![
        format!("# {}", t.title),
        format!("ID: {} | Status: {} | Priority: {}", t.id, t.status, t.priority),
    ];
    if let Some(desc) = some(&t.description) {
        lines.push(format!("\n{desc}"));
    }
    if let Some(form) = some(&t.active_form) {
        lines.push(format!("Active form: {form}"));
    }
    if let Some(pid) = some(&t.project_id) {
        lines.push(match store.project_details(&pid)? {
            Some(p) => format!("Project: {} ({})", p.project.project.title, p.project.project.id),
            None => format!("Project: {pid}"),
        });
    }
    if let Some(aid) = some(&t.area_id) {
        lines.push(match store.area_with_counts(&aid)? {
            Some(a) => format!("Area: {} ({})", a.area.title, a.area.id),
            None => format!("Area: {aid}"),
        });
    }
    if let Some(p) = some(&t.parent_task_id) {
        lines.push(format!("Parent: {p}"));
    }
    if let Some(d) = some(&t.due_date) {
        lines.push(format!("Due: {d}"));
    }
    if let Some(d) = some(&t.deferred_until) {
        lines.push(format!("Deferred until: {d}"));
    }
    if let Some(est) = t.estimated_minutes.as_ref().filter(|n| tasks::truthy(n)) {
        lines.push(format!("Time: {}/{est}min", t.actual_minutes));
    }
    if !t.tags.is_empty() {
        lines.push(format!("Tags: {}", t.tags.join(", ")));
    }
    lines.push(format!("Source: {}", t.source));
    if let Some(s) = some(&t.started_at) {
        lines.push(format!("Started: {s}"));
    }
    if let Some(c) = some(&t.completed_at) {
        lines.push(format!("Completed: {c}"));
    }
    lines.push(format!("Created: {}", t.created_at));
    lines.push(format!("Updated: {}", t.updated_at));
    if let Some(n) = some(&t.notes) {
        lines.push(format!("\nNotes:\n{n}"));
    }
    if !d.subtasks.is_empty() {
        lines.push(format!("\nSubtasks ({}):", d.subtasks.len()));
        lines.extend(d.subtasks.iter().map(|s| format!("  [{}] {}: {}", mark(&s.status), s.id, s.title)));
    }
    if !d.blocked_by.is_empty() {
        let ids: Vec<&str> = d.blocked_by.iter().map(|x| x.blocker_task_id.as_str()).collect();
        lines.push(format!("\nBlocked by: {}", ids.join(", ")));
    }
    if !d.blocks.is_empty() {
        let ids: Vec<&str> = d.blocks.iter().map(|x| x.blocked_task_id.as_str()).collect();
        lines.push(format!("Blocks: {}", ids.join(", ")));
    }
    if !d.recent_activity.is_empty() {
        lines.push("\nRecent activity:".into());
        for a in d.recent_activity.iter().take(5) {
            let day = a.timestamp.split('T').next().unwrap_or_default();
            let detail =
                a.detail.as_deref().filter(|s| !s.is_empty()).map_or(String::new(), |d| format!(" - {d}"));
            lines.push(format!("  {day}: {}{detail}", a.action));
        }
    }
    Ok(lines.join("\n"))
}

/// The project snapshot (ProjectDetail).
pub(super) fn project_detail(d: &ProjectWithDetails) -> String {
    let p = &d.project.project;
    let mut lines = vec![
        format!("# {}", p.title),
        format!(
            "ID: {} | Status: {} | {}/{} tasks",
            p.id, p.status, d.project.completed_task_count, d.project.task_count
        ),
    ];
    if let Some(desc) = p.description.as_deref().filter(|s| !s.is_empty()) {
        lines.push(format!("\n{desc}"));
    }
    if let Some(a) = &d.area {
        lines.push(format!("Area: {} ({})", a.title, a.id));
    }
    if !p.tags.is_empty() {
        lines.push(format!("Tags: {}", p.tags.join(", ")));
    }
    lines.push(format!("Created: {}", p.created_at));
    lines.push(format!("Updated: {}", p.updated_at));
    if !d.tasks.is_empty() {
        lines.push(format!("\nTasks ({}):", d.tasks.len()));
        for t in &d.tasks {
            let priority = if t.priority != "medium" { format!(" [{}]", t.priority) } else { String::new() };
            lines.push(format!("  [{}] {}: {}{priority}", mark(&t.status), t.id, t.title));
        }
    }
    lines.join("\n")
}

/// The area snapshot (AreaDetail).
pub(super) fn area_detail(a: &AreaWithCounts) -> String {
    let mut lines = vec![
        format!("# {}", a.area.title),
        format!("ID: {} | Status: {}", a.area.id, a.area.status),
        format!(
            "{}, {} ({} active)",
            plural(a.project_count, "project"),
            plural(a.task_count, "task"),
            a.active_task_count
        ),
    ];
    if let Some(desc) = a.area.description.as_deref().filter(|s| !s.is_empty()) {
        lines.push(format!("\n{desc}"));
    }
    if !a.area.tags.is_empty() {
        lines.push(format!("Tags: {}", a.area.tags.join(", ")));
    }
    lines.push(format!("Created: {}", a.area.created_at));
    lines.push(format!("Updated: {}", a.area.updated_at));
    lines.join("\n")
}

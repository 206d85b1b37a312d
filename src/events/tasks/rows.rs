//! Row <-> domain mapping, and running an operation in one write transaction.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, Row};
use serde_json::{Number, Value};

use super::{Area, Project, Task, TaskActivity, TaskDependency, TaskError, TaskResult};
use crate::events::{EventStore, StoreError};

/// Runs `f` in one write transaction of `store`: its error rolls everything back.
pub(super) fn tx<T>(store: &EventStore, mut f: impl FnMut(&Connection) -> TaskResult<T>) -> TaskResult<T> {
    let mut failed: Option<TaskError> = None;
    let result = store.write(|conn| match f(conn) {
        Ok(v) => Ok(v),
        Err(TaskError::Store(e)) => Err(e),
        Err(other) => {
            failed = Some(other);
            Err(StoreError::Invalid("task operation failed".into()))
        }
    });
    match (result, failed) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(TaskError::Store(e)),
    }
}

/// A SQLite number as JSON (whole REALs become integers, as JavaScript prints them).
pub(super) fn number(v: Sql) -> Option<Number> {
    match v {
        Sql::Integer(i) => Some(i.into()),
        Sql::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some((f as i64).into()),
        Sql::Real(f) => Number::from_f64(f),
        Sql::Text(t) => {
            t.parse::<i64>().ok().map(Into::into).or_else(|| t.parse().ok().and_then(Number::from_f64))
        }
        _ => None,
    }
}

/// A JSON number as a SQLite value (integers stay integers).
pub(super) fn to_sql(n: &Number) -> Sql {
    match n.as_i64() {
        Some(i) => Sql::Integer(i),
        None => Sql::Real(n.as_f64().unwrap_or(0.0)),
    }
}

fn tags(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str::<Vec<String>>(&t).ok()).unwrap_or_default()
}

fn json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// A `tasks` row.
pub(super) fn task(r: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get("id")?,
        project_id: r.get("project_id")?,
        parent_task_id: r.get("parent_task_id")?,
        workspace_id: r.get("workspace_id")?,
        area_id: r.get("area_id")?,
        title: r.get("title")?,
        description: r.get("description")?,
        active_form: r.get("active_form")?,
        notes: r.get("notes")?,
        status: r.get("status")?,
        priority: r.get("priority")?,
        source: r.get("source")?,
        tags: tags(r.get("tags")?),
        due_date: r.get("due_date")?,
        deferred_until: r.get("deferred_until")?,
        started_at: r.get("started_at")?,
        completed_at: r.get("completed_at")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        estimated_minutes: number(r.get("estimated_minutes")?),
        actual_minutes: number(r.get("actual_minutes")?).unwrap_or_else(|| 0.into()),
        created_by_session_id: r.get("created_by_session_id")?,
        last_session_id: r.get("last_session_id")?,
        last_session_at: r.get("last_session_at")?,
        sort_order: number(r.get("sort_order")?).unwrap_or_else(|| 0.into()),
        metadata: json(r.get("metadata")?),
    })
}

/// A `projects` row.
pub(super) fn project(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get("id")?,
        workspace_id: r.get("workspace_id")?,
        area_id: r.get("area_id")?,
        title: r.get("title")?,
        description: r.get("description")?,
        status: r.get("status")?,
        tags: tags(r.get("tags")?),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        completed_at: r.get("completed_at")?,
        metadata: json(r.get("metadata")?),
    })
}

/// An `areas` row.
pub(super) fn area(r: &Row<'_>) -> rusqlite::Result<Area> {
    Ok(Area {
        id: r.get("id")?,
        workspace_id: r.get("workspace_id")?,
        title: r.get("title")?,
        description: r.get("description")?,
        status: r.get("status")?,
        tags: tags(r.get("tags")?),
        sort_order: number(r.get("sort_order")?).unwrap_or_else(|| 0.into()),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        metadata: json(r.get("metadata")?).unwrap_or_else(|| Value::Object(Default::default())),
    })
}

/// A `task_dependencies` row.
pub(super) fn dependency(r: &Row<'_>) -> rusqlite::Result<TaskDependency> {
    Ok(TaskDependency {
        blocker_task_id: r.get("blocker_task_id")?,
        blocked_task_id: r.get("blocked_task_id")?,
        relationship: r.get("relationship")?,
        created_at: r.get("created_at")?,
    })
}

/// A `task_activity` row.
pub(super) fn activity(r: &Row<'_>) -> rusqlite::Result<TaskActivity> {
    Ok(TaskActivity {
        id: r.get("id")?,
        task_id: r.get("task_id")?,
        session_id: r.get("session_id")?,
        event_id: r.get("event_id")?,
        action: r.get("action")?,
        old_value: r.get("old_value")?,
        new_value: r.get("new_value")?,
        detail: r.get("detail")?,
        minutes_logged: number(r.get("minutes_logged")?),
        timestamp: r.get("timestamp")?,
    })
}

/// `UPDATE <table> SET <col> = ?, ..., updated_at = <now> WHERE id = ?` (nothing when
/// `sets` is empty).
pub(super) fn update(conn: &Connection, table: &str, id: &str, sets: Vec<(&str, Sql)>) -> TaskResult<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let mut clauses: Vec<String> = sets.iter().map(|(c, _)| format!("{c} = ?")).collect();
    clauses.push("updated_at = ?".into());
    let mut values: Vec<Sql> = sets.into_iter().map(|(_, v)| v).collect();
    values.push(Sql::Text(crate::events::now_iso()));
    values.push(Sql::Text(id.to_owned()));
    conn.execute(
        &format!("UPDATE {table} SET {} WHERE id = ?", clauses.join(", ")),
        rusqlite::params_from_iter(values),
    )?;
    Ok(())
}

/// A string option as SQL.
pub(super) fn text(v: Option<String>) -> Sql {
    v.map_or(Sql::Null, Sql::Text)
}

/// A list of tags as its JSON text.
pub(super) fn tags_json(tags: &[String]) -> Sql {
    Sql::Text(serde_json::to_string(tags).unwrap_or_else(|_| "[]".into()))
}

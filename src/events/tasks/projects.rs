//! Project and area operations on [`EventStore`].

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::rows::{self, tx};
use super::{
    check_enum, new_id, repo, Area, AreaFilter, AreaList, AreaUpdate, AreaWithCounts, NewArea, NewProject,
    Project, ProjectFilter, ProjectList, ProjectUpdate, ProjectWithDetails, ProjectWithProgress, TaskError,
    TaskFilter, TaskResult, AREA_STATUSES, PROJECT_STATUSES,
};
use crate::events::{now_iso, EventStore};

fn get_project(conn: &Connection, id: &str) -> TaskResult<Option<Project>> {
    Ok(conn
        .prepare_cached("SELECT * FROM projects WHERE id = ?1")?
        .query_row([id], rows::project)
        .optional()?)
}

fn get_area(conn: &Connection, id: &str) -> TaskResult<Option<Area>> {
    Ok(conn.prepare_cached("SELECT * FROM areas WHERE id = ?1")?.query_row([id], rows::area).optional()?)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn list_projects(
    conn: &Connection,
    f: &ProjectFilter,
    limit: usize,
    offset: usize,
) -> TaskResult<ProjectList> {
    let mut wheres: Vec<String> = Vec::new();
    let mut values: Vec<Sql> = Vec::new();
    if let Some(s) = &f.status {
        wheres.push(format!("p.status IN ({})", placeholders(s.len())));
        values.extend(s.iter().cloned().map(Sql::Text));
    }
    if let Some(ws) = &f.workspace_id {
        wheres.push("p.workspace_id = ?".into());
        values.push(Sql::Text(ws.clone()));
    }
    if let Some(a) = &f.area_id {
        wheres.push("p.area_id = ?".into());
        values.push(rows::text(a.clone()));
    }
    let clause = if wheres.is_empty() { String::new() } else { format!("WHERE {}", wheres.join(" AND ")) };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM projects p {clause}"),
        params_from_iter(values.iter()),
        |r| r.get(0),
    )?;
    values.push(Sql::Integer(limit as i64));
    values.push(Sql::Integer(offset as i64));
    let projects = conn
        .prepare(&format!(
            "SELECT p.*, COUNT(t.id) AS task_count,
                 COALESCE(SUM(CASE WHEN t.status IN ('completed', 'cancelled') THEN 1 ELSE 0 END), 0)
                     AS completed_task_count
             FROM projects p
             LEFT JOIN tasks t ON t.project_id = p.id AND t.parent_task_id IS NULL
             {clause}
             GROUP BY p.id
             ORDER BY p.updated_at DESC
             LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(values.iter()), |r| {
            Ok(ProjectWithProgress {
                project: rows::project(r)?,
                task_count: r.get("task_count")?,
                completed_task_count: r.get("completed_task_count")?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ProjectList { projects, total })
}

fn list_areas(conn: &Connection, f: &AreaFilter, limit: usize, offset: usize) -> TaskResult<AreaList> {
    let mut wheres: Vec<&str> = Vec::new();
    let mut values: Vec<Sql> = Vec::new();
    if let Some(s) = &f.status {
        wheres.push("a.status = ?");
        values.push(Sql::Text(s.clone()));
    }
    if let Some(ws) = &f.workspace_id {
        wheres.push("a.workspace_id = ?");
        values.push(Sql::Text(ws.clone()));
    }
    let clause = if wheres.is_empty() { String::new() } else { format!("WHERE {}", wheres.join(" AND ")) };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM areas a {clause}"),
        params_from_iter(values.iter()),
        |r| r.get(0),
    )?;
    values.push(Sql::Integer(limit as i64));
    values.push(Sql::Integer(offset as i64));
    let areas = conn
        .prepare(&format!(
            "SELECT a.*,
                 (SELECT COUNT(*) FROM projects p WHERE p.area_id = a.id) AS project_count,
                 (SELECT COUNT(*) FROM tasks t WHERE t.area_id = a.id) AS task_count,
                 (SELECT COUNT(*) FROM tasks t WHERE t.area_id = a.id
                     AND t.status NOT IN ('completed', 'cancelled')) AS active_task_count
             FROM areas a {clause}
             ORDER BY a.sort_order ASC, a.updated_at DESC
             LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(values.iter()), |r| {
            Ok(AreaWithCounts {
                area: rows::area(r)?,
                project_count: r.get("project_count")?,
                task_count: r.get("task_count")?,
                active_task_count: r.get("active_task_count")?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(AreaList { areas, total })
}

fn area_with_counts(conn: &Connection, id: &str) -> TaskResult<Option<AreaWithCounts>> {
    Ok(list_areas(conn, &AreaFilter::default(), usize::MAX >> 1, 0)?
        .areas
        .into_iter()
        .find(|a| a.area.id == id))
}

fn project_details(conn: &Connection, id: &str) -> TaskResult<Option<ProjectWithDetails>> {
    let all = list_projects(conn, &ProjectFilter::default(), usize::MAX >> 1, 0)?;
    let Some(project) = all.projects.into_iter().find(|p| p.project.id == id) else { return Ok(None) };
    let filter = TaskFilter {
        project_id: Some(Some(id.to_owned())),
        include_completed: true,
        include_backlog: true,
        ..Default::default()
    };
    let tasks = repo::list(conn, &filter, 1000, 0)?.tasks;
    let area = match &project.project.area_id {
        Some(a) => get_area(conn, a)?,
        None => None,
    };
    Ok(Some(ProjectWithDetails { project, tasks, area }))
}

impl EventStore {
    /// Creates an `active` project.
    pub fn create_project(&self, p: &NewProject) -> TaskResult<Project> {
        tx(self, |conn| {
            let id = new_id("proj");
            let now = now_iso();
            conn.prepare_cached(
                "INSERT INTO projects (id, workspace_id, area_id, title, description, status, tags, created_at,
                    updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?7)",
            )?
            .execute(params![
                id,
                p.workspace_id,
                p.area_id,
                p.title,
                p.description,
                rows::tags_json(p.tags.as_deref().unwrap_or_default()),
                now
            ])?;
            get_project(conn, &id)?.ok_or_else(|| TaskError::Rejected(format!("Project not found: {id}")))
        })
    }

    /// The project `id`, if any.
    pub fn project(&self, id: &str) -> TaskResult<Option<Project>> {
        get_project(self.connection(), id)
    }

    /// The project with its progress, its tasks (completed and backlog included) and area.
    pub fn project_details(&self, id: &str) -> TaskResult<Option<ProjectWithDetails>> {
        project_details(self.connection(), id)
    }

    /// Updates a project (`Project not found: <id>` when missing); `completed` sets
    /// `completed_at`.
    pub fn update_project(&self, id: &str, p: &ProjectUpdate) -> TaskResult<Project> {
        if let Some(Some(s)) = &p.status {
            check_enum("status", s, PROJECT_STATUSES)?;
        }
        tx(self, |conn| {
            let not_found = || TaskError::Rejected(format!("Project not found: {id}"));
            get_project(conn, id)?.ok_or_else(not_found)?;
            let mut sets: Vec<(&str, Sql)> = Vec::new();
            if let Some(v) = &p.title {
                sets.push(("title", rows::text(v.clone())));
            }
            if let Some(v) = &p.description {
                sets.push(("description", rows::text(v.clone())));
            }
            if let Some(v) = &p.status {
                sets.push(("status", rows::text(v.clone())));
                if v.as_deref() == Some("completed") {
                    sets.push(("completed_at", Sql::Text(now_iso())));
                }
            }
            if let Some(t) = &p.tags {
                sets.push(("tags", rows::tags_json(t)));
            }
            if let Some(v) = &p.area_id {
                sets.push(("area_id", rows::text(v.clone())));
            }
            rows::update(conn, "projects", id, sets)?;
            get_project(conn, id)?.ok_or_else(not_found)
        })
    }

    /// Deletes a project; its tasks stay, without a project. Whether it existed.
    pub fn delete_project(&self, id: &str) -> TaskResult<bool> {
        tx(self, |conn| {
            conn.prepare_cached("UPDATE tasks SET project_id = NULL WHERE project_id = ?1")?.execute([id])?;
            Ok(conn.prepare_cached("DELETE FROM projects WHERE id = ?1")?.execute([id])? > 0)
        })
    }

    /// Projects matching `filter`, most recently updated first, with task counts.
    pub fn list_projects(
        &self,
        filter: &ProjectFilter,
        limit: usize,
        offset: usize,
    ) -> TaskResult<ProjectList> {
        list_projects(self.connection(), filter, limit, offset)
    }

    /// Creates an `active` area at the end of the sort order (`Area title is required`
    /// for a blank title).
    pub fn create_area(&self, p: &NewArea) -> TaskResult<Area> {
        if p.title.trim().is_empty() {
            return Err(TaskError::Rejected("Area title is required".into()));
        }
        tx(self, |conn| {
            let id = new_id("area");
            let now = now_iso();
            let metadata = p.metadata.clone().unwrap_or_else(|| serde_json::json!({}));
            conn.prepare_cached(
                "INSERT INTO areas (id, workspace_id, title, description, status, tags, sort_order, created_at,
                    updated_at, metadata)
                 VALUES (?1, ?2, ?3, ?4, 'active', ?5, (SELECT COALESCE(MAX(sort_order), 0) + 1 FROM areas),
                    ?6, ?6, ?7)",
            )?
            .execute(params![
                id,
                p.workspace_id.as_deref().unwrap_or("default"),
                p.title,
                p.description,
                rows::tags_json(p.tags.as_deref().unwrap_or_default()),
                now,
                metadata.to_string(),
            ])?;
            get_area(conn, &id)?.ok_or_else(|| TaskError::Rejected(format!("Area not found: {id}")))
        })
    }

    /// The area `id`, if any.
    pub fn area(&self, id: &str) -> TaskResult<Option<Area>> {
        get_area(self.connection(), id)
    }

    /// The area with its project and task counts.
    pub fn area_with_counts(&self, id: &str) -> TaskResult<Option<AreaWithCounts>> {
        area_with_counts(self.connection(), id)
    }

    /// Updates an area (`Area not found: <id>` when missing).
    pub fn update_area(&self, id: &str, p: &AreaUpdate) -> TaskResult<Area> {
        if let Some(Some(s)) = &p.status {
            check_enum("status", s, AREA_STATUSES)?;
        }
        tx(self, |conn| {
            let not_found = || TaskError::Rejected(format!("Area not found: {id}"));
            get_area(conn, id)?.ok_or_else(not_found)?;
            let mut sets: Vec<(&str, Sql)> = Vec::new();
            if let Some(v) = &p.title {
                sets.push(("title", rows::text(v.clone())));
            }
            if let Some(v) = &p.description {
                sets.push(("description", rows::text(v.clone())));
            }
            if let Some(v) = &p.status {
                sets.push(("status", rows::text(v.clone())));
            }
            if let Some(t) = &p.tags {
                sets.push(("tags", rows::tags_json(t)));
            }
            if let Some(v) = &p.sort_order {
                sets.push(("sort_order", v.as_ref().map_or(Sql::Null, rows::to_sql)));
            }
            if let Some(v) = &p.metadata {
                let text = v.as_ref().map_or_else(|| "{}".to_owned(), |m| m.to_string());
                sets.push(("metadata", Sql::Text(text)));
            }
            rows::update(conn, "areas", id, sets)?;
            get_area(conn, id)?.ok_or_else(not_found)
        })
    }

    /// Deletes an area (its projects and tasks lose the link). Whether it existed.
    pub fn delete_area(&self, id: &str) -> TaskResult<bool> {
        tx(self, |conn| Ok(conn.prepare_cached("DELETE FROM areas WHERE id = ?1")?.execute([id])? > 0))
    }

    /// Areas matching `filter`, by sort order, with counts.
    pub fn list_areas(&self, filter: &AreaFilter, limit: usize, offset: usize) -> TaskResult<AreaList> {
        list_areas(self.connection(), filter, limit, offset)
    }
}

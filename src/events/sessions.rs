//! Sessions and workspaces: rows, creation, listing and the cached counters.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::core::{EventId, SessionId, WorkspaceId};

use super::error::Result;

/// One workspace (a working directory that sessions run in).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: WorkspaceId,
    pub path: String,
    pub name: Option<String>,
    pub created_at: String,
    pub last_activity_at: String,
}

/// One row of `sessions`, with the counters the store keeps up to date.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub id: SessionId,
    pub workspace_id: WorkspaceId,
    pub head_event_id: Option<EventId>,
    pub root_event_id: Option<EventId>,
    pub title: Option<String>,
    pub latest_model: String,
    pub working_directory: String,
    pub parent_session_id: Option<SessionId>,
    pub fork_from_event_id: Option<EventId>,
    pub created_at: String,
    pub last_activity_at: String,
    /// When the session was archived (`archived_at`, or `ended_at` in older databases).
    pub archived_at: Option<String>,
    pub event_count: i64,
    pub message_count: i64,
    pub turn_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub last_turn_input_tokens: i64,
    pub total_cost: f64,
    pub total_cache_read_tokens: i64,
    pub total_cache_creation_tokens: i64,
    pub tags: Vec<String>,
    pub spawning_session_id: Option<SessionId>,
    pub spawn_type: Option<String>,
    pub spawn_task: Option<String>,
}

/// Which column marks an archived session in this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveColumn {
    ArchivedAt,
    EndedAt,
}

impl ArchiveColumn {
    /// Reads the schema: `archived_at` in current databases, `ended_at` in older ones.
    pub fn detect(conn: &Connection) -> Result<Self> {
        let mut stmt =
            conn.prepare("SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'archived_at'")?;
        Ok(if stmt.exists([])? { Self::ArchivedAt } else { Self::EndedAt })
    }

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ArchivedAt => "archived_at",
            Self::EndedAt => "ended_at",
        }
    }
}

/// Filters and order for [`super::EventStore::list_sessions`].
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only sessions of this workspace.
    pub workspace_id: Option<WorkspaceId>,
    /// Only sessions whose working directory is exactly this.
    pub working_directory: Option<String>,
    /// Include archived sessions too.
    pub include_archived: bool,
    /// Include sessions spawned as subagents.
    pub include_subagents: bool,
    /// At most this many (newest activity first).
    pub limit: Option<usize>,
    /// Skip this many.
    pub offset: usize,
}

pub(crate) fn session_columns(archive: ArchiveColumn) -> String {
    format!(
        "id, workspace_id, head_event_id, root_event_id, title, latest_model, working_directory, \
         parent_session_id, fork_from_event_id, created_at, last_activity_at, {}, \
         COALESCE(event_count,0), COALESCE(message_count,0), COALESCE(turn_count,0), \
         COALESCE(total_input_tokens,0), COALESCE(total_output_tokens,0), \
         COALESCE(last_turn_input_tokens,0), COALESCE(total_cost,0), \
         COALESCE(total_cache_read_tokens,0), COALESCE(total_cache_creation_tokens,0), \
         tags, spawning_session_id, spawn_type, spawn_task",
        archive.name()
    )
}

pub(crate) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    let tags: Option<String> = row.get(21)?;
    Ok(SessionRow {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        head_event_id: row.get(2)?,
        root_event_id: row.get(3)?,
        title: row.get(4)?,
        latest_model: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
        working_directory: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
        parent_session_id: row.get(7)?,
        fork_from_event_id: row.get(8)?,
        created_at: row.get(9)?,
        last_activity_at: row.get(10)?,
        archived_at: row.get(11)?,
        event_count: row.get(12)?,
        message_count: row.get(13)?,
        turn_count: row.get(14)?,
        total_input_tokens: row.get(15)?,
        total_output_tokens: row.get(16)?,
        last_turn_input_tokens: row.get(17)?,
        total_cost: row.get(18)?,
        total_cache_read_tokens: row.get(19)?,
        total_cache_creation_tokens: row.get(20)?,
        tags: tags.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        spawning_session_id: row.get(22)?,
        spawn_type: row.get(23)?,
        spawn_task: row.get(24)?,
    })
}

pub(crate) fn get(conn: &Connection, archive: ArchiveColumn, id: &str) -> Result<Option<SessionRow>> {
    let sql = format!("SELECT {} FROM sessions WHERE id = ?1", session_columns(archive));
    Ok(conn.prepare_cached(&sql)?.query_row([id], session_from_row).optional()?)
}

pub(crate) fn list(conn: &Connection, archive: ArchiveColumn, opts: &ListOptions) -> Result<Vec<SessionRow>> {
    let mut sql = format!("SELECT {} FROM sessions WHERE 1=1", session_columns(archive));
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    if let Some(ws) = &opts.workspace_id {
        sql.push_str(" AND workspace_id = ?");
        args.push(Box::new(ws.clone()));
    }
    if let Some(dir) = &opts.working_directory {
        sql.push_str(" AND working_directory = ?");
        args.push(Box::new(dir.clone()));
    }
    if !opts.include_archived {
        sql.push_str(&format!(" AND {} IS NULL", archive.name()));
    }
    if !opts.include_subagents {
        sql.push_str(" AND spawning_session_id IS NULL");
    }
    sql.push_str(" ORDER BY last_activity_at DESC, id LIMIT ? OFFSET ?");
    args.push(Box::new(opts.limit.map_or(-1, |l| l as i64)));
    args.push(Box::new(opts.offset as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), session_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Finds the workspace for `path` or creates it (name = last path segment).
pub(crate) fn workspace_for_path(conn: &Connection, path: &str, now: &str) -> Result<Workspace> {
    let existing = conn
        .prepare_cached(
            "SELECT id, path, name, created_at, last_activity_at FROM workspaces WHERE path = ?1",
        )?
        .query_row([path], workspace_from_row)
        .optional()?;
    if let Some(ws) = existing {
        return Ok(ws);
    }
    let ws = Workspace {
        id: WorkspaceId::new(),
        path: path.to_owned(),
        name: Some(path.rsplit('/').next().unwrap_or_default().to_owned()),
        created_at: now.to_owned(),
        last_activity_at: now.to_owned(),
    };
    conn.prepare_cached(
        "INSERT INTO workspaces (id, path, name, created_at, last_activity_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ws.id, ws.path, ws.name, ws.created_at, ws.last_activity_at])?;
    Ok(ws)
}

fn workspace_from_row(row: &Row<'_>) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: row.get(0)?,
        path: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
        last_activity_at: row.get(4)?,
    })
}

/// What one append (or batch) adds to a session's cached counters.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct CounterDelta {
    pub events: i64,
    pub messages: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_creation_tokens: i64,
    pub last_turn_input_tokens: Option<i64>,
    pub cost: f64,
    /// The model a `config.model_switch` switched to.
    pub latest_model: Option<String>,
}

/// Moves the head and applies the counter deltas in one statement.
pub(crate) fn advance(
    conn: &Connection,
    session: &str,
    head: &str,
    now: &str,
    d: &CounterDelta,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET head_event_id = ?2, last_activity_at = ?3,
            event_count = COALESCE(event_count,0) + ?4,
            message_count = COALESCE(message_count,0) + ?5,
            total_input_tokens = COALESCE(total_input_tokens,0) + ?6,
            total_output_tokens = COALESCE(total_output_tokens,0) + ?7,
            total_cache_read_tokens = COALESCE(total_cache_read_tokens,0) + ?8,
            total_cache_creation_tokens = COALESCE(total_cache_creation_tokens,0) + ?9,
            last_turn_input_tokens = COALESCE(?10, last_turn_input_tokens),
            total_cost = COALESCE(total_cost,0) + ?11,
            latest_model = COALESCE(?12, latest_model)
         WHERE id = ?1",
    )?
    .execute(params![
        session,
        head,
        now,
        d.events,
        d.messages,
        d.input_tokens,
        d.output_tokens,
        d.cache_read_tokens,
        d.cache_creation_tokens,
        d.last_turn_input_tokens,
        d.cost,
        d.latest_model
    ])?;
    Ok(())
}

//! [`EventStore`]: the one entry point to the event database.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, so the sequence number and the parent of
//! each appended event are decided while holding SQLite's write lock: two processes
//! appending to the same session form one chain with no gap and no duplicate. A lock held
//! elsewhere is waited for (busy timeout), retried a few times, and then reported as
//! [`StoreError::Locked`]. A failed write changes nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::core::{EventId, SessionId};

use super::db::{self, OpenMode};
use super::error::{Result, StoreError};

use super::rows::{self, event_from_row, EVENT_COLUMNS};
use super::sessions::{self, ArchiveColumn, CounterDelta, ListOptions, SessionRow};
use super::types::{EventPayload, EventType, SessionEvent};

/// How many times a write that found the database locked is retried (each attempt already
/// waits up to the busy timeout inside SQLite).
const LOCK_RETRIES: u32 = 3;

/// What a new session starts with (becomes its `session.start` event).
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// The working directory; its workspace is found or created by exact path.
    pub working_directory: String,
    /// The model id the session starts on.
    pub model: String,
    /// Provider name, when known.
    pub provider: Option<String>,
    /// Title, when known.
    pub title: Option<String>,
    /// Further fields for the `session.start` payload.
    pub extra: Map<String, Value>,
}

/// An event to append; ids, timestamp, sequence and workspace are filled in by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub payload: Value,
    /// The parent; by default the session head (or the previous event of the same batch).
    pub parent_id: Option<EventId>,
}

impl NewEvent {
    /// An event from its typed payload.
    pub fn new(payload: EventPayload) -> Self {
        let (event_type, payload) = payload.into_parts();
        Self { event_type, payload, parent_id: None }
    }

    /// An event from a type and a raw JSON payload (any type, including unknown ones).
    pub fn raw(event_type: impl Into<EventType>, payload: Value) -> Self {
        Self { event_type: event_type.into(), payload, parent_id: None }
    }

    /// Sets an explicit parent.
    pub fn with_parent(mut self, parent: EventId) -> Self {
        self.parent_id = Some(parent);
        self
    }
}

/// What [`EventStore::fork`] made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkResult {
    pub new_session_id: SessionId,
    pub root_event_id: EventId,
    pub forked_from_event_id: EventId,
    pub forked_from_session_id: SessionId,
}

/// The event database.
pub struct EventStore {
    conn: Connection,
    path: PathBuf,
    archive: ArchiveColumn,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore").field("path", &self.path).finish()
    }
}

/// Session state read at the start of an append, inside the write transaction.
struct Tip {
    workspace_id: String,
    head: Option<String>,
    head_depth: i64,
    last_sequence: i64,
}

impl EventStore {
    /// Opens (and migrates) the database at `path`.
    pub fn open(path: impl AsRef<Path>, mode: OpenMode) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = db::open(&path, mode)?;
        let archive = ArchiveColumn::detect(&conn)?;
        Ok(Self { conn, path, archive })
    }

    /// A private in-memory database (tests, benches).
    pub fn open_in_memory() -> Result<Self> {
        let conn = db::open_in_memory()?;
        let archive = ArchiveColumn::detect(&conn)?;
        Ok(Self { conn, path: PathBuf::from(":memory:"), archive })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which column marks archived sessions in this database.
    pub(crate) fn archive_column(&self) -> ArchiveColumn {
        self.archive
    }

    /// The underlying connection, for read-only inspection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one write transaction; retries when the database stays locked.
    pub(crate) fn write<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            match self.try_write(&mut f) {
                Err(e) if e.is_busy() && attempt < LOCK_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                }
                Err(e) if e.is_busy() => {
                    return Err(StoreError::Locked {
                        path: self.path.clone(),
                        waited_ms: (db::BUSY_TIMEOUT.as_millis() as u64) * u64::from(LOCK_RETRIES + 1),
                    })
                }
                other => return other,
            }
        }
    }

    fn try_write<T>(&self, f: &mut impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| db::classify(&self.path, e))?;
        match f(&self.conn) {
            Ok(v) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(db::classify(&self.path, e))
                }
            },
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(match e {
                    StoreError::Sqlite(inner) => db::classify(&self.path, inner),
                    other => other,
                })
            }
        }
    }

    // ----- sessions -------------------------------------------------------------------

    /// Creates a session (and its workspace when new) with its `session.start` root event.
    pub fn create_session(&self, new: NewSession) -> Result<(SessionRow, SessionEvent)> {
        if new.working_directory.is_empty() {
            return Err(StoreError::Invalid("a session needs a working directory".into()));
        }
        let root = self.write(|conn| {
            let now = super::now_iso();
            let ws = sessions::workspace_for_path(conn, &new.working_directory, &now)?;
            let id = SessionId::new();
            conn.prepare_cached(
                "INSERT INTO sessions (id, workspace_id, title, latest_model, working_directory,
                    created_at, last_activity_at, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, '[]')",
            )?
            .execute(params![id, ws.id, new.title, new.model, new.working_directory, now])?;
            let mut payload = Map::new();
            payload.insert("workingDirectory".into(), new.working_directory.clone().into());
            payload.insert("model".into(), new.model.clone().into());
            if let Some(p) = &new.provider {
                payload.insert("provider".into(), p.clone().into());
            }
            if let Some(t) = &new.title {
                payload.insert("title".into(), t.clone().into());
            }
            payload.extend(new.extra.clone());
            let root = SessionEvent {
                id: EventId::new(),
                parent_id: None,
                session_id: id.clone(),
                workspace_id: ws.id.clone(),
                timestamp: now.clone(),
                event_type: EventType::parse("session.start"),
                sequence: 0,
                checksum: None,
                payload: Value::Object(payload),
            };
            insert_event(conn, &root, 0)?;
            set_root(conn, &root, &now)?;
            Ok(root)
        })?;
        Ok((self.session(&root.session_id)?, root))
    }

    /// One session by id.
    pub fn session(&self, id: &str) -> Result<SessionRow> {
        sessions::get(&self.conn, self.archive, id)?.ok_or_else(|| StoreError::SessionNotFound(id.to_owned()))
    }

    /// Sessions, most recently active first.
    pub fn list_sessions(&self, opts: &ListOptions) -> Result<Vec<SessionRow>> {
        sessions::list(&self.conn, self.archive, opts)
    }

    /// Marks a session archived (or not); nothing is deleted.
    pub fn set_archived(&self, id: &str, archived: bool) -> Result<SessionRow> {
        let col = self.archive.name();
        self.write(|conn| {
            let now = super::now_iso();
            let sql = format!("UPDATE sessions SET {col} = ?2, last_activity_at = ?3 WHERE id = ?1");
            let changed = conn.execute(&sql, params![id, archived.then_some(&now), now])?;
            if changed == 0 {
                return Err(StoreError::SessionNotFound(id.to_owned()));
            }
            Ok(())
        })?;
        self.session(id)
    }

    /// Marks `id` as spawned by `spawning_session` (`spawn_type`: `subsession` for an
    /// in-process subagent) to do `task`, with `tags` (the TypeScript server's columns).
    pub fn set_spawn_info(
        &self,
        id: &str,
        spawning_session: &str,
        spawn_type: &str,
        task: &str,
        tags: &[&str],
    ) -> Result<SessionRow> {
        let tags = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
        self.write(|conn| {
            let changed = conn.execute(
                "UPDATE sessions SET spawning_session_id = ?2, spawn_type = ?3, spawn_task = ?4, tags = ?5
                 WHERE id = ?1",
                params![id, spawning_session, spawn_type, task, tags],
            )?;
            if changed == 0 {
                return Err(StoreError::SessionNotFound(id.to_owned()));
            }
            Ok(())
        })?;
        self.session(id)
    }

    // ----- appending -----------------------------------------------------------------

    /// Appends one event to a session and moves its head there.
    pub fn append(&self, session: &str, event: NewEvent) -> Result<SessionEvent> {
        let mut out = self.append_batch(session, std::slice::from_ref(&event))?;
        Ok(out.pop().expect("one event in, one event out"))
    }

    /// Appends events in one transaction, each (unless it names a parent) chained to the
    /// one before it. All or nothing.
    pub fn append_batch(&self, session: &str, events: &[NewEvent]) -> Result<Vec<SessionEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|conn| append_in(conn, session, events))
    }

    // ----- reading -------------------------------------------------------------------

    /// One event by id.
    pub fn event(&self, id: &str) -> Result<SessionEvent> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], event_from_row)
            .optional()?
            .ok_or_else(|| StoreError::EventNotFound(id.to_owned()))
    }

    /// Every event of a session, in sequence order (all branches, including events a
    /// rewind moved the head away from).
    pub fn events(&self, session: &str) -> Result<Vec<SessionEvent>> {
        self.events_since(session, -1, None)
    }

    /// Events of `event_type` in the workspace at `path` (every session), newest first.
    pub fn workspace_events(&self, path: &str, event_type: &str) -> Result<Vec<SessionEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE workspace_id IN (SELECT id FROM workspaces WHERE path = ?1) AND type = ?2
             ORDER BY timestamp DESC, sequence DESC"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![path, event_type], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Events of a session with a sequence greater than `after`, in order, at most `limit`.
    pub fn events_since(&self, session: &str, after: i64, limit: Option<usize>) -> Result<Vec<SessionEvent>> {
        self.session(session)?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![session, after, limit.map_or(-1, |l| l as i64)], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Text of a message content: a string as is; text blocks joined with no separator.
pub fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn append_in(conn: &Connection, session: &str, events: &[NewEvent]) -> Result<Vec<SessionEvent>> {
    let tip: Tip = conn
        .prepare_cached(
            "SELECT s.workspace_id, s.head_event_id,
                    COALESCE((SELECT depth FROM events WHERE id = s.head_event_id), 0),
                    COALESCE((SELECT MAX(sequence) FROM events WHERE session_id = s.id), -1)
             FROM sessions s WHERE s.id = ?1",
        )?
        .query_row([session], |r| {
            Ok(Tip {
                workspace_id: r.get(0)?,
                head: r.get(1)?,
                head_depth: r.get(2)?,
                last_sequence: r.get(3)?,
            })
        })
        .optional()?
        .ok_or_else(|| StoreError::SessionNotFound(session.to_owned()))?;
    let mut parent = tip.head.clone();
    let mut parent_depth = tip.head_depth;
    let mut delta = CounterDelta::default();
    let mut out = Vec::with_capacity(events.len());
    for (sequence, new) in (tip.last_sequence + 1..).zip(events) {
        let (parent_id, depth) = match &new.parent_id {
            Some(p) if Some(p.as_str()) == parent.as_deref() => (p.as_str().to_owned(), parent_depth + 1),
            Some(p) => {
                let d: i64 = conn
                    .prepare_cached("SELECT depth FROM events WHERE id = ?1")?
                    .query_row([p.as_str()], |r| r.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::EventNotFound(p.to_string()))?;
                (p.as_str().to_owned(), d + 1)
            }
            None => match &parent {
                Some(p) => (p.clone(), parent_depth + 1),
                None => {
                    return Err(StoreError::Invalid(format!(
                        "session {session} has no head event to append to"
                    )))
                }
            },
        };
        let event = SessionEvent {
            id: EventId::new(),
            parent_id: Some(EventId::from_raw(parent_id)),
            session_id: SessionId::from_raw(session),
            workspace_id: crate::core::WorkspaceId::from_raw(tip.workspace_id.as_str()),
            timestamp: super::now_iso(),
            event_type: new.event_type.clone(),
            sequence,
            checksum: None,
            payload: new.payload.clone(),
        };
        insert_event(conn, &event, depth)?;
        count(&mut delta, &event);
        parent = Some(event.id.as_str().to_owned());
        parent_depth = depth;
        out.push(event);
    }
    let head = out.last().map(|e| e.id.as_str()).unwrap_or_default();
    sessions::advance(
        conn,
        session,
        head,
        &out.last().map(|e| e.timestamp.clone()).unwrap_or_default(),
        &delta,
    )?;
    Ok(out)
}

/// What an event adds to its session's counters. Tokens are counted from message events
/// only and cost from an explicit `cost` number: the TypeScript store also adds the
/// `tokenUsage` of `stream.turn_end`, which counts every turn twice.
pub(crate) fn count(delta: &mut CounterDelta, event: &SessionEvent) {
    delta.events += 1;
    let t = event.event_type.as_str();
    if t == "message.user" || t == "message.assistant" {
        delta.messages += 1;
        if let Some(u) = event.payload.get("tokenUsage").filter(|u| u.is_object()) {
            let n = |k: &str| u.get(k).and_then(rows::as_i64).unwrap_or(0);
            delta.input_tokens += n("inputTokens");
            delta.output_tokens += n("outputTokens");
            delta.cache_read_tokens += n("cacheReadTokens");
            delta.cache_creation_tokens += n("cacheCreationTokens");
            let context = event
                .payload
                .pointer("/tokenRecord/computed/contextWindowTokens")
                .and_then(rows::as_i64)
                .unwrap_or_else(|| n("inputTokens"));
            if t == "message.assistant" {
                delta.last_turn_input_tokens = Some(context);
            }
        }
    }
    if let Some(cost) = event.payload.get("cost").and_then(Value::as_f64).filter(|c| c.is_finite()) {
        delta.cost += cost;
    }
    if t == "config.model_switch" {
        if let Some(model) = event.payload.get("newModel").and_then(Value::as_str) {
            delta.latest_model = Some(model.to_owned());
        }
    }
}

pub(crate) fn insert_event(conn: &Connection, e: &SessionEvent, depth: i64) -> Result<()> {
    let payload = serde_json::to_string(&e.payload)
        .map_err(|source| StoreError::Json { context: format!("payload of {}", e.event_type), source })?;
    let d = rows::derive(&e.event_type, &e.payload);
    conn.prepare_cached(
        "INSERT INTO events (id, session_id, parent_id, sequence, depth, type, timestamp, payload,
            workspace_id, role, tool_name, tool_call_id, turn, input_tokens, output_tokens,
            cache_read_tokens, cache_creation_tokens, checksum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        e.id,
        e.session_id,
        e.parent_id,
        e.sequence,
        depth,
        e.event_type.as_str(),
        e.timestamp,
        payload,
        e.workspace_id,
        d.role,
        d.tool_name,
        d.tool_call_id,
        d.turn,
        d.input_tokens,
        d.output_tokens,
        d.cache_read_tokens,
        d.cache_creation_tokens,
        e.checksum,
    ])?;
    super::search::index_extra(conn, e)?;
    Ok(())
}

pub(crate) fn set_root(conn: &Connection, root: &SessionEvent, now: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET root_event_id = ?2, head_event_id = ?2, last_activity_at = ?3,
            event_count = COALESCE(event_count,0) + 1 WHERE id = ?1",
    )?
    .execute(params![root.session_id, root.id, now])?;
    Ok(())
}

#[cfg(test)]
mod tests;

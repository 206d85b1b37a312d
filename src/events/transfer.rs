//! Export and import of sessions.
//!
//! JSON Lines is the interchange format: one [`SessionEvent`] per line in the TypeScript
//! JSON shape, in sequence order, exactly as stored. Import takes such a file (one or more
//! sessions, each session's events together, a fork's source session before the fork) and
//! writes it in a single transaction: a bad line is reported with its number and nothing is
//! imported. Session rows are rebuilt from the events (working directory, model and title
//! from the root event, the latest model switch, counters recounted, head = the session's
//! last event).

use std::collections::HashMap;
use std::io::BufRead;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::error::{Result, StoreError};
use super::sessions::{self, CounterDelta};
use super::store::{count, insert_event};
use super::types::SessionEvent;
use super::EventStore;

/// How many events an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub sessions: usize,
    pub events: usize,
}

/// Writes a session's events as JSON Lines.
pub fn write_jsonl(events: &[SessionEvent], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut *out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads JSON Lines into events; the error names the (1-based) line.
pub fn read_jsonl(input: impl BufRead) -> Result<Vec<SessionEvent>> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line =
            line.map_err(|source| StoreError::Io { context: format!("cannot read line {n}"), source })?;
        if line.trim().is_empty() {
            continue;
        }
        let event: SessionEvent = serde_json::from_str(&line)
            .map_err(|e| StoreError::Invalid(format!("line {n}: not an event: {e}")))?;
        events.push(event);
    }
    Ok(events)
}

impl EventStore {
    /// Imports events (see the module docs). `progress(done, total)` is called as it goes.
    pub fn import(
        &self,
        events: &[SessionEvent],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportSummary> {
        let total = events.len();
        self.write(|conn| {
            let mut summary = ImportSummary::default();
            let mut touched: HashMap<String, SessionState> = HashMap::new();
            for (i, e) in events.iter().enumerate() {
                let line = i + 1;
                let at = |msg: String| StoreError::Invalid(format!("line {line}: {msg}"));
                if !touched.contains_key(e.session_id.as_str()) {
                    if sessions::get(conn, self.archive_column(), &e.session_id)?.is_some() {
                        return Err(at(format!(
                            "session {} already exists in {}; nothing was imported",
                            e.session_id,
                            self.path().display()
                        )));
                    }
                    create_session_for(conn, e).map_err(&at)?;
                    touched.insert(e.session_id.as_str().to_owned(), SessionState::default());
                    summary.sessions += 1;
                }
                let depth = match &e.parent_id {
                    None => 0,
                    Some(p) => {
                        let d: Option<i64> = conn
                            .prepare_cached("SELECT depth FROM events WHERE id = ?1")?
                            .query_row([p.as_str()], |r| r.get(0))
                            .optional()?;
                        d.ok_or_else(|| {
                            at(format!(
                                "event {} has parent {p}, which is neither earlier in the file nor in the database \
                                 (import the session it was forked from first)",
                                e.id
                            ))
                        })? + 1
                    }
                };
                insert_event(conn, e, depth).map_err(|err| match err {
                    StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        at(format!(
                            "event {} (sequence {}) clashes with one already stored; nothing was imported",
                            e.id, e.sequence
                        ))
                    }
                    other => other,
                })?;
                let state = touched.get_mut(e.session_id.as_str()).expect("inserted above");
                count(&mut state.delta, e);
                if state.root.is_none() && e.sequence == 0 {
                    state.root = Some(e.id.as_str().to_owned());
                }
                if e.sequence >= state.last_sequence {
                    state.last_sequence = e.sequence;
                    state.head = Some((e.id.as_str().to_owned(), e.timestamp.clone()));
                }
                if e.event_type.as_str() == "config.model_switch" {
                    if let Some(m) = e.payload.get("newModel").and_then(Value::as_str) {
                        state.model = Some(m.to_owned());
                    }
                }
                summary.events += 1;
                if i % 1000 == 0 || i + 1 == total {
                    progress(i + 1, total);
                }
            }
            for (session, state) in &touched {
                let Some((head, at)) = &state.head else { continue };
                sessions::advance(conn, session, head, at, &state.delta)?;
                conn.prepare_cached(
                    "UPDATE sessions SET root_event_id = COALESCE(?2, root_event_id),
                        latest_model = COALESCE(?3, latest_model) WHERE id = ?1",
                )?
                .execute(params![session, state.root, state.model])?;
            }
            Ok(summary)
        })
    }
}

#[derive(Default)]
struct SessionState {
    delta: CounterDelta,
    root: Option<String>,
    head: Option<(String, String)>,
    last_sequence: i64,
    model: Option<String>,
}

/// Creates the session (and workspace) row for the first event of a session in the file.
fn create_session_for(conn: &Connection, first: &SessionEvent) -> std::result::Result<(), String> {
    let p = &first.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    let (working_directory, model, title, parent_session, fork_from) = match first.event_type.as_str() {
        "session.start" => (s("workingDirectory"), s("model"), s("title"), None, None),
        "session.fork" => {
            let source = s("sourceSessionId");
            let (wd, model): (Option<String>, Option<String>) = match &source {
                Some(src) => conn
                    .query_row(
                        "SELECT working_directory, latest_model FROM sessions WHERE id = ?1",
                        [src],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(|e| e.to_string())?
                    .unwrap_or((None, None)),
                None => (None, None),
            };
            (wd, model, s("name"), source, s("sourceEventId"))
        }
        other => {
            return Err(format!(
            "the first event of session {} is {other}, not session.start or session.fork (is the file cut?)",
            first.session_id
        ))
        }
    };
    let working_directory = working_directory
        .ok_or_else(|| format!("cannot tell the working directory of session {}", first.session_id))?;
    let ws_id: Option<String> = conn
        .query_row(
            "SELECT id FROM workspaces WHERE id = ?1 OR path = ?2 ORDER BY id = ?1 DESC LIMIT 1",
            params![first.workspace_id, working_directory],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let ws_id = match ws_id {
        Some(id) => id,
        None => {
            conn.execute(
                "INSERT INTO workspaces (id, path, name, created_at, last_activity_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                params![
                    first.workspace_id,
                    working_directory,
                    working_directory.rsplit('/').next().unwrap_or_default(),
                    first.timestamp
                ],
            )
            .map_err(|e| e.to_string())?;
            first.workspace_id.as_str().to_owned()
        }
    };
    let parent_exists: bool = match &parent_session {
        Some(p) => conn
            .query_row("SELECT 1 FROM sessions WHERE id = ?1", [p], |_| Ok(()))
            .optional()
            .map_err(|e| e.to_string())?
            .is_some(),
        None => false,
    };
    conn.execute(
        "INSERT INTO sessions (id, workspace_id, title, latest_model, working_directory, parent_session_id,
            fork_from_event_id, created_at, last_activity_at, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, '[]')",
        params![
            first.session_id,
            ws_id,
            title,
            model.unwrap_or_default(),
            working_directory,
            parent_session.filter(|_| parent_exists),
            fork_from,
            first.timestamp
        ],
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// A readable Markdown transcript: title, facts, then each message of the conversation.
pub fn markdown(session: &super::SessionRow, rec: &super::Reconstructed) -> String {
    let mut md = String::new();
    let title = session.title.clone().unwrap_or_else(|| session.id.to_string());
    md.push_str(&format!("# {title}\n\n"));
    md.push_str(&format!("- session: `{}`\n", session.id));
    md.push_str(&format!("- model: `{}`\n", session.latest_model));
    md.push_str(&format!("- working directory: `{}`\n", session.working_directory));
    md.push_str(&format!(
        "- created: {}\n- last activity: {}\n",
        session.created_at, session.last_activity_at
    ));
    md.push_str(&format!(
        "- tokens: {} in, {} out; cost: ${:.4}\n\n",
        session.total_input_tokens, session.total_output_tokens, session.total_cost
    ));
    for m in rec.messages() {
        let value = serde_json::to_value(m).unwrap_or(Value::Null);
        match m.role() {
            "user" => md.push_str("## User\n\n"),
            "assistant" => md.push_str("## Assistant\n\n"),
            "toolResult" => {
                let err = value.get("isError").and_then(Value::as_bool).unwrap_or(false);
                md.push_str(if err { "## Tool result (error)\n\n" } else { "## Tool result\n\n" });
            }
            other => md.push_str(&format!("## {other}\n\n")),
        }
        match (m.role(), value.get("content")) {
            // Tool output is shown verbatim, not rendered as Markdown.
            ("toolResult", Some(Value::String(text))) => {
                md.push_str(&format!("```\n{}\n```\n", text.trim_end()))
            }
            (_, content) => md.push_str(&content_markdown(content)),
        }
        md.push('\n');
    }
    md
}

fn content_markdown(content: Option<&Value>) -> String {
    let fence = |s: &str| format!("```\n{}\n```\n", s.trim_end());
    match content {
        Some(Value::String(s)) => format!("{}\n", s.trim_end()),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    format!("{}\n", b.get("text").and_then(Value::as_str).unwrap_or_default().trim_end())
                }
                Some("thinking") => format!(
                    "> *thinking:* {}\n",
                    b.get("thinking")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .trim()
                        .replace('\n', "\n> ")
                ),
                Some("tool_use") => format!(
                    "**{}**\n{}",
                    b.get("name").and_then(Value::as_str).unwrap_or("tool"),
                    fence(
                        &serde_json::to_string_pretty(b.get("input").unwrap_or(&Value::Null))
                            .unwrap_or_default()
                    )
                ),
                Some("image") => "*[image]*\n".to_owned(),
                _ => fence(&b.to_string()),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

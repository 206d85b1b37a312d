//! The chain of events behind a session: walking parent links (across a fork into the
//! source session), fork, rewind, and the messages reconstructed from a chain.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::core::{EventId, SessionId};

use super::error::{Result, StoreError};
use super::reconstruct::{self, ChainItem, Reconstructed};
use super::rows::{event_from_row, EVENT_COLUMNS};
use super::sessions::{self, SessionRow};
use super::store::{content_text, insert_event, set_root, ForkResult};
use super::types::{EventType, SessionEvent};
use super::EventStore;

/// How a loaded row names its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent<'a> {
    /// No parent: a session root.
    Root,
    /// The row loaded just before this one (known at load time, so no id is kept).
    Previous,
    /// Any other event, possibly in another session.
    Id(&'a EventId),
}

/// A row loaded for reconstruction, with how it names its parent.
struct Loaded {
    item: ChainItem,
    parent: OwnedParent,
}

impl AsRef<ChainItem> for Loaded {
    fn as_ref(&self) -> &ChainItem {
        &self.item
    }
}

/// [`Parent`], owned by a loaded row.
enum OwnedParent {
    Root,
    Previous,
    Id(EventId),
}

impl OwnedParent {
    fn as_link(&self) -> Parent<'_> {
        match self {
            OwnedParent::Root => Parent::Root,
            OwnedParent::Previous => Parent::Previous,
            OwnedParent::Id(id) => Parent::Id(id),
        }
    }
}

impl EventStore {
    /// The chain from the root to `id` (inclusive), root first; crosses into the source
    /// session at a fork.
    pub fn ancestors(&self, id: &str) -> Result<Vec<SessionEvent>> {
        let start = self.event(id)?;
        self.walk(
            start,
            |conn, session| {
                let sql =
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE session_id = ?1 ORDER BY sequence");
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([session], event_from_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            },
            |e| (&e.id, e.parent_id.as_ref().map_or(Parent::Root, Parent::Id)),
        )
    }

    /// Walks parent links from `start` back to the root. Events are loaded a whole session
    /// at a time (one index range scan) and linked in memory, which is much faster than one
    /// lookup per level.
    fn walk<T>(
        &self,
        start: SessionEvent,
        load: impl Fn(&Connection, &str) -> Result<Vec<T>>,
        link: impl Fn(&T) -> (&EventId, Parent<'_>),
    ) -> Result<Vec<T>> {
        let broken =
            |why: String| StoreError::Invalid(format!("event chain of {} is broken: {why}", start.id));
        let mut chain = Vec::new();
        let mut want: Option<EventId> = Some(start.id.clone());
        let mut session = start.session_id.as_str().to_owned();
        let mut seen_sessions = std::collections::HashSet::new();
        while let Some(target) = want.take() {
            if !seen_sessions.insert(session.clone()) {
                return Err(broken(format!("it loops back into session {session}")));
            }
            let items = load(self.connection(), &session)?;
            // Follow the links by index first, then move the items out (no clones).
            let mut picked = Vec::new();
            let mut leaves_at: Option<EventId> = None;
            {
                // Events are loaded in sequence order and a parent is almost always the row
                // before its child, so look there first; build the id index only on a miss
                // (a fork point, a rewind branch).
                let mut index: Option<HashMap<&str, usize>> = None;
                let mut visited = vec![false; items.len()];
                let mut previous = Some(items.len());
                let mut cursor: Option<&EventId> = Some(&target);
                while let Some(id) = cursor.take() {
                    let near = previous.and_then(|p| p.checked_sub(1)).filter(|&i| link(&items[i]).0 == id);
                    let found = near.or_else(|| {
                        index
                            .get_or_insert_with(|| {
                                items.iter().enumerate().map(|(i, t)| (link(t).0.as_str(), i)).collect()
                            })
                            .get(id.as_str())
                            .copied()
                    });
                    match found {
                        Some(mut i) => loop {
                            if visited[i] {
                                return Err(broken(format!("{} is its own ancestor", link(&items[i]).0)));
                            }
                            visited[i] = true;
                            picked.push(i);
                            previous = Some(i);
                            match link(&items[i]).1 {
                                Parent::Root => break,
                                Parent::Id(p) => {
                                    cursor = Some(p);
                                    break;
                                }
                                Parent::Previous if i > 0 => i -= 1,
                                Parent::Previous => {
                                    return Err(broken("the first row has no previous row".into()))
                                }
                            }
                        },
                        None => leaves_at = Some(id.clone()),
                    }
                }
            }
            let whole_session = leaves_at.is_none()
                && chain.is_empty()
                && picked.len() == items.len()
                && picked.iter().rev().enumerate().all(|(pos, &i)| pos == i);
            if whole_session {
                // The common case: the chain is every event of one linear session, in the
                // order they were loaded; hand them back without moving them around.
                return Ok(items);
            }
            let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
            chain.extend(picked.into_iter().filter_map(|i| slots[i].take()));
            if let Some(id) = leaves_at {
                // The parent lives in another session (a fork point).
                let owner: Option<String> = self
                    .connection()
                    .prepare_cached("SELECT session_id FROM events WHERE id = ?1")?
                    .query_row([id.as_str()], |r| r.get(0))
                    .optional()?;
                session = owner.ok_or_else(|| broken(format!("parent {id} does not exist")))?;
                want = Some(id);
            }
        }
        chain.reverse();
        Ok(chain)
    }

    // ----- fork and rewind -------------------------------------------------------------

    /// Starts a new session rooted at any event of another: its `session.fork` root event
    /// has that event as parent, so the new session shares the history up to it without
    /// copying anything.
    pub fn fork(&self, from: &str, title: Option<String>, model: Option<String>) -> Result<ForkResult> {
        self.write(|conn| {
            let (source_session, depth): (String, i64) = conn
                .prepare_cached("SELECT session_id, depth FROM events WHERE id = ?1")?
                .query_row([from], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .ok_or_else(|| StoreError::EventNotFound(from.to_owned()))?;
            let src = sessions::get(conn, self.archive_column(), &source_session)?
                .ok_or_else(|| StoreError::SessionNotFound(source_session.clone()))?;
            let now = super::now_iso();
            let id = SessionId::new();
            conn.prepare_cached(
                "INSERT INTO sessions (id, workspace_id, title, latest_model, working_directory,
                    parent_session_id, fork_from_event_id, created_at, last_activity_at, tags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, '[]')",
            )?
            .execute(params![
                id,
                src.workspace_id,
                title,
                model.clone().unwrap_or_else(|| src.latest_model.clone()),
                src.working_directory,
                src.id,
                from,
                now
            ])?;
            let mut payload = Map::new();
            payload.insert("sourceSessionId".into(), src.id.as_str().into());
            payload.insert("sourceEventId".into(), from.into());
            if let Some(t) = &title {
                payload.insert("name".into(), t.clone().into());
            }
            let root = SessionEvent {
                id: EventId::new(),
                parent_id: Some(EventId::from_raw(from)),
                session_id: id.clone(),
                workspace_id: src.workspace_id.clone(),
                timestamp: now.clone(),
                event_type: EventType::parse("session.fork"),
                sequence: 0,
                checksum: None,
                payload: Value::Object(payload),
            };
            insert_event(conn, &root, depth + 1)?;
            set_root(conn, &root, &now)?;
            Ok(ForkResult {
                new_session_id: id,
                root_event_id: root.id,
                forked_from_event_id: EventId::from_raw(from),
                forked_from_session_id: src.id,
            })
        })
    }

    /// Moves a session's head back to an earlier event of its current chain. Nothing is
    /// deleted: the events after it stay in the log (and in `events`), and the next append
    /// branches from the new head. (The TypeScript store has no rewind; this only moves
    /// `sessions.head_event_id`, which that server reads as it does after any append.)
    pub fn rewind(&self, session: &str, to: &str) -> Result<SessionRow> {
        let row = self.session(session)?;
        let head = row
            .head_event_id
            .clone()
            .ok_or_else(|| StoreError::Invalid(format!("session {session} has no head event")))?;
        let target = self.event(to)?;
        if target.session_id.as_str() != session {
            return Err(StoreError::Invalid(format!(
                "event {to} belongs to session {}, not {session}; fork from it instead",
                target.session_id
            )));
        }
        let on_chain = self.ancestors(&head)?.iter().any(|e| e.id.as_str() == to);
        if !on_chain {
            return Err(StoreError::Invalid(format!(
                "event {to} is not on the current chain of session {session} (it is on a branch the head moved away from)"
            )));
        }
        self.write(|conn| {
            let moved = conn.execute(
                "UPDATE sessions SET head_event_id = ?2, last_activity_at = ?3 WHERE id = ?1 AND head_event_id = ?4",
                params![session, to, super::now_iso(), head],
            )?;
            if moved == 0 {
                return Err(StoreError::Invalid(format!(
                    "session {session} changed while rewinding (another writer appended); try again"
                )));
            }
            Ok(())
        })?;
        self.session(session)
    }

    /// The events from the session's root to its head, in order (empty for a session
    /// without events): the session as its clients see it, branches left out.
    pub fn head_chain(&self, session: &str) -> Result<Vec<SessionEvent>> {
        match self.session(session)?.head_event_id {
            Some(head) => self.ancestors(head.as_str()),
            None => Ok(Vec::new()),
        }
    }

    /// The events of the given `types` along the session's head, in order, as (type,
    /// payload): the chain is walked on ids and types only, payloads are read for those
    /// types alone (cheap enough to ask before every tool call).
    pub fn head_events_of_types(&self, session: &str, types: &[&str]) -> Result<Vec<(EventType, Value)>> {
        let row = self.session(session)?;
        let Some(head) = row.head_event_id else { return Ok(Vec::new()) };
        let listed: Vec<String> = types.iter().map(|t| format!("'{}'", t.replace('\'', "''"))).collect();
        // The usual cases: a session of its own (not a fork) without any such event; or one
        // whose head is its newest event with every event on the way (the head's depth is
        // the event count less one: never rewound), so that the chain is the session. The
        // type index finds the events (`+session_id` keeps SQLite off the session index,
        // which would scan the whole session).
        if row.fork_from_event_id.is_none() {
            let sql = format!(
                "SELECT EXISTS(SELECT 1 FROM events WHERE +session_id = ?1 AND type IN ({}))",
                listed.join(", ")
            );
            if !self.connection().prepare_cached(&sql)?.query_row([session], |r| r.get::<_, bool>(0))? {
                return Ok(Vec::new());
            }
            let linear: bool = self
                .connection()
                .prepare_cached(
                    "SELECT (SELECT depth FROM events WHERE id = ?2) + 1 = \
                     (SELECT COUNT(*) FROM events WHERE session_id = ?1)",
                )?
                .query_row(params![session, head.as_str()], |r| r.get(0))?;
            if linear {
                let sql = format!(
                    "SELECT type, payload FROM events WHERE +session_id = ?1 AND type IN ({}) ORDER BY sequence",
                    listed.join(", ")
                );
                let mut stmt = self.connection().prepare_cached(&sql)?;
                let rows = stmt.query_map([session], |r| {
                    let payload: Option<String> = r.get(1)?;
                    Ok((EventType::parse(&r.get::<_, String>(0)?), payload))
                })?;
                return rows
                    .map(|r| {
                        let (kind, payload) = r?;
                        let payload = payload.as_deref().and_then(|p| serde_json::from_str(p).ok());
                        Ok((kind, payload.unwrap_or(Value::Null)))
                    })
                    .collect();
            }
        }
        let start = self.event(head.as_str())?;
        let sql = format!(
            "SELECT id, parent_id, type, CASE WHEN type IN ({}) THEN payload END \
             FROM events WHERE session_id = ?1 ORDER BY sequence",
            listed.join(", ")
        );
        let chain = self.walk(
            start,
            |conn, session| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query([session])?;
                let mut items: Vec<Loaded> = Vec::with_capacity(1024);
                while let Some(r) = rows.next()? {
                    let id: EventId = r.get(0)?;
                    let parent = match r.get_ref(1)?.as_str_or_null()? {
                        None | Some("") => OwnedParent::Root,
                        Some(p) if items.last().is_some_and(|prev| prev.item.id.as_str() == p) => {
                            OwnedParent::Previous
                        }
                        Some(p) => OwnedParent::Id(EventId::from_raw(p)),
                    };
                    let event_type = EventType::parse(r.get_ref(2)?.as_str()?);
                    let payload: Option<String> = r.get(3)?;
                    items.push(Loaded { item: ChainItem { id, event_type, payload }, parent });
                }
                Ok(items)
            },
            |l| (&l.item.id, l.parent.as_link()),
        )?;
        Ok(chain
            .into_iter()
            .filter(|l| types.contains(&l.item.event_type.as_str()))
            .map(|l| {
                let payload = l.item.payload.as_deref().and_then(|p| serde_json::from_str(p).ok());
                (l.item.event_type, payload.unwrap_or(Value::Null))
            })
            .collect())
    }

    // ----- reconstruction --------------------------------------------------------------

    /// The messages at the session's head.
    pub fn messages(&self, session: &str) -> Result<Reconstructed> {
        let row = self.session(session)?;
        match row.head_event_id {
            Some(head) => self.messages_at(&head),
            None => Ok(reconstruct::reconstruct::<ChainItem>(&[])),
        }
    }

    /// The messages as they were at `event`.
    pub fn messages_at(&self, event: &str) -> Result<Reconstructed> {
        let start = self.event(event)?;
        // Payloads are read only for the types reconstruction uses (decided per row in Rust);
        // SQL leaves out just `tool.call`'s, the one large payload not needed (one comparison
        // per row, where `type IN (...)` would probe an ephemeral index).
        let sql = "SELECT id, parent_id, type, CASE WHEN type = 'tool.call' THEN NULL ELSE payload END \
             FROM events WHERE session_id = ?1 ORDER BY sequence";
        let chain = self.walk(
            start,
            |conn, session| {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query([session])?;
                let mut items: Vec<Loaded> = Vec::with_capacity(1024);
                while let Some(r) = rows.next()? {
                    let id: EventId = r.get(0)?;
                    // Compare the parent with the previous row's id in place: in a linear
                    // session that is every row, and no parent id needs to be kept.
                    let parent = match r.get_ref(1)?.as_str_or_null()? {
                        None | Some("") => OwnedParent::Root,
                        Some(p) if items.last().is_some_and(|prev| prev.item.id.as_str() == p) => {
                            OwnedParent::Previous
                        }
                        Some(p) => OwnedParent::Id(EventId::from_raw(p)),
                    };
                    let event_type = EventType::parse(r.get_ref(2)?.as_str()?);
                    let payload = match reconstruct::PAYLOAD_TYPES.contains(&event_type.as_str()) {
                        true => r.get(3)?,
                        false => None,
                    };
                    let item = ChainItem { id, event_type, payload };
                    items.push(Loaded { item, parent });
                }
                Ok(items)
            },
            |l| (&l.item.id, l.parent.as_link()),
        )?;
        let items = chain;
        let mut on_chain: Option<HashMap<&str, usize>> = None;
        let mut lookup_error = None;
        let rec = reconstruct::reconstruct_with(&items, |tool_call_id| {
            let on_chain = on_chain.get_or_insert_with(|| {
                items.iter().enumerate().map(|(i, l)| (l.item.id.as_str(), i)).collect()
            });
            match self.tool_call_arguments(tool_call_id, on_chain) {
                Ok(args) => args,
                Err(e) => {
                    lookup_error.get_or_insert(e);
                    None
                }
            }
        });
        match lookup_error {
            Some(e) => Err(e),
            None => Ok(rec),
        }
    }

    /// The `arguments` JSON of the last `tool.call` with this id among the chain's events.
    fn tool_call_arguments(
        &self,
        tool_call_id: &str,
        on_chain: &HashMap<&str, usize>,
    ) -> Result<Option<String>> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT id, json_quote(json_extract(payload, '$.arguments')) FROM events
             WHERE tool_call_id = ?1 AND type = 'tool.call' AND json_valid(payload)",
        )?;
        let rows =
            stmt.query_map([tool_call_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
        let mut best: Option<(usize, String)> = None;
        for row in rows {
            let (id, args) = row?;
            if let (Some(&pos), Some(args)) = (on_chain.get(id.as_str()), args) {
                if best.as_ref().is_none_or(|(p, _)| pos > *p) {
                    best = Some((pos, args));
                }
            }
        }
        Ok(best.map(|(_, args)| args))
    }

    /// Last user prompt and last assistant text of a session (its own events only).
    pub fn previews(&self, session: &str) -> Result<(Option<String>, Option<String>)> {
        let mut stmt = self.connection().prepare_cached(
            "SELECT payload FROM events WHERE session_id = ?1 AND type = ?2 ORDER BY sequence DESC LIMIT 1",
        )?;
        let mut get = |t: &str| -> Result<Option<String>> {
            let p: Option<String> = stmt.query_row([session, t], |r| r.get(0)).optional()?;
            Ok(p.and_then(|p| serde_json::from_str::<Value>(&p).ok()).map(|v| content_text(v.get("content"))))
        };
        Ok((get("message.user")?, get("message.assistant")?))
    }
}

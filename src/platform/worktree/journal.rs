//! The event log side of worktrees: which session holds which worktree (its last
//! `worktree.acquired` not followed by a `worktree.released`), and the events written.
//!
//! [`Journal`] is what the service needs from the log; [`EventStore`] implements it
//! directly (the CLI), and the RPC layer implements it over the store's writer thread (so
//! that each event is also pushed to clients after it is committed).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{WorktreeError, WORKTREES_DIR};
use crate::events::{EventStore, NewEvent, SessionEvent, StoreError};

/// What the worktree service needs from the event log.
pub trait Journal {
    /// The session's working directory and whether it is archived; `None` when there is no
    /// such session.
    fn session(&self, id: &str) -> Result<Option<SessionInfo>, WorktreeError>;
    /// The worktrees sessions hold now (acquired, not released).
    fn records(&self) -> Result<Vec<WorktreeRecord>, WorktreeError>;
    /// Directories worth looking for repositories in: every session's working directory
    /// and every repository a worktree was ever made in.
    fn known_dirs(&self) -> Result<Vec<PathBuf>, WorktreeError>;
    /// Appends one event to `session`.
    fn append(&self, session: &str, event_type: &str, payload: Value) -> Result<SessionEvent, WorktreeError>;
}

/// A session as the worktree service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Where the session works (the repository its worktree comes from).
    pub working_directory: String,
    /// Archived (ended).
    pub archived: bool,
}

/// A worktree a session holds, from its `worktree.acquired` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeRecord {
    /// The session.
    pub session_id: String,
    /// The worktree's directory.
    pub path: String,
    /// Its branch.
    pub branch: String,
    /// The commit it started from.
    pub base_commit: String,
    /// The branch it started from, when it started from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    /// The repository root, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_root: Option<String>,
    /// An isolated worktree (`false`: the session uses the main checkout).
    pub isolated: bool,
    /// The session and commit a forked session's worktree started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<ForkedFrom>,
}

/// `forkedFrom` of `worktree.acquired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkedFrom {
    /// The parent session.
    pub session_id: String,
    /// The parent's commit the fork started from.
    pub commit: String,
}

impl WorktreeRecord {
    /// From a `worktree.acquired` payload.
    pub fn from_acquired(session_id: &str, payload: &Value) -> Option<Self> {
        let s = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
        let path = s("path")?;
        let repo_root = s("repoRoot").or_else(|| {
            // `<repo>/.worktrees/<id>`, the layout the TypeScript server used too.
            let p = Path::new(&path);
            let parent = p.parent()?;
            (parent.file_name()? == WORKTREES_DIR)
                .then(|| parent.parent().map(|r| r.display().to_string()))?
        });
        Some(Self {
            session_id: session_id.to_owned(),
            branch: s("branch").unwrap_or_default(),
            base_commit: s("baseCommit").unwrap_or_default(),
            base_branch: s("baseBranch"),
            isolated: payload.get("isolated").and_then(Value::as_bool).unwrap_or(true),
            forked_from: payload.get("forkedFrom").and_then(|f| {
                let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
                Some(ForkedFrom { session_id: s("sessionId")?, commit: s("commit")? })
            }),
            repo_root,
            path,
        })
    }

    /// The repository root: recorded, or the working directory's.
    pub fn repo(&self) -> Option<PathBuf> {
        self.repo_root.as_ref().map(PathBuf::from)
    }
}

/// The `worktree.acquired` payload (the TypeScript fields, plus `baseBranch` and
/// `repoRoot`, which the service needs to merge back and to recover).
pub fn acquired_payload(r: &WorktreeRecord) -> Value {
    let mut p = json!({
        "path": r.path,
        "branch": r.branch,
        "baseCommit": r.base_commit,
        "isolated": r.isolated,
    });
    if let Some(b) = &r.base_branch {
        p["baseBranch"] = json!(b);
    }
    if let Some(root) = &r.repo_root {
        p["repoRoot"] = json!(root);
    }
    if let Some(f) = &r.forked_from {
        p["forkedFrom"] = json!({ "sessionId": f.session_id, "commit": f.commit });
    }
    p
}

/// The `worktree.commit` payload, as the TypeScript server writes it.
pub fn commit_payload(hash: &str, message: &str, files: &[String], insertions: i64, deletions: i64) -> Value {
    json!({
        "commitHash": hash,
        "message": message,
        "hash": hash,
        "filesChanged": files,
        "insertions": insertions,
        "deletions": deletions,
    })
}

/// The `worktree.released` payload, as the TypeScript server writes it (the branch is
/// always kept).
pub fn released_payload(r: &WorktreeRecord, final_commit: Option<&str>, deleted: bool) -> Value {
    let mut p = Map::new();
    p.insert("path".into(), json!(r.path));
    p.insert("branch".into(), json!(r.branch));
    if let Some(c) = final_commit {
        p.insert("finalCommit".into(), json!(c));
    }
    p.insert("deleted".into(), json!(deleted));
    p.insert("branchPreserved".into(), json!(true));
    p.insert("branchDeleted".into(), json!(false));
    p.insert("worktreeDeleted".into(), json!(deleted));
    Value::Object(p)
}

/// The `worktree.merged` payload, as the TypeScript server writes it.
pub fn merged_payload(o: &super::MergeOutcome) -> Value {
    let mut p = json!({
        "success": o.success,
        "strategy": o.strategy.as_str(),
        "targetBranch": o.target_branch,
        "sourceBranch": o.source_branch,
    });
    if let Some(c) = &o.merge_commit {
        p["commitHash"] = json!(c);
        p["mergeCommit"] = json!(c);
    }
    if !o.conflicts.is_empty() {
        p["conflicts"] = json!(o.conflicts);
    }
    p
}

/// [`Journal::session`] over a store.
pub fn session_in(store: &EventStore, id: &str) -> Result<Option<SessionInfo>, WorktreeError> {
    match store.session(id) {
        Ok(row) => Ok(Some(SessionInfo {
            working_directory: row.working_directory,
            archived: row.archived_at.is_some(),
        })),
        Err(StoreError::SessionNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn sql<T>(r: rusqlite::Result<T>) -> Result<T, WorktreeError> {
    r.map_err(|e| WorktreeError::Store(StoreError::Invalid(format!("reading worktree events: {e}"))))
}

/// [`Journal::records`] over a store.
pub fn records_in(store: &EventStore) -> Result<Vec<WorktreeRecord>, WorktreeError> {
    let conn = store.connection();
    let mut stmt = sql(conn.prepare(
        "SELECT session_id, type, payload FROM events \
         WHERE type IN ('worktree.acquired', 'worktree.released') ORDER BY session_id, sequence",
    ))?;
    let rows =
        sql(stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        }))?;
    let mut held: Vec<WorktreeRecord> = Vec::new();
    for row in rows {
        let (session, kind, payload) = sql(row)?;
        if held.last().is_some_and(|r| r.session_id == session) {
            held.pop();
        }
        if kind == "worktree.acquired" {
            let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
            held.extend(WorktreeRecord::from_acquired(&session, &payload));
        }
    }
    Ok(held)
}

/// The directory `session` works in: its worktree while it holds one, else `fallback` (its
/// own working directory). A store failure falls back too.
pub async fn working_dir(store: &crate::events::StoreHandle, session: &str, fallback: &str) -> String {
    let id = session.to_owned();
    store
        .run(move |s| Ok(worktree_dir_in(s, &id)))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .unwrap_or_else(|| fallback.to_owned())
}

/// Where `session` works: its isolated worktree while it holds one, else `None` (the
/// session's own working directory).
pub fn worktree_dir_in(store: &EventStore, session: &str) -> Result<Option<String>, WorktreeError> {
    let conn = store.connection();
    let last: Option<(String, String)> = sql(conn
        .query_row(
            "SELECT type, payload FROM events WHERE session_id = ?1 \
             AND type IN ('worktree.acquired', 'worktree.released') ORDER BY sequence DESC LIMIT 1",
            [session],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) }))?;
    Ok(last.and_then(|(kind, payload)| {
        let payload: Value = serde_json::from_str(&payload).ok()?;
        let r = WorktreeRecord::from_acquired(session, &payload)
            .filter(|r| kind == "worktree.acquired" && r.isolated)?;
        Path::new(&r.path).is_dir().then_some(r.path)
    }))
}

/// [`Journal::known_dirs`] over a store.
pub fn known_dirs_in(store: &EventStore) -> Result<Vec<PathBuf>, WorktreeError> {
    let conn = store.connection();
    let mut stmt = sql(conn.prepare(
        "SELECT DISTINCT working_directory FROM sessions WHERE working_directory IS NOT NULL \
         UNION SELECT DISTINCT json_extract(payload, '$.repoRoot') FROM events \
         WHERE type = 'worktree.acquired' AND json_extract(payload, '$.repoRoot') IS NOT NULL",
    ))?;
    let rows = sql(stmt.query_map([], |r| r.get::<_, String>(0)))?;
    let mut dirs = Vec::new();
    for row in rows {
        dirs.push(PathBuf::from(sql(row)?));
    }
    Ok(dirs)
}

impl Journal for EventStore {
    fn session(&self, id: &str) -> Result<Option<SessionInfo>, WorktreeError> {
        session_in(self, id)
    }

    fn records(&self) -> Result<Vec<WorktreeRecord>, WorktreeError> {
        records_in(self)
    }

    fn known_dirs(&self) -> Result<Vec<PathBuf>, WorktreeError> {
        known_dirs_in(self)
    }

    fn append(&self, session: &str, event_type: &str, payload: Value) -> Result<SessionEvent, WorktreeError> {
        Ok(EventStore::append(self, session, NewEvent::raw(event_type, payload))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NewSession;

    fn session(store: &EventStore) -> String {
        let new = NewSession { working_directory: "/tmp".into(), model: "m".into(), ..Default::default() };
        store.create_session(new).unwrap().0.id.to_string()
    }

    fn record(session: &str, n: u32) -> WorktreeRecord {
        WorktreeRecord {
            session_id: session.into(),
            path: format!("/r/.worktrees/{session}-{n}"),
            branch: format!("session/{session}"),
            base_commit: "abc".into(),
            base_branch: Some("main".into()),
            repo_root: None,
            isolated: true,
            forked_from: None,
        }
    }

    #[test]
    fn a_session_holds_its_last_acquired_worktree_until_released() {
        let store = EventStore::open_in_memory().unwrap();
        let (a, b) = (session(&store), session(&store));
        let append = |s: &str, t: &str, p: Value| Journal::append(&store, s, t, p).unwrap();
        append(&a, "worktree.acquired", acquired_payload(&record(&a, 1)));
        append(&b, "worktree.acquired", acquired_payload(&record(&b, 1)));
        append(&a, "worktree.released", released_payload(&record(&a, 1), None, true));
        append(&a, "worktree.acquired", acquired_payload(&record(&a, 2)));
        append(&b, "worktree.released", released_payload(&record(&b, 1), None, true));
        let held = records_in(&store).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].path, format!("/r/.worktrees/{a}-2"));
        // The repository is read from the TypeScript layout when not recorded.
        assert_eq!(held[0].repo_root.as_deref(), Some("/r"));
        assert_eq!(held[0].base_branch.as_deref(), Some("main"));
        let dirs = known_dirs_in(&store).unwrap();
        assert_eq!(dirs, [PathBuf::from("/tmp")]);
        // The payloads are the ones the typed event model reads.
        for e in store.events(&a).unwrap().iter().filter(|e| e.event_type.as_str().starts_with("worktree.")) {
            e.typed().unwrap();
        }
    }

    #[test]
    fn a_typescript_acquired_event_without_tron_fields_is_read() {
        let p = json!({"path": "/repo/.worktrees/sess_1", "branch": "session/sess_1", "baseCommit": "c0ffee", "isolated": false});
        let r = WorktreeRecord::from_acquired("sess_1", &p).unwrap();
        assert_eq!((r.isolated, r.repo_root.as_deref(), r.base_branch), (false, Some("/repo"), None));
        assert!(
            WorktreeRecord::from_acquired("sess_1", &json!({"branch": "x"})).is_none(),
            "no path, no record"
        );
    }
}

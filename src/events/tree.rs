//! The event tree of a session as the TypeScript server's `tree.*` methods report it: a flat
//! node list for visualization, the branches (events with more than one child), and the
//! descendants of any event.
//!
//! The shapes and rules are the TypeScript adapter's: nodes in sequence order; a node's
//! children, branch points and depth are counted among the session's own events (a fork's
//! root counts one level for its parent in the source session); `messagesOnly` keeps
//! `message.*` nodes after counting. Differences: `maxDepth` is honoured (the TypeScript
//! server ignores it), and a user message's summary is its text (the TypeScript server
//! prints block content as `[object Object]`).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::error::Result;
use super::rows::{event_from_row, EVENT_COLUMNS};
use super::store::content_text;
use super::types::SessionEvent;
use super::EventStore;

/// Characters of a user message kept in a node's summary.
const SUMMARY_CHARS: usize = 50;

/// One node of `tree.getVisualization`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeNode {
    pub id: String,
    pub parent_id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
    pub summary: String,
    pub has_children: bool,
    pub child_count: usize,
    pub depth: usize,
    pub is_branch_point: bool,
    pub is_head: bool,
}

/// The result of `tree.getVisualization`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeVisualization {
    pub session_id: String,
    /// `""` when the session has none (as the TypeScript server).
    pub root_event_id: String,
    pub head_event_id: String,
    pub nodes: Vec<TreeNode>,
    /// Every event of the session, before any filter.
    pub total_events: usize,
}

/// One branch of `tree.getBranches`: the child of a branch point that starts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    /// `null` for the single branch of a session without branch points.
    pub branch_point_event_id: Option<String>,
    pub first_event_id: String,
    pub is_main: bool,
    /// Events below `firstEventId` (not counting it), or every event of an unbranched session.
    pub event_count: usize,
}

/// The result of `tree.getBranches`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branches {
    /// Absent only for a session without events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_branch: Option<Branch>,
    pub forks: Vec<Branch>,
}

/// A one-line description of an event for a tree node.
pub fn event_summary(e: &SessionEvent) -> String {
    let str_of = |key: &str| e.payload.get(key).and_then(Value::as_str);
    match e.event_type.as_str() {
        "session.start" => "Session started".into(),
        "session.end" => "Session ended".into(),
        "session.fork" => format!("Forked: {}", str_of("name").unwrap_or("unnamed")),
        "message.user" => {
            let text = content_text(e.payload.get("content"));
            if text.is_empty() {
                "User message".into()
            } else {
                text.chars().take(SUMMARY_CHARS).collect()
            }
        }
        "message.assistant" => "Assistant response".into(),
        "tool.call" => format!("Tool: {}", str_of("name").unwrap_or("unknown")),
        "tool.result" => {
            let error = e.payload.get("isError").and_then(Value::as_bool).unwrap_or(false);
            format!("Tool result ({})", if error { "error" } else { "success" })
        }
        other => other.to_owned(),
    }
}

/// Children (by index) of each event among `events`, in the order of `events`.
fn children_of(events: &[SessionEvent]) -> HashMap<&str, Vec<usize>> {
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(p) = &e.parent_id {
            children.entry(p.as_str()).or_default().push(i);
        }
    }
    children
}

/// Parent hops from each event to the root; a parent outside `events` counts one hop.
fn depths(events: &[SessionEvent]) -> Vec<usize> {
    let index: HashMap<&str, usize> = events.iter().enumerate().map(|(i, e)| (e.id.as_str(), i)).collect();
    let mut memo: Vec<Option<usize>> = vec![None; events.len()];
    for start in 0..events.len() {
        // Walk up to a root, an outside parent or a known depth; then fill the path down.
        let mut path = Vec::new();
        let mut cursor = Some(start);
        let mut top_depth = 0;
        while let Some(i) = cursor.take() {
            if let Some(d) = memo[i] {
                top_depth = d + 1;
                break;
            }
            if path.contains(&i) {
                break; // a corrupt loop: stop counting
            }
            path.push(i);
            if let Some(p) = &events[i].parent_id {
                match index.get(p.as_str()) {
                    Some(&j) => cursor = Some(j),
                    None => top_depth = 1,
                }
            }
        }
        for (n, &i) in path.iter().rev().enumerate() {
            memo[i] = Some(top_depth + n);
        }
    }
    memo.into_iter().map(|d| d.unwrap_or(0)).collect()
}

/// Events below `id` (not counting it) in `children`.
fn descendant_count(children: &HashMap<&str, Vec<usize>>, events: &[SessionEvent], id: &str) -> usize {
    let mut count = 0;
    let mut stack = vec![id];
    while let Some(cur) = stack.pop() {
        if let Some(kids) = children.get(cur) {
            count += kids.len();
            stack.extend(kids.iter().map(|&k| events[k].id.as_str()));
        }
    }
    count
}

impl EventStore {
    /// `tree.getVisualization`: every event of the session as a node, in sequence order;
    /// `max_depth` keeps nodes at most that deep, `messages_only` keeps `message.*` nodes.
    pub fn tree_visualization(
        &self,
        session: &str,
        max_depth: Option<usize>,
        messages_only: bool,
    ) -> Result<TreeVisualization> {
        let row = self.session(session)?;
        let events = self.events(session)?;
        let children = children_of(&events);
        let depths = depths(&events);
        let head = row.head_event_id.as_ref().map(|h| h.as_str().to_owned());
        let nodes = events
            .iter()
            .zip(depths)
            .filter(|(e, d)| {
                max_depth.is_none_or(|m| *d <= m)
                    && (!messages_only || e.event_type.as_str().starts_with("message."))
            })
            .map(|(e, depth)| {
                let child_count = children.get(e.id.as_str()).map_or(0, Vec::len);
                TreeNode {
                    id: e.id.as_str().to_owned(),
                    parent_id: e.parent_id.as_ref().map(|p| p.as_str().to_owned()),
                    event_type: e.event_type.as_str().to_owned(),
                    timestamp: e.timestamp.clone(),
                    summary: event_summary(e),
                    has_children: child_count > 0,
                    child_count,
                    depth,
                    is_branch_point: child_count > 1,
                    is_head: head.as_deref() == Some(e.id.as_str()),
                }
            })
            .collect();
        Ok(TreeVisualization {
            session_id: session.to_owned(),
            root_event_id: row.root_event_id.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            head_event_id: head.unwrap_or_default(),
            nodes,
            total_events: events.len(),
        })
    }

    /// `tree.getBranches`: one branch per child of each branch point (an event of the
    /// session with more than one child in it). A child is main when it is the head or the
    /// first child; the first main branch is `mainBranch`, the non-main ones are `forks`.
    pub fn branches(&self, session: &str) -> Result<Branches> {
        let row = self.session(session)?;
        let events = self.events(session)?;
        let children = children_of(&events);
        let head = row.head_event_id.as_ref().map(|h| h.as_str());
        let mut all = Vec::new();
        for bp in &events {
            let Some(kids) = children.get(bp.id.as_str()).filter(|k| k.len() > 1) else { continue };
            for (n, &k) in kids.iter().enumerate() {
                let child = events[k].id.as_str();
                all.push(Branch {
                    branch_point_event_id: Some(bp.id.as_str().to_owned()),
                    first_event_id: child.to_owned(),
                    is_main: head == Some(child) || n == 0,
                    event_count: descendant_count(&children, &events, child),
                });
            }
        }
        if all.is_empty() {
            let main_branch = events.first().map(|first| Branch {
                branch_point_event_id: None,
                first_event_id: first.id.as_str().to_owned(),
                is_main: true,
                event_count: events.len(),
            });
            return Ok(Branches { main_branch, forks: Vec::new() });
        }
        let main_branch = all.iter().find(|b| b.is_main).or(all.first()).cloned();
        let forks = all.into_iter().filter(|b| !b.is_main).collect();
        Ok(Branches { main_branch, forks })
    }

    /// Direct children of an event in any session (a fork's root is a child of the event it
    /// forked from), by sequence as the TypeScript store (so a fork's root, sequence 0,
    /// comes first), then in insertion order.
    pub fn children(&self, id: &str) -> Result<Vec<SessionEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE parent_id = ?1 ORDER BY sequence, rowid");
        let mut stmt = self.connection().prepare_cached(&sql)?;
        let rows = stmt.query_map([id], event_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `tree.getSubtree` downwards: the descendants of `id` (not `id` itself), across
    /// sessions, in the TypeScript order: an event's children, then each child's own list
    /// in turn. `max_depth` keeps events at most that many levels below `id` (children are
    /// level 1). An unknown event has no descendants.
    pub fn descendants(&self, id: &str, max_depth: Option<usize>) -> Result<Vec<SessionEvent>> {
        let mut out = Vec::new();
        self.push_descendants(id, 1, max_depth, &mut out, &mut std::collections::HashSet::new())?;
        Ok(out)
    }

    fn push_descendants(
        &self,
        id: &str,
        level: usize,
        max_depth: Option<usize>,
        out: &mut Vec<SessionEvent>,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<()> {
        if max_depth.is_some_and(|m| level > m) || !seen.insert(id.to_owned()) {
            return Ok(());
        }
        let kids = self.children(id)?;
        let ids: Vec<String> = kids.iter().map(|k| k.id.as_str().to_owned()).collect();
        out.extend(kids);
        for kid in ids {
            self.push_descendants(&kid, level + 1, max_depth, out, seen)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::{NewEvent, NewSession, OpenMode};

    fn user(text: &str) -> NewEvent {
        NewEvent::raw("message.user", json!({"content": text}))
    }

    fn assistant(text: &str) -> NewEvent {
        NewEvent::raw("message.assistant", json!({"content": [{"type": "text", "text": text}], "turn": 1}))
    }

    fn store() -> (tempfile::TempDir, EventStore, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path().join("db").join("events.db"), OpenMode::Create).unwrap();
        let (row, _) = store
            .create_session(NewSession {
                working_directory: "/w/proj".into(),
                model: "claude-sonnet-4-5".into(),
                ..Default::default()
            })
            .unwrap();
        let id = row.id.as_str().to_owned();
        (dir, store, id)
    }

    #[test]
    fn a_straight_session_is_one_main_branch_with_depths_and_summaries() {
        let (_dir, store, s) = store();
        store.append(&s, user("hello there")).unwrap();
        let a = store.append(&s, assistant("hi")).unwrap();
        let tree = store.tree_visualization(&s, None, false).unwrap();
        assert_eq!(tree.total_events, 3);
        assert_eq!(tree.head_event_id, a.id.as_str());
        let depths: Vec<usize> = tree.nodes.iter().map(|n| n.depth).collect();
        assert_eq!(depths, [0, 1, 2]);
        let summaries: Vec<&str> = tree.nodes.iter().map(|n| n.summary.as_str()).collect();
        assert_eq!(summaries, ["Session started", "hello there", "Assistant response"]);
        assert!(tree.nodes[2].is_head && !tree.nodes[1].is_head);
        assert!(tree.nodes[0].has_children && !tree.nodes[2].has_children);
        assert_eq!(tree.root_event_id, tree.nodes[0].id);

        let msgs = store.tree_visualization(&s, None, true).unwrap();
        assert_eq!(msgs.nodes.len(), 2);
        assert_eq!(msgs.total_events, 3);
        assert_eq!(store.tree_visualization(&s, Some(1), false).unwrap().nodes.len(), 2);

        let b = store.branches(&s).unwrap();
        let main = b.main_branch.unwrap();
        assert_eq!(main.branch_point_event_id, None);
        assert_eq!(main.first_event_id, tree.root_event_id);
        assert_eq!(main.event_count, 3);
        assert!(b.forks.is_empty());
    }

    #[test]
    fn a_rewound_session_has_a_branch_point_and_a_fork_branch() {
        let (_dir, store, s) = store();
        let u1 = store.append(&s, user("one")).unwrap();
        let a1 = store.append(&s, assistant("reply")).unwrap();
        let old = store.append(&s, user("two")).unwrap();
        store.append(&s, assistant("reply two")).unwrap();
        store.rewind(&s, a1.id.as_str()).unwrap();
        let new = store.append(&s, user("three")).unwrap();

        let tree = store.tree_visualization(&s, None, false).unwrap();
        let node = |id: &str| tree.nodes.iter().find(|n| n.id == id).unwrap();
        assert!(node(a1.id.as_str()).is_branch_point);
        assert_eq!(node(a1.id.as_str()).child_count, 2);
        assert!(!node(u1.id.as_str()).is_branch_point);
        assert_eq!(node(new.id.as_str()).depth, 3);
        assert!(node(new.id.as_str()).is_head);

        let b = store.branches(&s).unwrap();
        let main = b.main_branch.unwrap();
        assert_eq!(main.branch_point_event_id.as_deref(), Some(a1.id.as_str()));
        assert_eq!(main.first_event_id, old.id.as_str());
        assert_eq!(main.event_count, 1);
        assert!(main.is_main);
        // The head itself starts the other branch, so it is main too and not a fork.
        assert!(b.forks.is_empty());
        store.append(&s, assistant("more")).unwrap();
        let b = store.branches(&s).unwrap();
        assert_eq!(b.forks.len(), 1);
        assert_eq!(b.forks[0].first_event_id, new.id.as_str());
        assert_eq!(b.forks[0].event_count, 1);
        assert!(!b.forks[0].is_main);

        let below = store.descendants(a1.id.as_str(), None).unwrap();
        assert_eq!(below.len(), 4);
        // Children first, then each child's own list.
        assert_eq!(below[0].id, old.id);
        assert_eq!(below[1].id, new.id);
        assert_eq!(store.descendants(a1.id.as_str(), Some(1)).unwrap().len(), 2);
        assert!(store.descendants("evt_missing", None).unwrap().is_empty());
    }

    #[test]
    fn a_forked_session_counts_from_its_fork_root() {
        let (_dir, store, s) = store();
        let u = store.append(&s, user("first")).unwrap();
        store.append(&s, assistant("answer")).unwrap();
        let fork = store.fork(u.id.as_str(), Some("alt".into()), None).unwrap();
        let f = fork.new_session_id.as_str().to_owned();
        store.append(&f, user("in fork")).unwrap();

        let tree = store.tree_visualization(&f, None, false).unwrap();
        assert_eq!(tree.total_events, 2);
        assert_eq!(tree.nodes[0].summary, "Forked: alt");
        assert_eq!(tree.nodes[0].depth, 1);
        assert_eq!(tree.nodes[1].depth, 2);
        assert_eq!(tree.root_event_id, fork.root_event_id.as_str());
        // The source's event is not a branch point of the source session's own tree.
        let src = store.tree_visualization(&s, None, false).unwrap();
        assert!(src.nodes.iter().all(|n| !n.is_branch_point));
        // Descendants cross into the fork.
        let below = store.descendants(u.id.as_str(), None).unwrap();
        assert_eq!(below.len(), 3);
        assert!(below.iter().any(|e| e.id == fork.root_event_id));
        assert!(matches!(store.branches("sess_missing"), Err(crate::events::StoreError::SessionNotFound(_))));
    }
}

//! Session state read back from events: plan mode (`plan.mode_entered` /
//! `plan.mode_exited`) and the todo list (`todo.write` snapshots), as the TypeScript server
//! reconstructs them.
//!
//! Plan mode takes tools away from every run of the session until it is exited (by default
//! `Write`, `Edit`, `Bash`, `NotebookEdit`) and adds the planning skill it was entered with.
//! The todo list is the last `todo.write` snapshot, emptied by `context.cleared` and
//! `compact.boundary`. Must not: persist (the RPC handlers do).

use serde_json::Value;

use crate::events::types::TodoItem;
use crate::events::SessionEvent;

/// The events that enter and leave plan mode.
pub const PLAN_EVENTS: [&str; 2] = ["plan.mode_entered", "plan.mode_exited"];

/// Tools plan mode takes away when the client names none.
pub const DEFAULT_BLOCKED_TOOLS: [&str; 4] = ["Write", "Edit", "Bash", "NotebookEdit"];

/// An active plan mode.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanMode {
    /// The planning skill.
    pub skill_name: String,
    /// The tools it takes away.
    pub blocked_tools: Vec<String>,
}

impl PlanMode {
    /// The plan mode in force after `events` (a session's events in order), if any.
    pub fn from_events(events: &[SessionEvent]) -> Option<PlanMode> {
        Self::from_typed(events.iter().map(|e| (e.event_type.as_str(), &e.payload)))
    }

    /// [`PlanMode::from_events`] over (type, payload) pairs in order.
    pub fn from_typed<'a>(events: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Option<PlanMode> {
        let mut mode = None;
        for (kind, payload) in events {
            match kind {
                "plan.mode_entered" => {
                    mode = Some(PlanMode {
                        skill_name: payload["skillName"].as_str().unwrap_or_default().to_owned(),
                        blocked_tools: payload["blockedTools"]
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default(),
                    })
                }
                "plan.mode_exited" => mode = None,
                _ => {}
            }
        }
        mode
    }
}

/// The todo list after `events`, ordered by creation time.
pub fn todos(events: &[SessionEvent]) -> Vec<TodoItem> {
    let mut list: Vec<TodoItem> = Vec::new();
    for e in events {
        match e.event_type.as_str() {
            "todo.write" => {
                list = e.payload["todos"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|t| serde_json::from_value(t.clone()).ok()).collect())
                    .unwrap_or_default();
            }
            "context.cleared" | "compact.boundary" => list.clear(),
            _ => {}
        }
    }
    list.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    list
}

/// `3 pending, 1 in progress, 2 completed` (or `no tasks`).
pub fn todo_summary(todos: &[TodoItem]) -> String {
    let count = |status: &str| todos.iter().filter(|t| t.status == status).count();
    let parts: Vec<String> =
        [("pending", "pending"), ("in_progress", "in progress"), ("completed", "completed")]
            .into_iter()
            .filter(|(s, _)| count(s) > 0)
            .map(|(s, label)| format!("{} {label}", count(s)))
            .collect();
    if parts.is_empty() {
        "no tasks".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use serde_json::json;

    fn event(kind: &str, payload: Value) -> SessionEvent {
        SessionEvent {
            id: crate::core::EventId::new(),
            parent_id: None,
            session_id: crate::core::SessionId::new(),
            workspace_id: crate::core::WorkspaceId::new(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            event_type: EventType::parse(kind),
            sequence: 0,
            checksum: None,
            payload,
        }
    }

    #[test]
    fn plan_mode_follows_the_last_enter_or_exit() {
        let entered = event("plan.mode_entered", json!({"skillName": "plan", "blockedTools": ["Write"]}));
        let exited = event("plan.mode_exited", json!({"reason": "approved"}));
        assert_eq!(PlanMode::from_events(std::slice::from_ref(&entered)).unwrap().blocked_tools, ["Write"]);
        assert_eq!(PlanMode::from_events(&[entered.clone(), exited.clone()]), None);
        assert!(PlanMode::from_events(&[entered.clone(), exited, entered]).is_some());
    }

    #[test]
    fn todos_are_the_last_snapshot_and_clear_at_boundaries() {
        let item = |id: &str, status: &str, at: &str| json!({"id": id, "content": id, "activeForm": id, "status": status, "source": "agent", "createdAt": at});
        let write = event(
            "todo.write",
            json!({"todos": [item("b", "pending", "2"), item("a", "completed", "1")], "trigger": "tool"}),
        );
        let list = todos(std::slice::from_ref(&write));
        assert_eq!(list.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(todo_summary(&list), "1 pending, 1 completed");
        assert!(todos(&[write, event("compact.boundary", json!({}))]).is_empty());
        assert_eq!(todo_summary(&[]), "no tasks");
    }
}

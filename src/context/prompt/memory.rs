//! Workspace memory in the system prompt (`context.memory.autoInject`): the session's
//! workspace's latest `memory.ledger` entries, as the TypeScript server injected them.
//!
//! When `context.memory.autoInject.enabled` is on (off by default) and the workspace has
//! ledger entries, a session's first prompt persists `memory.loaded {count, tokens,
//! workspaceId: ""}` (the TypeScript payload; it persisted it at session creation, after
//! `rules.loaded`) and every prompt of the session carries the text of those entries: the
//! last `count` (`autoInject.count`, 5, held to 1..10) of the workspace, oldest first, as
//! `# Memory` / `## Recent sessions in this workspace` with a `### <title>` per entry and its
//! lessons and decisions as `- ` lines.
//!
//! The TypeScript server reloaded the workspace's latest entries when a session was resumed;
//! tron takes the entries that existed when `memory.loaded` was written, so the prompt is
//! the same after a restart and does not grow with the entries the session itself writes.
//!
//! Must not: persist events (the caller does).

use serde_json::Value;

use crate::events::{StoreError, StoreHandle};

/// The `# Memory` text of some ledger entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceMemory {
    /// The text for the system prompt.
    pub content: String,
    /// How many entries it holds.
    pub count: usize,
    /// Its tokens (characters / 4, rounded up).
    pub tokens: u64,
}

impl WorkspaceMemory {
    /// The `memory.loaded` payload.
    pub fn loaded_payload(&self) -> Value {
        serde_json::json!({ "count": self.count, "tokens": self.tokens, "workspaceId": "" })
    }
}

/// `context.memory.autoInject.count` held to 1..10 (5 when unset).
pub fn clamp_count(count: Option<u64>) -> usize {
    count.unwrap_or(5).clamp(1, 10) as usize
}

/// The text of `entries` (`memory.ledger` payloads, newest first); `None` without entries.
pub fn format(entries: &[Value]) -> Option<WorkspaceMemory> {
    if entries.is_empty() {
        return None;
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let sections: Vec<String> = entries
        .iter()
        .rev()
        .map(|p| {
            let mut parts = vec![format!("### {}", p["title"].as_str().unwrap_or("Untitled"))];
            let lessons = strings(&p["lessons"]);
            if !lessons.is_empty() {
                parts.push(lessons.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n"));
            }
            let decisions: Vec<String> = p["decisions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    format!(
                        "- {}: {}",
                        d["choice"].as_str().unwrap_or(""),
                        d["reason"].as_str().unwrap_or("")
                    )
                })
                .collect();
            if !decisions.is_empty() {
                parts.push(decisions.join("\n"));
            }
            parts.join("\n")
        })
        .collect();
    let content = format!("# Memory\n\n## Recent sessions in this workspace\n\n{}", sections.join("\n\n"));
    let tokens = content.chars().count().div_ceil(4) as u64;
    Some(WorkspaceMemory { content, count: entries.len(), tokens })
}

/// The memory of `session`'s workspace: its last `count` ledger entries (of every session
/// of the workspace), only those written at or before `until` (a timestamp) when given.
pub async fn load(
    store: &StoreHandle,
    session: &str,
    count: usize,
    until: Option<String>,
) -> Result<Option<WorkspaceMemory>, StoreError> {
    let id = session.to_owned();
    let payloads: Vec<String> = store
        .run(move |s| {
            let mut stmt = s.connection().prepare_cached(
                "SELECT payload FROM events
                 WHERE workspace_id = (SELECT workspace_id FROM sessions WHERE id = ?1)
                   AND type = 'memory.ledger' AND (?2 IS NULL OR timestamp <= ?2)
                 ORDER BY timestamp DESC, sequence DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(rusqlite::params![id, until, count as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await?;
    let entries: Vec<Value> = payloads.iter().filter_map(|p| serde_json::from_str(p).ok()).collect();
    Ok(format(&entries))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_read_oldest_first_with_lessons_and_decisions() {
        let newest = json!({"title": "Add parser", "lessons": ["Test unicode"], "decisions": [
            {"choice": "nom", "reason": "fast"}]});
        let oldest = json!({"title": "Set up CI", "lessons": [], "decisions": []});
        let m = format(&[newest, oldest]).unwrap();
        assert_eq!(
            m.content,
            "# Memory\n\n## Recent sessions in this workspace\n\n### Set up CI\n\n### Add parser\n- Test unicode\n- nom: fast"
        );
        assert_eq!((m.count, m.tokens), (2, m.content.len().div_ceil(4) as u64));
        assert_eq!(m.loaded_payload(), json!({"count": 2, "tokens": m.tokens, "workspaceId": ""}));
        assert_eq!(format(&[]), None);
        assert_eq!((clamp_count(None), clamp_count(Some(0)), clamp_count(Some(50))), (5, 1, 10));
    }
}

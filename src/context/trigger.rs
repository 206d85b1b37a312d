//! The compaction trigger checked after each run of a session (the TypeScript server's
//! `CompactionTrigger`, which its memory-ledger `Stop` hook consulted before writing the
//! ledger entry, so a compaction always comes before the run's `memory.ledger`).
//!
//! Besides the token threshold each prompt checks before it is sent (see
//! [`super::auto_compact`]), a run ends with a compaction when
//! - `context.compactor.forceAlways` is on (for testing compaction);
//! - the run made progress that is a good point to summarise: a `worktree.commit`, or a
//!   `Bash` command running `git push`, `gh pr create`, `gh pr merge` or `git tag`, since
//!   the last compaction;
//! - the session had `context.compactor.defaultTurnFallback` runs (8) since its last
//!   compaction or clear, or `alertTurnFallback` (5) once the context holds
//!   `alertZoneThreshold` (50 %) of the model's window.
//!
//! Differences from the TypeScript trigger, both deliberate:
//! - runs are counted from the session's events (its prompts since the last
//!   `compact.boundary` or `context.cleared`), not in memory, so a restart does not reset the
//!   count;
//! - its token condition (`triggerTokenThreshold`) is left to the check before the next
//!   prompt, which uses the same threshold and also counts the prompt: checking it here too
//!   would only move the same compaction from the next prompt's start to this run's end.
//!
//! Must not: compact itself (the run does, see [`crate::agent::runner`]) or read the store.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::events::SessionEvent;
use crate::settings::view::CompactorSettings;

/// When a run ends with a compaction (the `context.compactor` settings it reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// `forceAlways`.
    pub force_always: bool,
    /// `alertZoneThreshold`.
    pub alert_zone: f64,
    /// `defaultTurnFallback` (0: never).
    pub default_fallback: usize,
    /// `alertTurnFallback` (0: never).
    pub alert_fallback: usize,
}

/// Bash commands that mark progress (the TypeScript patterns).
fn progress_patterns() -> &'static [Regex] {
    static PATTERNS: OnceLock<Vec<Regex>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [r"\bgit\s+push\b", r"\bgh\s+pr\s+create\b", r"\bgh\s+pr\s+merge\b", r"\bgit\s+tag\b"]
            .iter()
            .map(|p| Regex::new(p).expect("a valid pattern"))
            .collect()
    })
}

impl Trigger {
    /// The trigger of `settings`.
    pub fn from_settings(settings: &CompactorSettings) -> Self {
        Self {
            force_always: settings.force_always,
            alert_zone: settings.alert_zone_threshold,
            default_fallback: settings.default_turn_fallback,
            alert_fallback: settings.alert_turn_fallback,
        }
    }

    /// Why the session whose events (oldest first) are `events` should compact now that a
    /// run ended, with the context holding `ratio` of the model's window; `None` when it
    /// should not. The reasons are the TypeScript trigger's.
    pub fn reason(&self, ratio: f64, events: &[SessionEvent]) -> Option<String> {
        if self.force_always {
            return Some("force-always mode (testing)".into());
        }
        let start = events
            .iter()
            .rposition(|e| matches!(e.event_type.as_str(), "compact.boundary" | "context.cleared"))
            .map_or(0, |i| i + 1);
        let since = &events[start..];
        if since.iter().any(|e| e.event_type.as_str() == "worktree.commit") {
            return Some("commit detected — good compaction point".into());
        }
        let progress = since
            .iter()
            .filter(|e| e.event_type.as_str() == "tool.call")
            .filter_map(|e| bash_command(&e.payload))
            .any(|command| progress_patterns().iter().any(|p| p.is_match(command)));
        if progress {
            return Some("progress signal: push/pr/tag detected".into());
        }
        let runs = since.iter().filter(|e| e.event_type.as_str() == "message.user").count();
        let fallback = if ratio >= self.alert_zone { self.alert_fallback } else { self.default_fallback };
        (fallback > 0 && runs >= fallback).then(|| format!("turn count fallback ({runs} turns)"))
    }
}

/// The `Bash` command of a `tool.call` payload, if it is one.
fn bash_command(payload: &Value) -> Option<&str> {
    (payload["name"] == "Bash").then(|| payload["arguments"]["command"].as_str()).flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, payload: Value) -> SessionEvent {
        serde_json::from_value(json!({
            "id": "e", "parentId": null, "sessionId": "s", "workspaceId": "w",
            "timestamp": "2026-01-01T00:00:00.000Z", "type": kind, "sequence": 1, "payload": payload,
        }))
        .unwrap()
    }

    fn trigger() -> Trigger {
        Trigger { force_always: false, alert_zone: 0.5, default_fallback: 3, alert_fallback: 2 }
    }

    fn prompts(n: usize) -> Vec<SessionEvent> {
        (0..n).map(|i| event("message.user", json!({"content": format!("p{i}")}))).collect()
    }

    #[test]
    fn runs_since_the_last_compaction_count_towards_the_fallbacks() {
        let t = trigger();
        assert_eq!(t.reason(0.1, &prompts(2)), None);
        assert_eq!(t.reason(0.1, &prompts(3)).as_deref(), Some("turn count fallback (3 turns)"));
        assert_eq!(
            t.reason(0.6, &prompts(2)).as_deref(),
            Some("turn count fallback (2 turns)"),
            "alert zone"
        );
        let mut events = prompts(5);
        events.push(event("compact.boundary", json!({})));
        events.extend(prompts(2));
        assert_eq!(t.reason(0.1, &events), None, "counted from the boundary");
        let off = Trigger { default_fallback: 0, alert_fallback: 0, ..t };
        assert_eq!(off.reason(0.9, &prompts(50)), None, "0 turns a fallback off");
        let forced = Trigger { force_always: true, ..trigger() };
        assert_eq!(forced.reason(0.0, &[]).as_deref(), Some("force-always mode (testing)"));
    }

    #[test]
    fn commits_pushes_pull_requests_and_tags_are_progress() {
        let t = trigger();
        let bash = |c: &str| event("tool.call", json!({"name": "Bash", "arguments": {"command": c}}));
        for command in ["git push origin main", "cd x && gh pr create --fill", "gh  pr merge 3", "git tag v1"]
        {
            assert_eq!(
                t.reason(0.0, &[bash(command)]).as_deref(),
                Some("progress signal: push/pr/tag detected"),
                "{command}"
            );
        }
        for command in ["git status", "echo gitpush", "git pushd"] {
            assert_eq!(t.reason(0.0, &[bash(command)]), None, "{command}");
        }
        let read = event("tool.call", json!({"name": "Read", "arguments": {"command": "git push"}}));
        assert_eq!(t.reason(0.0, &[read]), None, "only Bash commands count");
        let commit = event("worktree.commit", json!({"message": "m"}));
        assert_eq!(
            t.reason(0.0, std::slice::from_ref(&commit)).as_deref(),
            Some("commit detected — good compaction point")
        );
        let cleared = [commit, event("context.cleared", json!({}))];
        assert_eq!(t.reason(0.0, &cleared), None, "before the clear");
    }
}

//! The audit log: the last `guardrails.audit.maxEntries` evaluations of one run, in memory,
//! each also a tracing event (`tron::guardrails`, with `session_id`, `tool_call_id`, `tool`
//! and the triggered `rule_ids`): warn when blocked, info with warnings or audit hits, debug
//! otherwise. Argument values whose key looks secret are redacted, and long strings cut (as
//! the TypeScript audit logger does).
//!
//! The durable audit log is the database's `logs` table, where those events land (the
//! `session_id` column set): `tron events logs --session S --component tron::guardrails`
//! reads it back. The in-memory log ends with its run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use super::engine::{EvalContext, Evaluation};
use crate::core::wire::JsonObject;

/// Keys whose values are never kept.
const SENSITIVE: &[&str] = &["password", "token", "secret", "key", "auth", "credential"];

/// Longest argument string kept whole.
const MAX_ARGUMENT_CHARS: usize = 1000;

/// One evaluation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// `audit-<n>`.
    pub id: String,
    /// When.
    pub timestamp: String,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The tool.
    pub tool_name: String,
    /// The call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The verdict.
    pub evaluation: Evaluation,
    /// The arguments, redacted.
    pub tool_arguments: JsonObject,
}

/// A bounded, shared list of evaluations.
#[derive(Debug)]
pub struct AuditLog {
    max: usize,
    next: AtomicU64,
    entries: Mutex<VecDeque<AuditEntry>>,
}

impl AuditLog {
    /// A log keeping at most `max` entries (at least one).
    pub fn new(max: usize) -> Self {
        AuditLog { max: max.max(1), next: AtomicU64::new(0), entries: Mutex::new(VecDeque::new()) }
    }

    /// Records one evaluation (dropping the oldest beyond the bound) and traces it.
    pub fn record(&self, ctx: &EvalContext<'_>, evaluation: &Evaluation) {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = AuditEntry {
            id: format!("audit-{n}"),
            timestamp: crate::events::now_iso(),
            session_id: ctx.session_id.map(str::to_owned),
            tool_name: ctx.tool_name.to_owned(),
            tool_call_id: ctx.tool_call_id.map(str::to_owned),
            evaluation: evaluation.clone(),
            tool_arguments: redact(ctx.arguments),
        };
        let rules: Vec<&str> = evaluation.triggered_rules.iter().map(|r| r.rule_id.as_str()).collect();
        let rule_ids = rules.join(",");
        let (session_id, tool_call_id) = (ctx.session_id.unwrap_or(""), ctx.tool_call_id.unwrap_or(""));
        if evaluation.blocked {
            tracing::warn!(target: "tron::guardrails", session_id, tool_call_id, tool = ctx.tool_name,
                rule_ids = %rule_ids, reason = evaluation.block_reason.as_deref().unwrap_or(""),
                "guardrail blocked a tool call");
        } else if !rules.is_empty() {
            tracing::info!(target: "tron::guardrails", session_id, tool_call_id, tool = ctx.tool_name,
                rule_ids = %rule_ids, warnings = ?evaluation.warnings, "guardrail rules triggered");
        } else {
            tracing::debug!(target: "tron::guardrails", session_id, tool_call_id, tool = ctx.tool_name,
                "guardrails passed");
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.push_back(entry);
        while entries.len() > self.max {
            entries.pop_front();
        }
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// The kept entries in which `rule` triggered.
    pub fn triggered(&self, rule: &str) -> Vec<AuditEntry> {
        self.entries()
            .into_iter()
            .filter(|e| e.evaluation.triggered_rules.iter().any(|r| r.rule_id == rule))
            .collect()
    }
}

fn redact(args: &JsonObject) -> JsonObject {
    args.iter()
        .map(|(k, v)| {
            let lower = k.to_lowercase();
            let v = if SENSITIVE.iter().any(|s| lower.contains(s)) {
                Value::String("[REDACTED]".into())
            } else {
                match v.as_str() {
                    Some(s) if s.chars().count() > MAX_ARGUMENT_CHARS => {
                        let cut: String = s.chars().take(MAX_ARGUMENT_CHARS).collect();
                        Value::String(format!("{cut}... [truncated]"))
                    }
                    _ => v.clone(),
                }
            };
            (k.clone(), v)
        })
        .collect()
}

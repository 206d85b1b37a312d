//! `SpawnSubagent`, `QueryAgent` and `WaitForAgents`: the model's handle on subagents,
//! child sessions that run a task concurrently with their parent.
//!
//! Owns the three tools' names, schemas, argument checks and result texts (the TypeScript
//! server's, so a model sees what it saw there). Running subagents is not done here: the
//! tools call a [`SubagentControl`], which [`crate::agent::subagents::Subagents`] implements
//! (child sessions, their runs, their events in both logs).
//!
//! Differences from the TypeScript server: only in-process subagents (`mode: "tmux"` is
//! refused with a clear error; tron has no tmux launcher).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::tool_support::thousands;
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// The tools' names.
pub const NAMES: [&str; 3] = ["SpawnSubagent", "QueryAgent", "WaitForAgents"];

/// Blocking spawns wait this long by default (30 minutes).
pub const DEFAULT_SPAWN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// `WaitForAgents` waits this long by default (5 minutes).
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// A subagent's turn limit when the model gives none.
pub const DEFAULT_MAX_TURNS: u32 = 50;

/// What the model asked `SpawnSubagent` for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpawnRequest {
    /// The task (the child's prompt).
    pub task: String,
    /// The child's model; the parent's when `None`.
    pub model: Option<String>,
    /// Replaces the core system prompt.
    pub system_prompt: Option<String>,
    /// Tools taken away from the child (`toolDenials`), as given.
    pub tool_denials: Option<Value>,
    /// Skills activated in the child.
    pub skills: Vec<String>,
    /// The child's working directory; the parent's when `None`.
    pub working_directory: Option<String>,
    /// The child's turn limit.
    pub max_turns: u32,
    /// Whether the spawning call waits for the result.
    pub blocking: bool,
}

impl SpawnRequest {
    /// The tool names a `toolDenials` object (`{denyAll, tools}`) takes away; `None` when
    /// it denies every tool.
    pub fn denied_tools(&self) -> Option<Vec<String>> {
        let Some(denials) = &self.tool_denials else { return Some(Vec::new()) };
        if denials.get("denyAll").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        Some(
            denials
                .get("tools")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        )
    }
}

/// How a subagent ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubagentResult {
    /// The child session.
    pub session_id: String,
    /// Whether it completed (as opposed to failed).
    pub success: bool,
    /// Its final answer.
    pub output: String,
    /// A short summary of the answer (or of the failure).
    pub summary: String,
    /// The task it was given.
    pub task: String,
    /// Turns it took.
    pub total_turns: i64,
    /// Input tokens it used.
    pub input_tokens: i64,
    /// Output tokens it used.
    pub output_tokens: i64,
    /// How long it ran.
    pub duration_ms: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// `success`, `max_tokens`, `timeout`, `error` or `aborted`.
    pub completion_type: String,
}

/// `WaitForAgents`' `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Until every one has ended.
    All,
    /// Until the first one ends.
    Any,
}

/// Why a wait did not give results.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError {
    /// The timeout passed first.
    Timeout,
    /// The wait was aborted (the parent's run was).
    Aborted,
    /// Anything else (an unknown session, ...).
    Failed(String),
}

/// `QueryAgent`'s `queryType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Status, turns, tokens, cost.
    Status,
    /// Recent events.
    Events,
    /// Recent log records.
    Logs,
    /// The final answer.
    Output,
}

/// A subagent's status (`QueryAgent status`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusInfo {
    /// The child session.
    pub session_id: String,
    /// `running`, `completed`, `failed` or `unknown`.
    pub status: String,
    /// `subsession` for in-process subagents.
    pub spawn_type: Option<String>,
    /// Its task.
    pub task: Option<String>,
    /// Turns so far.
    pub turn_count: i64,
    /// Input tokens so far.
    pub input_tokens: i64,
    /// Output tokens so far.
    pub output_tokens: i64,
    /// Cost so far (USD).
    pub cost: f64,
    /// When it was created.
    pub created_at: String,
    /// When it last did something.
    pub last_activity_at: String,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Its model.
    pub model: String,
    /// Its working directory.
    pub working_directory: String,
}

/// One line of `QueryAgent events` / `logs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// When.
    pub timestamp: String,
    /// Event type, or log level.
    pub kind: String,
    /// Log component (empty for events).
    pub component: String,
    /// Summary or message.
    pub text: String,
}

/// What `QueryAgent` found.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAnswer {
    /// `status`.
    Status(Box<StatusInfo>),
    /// `events`, newest last.
    Events(Vec<Entry>),
    /// `logs`, newest last.
    Logs(Vec<Entry>),
    /// `output`: the final answer, when there is one.
    Output(Option<String>),
}

/// What the tools need from whoever runs subagents.
pub trait SubagentControl: Send + Sync {
    /// Starts a subagent for `request` (spawned by the call `tool_call_id`); its session id.
    fn spawn<'a>(
        &'a self,
        request: SpawnRequest,
        tool_call_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, String>>;

    /// Waits for subagents to end.
    fn wait<'a>(
        &'a self,
        ids: &'a [String],
        mode: WaitMode,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<SubagentResult>, WaitError>>;

    /// Answers a query about one subagent.
    fn query<'a>(
        &'a self,
        id: &'a str,
        kind: QueryKind,
        limit: usize,
    ) -> BoxFuture<'a, Result<QueryAnswer, String>>;
}

/// The three tools over `control`.
pub fn tools(control: Arc<dyn SubagentControl>) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(SpawnSubagent(control.clone())),
        Arc::new(QueryAgent(control.clone())),
        Arc::new(WaitForAgents(control)),
    ]
}

// ----- SpawnSubagent -----------------------------------------------------------------

/// `SpawnSubagent`.
pub struct SpawnSubagent(Arc<dyn SubagentControl>);

const SPAWN_DESCRIPTION: &str = "Spawn a sub-agent: a separate session with its own event log that works on a task while you continue.

By default the call waits for the sub-agent and returns its full answer with turn, token and duration statistics (blocking: true). With blocking: false it returns at once with the sub-agent's session id: check on it with QueryAgent and collect its result with WaitForAgents.

Give the sub-agent a specific, self-contained task with all the context it needs; it does not see this conversation. It runs with your tools (minus toolDenials) in your working directory unless told otherwise.";

fn spawn_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "task": {"type": "string", "description": "The task/prompt for the agent to execute. Be specific and provide all necessary context."},
            "mode": {"type": "string", "enum": ["inProcess", "tmux"], "description": "Execution mode (only inProcess is supported by this server). Default: inProcess"},
            "model": {"type": "string", "description": "Model to use. If not specified, uses the parent session's model."},
            "systemPrompt": {"type": "string", "description": "Custom system prompt for the agent (default: the standard prompt)"},
            "toolDenials": {
                "type": "object",
                "description": "Tools to deny the sub-agent (default: none denied)",
                "properties": {
                    "denyAll": {"type": "boolean", "description": "Deny every tool (text-only sub-agent)"},
                    "tools": {"type": "array", "items": {"type": "string"}, "description": "Tool names to deny"}
                }
            },
            "skills": {"type": "array", "items": {"type": "string"}, "description": "Skills to load for the agent"},
            "workingDirectory": {"type": "string", "description": "Working directory (default: the parent session's)"},
            "maxTurns": {"type": "number", "description": "Maximum turns (default: 50)"},
            "blocking": {"type": "boolean", "description": "Wait for the agent to finish and return its result (default: true)"},
            "timeout": {"type": "number", "description": "How long a blocking call waits, in milliseconds (default: 1800000, 30 minutes)"}
        },
        "required": ["task"]
    })
}

/// The task as the result texts quote it: its first 200 characters.
fn quoted_task(task: &str) -> String {
    if task.chars().count() > 200 {
        format!("{}...", task.chars().take(200).collect::<String>())
    } else {
        task.to_owned()
    }
}

fn positive_ms(args: &JsonObject, key: &str) -> Option<Duration> {
    args.get(key).and_then(Value::as_f64).filter(|v| *v > 0.0).map(|v| Duration::from_millis(v as u64))
}

/// `1.5` for 1500 ms (JavaScript's `(ms / 1000).toFixed(1)`).
fn seconds(ms: i64) -> String {
    format!("{:.1}", ms as f64 / 1000.0)
}

fn tokens_line(input: i64, output: i64) -> String {
    format!("{} in / {} out", thousands(input.max(0) as u64), thousands(output.max(0) as u64))
}

fn result_details(r: &SubagentResult) -> Value {
    let mut details = json!({
        "sessionId": r.session_id,
        "success": r.success,
        "output": r.output,
        "summary": r.summary,
        "totalTurns": r.total_turns,
        "duration": r.duration_ms,
        "tokenUsage": {"inputTokens": r.input_tokens, "outputTokens": r.output_tokens},
    });
    if let Some(e) = &r.error {
        details["error"] = json!(e);
    }
    details
}

impl Tool for SpawnSubagent {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new("SpawnSubagent", SPAWN_DESCRIPTION, spawn_schema())
    }

    fn execute<'a>(&'a self, args: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let task = args.get("task").and_then(Value::as_str).unwrap_or_default();
            if task.trim().is_empty() {
                return ToolResult::error(
                    "Error: Missing required parameter \"task\". Provide a clear task description for the agent.",
                )
                .with_details(json!({"success": false, "sessionId": "", "error": "Missing task parameter"}));
            }
            if args.get("mode").and_then(Value::as_str) == Some("tmux") {
                let error = "tmux mode is not supported by this server; use mode \"inProcess\"";
                return ToolResult::error(format!("Failed to spawn agent: {error}"))
                    .with_details(json!({"success": false, "sessionId": "", "error": error}));
            }
            let strings = |key: &str| -> Vec<String> {
                args.get(key)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            let text = |key: &str| {
                args.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
            };
            let request = SpawnRequest {
                task: task.to_owned(),
                model: text("model"),
                system_prompt: text("systemPrompt"),
                tool_denials: args.get("toolDenials").filter(|v| v.is_object()).cloned(),
                skills: strings("skills"),
                working_directory: text("workingDirectory"),
                max_turns: args
                    .get("maxTurns")
                    .and_then(Value::as_f64)
                    .filter(|v| *v >= 1.0)
                    .map_or(DEFAULT_MAX_TURNS, |v| v.min(10_000.0) as u32),
                blocking: args.get("blocking").and_then(Value::as_bool) != Some(false),
            };
            let blocking = request.blocking;
            let quoted = quoted_task(task);
            let id = match self.0.spawn(request, ctx.tool_call_id.as_deref()).await {
                Ok(id) => id,
                Err(error) => {
                    return ToolResult::error(format!("Failed to spawn agent: {error}"))
                        .with_details(json!({"success": false, "sessionId": "", "error": error}));
                }
            };
            if !blocking {
                return ToolResult::text(format!(
                    "Agent spawned successfully.\n**Session ID**: {id}\n**Type**: in-process\n**Task**: {quoted}\n\n\
                     You are responsible for monitoring this agent. Use QueryAgent to check its status and retrieve results when complete.\n\n\
                     Example: QueryAgent({{ sessionId: \"{id}\", queryType: \"status\" }})"
                ))
                .with_details(json!({"sessionId": id, "success": true}));
            }
            let timeout = positive_ms(args, "timeout").unwrap_or(DEFAULT_SPAWN_TIMEOUT);
            let ids = [id.clone()];
            let waited = tokio::select! {
                r = self.0.wait(&ids, WaitMode::All, timeout) => r,
                _ = ctx.cancel.cancelled() => Err(WaitError::Aborted),
            };
            match waited {
                Ok(mut results) if !results.is_empty() => {
                    let r = results.remove(0);
                    let details = result_details(&r);
                    let head = format!(
                        "**Session ID**: {id}\n**Task**: {quoted}\n**Turns**: {}\n**Duration**: {}s",
                        r.total_turns,
                        seconds(r.duration_ms)
                    );
                    // A failed subagent is the call's answer, not a tool error.
                    let text = if r.success {
                        format!(
                            "✅ Agent completed successfully.\n{head}\n**Tokens**: {}\n\n**Output**:\n{}",
                            tokens_line(r.input_tokens, r.output_tokens),
                            r.output
                        )
                    } else {
                        format!("❌ Agent failed.\n{head}\n**Error**: {}", r.error.as_deref().unwrap_or("unknown error"))
                    };
                    ToolResult::text(text).with_details(details)
                }
                Err(WaitError::Aborted) => ToolResult::text(format!(
                    "Agent execution was interrupted.\n**Session ID**: {id}\n**Task**: {quoted}\n\n\
                     The subagent may still be running. Use QueryAgent to check status."
                ))
                .with_details(json!({"sessionId": id, "success": false, "interrupted": true})),
                Ok(_) | Err(WaitError::Timeout) | Err(WaitError::Failed(_)) => ToolResult::error(format!(
                    "Agent timed out after {}s.\n**Session ID**: {id}\n**Task**: {quoted}\n\n\
                     The agent is still running. Use QueryAgent to check its status later, or WaitForAgents to wait longer.",
                    timeout.as_secs()
                ))
                .with_details(json!({"sessionId": id, "success": false,
                    "error": format!("Timed out after {}ms", timeout.as_millis())})),
            }
        })
    }
}

// ----- QueryAgent --------------------------------------------------------------------

/// `QueryAgent`.
pub struct QueryAgent(Arc<dyn SubagentControl>);

const QUERY_DESCRIPTION: &str = "Query the status, events, logs, or output of a spawned sub-agent.

Query types:
- status: running / completed / failed, turn count, token usage, task
- events: its recent events
- logs: its recent log entries
- output: its final answer (once completed)

Use this to monitor sub-agents spawned with SpawnSubagent.";

fn status_icon(status: &str) -> &'static str {
    match status {
        "running" => "🔄",
        "completed" => "✅",
        "failed" => "❌",
        _ => "❓",
    }
}

fn log_icon(level: &str) -> &'static str {
    match level {
        "error" => "❌",
        "warn" => "⚠️",
        "info" => "ℹ️",
        "debug" => "🔍",
        _ => "📝",
    }
}

fn status_text(s: &StatusInfo) -> String {
    let mut out = format!(
        "**Sub-agent Status** {}\n\n| Property | Value |\n|----------|-------|\n\
         | **Session ID** | `{}` |\n| **Status** | {} |\n| **Spawn Type** | {} |\n| **Model** | {} |\n\
         | **Turns** | {} |\n| **Tokens** | {} |\n| **Cost** | ${:.4} |\n| **Working Dir** | `{}` |\n\
         | **Created** | {} |\n| **Last Activity** | {} |",
        status_icon(&s.status),
        s.session_id,
        s.status,
        s.spawn_type.as_deref().unwrap_or("unknown"),
        s.model,
        s.turn_count,
        tokens_line(s.input_tokens, s.output_tokens),
        s.cost,
        s.working_directory,
        s.created_at,
        s.last_activity_at,
    );
    if let Some(ended) = &s.ended_at {
        out.push_str(&format!("\n| **Ended** | {ended} |"));
    }
    if let Some(task) = &s.task {
        let short: String = task.chars().take(100).collect();
        let more = if task.chars().count() > 100 { "..." } else { "" };
        out.push_str(&format!("\n\n**Task**: {short}{more}"));
    }
    out
}

impl Tool for QueryAgent {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            "QueryAgent",
            QUERY_DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "sessionId": {"type": "string", "description": "The session ID of the sub-agent to query"},
                    "queryType": {"type": "string", "enum": ["status", "events", "logs", "output"], "description": "What to query"},
                    "limit": {"type": "number", "description": "For events/logs: maximum entries to return. Default: 20."}
                },
                "required": ["sessionId", "queryType"]
            }),
        )
    }

    fn read_only(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, args: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let Some(id) = args.get("sessionId").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
                return ToolResult::error("Error: Missing required parameter \"sessionId\".")
                    .with_details(json!({"success": false, "error": "Missing sessionId parameter"}));
            };
            let kind = match args.get("queryType").and_then(Value::as_str) {
                Some("status") => QueryKind::Status,
                Some("events") => QueryKind::Events,
                Some("logs") => QueryKind::Logs,
                Some("output") => QueryKind::Output,
                _ => {
                    return ToolResult::error(
                        "Error: Invalid queryType. Must be one of: status, events, logs, output.",
                    )
                    .with_details(json!({"success": false, "error": "Invalid queryType parameter"}))
                }
            };
            let limit =
                args.get("limit").and_then(Value::as_f64).filter(|v| *v >= 1.0).map_or(20, |v| v as usize);
            match self.0.query(id, kind, limit).await {
                Err(error) => ToolResult::error(format!("Failed to query sub-agent: {error}"))
                    .with_details(json!({"success": false, "error": error})),
                Ok(QueryAnswer::Status(s)) => ToolResult::text(status_text(&s)).with_details(
                    json!({"success": true, "status": {"sessionId": s.session_id, "status": s.status}}),
                ),
                Ok(QueryAnswer::Events(events)) if events.is_empty() => {
                    ToolResult::text("No events found for this sub-agent.")
                }
                Ok(QueryAnswer::Events(events)) => {
                    let mut out = format!("**Sub-agent Events** ({} events)\n\n", events.len());
                    for e in &events {
                        out.push_str(&format!("- `{}` **{}**: {}\n", e.timestamp, e.kind, e.text));
                    }
                    ToolResult::text(out)
                }
                Ok(QueryAnswer::Logs(logs)) if logs.is_empty() => {
                    ToolResult::text("No log entries found for this sub-agent.")
                }
                Ok(QueryAnswer::Logs(logs)) => {
                    let mut out = format!("**Sub-agent Logs** ({} entries)\n\n", logs.len());
                    for l in &logs {
                        out.push_str(&format!(
                            "{} `{}` [{}] {}\n",
                            log_icon(&l.kind),
                            l.timestamp,
                            l.component,
                            l.text
                        ));
                    }
                    ToolResult::text(out)
                }
                Ok(QueryAnswer::Output(Some(output))) => {
                    ToolResult::text(format!("**Sub-agent Output** (session: `{id}`):\n\n{output}"))
                }
                Ok(QueryAnswer::Output(None)) => ToolResult::text(format!(
                    "Sub-agent `{id}` has no output yet (may still be running or has no response)."
                )),
            }
        })
    }
}

// ----- WaitForAgents -----------------------------------------------------------------

/// `WaitForAgents`.
pub struct WaitForAgents(Arc<dyn SubagentControl>);

const WAIT_DESCRIPTION: &str = "Wait for spawned sub-agent(s) to complete and get their results.

Blocks until the sub-agents end (success or failure) or the timeout passes (default 5 minutes).
- sessionIds: the sub-agents to wait for
- mode: \"all\" (default) waits for every one, \"any\" for the first
- timeout: milliseconds (default 300000)

Returns each result: output, turns, token usage and duration.";

fn wait_text(results: &[SubagentResult]) -> String {
    let mut out = String::from("**Sub-agent(s) Completed**\n\n");
    for r in results {
        out.push_str(&format!(
            "### {} Session: `{}`\n\n| Property | Value |\n|----------|-------|\n| **Status** | {} |\n\
             | **Turns** | {} |\n| **Tokens** | {} |\n| **Duration** | {}s |\n",
            if r.success { "✅" } else { "❌" },
            r.session_id,
            if r.success { "Completed" } else { "Failed" },
            r.total_turns,
            tokens_line(r.input_tokens, r.output_tokens),
            seconds(r.duration_ms),
        ));
        if let Some(e) = &r.error {
            out.push_str(&format!("\n**Error**: {e}\n"));
        }
        if !r.output.is_empty() {
            let output = if r.output.chars().count() > 1000 {
                format!(
                    "{}\n\n... (truncated, use QueryAgent for full output)",
                    r.output.chars().take(1000).collect::<String>()
                )
            } else {
                r.output.clone()
            };
            out.push_str(&format!("\n**Output**:\n{output}\n"));
        }
        out.push_str("\n---\n\n");
    }
    out
}

impl Tool for WaitForAgents {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            "WaitForAgents",
            WAIT_DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "sessionIds": {"type": "array", "items": {"type": "string"}, "description": "Session IDs of the sub-agents to wait for"},
                    "mode": {"type": "string", "enum": ["all", "any"], "description": "\"all\" waits for every sub-agent, \"any\" for the first (default: all)"},
                    "timeout": {"type": "number", "description": "Maximum wait in milliseconds (default: 300000)"}
                },
                "required": ["sessionIds"]
            }),
        )
    }

    fn read_only(&self) -> bool {
        true
    }

    fn execute<'a>(&'a self, args: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let raw = args.get("sessionIds").and_then(Value::as_array).cloned().unwrap_or_default();
            if raw.is_empty() {
                return ToolResult::error("Error: No session IDs provided.")
                    .with_details(json!({"success": false, "error": "No session IDs provided"}));
            }
            let ids: Option<Vec<String>> =
                raw.iter().map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)).collect();
            let Some(ids) = ids else {
                return ToolResult::error("Error: Invalid session ID format.")
                    .with_details(json!({"success": false, "error": "Invalid session ID format"}));
            };
            let mode = if args.get("mode").and_then(Value::as_str) == Some("any") {
                WaitMode::Any
            } else {
                WaitMode::All
            };
            let timeout = positive_ms(args, "timeout").unwrap_or(DEFAULT_WAIT_TIMEOUT);
            let waited = tokio::select! {
                r = self.0.wait(&ids, mode, timeout) => r,
                _ = ctx.cancel.cancelled() => Err(WaitError::Aborted),
            };
            match waited {
                Ok(results) => {
                    let details = json!({"success": true, "results": results.iter().map(result_details).collect::<Vec<_>>()});
                    ToolResult::text(wait_text(&results)).with_details(details)
                }
                Err(e) => {
                    let (message, timed_out) = match e {
                        WaitError::Timeout => (
                            format!("Timeout after {}ms waiting for sub-agent(s)", timeout.as_millis()),
                            true,
                        ),
                        WaitError::Aborted => ("interrupted".to_owned(), false),
                        WaitError::Failed(m) => (m, false),
                    };
                    ToolResult::error(format!("Failed to wait for sub-agent(s): {message}"))
                        .with_details(json!({"success": false, "error": message, "timedOut": timed_out}))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials() {
        let mut r = SpawnRequest::default();
        assert_eq!(r.denied_tools(), Some(vec![]));
        r.tool_denials = Some(json!({"tools": ["Bash", 3, "Write"]}));
        assert_eq!(r.denied_tools(), Some(vec!["Bash".to_owned(), "Write".to_owned()]));
        r.tool_denials = Some(json!({"denyAll": true, "tools": ["Bash"]}));
        assert_eq!(r.denied_tools(), None);
    }

    #[test]
    fn task_quoting_and_numbers() {
        assert_eq!(quoted_task("short"), "short");
        let long = "x".repeat(250);
        assert_eq!(quoted_task(&long), format!("{}...", "x".repeat(200)));
        assert_eq!(seconds(1550), "1.6");
        assert_eq!(seconds(0), "0.0");
        assert_eq!(tokens_line(12345, 7), "12,345 in / 7 out");
    }

    #[test]
    fn wait_text_truncates_long_output() {
        let r = SubagentResult {
            session_id: "sess_1".into(),
            success: true,
            output: "y".repeat(1200),
            total_turns: 2,
            duration_ms: 2500,
            ..Default::default()
        };
        let text = wait_text(&[r]);
        assert!(text.starts_with("**Sub-agent(s) Completed**\n\n### ✅ Session: `sess_1`"));
        assert!(text.contains("| **Duration** | 2.5s |"));
        assert!(text.contains("... (truncated, use QueryAgent for full output)"));
    }
}

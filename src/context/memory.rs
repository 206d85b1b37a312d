//! The memory ledger: after a run, a small model writes what the run did as a structured
//! `memory.ledger` event (title, type, files, decisions, lessons), so later sessions and
//! `memory.getLedger` can recall it.
//!
//! Follows the TypeScript server's ledger writer: the entry covers the events since the
//! last `memory.ledger` of the session; a stretch without a message, tool call, file change
//! or commit is not sent; the model reads a one-line-per-event transcript and answers one
//! JSON object (optionally in a code fence), or `{"skip": true}` for a trivial exchange;
//! enumerations are normalised (`entryType` else `conversation`, `status` else `completed`,
//! file `op` else `M`); `tokenCost` is the ledger call's own usage and `model` the session's.
//! The ledger model is `models.subagent` (the TypeScript server hard-coded Claude Haiku 4.5,
//! the default of that setting).
//!
//! Fail-silent: every problem is an [`LedgerOutcome::Skipped`] reason, never an error that
//! could break a run. Must not: touch SQLite except through [`StoreHandle`], or shape frames.

use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use crate::core::messages::Message;
use crate::core::stream::StreamEvent;
use crate::events::{NewEvent, SessionEvent, StoreHandle};
use crate::llm::models::ModelInfo;
use crate::llm::{Provider, Request};

/// What the ledger model is told.
pub const LEDGER_PROMPT: &str = r#"You index the memory of a coding agent. You get the events of one response cycle (the user's request, the agent's thinking, answers, tool calls and results) and decide whether it is worth remembering.

If the cycle is trivial (a greeting, a clarifying question with no action, a yes/no confirmation), answer exactly {"skip": true}.

Otherwise answer ONE JSON object, without markdown fences, with these keys:
- "title": what was done, under 80 characters
- "entryType": one of "feature", "bugfix", "refactor", "docs", "config", "research", "conversation"
- "status": one of "completed", "partial", "in_progress"
- "tags": short lowercase tags without spaces
- "input": the user's request in one sentence
- "actions": one to three things the agent did
- "files": [{"path": relative path, "op": "C" (created), "M" (modified) or "D" (deleted), "why": reason}]
- "decisions": [{"choice": what was chosen, "reason": why}]
- "lessons": what to remember next time (may be empty)
- "thinkingInsights": insights from the agent's reasoning (may be empty)

Be concise: this is an index of WHAT was done and WHY, not a log. Return only valid JSON."#;

const ENTRY_TYPES: [&str; 7] =
    ["feature", "bugfix", "refactor", "docs", "config", "research", "conversation"];
const STATUSES: [&str; 3] = ["completed", "partial", "in_progress"];
const MEANINGFUL: [&str; 7] = [
    "message.user",
    "message.assistant",
    "tool.call",
    "tool.result",
    "file.write",
    "file.edit",
    "worktree.commit",
];

/// What a ledger write did.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerOutcome {
    /// A `memory.ledger` event was appended.
    Written {
        /// The committed event.
        event: Box<SessionEvent>,
        /// Its title.
        title: String,
        /// Its `entryType`.
        entry_type: String,
    },
    /// Nothing written, and why (`no_new_content`, `skipped`, a model or parse failure).
    Skipped(String),
}

/// The events after the session's last `memory.ledger`.
pub fn cycle(events: &[SessionEvent]) -> &[SessionEvent] {
    match events.iter().rposition(|e| e.event_type.as_str() == "memory.ledger") {
        Some(last) => &events[last + 1..],
        None => events,
    }
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    }
}

fn arguments_summary(args: &Value) -> String {
    for key in ["file_path", "path"] {
        if let Some(v) = args.get(key).and_then(Value::as_str) {
            return format!("{key}={v}");
        }
    }
    if let Some(c) = args.get("command").and_then(Value::as_str) {
        return format!("command={}", clip(c, 80));
    }
    match args.as_object() {
        Some(o) => o
            .iter()
            .take(2)
            .map(|(k, v)| format!("{k}={}", clip(&v.to_string(), 60)))
            .collect::<Vec<_>>()
            .join(", "),
        None => String::new(),
    }
}

/// The transcript the ledger model reads: one line per event of the cycle.
pub fn transcript(cycle: &[SessionEvent]) -> String {
    let mut lines = vec!["Analyze these session events and create a ledger entry:".to_owned()];
    for e in cycle {
        let p = &e.payload;
        match e.event_type.as_str() {
            "message.user" => lines.push(format!("[USER] {}", clip(&text_of(&p["content"]), 300))),
            "message.assistant" => {
                for block in p["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str() {
                        Some("thinking") => lines.push(format!(
                            "[THINKING] {}",
                            clip(block["thinking"].as_str().unwrap_or(""), 500)
                        )),
                        Some("text") => lines
                            .push(format!("[ASSISTANT] {}", clip(block["text"].as_str().unwrap_or(""), 300))),
                        _ => {}
                    }
                }
            }
            "tool.call" => lines.push(format!(
                "[TOOL_CALL] {}({})",
                p["name"].as_str().unwrap_or("tool"),
                arguments_summary(&p["arguments"])
            )),
            "tool.result" => lines.push(format!("[TOOL_RESULT] {}", clip(&text_of(&p["content"]), 100))),
            "file.write" | "file.edit" => lines.push(format!(
                "[FILE_OP] {}: {}",
                e.event_type.as_str(),
                p["path"].as_str().unwrap_or("")
            )),
            "worktree.commit" => lines.push(format!("[COMMIT] {}", p["message"].as_str().unwrap_or(""))),
            _ => {}
        }
    }
    lines.join("\n")
}

/// The entry in the model's answer: `Ok(None)` when it said to skip.
pub fn parse_answer(answer: &str) -> Result<Option<Map<String, Value>>, String> {
    let trimmed = answer.trim();
    let body = match trimmed.find("```") {
        Some(start) => {
            let after = &trimmed[start + 3..];
            let after = after.strip_prefix("json").unwrap_or(after);
            let after = after.trim_start_matches([' ', '\r']).strip_prefix('\n').unwrap_or(after);
            after.find("```").map_or(after, |end| &after[..end])
        }
        None => trimmed,
    };
    let parsed: Value = serde_json::from_str(body.trim())
        .map_err(|_| "Failed to parse subagent response as JSON".to_owned())?;
    let Value::Object(entry) = parsed else { return Err("Failed to parse subagent response as JSON".into()) };
    if entry.get("skip").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    Ok(Some(entry))
}

/// Where the cycle is and what it cost, for the payload.
#[derive(Debug, Clone, Default)]
pub struct EntryContext {
    /// The session's model.
    pub model: String,
    /// The session's working directory.
    pub working_directory: String,
    /// The ledger call's input tokens.
    pub input_tokens: u64,
    /// The ledger call's output tokens.
    pub output_tokens: u64,
}

/// The `memory.ledger` payload for a parsed entry of `cycle` (normalised as the TypeScript
/// server does).
pub fn payload(entry: &Map<String, Value>, cycle: &[SessionEvent], ctx: &EntryContext) -> Value {
    let string = |key: &str, default: &str| -> String {
        match entry.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => default.to_owned(),
            Some(v) => v.to_string(),
        }
    };
    let one_of = |key: &str, allowed: &[&str], default: &str| -> String {
        entry.get(key).and_then(Value::as_str).filter(|v| allowed.contains(v)).unwrap_or(default).to_owned()
    };
    let strings = |key: &str| -> Vec<String> {
        entry
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect())
            .unwrap_or_default()
    };
    let objects = |key: &str| -> Vec<&Map<String, Value>> {
        entry
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    };
    let field = |o: &Map<String, Value>, key: &str| -> String {
        o.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default()
    };
    let files: Vec<Value> = objects("files")
        .into_iter()
        .map(|f| {
            let op =
                f.get("op").and_then(Value::as_str).filter(|o| ["C", "M", "D"].contains(o)).unwrap_or("M");
            json!({"path": field(f, "path"), "op": op, "why": field(f, "why")})
        })
        .collect();
    let decisions: Vec<Value> = objects("decisions")
        .into_iter()
        .map(|d| json!({"choice": field(d, "choice"), "reason": field(d, "reason")}))
        .collect();
    let turns: Vec<i64> = cycle
        .iter()
        .filter(|e| e.event_type.as_str() == "stream.turn_start")
        .filter_map(|e| e.payload["turn"].as_i64())
        .collect();
    let id = |e: Option<&SessionEvent>| e.map_or_else(|| "unknown".to_owned(), |e| e.id.as_str().to_owned());
    json!({
        "eventRange": {"firstEventId": id(cycle.first()), "lastEventId": id(cycle.last())},
        "turnRange": {"firstTurn": turns.first().copied().unwrap_or(0), "lastTurn": turns.last().copied().unwrap_or(0)},
        "title": string("title", "Untitled"),
        "entryType": one_of("entryType", &ENTRY_TYPES, "conversation"),
        "status": one_of("status", &STATUSES, "completed"),
        "tags": strings("tags"),
        "input": string("input", ""),
        "actions": strings("actions"),
        "files": files,
        "decisions": decisions,
        "lessons": strings("lessons"),
        "thinkingInsights": strings("thinkingInsights"),
        "tokenCost": {"input": ctx.input_tokens, "output": ctx.output_tokens},
        "model": ctx.model,
        "workingDirectory": ctx.working_directory,
    })
}

/// Writes the ledger entry for `session`'s latest cycle with `model` through `provider`
/// (see the module doc). Never fails: problems are a [`LedgerOutcome::Skipped`] reason.
pub async fn write_ledger(
    store: &StoreHandle,
    session: &str,
    provider: &dyn Provider,
    model: &'static ModelInfo,
) -> LedgerOutcome {
    let id = session.to_owned();
    let loaded = store.run(move |s| Ok((s.session(&id)?, s.events(&id)?))).await;
    let (row, events) = match loaded {
        Ok(found) => found,
        Err(e) => return LedgerOutcome::Skipped(e.to_string()),
    };
    let cycle = cycle(&events);
    if !cycle.iter().any(|e| MEANINGFUL.contains(&e.event_type.as_str())) {
        return LedgerOutcome::Skipped("no_new_content".into());
    }
    let request = Request {
        model: model.id.to_owned(),
        system: Some(LEDGER_PROMPT.to_owned()),
        messages: vec![Message::user(transcript(cycle))],
        tools: Vec::new(),
        max_tokens: model.max_output.min(2_048),
        thinking_budget: None,
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut stream = provider.stream(request);
        while let Some(item) = stream.next().await {
            match item {
                Ok(StreamEvent::Done { message, .. }) => return Ok(message),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the ledger model's answer ended early".to_owned())
    })
    .await;
    let message = match answer {
        Ok(Ok(message)) => message,
        Ok(Err(e)) => return LedgerOutcome::Skipped(e),
        Err(_) => return LedgerOutcome::Skipped("the ledger model did not answer within 30 s".into()),
    };
    let text = message.text();
    if text.trim().is_empty() {
        return LedgerOutcome::Skipped("empty output from subagent".into());
    }
    let entry = match parse_answer(&text) {
        Ok(Some(entry)) => entry,
        Ok(None) => return LedgerOutcome::Skipped("skipped".into()),
        Err(e) => return LedgerOutcome::Skipped(e),
    };
    let usage = message.usage.clone().unwrap_or_default();
    let ctx = EntryContext {
        model: row.latest_model.clone(),
        working_directory: row.working_directory.clone(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    };
    let payload = payload(&entry, cycle, &ctx);
    let (title, entry_type) = (
        payload["title"].as_str().unwrap_or_default().to_owned(),
        payload["entryType"].as_str().unwrap_or_default().to_owned(),
    );
    let id = session.to_owned();
    match store.run(move |s| s.append(&id, NewEvent::raw("memory.ledger", payload))).await {
        Ok(event) => LedgerOutcome::Written { event: Box::new(event), title, entry_type },
        Err(e) => LedgerOutcome::Skipped(e.to_string()),
    }
}

/// Writes the ledger entry of `session`'s latest cycle with the ledger model:
/// `models.subagent`, else `session_model`, whichever has credentials first (`None` when
/// neither has).
pub async fn write_with(
    store: &StoreHandle,
    session: &str,
    settings: &crate::settings::Settings,
    session_model: &'static ModelInfo,
    auth_file: &std::path::Path,
    env: &crate::settings::EnvLookup,
) -> Option<LedgerOutcome> {
    let small = crate::llm::models::lookup(&settings.models.subagent).ok();
    let candidates: Vec<&'static ModelInfo> = small.into_iter().chain([session_model]).collect();
    let account = crate::agent::setup::anthropic_account(settings);
    let (provider, model) = crate::agent::setup::first_available(
        &candidates,
        auth_file,
        &**env,
        &settings.retry.policy(),
        account,
    )?;
    let outcome = write_ledger(store, session, provider.as_ref(), model).await;
    if let LedgerOutcome::Skipped(reason) = &outcome {
        tracing::debug!(session, reason, "no memory ledger entry");
    }
    Some(outcome)
}

/// The `memory.getLedger` entry for a `memory.ledger` event (the iOS app's
/// `LedgerEntryDTO`: every list present, `insights` from `thinkingInsights`).
pub fn ledger_entry(e: &SessionEvent) -> Value {
    let p = &e.payload;
    let list = |key: &str| p.get(key).filter(|v| v.is_array()).cloned().unwrap_or_else(|| json!([]));
    json!({
        "id": e.id,
        "sessionId": e.session_id,
        "timestamp": e.timestamp,
        "title": p.get("title"),
        "entryType": p.get("entryType"),
        "input": p.get("input"),
        "actions": list("actions"),
        "decisions": list("decisions"),
        "lessons": list("lessons"),
        "insights": list("thinkingInsights"),
        "tags": list("tags"),
        "files": list("files"),
        "model": p.get("model"),
        "tokenCost": p.get("tokenCost"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_and_without_fences() {
        let plain = r#"{"title": "Add parser", "entryType": "feature"}"#;
        assert_eq!(parse_answer(plain).unwrap().unwrap()["title"], "Add parser");
        let fenced = "Here it is:\n```json\n{\"title\": \"X\"}\n```\nDone.";
        assert_eq!(parse_answer(fenced).unwrap().unwrap()["title"], "X");
        assert_eq!(parse_answer(r#"{"skip": true}"#).unwrap(), None);
        assert!(parse_answer("not json").is_err());
        assert!(parse_answer("[1, 2]").is_err());
    }

    #[test]
    fn payloads_are_normalised() {
        let entry = parse_answer(
            r#"{"title": 7, "entryType": "poetry", "status": "done", "tags": ["a", 2],
                "files": [{"path": "src/x.rs", "op": "Z"}, "junk"], "decisions": [{"choice": "c"}]}"#,
        )
        .unwrap()
        .unwrap();
        let p = payload(&entry, &[], &EntryContext { model: "m".into(), ..Default::default() });
        assert_eq!(p["title"], "7");
        assert_eq!(p["entryType"], "conversation");
        assert_eq!(p["status"], "completed");
        assert_eq!(p["tags"], json!(["a", "2"]));
        assert_eq!(p["files"], json!([{"path": "src/x.rs", "op": "M", "why": ""}]));
        assert_eq!(p["decisions"], json!([{"choice": "c", "reason": ""}]));
        assert_eq!(p["eventRange"]["firstEventId"], "unknown");
        assert_eq!(p["lessons"], json!([]));
        // Every field of the TypeScript payload is there.
        let typed: crate::events::types::MemoryLedgerPayload = serde_json::from_value(p).unwrap();
        assert_eq!(typed.model, "m");
    }
}

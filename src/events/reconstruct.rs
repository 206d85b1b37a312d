//! Message reconstruction: the conversation a model sees at a given event, rebuilt from the
//! chain of events from the root to that event.
//!
//! The rules are the TypeScript server's (message-reconstructor.ts), so a session gives the
//! same messages in both servers:
//!
//! 1. A first pass collects what later events refer back to: deleted event ids
//!    (`message.deleted`), tool-call arguments (`tool.call`), the reasoning level
//!    (`config.reasoning_level`) and the system prompt (`session.start`,
//!    `config.prompt_update`).
//! 2. A second pass builds the messages: deleted events are skipped; `compact.summary`
//!    replaces everything before it with a summary user message and an acknowledgement;
//!    `context.cleared` empties the list; `tool.result` events wait until the assistant
//!    message that asked for them, then become `toolResult` messages; consecutive user
//!    messages merge into one (as text blocks), consecutive assistant messages concatenate
//!    their blocks. Thinking blocks are kept. Everything else is ignored.
//!
//! Reconstruction is a pure function of the chain: the same events always give the same
//! messages.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::core::messages::Message;
use crate::core::EventId;

use super::rows::as_i64;
use super::types::EventType;

/// Prefix of the user message that stands in for compacted history.
pub const COMPACTION_SUMMARY_PREFIX: &str = "[Context from earlier in this conversation]";
/// The assistant's acknowledgement that follows a compaction summary.
pub const COMPACTION_ACK_TEXT: &str = "I understand the previous context. Let me continue helping you.";

/// The event types whose payload reconstruction reads (others only need id and type).
pub const PAYLOAD_TYPES: &[&str] = &[
    "message.user",
    "message.assistant",
    "message.deleted",
    "tool.call",
    "tool.result",
    "compact.summary",
    "config.reasoning_level",
    "session.start",
    "config.prompt_update",
];

/// One event of the chain, as reconstruction needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainItem {
    pub id: EventId,
    pub event_type: EventType,
    /// The payload for [`PAYLOAD_TYPES`]; `Value::Null` for other types.
    pub payload: Value,
}

/// Token totals summed over the message events of the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenTotals {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_creation_tokens: i64,
}

/// A reconstructed message and the events it came from (`None` for synthesised messages:
/// compaction summaries and tool results).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageWithEventIds {
    pub message: Message,
    pub event_ids: Vec<Option<EventId>>,
}

/// The state of a conversation at one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconstructed {
    pub messages_with_event_ids: Vec<MessageWithEventIds>,
    pub token_usage: TokenTotals,
    pub turn_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
}

impl Reconstructed {
    /// Just the messages.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages_with_event_ids.iter().map(|m| &m.message)
    }
}

struct Entry {
    message: Value,
    event_ids: Vec<Option<EventId>>,
}

impl Entry {
    fn role(&self) -> &str {
        self.message.get("role").and_then(Value::as_str).unwrap_or("")
    }
}

struct PendingResult<'a> {
    tool_call_id: &'a Value,
    content: &'a Value,
    is_error: bool,
}

/// Rebuilds the messages from a chain of events, root first.
pub fn reconstruct(chain: &[ChainItem]) -> Reconstructed {
    // Pass 1: what later events refer back to.
    let mut deleted: HashSet<&str> = HashSet::new();
    let mut tool_args: HashMap<&str, &Value> = HashMap::new();
    let mut reasoning_level = None;
    let mut system_prompt = None;
    for item in chain {
        let p = &item.payload;
        match item.event_type.as_str() {
            "message.deleted" => {
                if let Some(t) = p.get("targetEventId").and_then(Value::as_str) {
                    deleted.insert(t);
                }
            }
            "tool.call" => {
                if let (Some(id), Some(args)) =
                    (p.get("toolCallId").and_then(Value::as_str), p.get("arguments"))
                {
                    if !id.is_empty() && truthy(args) {
                        tool_args.insert(id, args);
                    }
                }
            }
            "config.reasoning_level" => {
                reasoning_level = p.get("newLevel").and_then(Value::as_str).map(str::to_owned);
            }
            "session.start" => {
                if let Some(sp) = p.get("systemPrompt").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    system_prompt = Some(sp.to_owned());
                }
            }
            "config.prompt_update" => {
                if p.get("contentBlobId").is_some_and(truthy) {
                    let hash = p.get("newHash").map(js_string).unwrap_or_default();
                    system_prompt = Some(format!("[Updated prompt - hash: {hash}]"));
                }
            }
            _ => {}
        }
    }

    // Pass 2: build the messages.
    let mut entries: Vec<Entry> = Vec::new();
    let mut pending: Vec<PendingResult<'_>> = Vec::new();
    let mut totals = TokenTotals::default();
    let mut turn_count = 0;
    for item in chain {
        if deleted.contains(item.id.as_str()) {
            continue;
        }
        let p = &item.payload;
        match item.event_type.as_str() {
            "compact.summary" => {
                entries.clear();
                pending.clear();
                let summary = p.get("summary").map(js_string).unwrap_or_default();
                entries.push(Entry {
                    message: json!({"role": "user", "content": format!("{COMPACTION_SUMMARY_PREFIX}\n\n{summary}")}),
                    event_ids: vec![None],
                });
                entries.push(Entry {
                    message: json!({"role": "assistant", "content": [{"type": "text", "text": COMPACTION_ACK_TEXT}]}),
                    event_ids: vec![None],
                });
            }
            "context.cleared" => {
                entries.clear();
                pending.clear();
            }
            "tool.result" => pending.push(PendingResult {
                tool_call_id: p.get("toolCallId").unwrap_or(&Value::Null),
                content: p.get("content").unwrap_or(&Value::Null),
                is_error: p.get("isError").and_then(Value::as_bool).unwrap_or(false),
            }),
            "message.user" => {
                pending.clear();
                let content = p.get("content").cloned().unwrap_or(Value::Null);
                match entries.last_mut() {
                    Some(last) if last.role() == "user" => {
                        let mut blocks =
                            as_blocks(last.message.get("content").cloned().unwrap_or(Value::Null));
                        blocks.extend(as_blocks(content));
                        last.message["content"] = Value::Array(blocks);
                        last.event_ids.push(Some(item.id.clone()));
                    }
                    _ => entries.push(Entry {
                        message: json!({"role": "user", "content": content}),
                        event_ids: vec![Some(item.id.clone())],
                    }),
                }
                add_usage(&mut totals, p);
            }
            "message.assistant" => {
                let mut content = p.get("content").cloned().unwrap_or(Value::Array(Vec::new()));
                restore_truncated_arguments(&mut content, &tool_args);
                let has_tool_use = content.as_array().is_some_and(|blocks| {
                    blocks.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                });
                if entries.last().is_some_and(|e| e.role() == "assistant") && !pending.is_empty() {
                    flush(&mut entries, &mut pending);
                }
                match entries.last_mut() {
                    Some(last) if last.role() == "assistant" => {
                        let mut blocks =
                            as_blocks(last.message.get("content").cloned().unwrap_or(Value::Null));
                        blocks.extend(as_blocks(content));
                        last.message["content"] = Value::Array(blocks);
                        last.event_ids.push(Some(item.id.clone()));
                    }
                    _ => entries.push(Entry {
                        message: json!({"role": "assistant", "content": content}),
                        event_ids: vec![Some(item.id.clone())],
                    }),
                }
                if has_tool_use && !pending.is_empty() {
                    flush(&mut entries, &mut pending);
                }
                add_usage(&mut totals, p);
                if let Some(turn) = p.get("turn").and_then(as_i64) {
                    if turn > turn_count {
                        turn_count = turn;
                    }
                }
            }
            _ => {}
        }
    }
    if !pending.is_empty() {
        let ends_with_tool_use = entries.last().is_some_and(|e| {
            e.role() == "assistant"
                && e.message["content"].as_array().is_some_and(|b| {
                    b.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                })
        });
        if ends_with_tool_use {
            flush(&mut entries, &mut pending);
        }
    }

    let messages_with_event_ids = entries
        .into_iter()
        .map(|e| MessageWithEventIds { message: to_message(e.message), event_ids: e.event_ids })
        .collect();
    Reconstructed { messages_with_event_ids, token_usage: totals, turn_count, reasoning_level, system_prompt }
}

fn to_message(value: Value) -> Message {
    match serde_json::from_value::<Message>(value.clone()) {
        Ok(m) => m,
        Err(_) => match value {
            Value::Object(obj) => Message::Unknown(obj),
            _ => Message::Unknown(Default::default()),
        },
    }
}

fn flush(entries: &mut Vec<Entry>, pending: &mut Vec<PendingResult<'_>>) {
    for r in pending.drain(..) {
        entries.push(Entry {
            message: json!({"role": "toolResult", "toolCallId": r.tool_call_id, "content": r.content, "isError": r.is_error}),
            event_ids: vec![None],
        });
    }
}

/// Tool-use blocks persisted with `input._truncated` get their full arguments back from the
/// matching `tool.call` event.
fn restore_truncated_arguments(content: &mut Value, tool_args: &HashMap<&str, &Value>) {
    let Some(blocks) = content.as_array_mut() else { return };
    for block in blocks {
        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        let truncated = block.get("input").and_then(|i| i.get("_truncated")).is_some_and(truthy);
        if !truncated {
            continue;
        }
        if let Some(args) = block.get("id").and_then(Value::as_str).and_then(|id| tool_args.get(id)) {
            block["input"] = (*args).clone();
        }
    }
}

/// A string content becomes one text block; an array stays; anything else adds nothing.
fn as_blocks(content: Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

fn add_usage(totals: &mut TokenTotals, payload: &Value) {
    let Some(u) = payload.get("tokenUsage").filter(|u| u.is_object()) else { return };
    let n = |k: &str| u.get(k).and_then(as_i64).unwrap_or(0);
    totals.input_tokens += n("inputTokens");
    totals.output_tokens += n("outputTokens");
    totals.cache_read_tokens += n("cacheReadTokens");
    totals.cache_creation_tokens += n("cacheCreationTokens");
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A value as JavaScript's template literal would print a string or number.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;

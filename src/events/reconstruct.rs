//! Message reconstruction: the conversation a model sees at a given event, rebuilt from the
//! chain of events from the root to that event.
//!
//! The rules are the TypeScript server's (message-reconstructor.ts), so a session gives the
//! same messages in both servers:
//!
//! 1. A first pass collects what later events refer back to: deleted event ids
//!    (`message.deleted`), the reasoning level
//!    (`config.reasoning_level`) and the system prompt (`session.start`,
//!    `config.prompt_update`).
//! 2. A second pass builds the messages: deleted events are skipped; `compact.summary`
//!    replaces everything before it with a summary user message and an acknowledgement;
//!    `context.cleared` empties the list; `tool.result` events wait until the assistant
//!    message that asked for them, then become `toolResult` messages; consecutive user
//!    messages merge into one (as text blocks), consecutive assistant messages concatenate
//!    their blocks. Thinking blocks are kept. Tool-use blocks stored with truncated input
//!    get the full arguments of their `tool.call` event back. Everything else is ignored.
//!
//! Reconstruction is a pure function of the chain: the same events always give the same
//! messages.
//!
//! It works on the payloads' JSON text: only the few fields it decides on are read
//! (borrowed, without building value trees), message content is carried as raw JSON and
//! merged textually, and [`ReconstructedMessage::to_message`] gives the typed
//! [`Message`] on demand. This keeps a 10,000-event session well under 10 ms.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::core::messages::Message;
use crate::core::EventId;

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
    "tool.result",
    "compact.summary",
    "config.reasoning_level",
    "session.start",
    "config.prompt_update",
];

/// One event of the chain, as reconstruction needs it.
#[derive(Debug, Clone)]
pub struct ChainItem {
    pub id: EventId,
    pub event_type: EventType,
    /// The payload JSON text for [`PAYLOAD_TYPES`] (`None` for other types).
    pub payload: Option<String>,
}

impl AsRef<ChainItem> for ChainItem {
    fn as_ref(&self) -> &ChainItem {
        self
    }
}

impl ChainItem {
    /// An item from a parsed payload (tests and callers that already hold values).
    pub fn new(id: impl Into<String>, event_type: &str, payload: &Value) -> Self {
        Self {
            id: EventId::from_raw(id.into()),
            event_type: EventType::parse(event_type),
            payload: Some(payload.to_string()),
        }
    }
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

/// A reconstructed message in the TypeScript JSON shape (`{role, content}`, plus
/// `toolCallId` and `isError` for tool results), with its content kept as raw JSON.
#[derive(Debug, Clone)]
pub struct ReconstructedMessage {
    role: &'static str,
    content: Box<RawValue>,
    tool_call_id: Option<Box<RawValue>>,
    is_error: bool,
}

impl PartialEq for ReconstructedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.role == other.role
            && self.content.get() == other.content.get()
            && self.tool_call_id.as_ref().map(|r| r.get()) == other.tool_call_id.as_ref().map(|r| r.get())
            && self.is_error == other.is_error
    }
}

impl Serialize for ReconstructedMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tool = self.role == "toolResult";
        let mut map = s.serialize_map(Some(if tool { 4 } else { 2 }))?;
        map.serialize_entry("role", self.role)?;
        if tool {
            map.serialize_entry("toolCallId", &self.tool_call_id)?;
        }
        map.serialize_entry("content", &self.content)?;
        if tool {
            map.serialize_entry("isError", &self.is_error)?;
        }
        map.end()
    }
}

impl ReconstructedMessage {
    /// `user`, `assistant` or `toolResult`.
    pub fn role(&self) -> &str {
        self.role
    }

    /// The content JSON (a string or an array of blocks).
    pub fn content_json(&self) -> &str {
        self.content.get()
    }

    /// The typed message.
    pub fn to_message(&self) -> Message {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        match Message::deserialize(&value) {
            Ok(m) => m,
            Err(_) => match value {
                Value::Object(obj) => Message::Unknown(obj),
                _ => Message::Unknown(Default::default()),
            },
        }
    }

    /// The text: a string content as is, text blocks joined with `\n`.
    pub fn text(&self) -> String {
        self.to_message().text()
    }
}

/// A reconstructed message and the events it came from (`None` for synthesised messages:
/// compaction summaries and tool results).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageWithEventIds {
    pub message: ReconstructedMessage,
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
    pub fn messages(&self) -> impl Iterator<Item = &ReconstructedMessage> {
        self.messages_with_event_ids.iter().map(|m| &m.message)
    }
}

// ----- the payload fields reconstruction reads (borrowed from the JSON text) -------------

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Usage<'a> {
    #[serde(borrow)]
    input_tokens: Option<Lazy<'a>>,
    #[serde(borrow)]
    output_tokens: Option<Lazy<'a>>,
    #[serde(borrow)]
    cache_read_tokens: Option<Lazy<'a>>,
    #[serde(borrow)]
    cache_creation_tokens: Option<Lazy<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct MessageFields<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    token_usage: Option<Lazy<'a>>,
    #[serde(borrow)]
    turn: Option<Lazy<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ToolResultFields<'a> {
    #[serde(borrow)]
    tool_call_id: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    is_error: Option<Lazy<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ToolCallFields<'a> {
    #[serde(borrow)]
    tool_call_id: Option<Lazy<'a>>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// A field kept as raw JSON and read as a given type only when asked; a value of another
/// type reads as `None` (so one odd field never hides the rest of the payload).
#[derive(Deserialize, Clone, Copy)]
#[serde(transparent)]
struct Lazy<'a>(#[serde(borrow)] &'a RawValue);

impl<'a> Lazy<'a> {
    fn get<T: Deserialize<'a>>(self) -> Option<T> {
        serde_json::from_str(self.0.get()).ok()
    }
}

fn fields<'a, T: Deserialize<'a> + Default>(payload: Option<&'a str>) -> T {
    payload.and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default()
}

fn field<'a>(payload: Option<&'a str>, key: &str) -> Option<Value> {
    let map: HashMap<Cow<'a, str>, &'a RawValue> = fields(payload);
    map.get(key).and_then(|v| serde_json::from_str(v.get()).ok())
}

// ----- content accumulated from one or more events ------------------------------------

/// One event's content, as merged into an entry.
enum Piece<'a> {
    /// Raw content JSON as stored (a string, an array, or anything else).
    Raw(&'a RawValue),
    /// Content rebuilt by reconstruction (restored tool arguments, summaries).
    Owned(Box<RawValue>),
}

impl Piece<'_> {
    fn json(&self) -> &str {
        match self {
            Piece::Raw(r) => r.get(),
            Piece::Owned(r) => r.get(),
        }
    }
}

struct Entry<'a> {
    role: &'static str,
    pieces: Vec<Piece<'a>>,
    tool_call_id: Option<Box<RawValue>>,
    is_error: bool,
    event_ids: Vec<Option<EventId>>,
}

impl Entry<'_> {
    /// Merged content: one piece stays as it was; several become one block array (a
    /// string becomes a text block, an array contributes its blocks, anything else nothing).
    fn content(&self) -> Box<RawValue> {
        match self.pieces.as_slice() {
            [Piece::Raw(r)] => return (*r).to_owned(),
            [Piece::Owned(r)] => return r.clone(),
            _ => {}
        }
        let mut out = String::from("[");
        for piece in &self.pieces {
            let json = piece.json().trim();
            let inner = if json.starts_with('"') {
                Cow::Owned(format!("{{\"type\":\"text\",\"text\":{json}}}"))
            } else if let Some(body) = json.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
                Cow::Borrowed(body.trim())
            } else {
                Cow::Borrowed("")
            };
            if inner.is_empty() {
                continue;
            }
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&inner);
        }
        out.push(']');
        RawValue::from_string(out).expect("merged block arrays are valid JSON")
    }

    fn has_tool_use(&self) -> bool {
        self.pieces.iter().any(|p| has_tool_use(p.json()))
    }
}

/// Whether a content JSON holds a `tool_use` block (read cheaply: only the block types).
fn has_tool_use(content: &str) -> bool {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow, rename = "type", default)]
        ty: Option<Lazy<'a>>,
    }
    if !content.contains("tool_use") {
        return false;
    }
    let Ok(blocks) = serde_json::from_str::<Vec<&RawValue>>(content) else { return false };
    blocks.into_iter().filter(|b| b.get().contains("tool_use")).any(|b| {
        serde_json::from_str::<Head<'_>>(b.get())
            .ok()
            .and_then(|h| h.ty)
            .and_then(Lazy::get::<Cow<'_, str>>)
            .as_deref()
            == Some("tool_use")
    })
}

fn raw(json: String) -> Box<RawValue> {
    RawValue::from_string(json).expect("serialized JSON is valid")
}

/// Rebuilds the messages from a chain of events, root first. The arguments of `tool.call`
/// events are read from the chain items' payloads.
pub fn reconstruct<I: AsRef<ChainItem>>(chain: &[I]) -> Reconstructed {
    let mut calls: Option<HashMap<String, String>> = None;
    reconstruct_with(chain, |id| {
        calls
            .get_or_insert_with(|| {
                chain
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|item| item.event_type.as_str() == "tool.call")
                    .filter_map(|item| item.payload.as_deref())
                    .filter_map(|p| {
                        let f: ToolCallFields<'_> = fields(Some(p));
                        Some((f.tool_call_id?.get::<String>()?, f.arguments?.get().to_owned()))
                    })
                    .collect()
            })
            .get(id)
            .cloned()
    })
}

/// Like [`reconstruct`], but the full arguments of a tool call (needed only where an
/// assistant message stored them truncated, which is rare) come from `tool_arguments`:
/// given a tool-call id, the `arguments` JSON of the chain's last `tool.call` event with
/// that id. The store answers it with one indexed lookup, so `tool.call` payloads need not
/// be loaded at all.
pub fn reconstruct_with<I: AsRef<ChainItem>>(
    chain: &[I],
    mut tool_arguments: impl FnMut(&str) -> Option<String>,
) -> Reconstructed {
    // Pass 1: what later events refer back to.
    let mut deleted: HashSet<String> = HashSet::new();
    let mut reasoning_level = None;
    let mut system_prompt = None;
    for item in chain.iter().map(AsRef::as_ref) {
        let p = item.payload.as_deref();
        match item.event_type.as_str() {
            "message.deleted" => {
                if let Some(Value::String(t)) = field(p, "targetEventId") {
                    deleted.insert(t);
                }
            }
            "config.reasoning_level" => {
                reasoning_level = match field(p, "newLevel") {
                    Some(Value::String(l)) => Some(l),
                    _ => None,
                };
            }
            "session.start" => {
                if let Some(Value::String(sp)) = field(p, "systemPrompt") {
                    if !sp.is_empty() {
                        system_prompt = Some(sp);
                    }
                }
            }
            "config.prompt_update" if field(p, "contentBlobId").is_some_and(|v| truthy(&v)) => {
                let hash = field(p, "newHash").map(|v| js_string(&v)).unwrap_or_default();
                system_prompt = Some(format!("[Updated prompt - hash: {hash}]"));
            }
            _ => {}
        }
    }

    // Pass 2: build the messages.
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut pending: Vec<ToolResultFields<'_>> = Vec::new();
    let mut totals = TokenTotals::default();
    let mut turn_count = 0;
    for item in chain.iter().map(AsRef::as_ref) {
        if !deleted.is_empty() && deleted.contains(item.id.as_str()) {
            continue;
        }
        let p = item.payload.as_deref();
        match item.event_type.as_str() {
            "compact.summary" => {
                entries.clear();
                pending.clear();
                let summary = field(p, "summary").map(|v| js_string(&v)).unwrap_or_default();
                let text = format!("{COMPACTION_SUMMARY_PREFIX}\n\n{summary}");
                entries.push(synthetic("user", raw(serde_json::to_string(&text).expect("string"))));
                let ack = serde_json::json!([{"type": "text", "text": COMPACTION_ACK_TEXT}]);
                entries.push(synthetic("assistant", raw(ack.to_string())));
            }
            "context.cleared" => {
                entries.clear();
                pending.clear();
            }
            "tool.result" => pending.push(fields(p)),
            "message.user" => {
                pending.clear();
                let f: MessageFields<'_> = fields(p);
                let piece = Piece::Raw(f.content.unwrap_or(&NULL));
                push_or_merge(&mut entries, "user", piece, &item.id);
                add_usage(&mut totals, f.token_usage.and_then(Lazy::get));
            }
            "message.assistant" => {
                let f: MessageFields<'_> = fields(p);
                let content = f.content.unwrap_or(&EMPTY_ARRAY);
                let piece = match restore_truncated_arguments(content, &mut tool_arguments) {
                    Some(restored) => Piece::Owned(restored),
                    None => Piece::Raw(content),
                };
                if entries.last().is_some_and(|e| e.role == "assistant") && !pending.is_empty() {
                    flush(&mut entries, &mut pending);
                }
                // Whether it asked for tools matters only when results are waiting.
                let flush_after = !pending.is_empty() && has_tool_use(piece.json());
                push_or_merge(&mut entries, "assistant", piece, &item.id);
                if flush_after {
                    flush(&mut entries, &mut pending);
                }
                add_usage(&mut totals, f.token_usage.and_then(Lazy::get));
                if let Some(turn) = f.turn.and_then(Lazy::get::<f64>) {
                    if turn.is_finite() && turn as i64 > turn_count {
                        turn_count = turn as i64;
                    }
                }
            }
            _ => {}
        }
    }
    if !pending.is_empty() && entries.last().is_some_and(|e| e.role == "assistant" && e.has_tool_use()) {
        flush(&mut entries, &mut pending);
    }

    let messages_with_event_ids = entries
        .into_iter()
        .map(|e| MessageWithEventIds {
            message: ReconstructedMessage {
                role: e.role,
                content: e.content(),
                tool_call_id: e.tool_call_id,
                is_error: e.is_error,
            },
            event_ids: e.event_ids,
        })
        .collect();
    Reconstructed { messages_with_event_ids, token_usage: totals, turn_count, reasoning_level, system_prompt }
}

static NULL: LazyLock<Box<RawValue>> = LazyLock::new(|| raw("null".into()));
static EMPTY_ARRAY: LazyLock<Box<RawValue>> = LazyLock::new(|| raw("[]".into()));

fn synthetic(role: &'static str, content: Box<RawValue>) -> Entry<'static> {
    Entry {
        role,
        pieces: vec![Piece::Owned(content)],
        tool_call_id: None,
        is_error: false,
        event_ids: vec![None],
    }
}

fn push_or_merge<'a>(entries: &mut Vec<Entry<'a>>, role: &'static str, piece: Piece<'a>, id: &EventId) {
    match entries.last_mut() {
        Some(last) if last.role == role => {
            last.pieces.push(piece);
            last.event_ids.push(Some(id.clone()));
        }
        _ => entries.push(Entry {
            role,
            pieces: vec![piece],
            tool_call_id: None,
            is_error: false,
            event_ids: vec![Some(id.clone())],
        }),
    }
}

fn flush<'a>(entries: &mut Vec<Entry<'a>>, pending: &mut Vec<ToolResultFields<'a>>) {
    for r in pending.drain(..) {
        entries.push(Entry {
            role: "toolResult",
            pieces: vec![Piece::Raw(r.content.unwrap_or(&NULL))],
            tool_call_id: Some(raw(r.tool_call_id.unwrap_or(&NULL).get().to_owned())),
            is_error: r.is_error.and_then(Lazy::get).unwrap_or(false),
            event_ids: vec![None],
        });
    }
}

/// Tool-use blocks persisted with `input._truncated` get their full arguments back from the
/// matching `tool.call` event. Returns the rewritten content, or `None` when nothing changed.
fn restore_truncated_arguments(
    content: &RawValue,
    tool_arguments: &mut impl FnMut(&str) -> Option<String>,
) -> Option<Box<RawValue>> {
    if !content.get().contains("_truncated") {
        return None;
    }
    let mut value: Value = serde_json::from_str(content.get()).ok()?;
    let mut changed = false;
    for block in value.as_array_mut()? {
        if block.get("type").and_then(Value::as_str) != Some("tool_use") {
            continue;
        }
        if !block.get("input").and_then(|i| i.get("_truncated")).is_some_and(truthy) {
            continue;
        }
        let Some(id) = block.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else { continue };
        let Some(args) = tool_arguments(id).and_then(|a| serde_json::from_str::<Value>(&a).ok()) else {
            continue;
        };
        if truthy(&args) {
            block["input"] = args;
            changed = true;
        }
    }
    changed.then(|| raw(value.to_string()))
}

fn add_usage(totals: &mut TokenTotals, usage: Option<Usage<'_>>) {
    let Some(u) = usage else { return };
    let n =
        |v: Option<Lazy<'_>>| v.and_then(Lazy::get::<f64>).filter(|f| f.is_finite()).map_or(0, |f| f as i64);
    totals.input_tokens += n(u.input_tokens);
    totals.output_tokens += n(u.output_tokens);
    totals.cache_read_tokens += n(u.cache_read_tokens);
    totals.cache_creation_tokens += n(u.cache_creation_tokens);
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

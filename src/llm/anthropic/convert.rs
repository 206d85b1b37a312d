//! Building the Messages API request body from a [`Request`].
//!
//! Conversion rules (the TypeScript provider's, plus the merges the API needs):
//! - user messages: a string stays a string; blocks become `text`, `image` / `document`
//!   (`source: {type: base64, media_type, data}`) and `tool_result` blocks;
//! - assistant messages: `text`, `thinking` (only with a signature, which is sent back) and
//!   `tool_use` with `input`; `redacted_thinking` blocks are sent back verbatim;
//! - `toolResult` messages become user-role `tool_result` blocks (`tool_use_id`, `content`,
//!   `is_error`), and a run of consecutive tool results is merged into one user message;
//! - tool call ids not in Anthropic form (`toolu_...`, e.g. OpenAI `call_...` after a
//!   provider switch) are renamed `toolu_remap_<n>` consistently in calls and results;
//! - empty text blocks, unknown blocks and messages left empty are dropped (the API rejects
//!   them).
//!
//! Prompt caching (on by default for OAuth, as the TypeScript server does; see
//! [`BodyOptions::prompt_caching`]) places at most [`MAX_CACHE_BREAKPOINTS`] `cache_control`
//! markers, longer-lived ones first as the API requires:
//! 1. the last tool definition: `{"type": "ephemeral", "ttl": "1h"}`;
//! 2. the last system block: `1h` when it holds a system prompt; `{"type": "ephemeral"}`
//!    (5 minutes) when the OAuth prefix block is the only one;
//! 3. the last block of the last user message whose content is a block list (tool results,
//!    images, ...): `{"type": "ephemeral"}`. A plain-string user message is left a string
//!    and skipped, so the marker lands on the nearest earlier block-list user message.
//!
//! Markers already present in the history (a block passed through verbatim) are removed
//! first, so a request never carries more than these. When the cache has gone cold (the
//! provider decides: more than [`CACHE_TTL`] since its last call), string `tool_result`
//! contents longer than [`PRUNE_THRESHOLD_CHARS`] in turns older than the last
//! [`RECENT_TURNS_KEPT`] assistant messages are replaced by a short placeholder before the
//! conversation is re-cached ([`prune_tool_results_for_recache`]).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::core::content::{ContentBlock, MessageContent};
use crate::core::messages::Message;
use crate::core::tools::ToolDefinition;
use crate::core::wire::JsonObject;
use crate::llm::models;
use crate::llm::provider::Request;

/// The system prompt block OAuth (Claude subscription) requests must start with.
pub const OAUTH_SYSTEM_PROMPT_PREFIX: &str = "You are Claude Code, Anthropic's official CLI for Claude.";

/// Output limit used when neither the request nor the registry gives one.
pub const FALLBACK_MAX_TOKENS: u64 = 16_384;

/// Smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The most `cache_control` breakpoints one request may carry (an API limit).
pub const MAX_CACHE_BREAKPOINTS: usize = 4;

/// How long a 5-minute cache entry lives: past this since the last call the cache is cold.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// Assistant turns (most recent) whose tool results are never pruned.
pub const RECENT_TURNS_KEPT: usize = 3;

/// A string `tool_result` content longer than this (in UTF-16 code units, as JavaScript
/// counts) is pruned from old turns when the cache is cold.
pub const PRUNE_THRESHOLD_CHARS: usize = 2048;

/// Models that take `thinking: {type: adaptive}` instead of a token budget.
const ADAPTIVE_THINKING_MODELS: &[&str] = &["claude-opus-4-6"];

/// How the body is shaped beyond the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyOptions {
    /// OAuth: the system prompt starts with [`OAUTH_SYSTEM_PROMPT_PREFIX`] and is sent as blocks.
    pub oauth: bool,
    /// Place `cache_control` breakpoints.
    pub prompt_caching: bool,
    /// The cache is cold: prune large tool results of old turns
    /// ([`prune_tool_results_for_recache`]) before re-caching the conversation.
    pub prune_old_tool_results: bool,
}

fn cache_1h() -> Value {
    json!({"type": "ephemeral", "ttl": "1h"})
}

fn cache_5m() -> Value {
    json!({"type": "ephemeral"})
}

/// The registry id for `model`, when it is known.
fn canonical_id(model: &str) -> Option<&'static str> {
    models::lookup(model).ok().map(|m| m.id)
}

/// Whether the model takes adaptive thinking (no budget).
pub(crate) fn uses_adaptive_thinking(model: &str) -> bool {
    canonical_id(model).is_some_and(|id| ADAPTIVE_THINKING_MODELS.contains(&id))
}

/// The whole request body (with `stream: true`).
pub(crate) fn request_body(request: &Request, opts: BodyOptions) -> Value {
    let info = models::lookup(&request.model).ok();
    let max_tokens = match request.max_tokens {
        0 => info.map_or(FALLBACK_MAX_TOKENS, |m| m.max_output),
        n => n,
    };
    let mut body = JsonObject::new();
    body.insert("model".into(), request.model.clone().into());
    body.insert("max_tokens".into(), max_tokens.into());
    if let Some(system) = system_param(request.system.as_deref(), opts) {
        body.insert("system".into(), system);
    }
    let mut messages = convert_messages(&request.messages);
    strip_cache_control(&mut messages);
    if opts.prune_old_tool_results {
        prune_tool_results_for_recache(&mut messages, RECENT_TURNS_KEPT);
    }
    if opts.prompt_caching {
        mark_last_user_message(&mut messages);
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let mut tools = convert_tools(&request.tools);
        if opts.prompt_caching {
            if let Some(Value::Object(last)) = tools.last_mut() {
                last.insert("cache_control".into(), cache_1h());
            }
        }
        body.insert("tools".into(), Value::Array(tools));
    }
    let thinking_supported = info.is_none_or(|m| m.supports_thinking);
    if let (Some(budget), true) = (request.thinking_budget, thinking_supported) {
        let thinking = if uses_adaptive_thinking(&request.model) {
            json!({"type": "adaptive"})
        } else {
            // budget_tokens must be at least 1024 and below max_tokens.
            let budget = budget.max(MIN_THINKING_BUDGET).min(max_tokens.saturating_sub(1));
            json!({"type": "enabled", "budget_tokens": budget})
        };
        body.insert("thinking".into(), thinking);
    }
    body.insert("stream".into(), true.into());
    Value::Object(body)
}

/// `system`: a plain string for API keys; for OAuth, blocks starting with the required
/// prefix. When caching, the last block is a breakpoint: `1h` over a system prompt, the
/// default 5 minutes when the prefix block stands alone.
fn system_param(system: Option<&str>, opts: BodyOptions) -> Option<Value> {
    let system = system.filter(|s| !s.is_empty());
    if !opts.oauth && !opts.prompt_caching {
        return system.map(|s| Value::String(s.to_owned()));
    }
    let mut blocks: Vec<JsonObject> = Vec::new();
    let text_block = |text: &str| {
        let mut b = JsonObject::new();
        b.insert("type".into(), "text".into());
        b.insert("text".into(), text.into());
        b
    };
    if opts.oauth {
        blocks.push(text_block(OAUTH_SYSTEM_PROMPT_PREFIX));
    }
    if let Some(s) = system {
        blocks.push(text_block(s));
    }
    if opts.prompt_caching {
        if let Some(last) = blocks.last_mut() {
            let ttl = if system.is_some() { cache_1h() } else { cache_5m() };
            last.insert("cache_control".into(), ttl);
        }
    }
    (!blocks.is_empty()).then(|| Value::Array(blocks.into_iter().map(Value::Object).collect()))
}

/// Tool definitions as `{name, description, input_schema}`.
pub fn convert_tools(tools: &[ToolDefinition]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            let schema = if t.parameters.is_empty() {
                json!({"type": "object", "properties": {}})
            } else {
                Value::Object(t.parameters.clone())
            };
            json!({"name": t.name, "description": t.description, "input_schema": schema})
        })
        .collect()
}

/// Renames tool call ids that are not in Anthropic form.
struct IdMap(HashMap<String, String>);

impl IdMap {
    fn new(messages: &[Message]) -> Self {
        let mut map = HashMap::new();
        let uses = messages.iter().filter_map(|m| match m {
            Message::Assistant(a) => Some(a.tool_uses()),
            _ => None,
        });
        for call in uses.flatten() {
            if !call.id.starts_with("toolu_") && !map.contains_key(&call.id) {
                let renamed = format!("toolu_remap_{}", map.len());
                map.insert(call.id.clone(), renamed);
            }
        }
        Self(map)
    }

    fn get(&self, id: &str) -> String {
        self.0.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }
}

/// Converts the conversation to API messages (see the module docs for the rules).
pub fn convert_messages(messages: &[Message]) -> Vec<Value> {
    let ids = IdMap::new(messages);
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let flush = |results: &mut Vec<Value>, out: &mut Vec<Value>| {
        if !results.is_empty() {
            out.push(json!({"role": "user", "content": std::mem::take(results)}));
        }
    };
    for message in messages {
        match message {
            Message::ToolResult(r) => {
                if !r.tool_call_id.is_empty() {
                    results.push(tool_result_block(&ids.get(&r.tool_call_id), &r.content, r.is_error));
                }
            }
            Message::User(u) => {
                flush(&mut results, &mut out);
                let content = match &u.content {
                    MessageContent::Text(s) if s.is_empty() => continue,
                    MessageContent::Text(s) => Value::String(s.clone()),
                    MessageContent::Blocks(blocks) => {
                        let blocks: Vec<Value> = blocks.iter().filter_map(|b| user_block(b, &ids)).collect();
                        if blocks.is_empty() {
                            continue;
                        }
                        Value::Array(blocks)
                    }
                };
                out.push(json!({"role": "user", "content": content}));
            }
            Message::Assistant(a) => {
                flush(&mut results, &mut out);
                let blocks: Vec<Value> = a.content.iter().filter_map(|b| assistant_block(b, &ids)).collect();
                if !blocks.is_empty() {
                    out.push(json!({"role": "assistant", "content": blocks}));
                }
            }
            Message::Unknown(_) => {}
        }
    }
    flush(&mut results, &mut out);
    out
}

fn base64_source(kind: &str, mime_type: &str, data: &str) -> Value {
    json!({"type": kind, "source": {"type": "base64", "media_type": mime_type, "data": data}})
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

fn user_block(block: &ContentBlock, ids: &IdMap) -> Option<Value> {
    match block {
        ContentBlock::Text(t) => text_block(&t.text),
        ContentBlock::Image(i) => Some(base64_source("image", &i.mime_type, &i.data)),
        ContentBlock::Document(d) => Some(base64_source("document", &d.mime_type, &d.data)),
        ContentBlock::ToolResult(r) => {
            Some(tool_result_block(&ids.get(&r.tool_call_id), &r.content, r.is_error))
        }
        _ => None,
    }
}

fn assistant_block(block: &ContentBlock, ids: &IdMap) -> Option<Value> {
    match block {
        ContentBlock::Text(t) => text_block(&t.text),
        ContentBlock::ToolUse(u) => {
            Some(json!({"type": "tool_use", "id": ids.get(&u.id), "name": u.name, "input": u.arguments}))
        }
        // Thinking without a signature is display-only and must not be sent back.
        ContentBlock::Thinking(t) => match t.signature.as_deref() {
            Some(sig) if !sig.is_empty() => {
                Some(json!({"type": "thinking", "thinking": t.thinking, "signature": sig}))
            }
            _ => None,
        },
        ContentBlock::Unknown(obj)
            if obj.get("type").and_then(Value::as_str) == Some("redacted_thinking") =>
        {
            Some(Value::Object(obj.clone()))
        }
        _ => None,
    }
}

fn tool_result_block(id: &str, content: &MessageContent, is_error: Option<bool>) -> Value {
    let content = match content {
        MessageContent::Text(s) => Value::String(s.clone()),
        MessageContent::Blocks(blocks) => Value::Array(
            blocks
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::Text(t) => text_block(&t.text),
                    ContentBlock::Image(i) => Some(base64_source("image", &i.mime_type, &i.data)),
                    _ => None,
                })
                .collect(),
        ),
    };
    let mut block = JsonObject::new();
    block.insert("type".into(), "tool_result".into());
    block.insert("tool_use_id".into(), id.into());
    block.insert("content".into(), content);
    if let Some(e) = is_error {
        block.insert("is_error".into(), e.into());
    }
    Value::Object(block)
}

/// Puts a 5-minute breakpoint on the last block of the last user message whose content is a
/// non-empty block list (string contents are skipped, as the TypeScript server does).
fn mark_last_user_message(messages: &mut [Value]) {
    let target = messages
        .iter_mut()
        .rev()
        .filter(|m| m["role"] == "user")
        .find_map(|m| m.get_mut("content").and_then(Value::as_array_mut).and_then(|b| b.last_mut()));
    if let Some(Value::Object(block)) = target {
        block.insert("cache_control".into(), cache_5m());
    }
}

/// Removes every `cache_control` marker already in the converted history (from blocks
/// passed through verbatim), so only the breakpoints placed here are sent.
fn strip_cache_control(messages: &mut [Value]) {
    for message in messages {
        if let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) {
            for block in blocks.iter_mut().filter_map(Value::as_object_mut) {
                block.remove("cache_control");
            }
        }
    }
}

/// JavaScript's `string.length`: UTF-16 code units.
fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Cache-cold pruning of converted API `messages`, in place: in user messages before the
/// first of the last `recent_turns` assistant messages, every `tool_result` whose content is
/// a string longer than [`PRUNE_THRESHOLD_CHARS`] gets the content
/// `[pruned <n> chars for cache efficiency]` (`n` its length). Nothing changes when there
/// are at most `recent_turns` assistant messages; block-list contents are never pruned.
pub fn prune_tool_results_for_recache(messages: &mut [Value], recent_turns: usize) {
    let assistants = messages.iter().filter(|m| m["role"] == "assistant").count();
    let Some(prunable_turns) = assistants.checked_sub(recent_turns).filter(|n| *n > 0) else {
        return;
    };
    let cutoff = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m["role"] == "assistant")
        .nth(prunable_turns)
        .map_or(messages.len(), |(i, _)| i);
    for message in &mut messages[..cutoff] {
        if message["role"] != "user" {
            continue;
        }
        let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for block in blocks.iter_mut().filter_map(Value::as_object_mut) {
            if block.get("type").and_then(Value::as_str) != Some("tool_result") {
                continue;
            }
            let length = match block.get("content") {
                Some(Value::String(text)) => js_length(text),
                _ => continue,
            };
            if length > PRUNE_THRESHOLD_CHARS {
                let placeholder = format!("[pruned {length} chars for cache efficiency]");
                block.insert("content".into(), placeholder.into());
            }
        }
    }
}

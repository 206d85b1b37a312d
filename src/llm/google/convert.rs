//! Building the `streamGenerateContent` request body from a [`Request`].
//!
//! Conversion rules (the TypeScript provider's, except where noted):
//! - user messages become `role: user` contents: text as `{text}`, images and PDF documents
//!   as `{inlineData: {mimeType, data}}` (other documents are skipped; Gemini takes no
//!   other inline documents), tool results inside user blocks as `functionResponse` parts;
//! - assistant messages become `role: model` contents: text as `{text}` (with the
//!   `thoughtSignature` it arrived with, kept in the text block's `extra`), tool calls as
//!   `{functionCall: {name, args}, thoughtSignature}`. A call without a signature (from
//!   another provider, or older history) carries `skip_thought_signature_validator`, as
//!   TypeScript does, so Gemini 3 accepts it. Thinking text is not sent back; a signature that
//!   arrived on its own (an empty text part) is replayed as that same empty part;
//! - `toolResult` messages become `role: user` contents holding one
//!   `{functionResponse: {name, response: {result, tool_call_id}}}` part (text content joined
//!   with newlines), and consecutive results are merged into one content. Unlike TypeScript
//!   (which always sends `name: "tool_result"`), `name` is the called tool's name when the
//!   call is in the history, as the API documents;
//! - contents left without parts are dropped (the API rejects them).
//!
//! Tools are sent as one `{functionDeclarations: [{name, description, parameters}]}` with the
//! parameters schema cleaned of the keys Gemini rejects (`additionalProperties`, `$schema`),
//! at every depth. `safetySettings` turn every category `OFF` (agentic use), as TypeScript
//! does.
//!
//! Thinking (`generationConfig.thinkingConfig`, always with `includeThoughts: true`):
//! Gemini 3 models take a level: `HIGH` by default (TypeScript's default), `LOW` when the
//! request asks for a budget below [`LOW_LEVEL_BELOW`]. Gemini 2.5 models take
//! `thinkingBudget` when the request sets one. Models the registry says cannot think get none.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::core::content::{ContentBlock, MessageContent};
use crate::core::messages::Message;
use crate::core::tools::ToolDefinition;
use crate::core::wire::JsonObject;
use crate::llm::models;
use crate::llm::provider::Request;

/// Signature sent on replayed function calls that have none (accepted by Gemini 3).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Output limit used when neither the request nor the registry gives one.
pub const FALLBACK_MAX_TOKENS: u64 = 8192;

/// A Gemini 3 thinking budget below this asks for level `LOW` (otherwise `HIGH`).
pub const LOW_LEVEL_BELOW: u64 = 8192;

/// Schema keys Gemini rejects in function parameters.
const REJECTED_SCHEMA_KEYS: &[&str] = &["additionalProperties", "$schema"];

/// The harm categories whose filters are turned off.
const HARM_CATEGORIES: &[&str] = &[
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];

/// Key of a text block's `extra` holding the signature its part arrived with.
pub(crate) const TEXT_SIGNATURE_KEY: &str = "thoughtSignature";

/// True for Gemini 3 models (thinking by level, not budget).
pub fn is_gemini_3(model: &str) -> bool {
    model.contains("gemini-3")
}

/// The whole request body.
pub(crate) fn request_body(request: &Request) -> Value {
    let info = models::lookup(&request.model).ok();
    let max_tokens = match request.max_tokens {
        0 => info.map_or(FALLBACK_MAX_TOKENS, |m| m.max_output),
        n => n,
    };
    let mut body = JsonObject::new();
    body.insert("contents".into(), Value::Array(convert_messages(&request.messages)));
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        body.insert("systemInstruction".into(), json!({"parts": [{"text": system}]}));
    }
    if !request.tools.is_empty() {
        body.insert("tools".into(), convert_tools(&request.tools));
    }
    let mut config = JsonObject::new();
    config.insert("maxOutputTokens".into(), max_tokens.into());
    let thinking_supported = info.is_none_or(|m| m.supports_thinking);
    if thinking_supported {
        if is_gemini_3(&request.model) {
            let level = match request.thinking_budget {
                Some(b) if b < LOW_LEVEL_BELOW => "LOW",
                _ => "HIGH",
            };
            config.insert("thinkingConfig".into(), json!({"thinkingLevel": level, "includeThoughts": true}));
        } else if let Some(budget) = request.thinking_budget {
            config
                .insert("thinkingConfig".into(), json!({"thinkingBudget": budget, "includeThoughts": true}));
        }
    }
    body.insert("generationConfig".into(), Value::Object(config));
    let safety: Vec<Value> =
        HARM_CATEGORIES.iter().map(|c| json!({"category": c, "threshold": "OFF"})).collect();
    body.insert("safetySettings".into(), Value::Array(safety));
    Value::Object(body)
}

/// `{functionDeclarations: [...]}` in a one-element array.
pub fn convert_tools(tools: &[ToolDefinition]) -> Value {
    let declarations: Vec<Value> = tools
        .iter()
        .map(|t| {
            let parameters = if t.parameters.is_empty() {
                json!({"type": "object", "properties": {}})
            } else {
                clean_schema(&Value::Object(t.parameters.clone()))
            };
            json!({"name": t.name, "description": t.description, "parameters": parameters})
        })
        .collect();
    json!([{"functionDeclarations": declarations}])
}

/// The schema without the keys Gemini rejects, at every depth.
pub fn clean_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(obj) => Value::Object(
            obj.iter()
                .filter(|(k, _)| !REJECTED_SCHEMA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

/// Converts the conversation to `contents` (see the module docs for the rules).
pub fn convert_messages(messages: &[Message]) -> Vec<Value> {
    let names: HashMap<&str, &str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Assistant(a) => Some(a.tool_uses()),
            _ => None,
        })
        .flatten()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    let name_of = |id: &str| names.get(id).copied().unwrap_or("tool_result");
    let mut out: Vec<Value> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let flush = |results: &mut Vec<Value>, out: &mut Vec<Value>| {
        if !results.is_empty() {
            out.push(json!({"role": "user", "parts": std::mem::take(results)}));
        }
    };
    for message in messages {
        match message {
            Message::ToolResult(r) => {
                results.push(function_response(name_of(&r.tool_call_id), &r.tool_call_id, &r.content));
            }
            Message::User(u) => {
                flush(&mut results, &mut out);
                let parts: Vec<Value> = match &u.content {
                    MessageContent::Text(s) if s.is_empty() => Vec::new(),
                    MessageContent::Text(s) => vec![json!({"text": s})],
                    MessageContent::Blocks(blocks) => blocks
                        .iter()
                        .filter_map(|b| match b {
                            ContentBlock::Text(t) if !t.text.is_empty() => Some(json!({"text": t.text})),
                            ContentBlock::Image(i) => Some(inline_data(&i.mime_type, &i.data)),
                            ContentBlock::Document(d) if d.mime_type == "application/pdf" => {
                                Some(inline_data(&d.mime_type, &d.data))
                            }
                            ContentBlock::ToolResult(r) => {
                                Some(function_response(name_of(&r.tool_call_id), &r.tool_call_id, &r.content))
                            }
                            _ => None,
                        })
                        .collect(),
                };
                if !parts.is_empty() {
                    out.push(json!({"role": "user", "parts": parts}));
                }
            }
            Message::Assistant(a) => {
                flush(&mut results, &mut out);
                let parts: Vec<Value> = a.content.iter().filter_map(model_part).collect();
                if !parts.is_empty() {
                    out.push(json!({"role": "model", "parts": parts}));
                }
            }
            Message::Unknown(_) => {}
        }
    }
    flush(&mut results, &mut out);
    out
}

fn inline_data(mime_type: &str, data: &str) -> Value {
    json!({"inlineData": {"mimeType": mime_type, "data": data}})
}

fn model_part(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text(t) => {
            let signature = t.extra.get(TEXT_SIGNATURE_KEY).and_then(Value::as_str);
            match signature {
                Some(sig) => Some(json!({"text": t.text, "thoughtSignature": sig})),
                None if t.text.is_empty() => None,
                None => Some(json!({"text": t.text})),
            }
        }
        ContentBlock::ToolUse(u) => {
            let sig = u.thought_signature.as_deref().filter(|s| !s.is_empty()).unwrap_or(SKIP_SIGNATURE);
            Some(json!({"functionCall": {"name": u.name, "args": u.arguments}, "thoughtSignature": sig}))
        }
        ContentBlock::Thinking(t) => match t.signature.as_deref() {
            Some(sig) if !sig.is_empty() => Some(json!({"text": "", "thoughtSignature": sig})),
            _ => None,
        },
        _ => None,
    }
}

fn function_response(name: &str, id: &str, content: &MessageContent) -> Value {
    let text = match content {
        MessageContent::Text(s) => s.clone(),
        MessageContent::Blocks(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    json!({"functionResponse": {"name": name, "response": {"result": text, "tool_call_id": id}}})
}

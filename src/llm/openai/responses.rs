//! The Responses API provider for the ChatGPT Codex backend (OAuth access token).
//!
//! One [`Provider::stream`] call is one `POST {base}/codex/responses` (base
//! [`DEFAULT_CODEX_BASE_URL`]) with headers `authorization: Bearer <token>`,
//! `chatgpt-account-id`, `openai-beta: responses=experimental`, `originator` and
//! `openai-originator` ([`ORIGINATOR`]), and a body
//! `{model, instructions, input, tools?, reasoning?: {effort, summary: "detailed"},
//! include: ["reasoning.encrypted_content"], store: false, stream: true}`.
//!
//! Conversion rules:
//! - the system prompt is `instructions` (always present: the backend requires it);
//! - user messages are `message` items with `input_text` / `input_image` parts (documents as
//!   an `input_text` reference, as the TypeScript provider does);
//! - assistant messages: text as a `message` item of `output_text` parts, tool uses as
//!   `function_call` items (`call_id`, `name`, `arguments` as a JSON string); thinking blocks
//!   with a signature from an `openai-codex` response are sent back as `reasoning` items
//!   (summary and `encrypted_content`, needed because nothing is stored server side);
//! - `toolResult` messages (and tool-result blocks) are `function_call_output` items with the
//!   result's text.
//!
//! Stream decoding: reasoning items become `thinking_*` (summary text; the item's
//! `encrypted_content` is the signature), message items `text_*`, function calls
//! `toolcall_*` (argument deltas are matched by `item_id`); `response.completed` /
//! `response.incomplete` end the message with usage (`providerType: openai-codex`, input
//! tokens counting cached ones) and the stop reason (`tool_use` when a function was called,
//! `max_tokens` for `max_output_tokens`, `refusal` for `content_filter`, else `end_turn`);
//! `error` and `response.failed` are errors.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

use super::{parse_arguments, stream_error};
use crate::core::content::{ContentBlock, MessageContent};
use crate::core::errors::ErrorCategory;
use crate::core::messages::{AssistantMessage, Message, ProviderType, StopReason, TokenUsage};
use crate::core::retry::RetryPolicy;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;
use crate::llm::models;
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::request::{default_client, failed, retrying_stream, Call, Decode, FirstEvent};
use crate::llm::sse::{SseEvent, CONNECTION_LOST};

/// The provider name in errors and events.
pub const PROVIDER: &str = "openai-codex";

/// The ChatGPT backend the Codex OAuth token is for.
pub const DEFAULT_CODEX_BASE_URL: &str = "https://chatgpt.com/backend-api";

/// The `originator` / `openai-originator` header value.
pub const ORIGINATOR: &str = "codex_cli_rs";

/// The `openai-beta` header value.
pub const OPENAI_BETA: &str = "responses=experimental";

/// Effort used when neither the provider nor the registry names one.
const FALLBACK_EFFORT: &str = "medium";

/// The Codex Responses provider.
#[derive(Clone)]
pub struct OpenAiResponsesProvider {
    client: reqwest::Client,
    base_url: String,
    access_token: String,
    account_id: String,
    reasoning_effort: Option<String>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for OpenAiResponsesProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiResponsesProvider")
            .field("base_url", &self.base_url)
            .field("access_token", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("reasoning_effort", &self.reasoning_effort)
            .finish()
    }
}

impl OpenAiResponsesProvider {
    /// A provider for `base_url` (e.g. [`DEFAULT_CODEX_BASE_URL`]; a trailing `/` is ignored)
    /// with an OAuth access token and its ChatGPT account id (empty: no
    /// `chatgpt-account-id` header).
    pub fn new(
        base_url: impl Into<String>,
        access_token: impl Into<String>,
        account_id: impl Into<String>,
    ) -> Self {
        Self {
            client: default_client(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            access_token: access_token.into(),
            account_id: account_id.into(),
            reasoning_effort: None,
            retry: RetryPolicy::default(),
        }
    }

    /// The same provider asking for this reasoning effort (`low`, `medium`, `high`,
    /// `xhigh`, ...). Without it the model's registry default is used, else `medium`.
    pub fn with_reasoning_effort(mut self, effort: impl Into<String>) -> Self {
        self.reasoning_effort = Some(effort.into());
        self
    }

    /// The same provider with another retry policy (tests use a fast one).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The same provider with another HTTP client.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The base URL (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base}/codex/responses`.
    pub fn responses_url(&self) -> String {
        format!("{}/codex/responses", self.base_url)
    }

    /// The reasoning effort sent for `model` (`None` for models the registry knows take
    /// none).
    pub fn reasoning_effort(&self, model: &str) -> Option<String> {
        let info = models::lookup(model).ok();
        if info.is_some_and(|m| !m.supports_reasoning_effort) {
            return None;
        }
        Some(
            self.reasoning_effort
                .clone()
                .or_else(|| info.and_then(|m| m.default_reasoning_level).map(str::to_owned))
                .unwrap_or_else(|| FALLBACK_EFFORT.to_owned()),
        )
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &Request) -> Value {
        let mut body = JsonObject::new();
        body.insert("model".into(), request.model.clone().into());
        body.insert("instructions".into(), request.system.clone().unwrap_or_default().into());
        body.insert("input".into(), Value::Array(convert_input(&request.messages)));
        if !request.tools.is_empty() {
            body.insert("tools".into(), Value::Array(convert_tools(&request.tools)));
        }
        if let Some(effort) = self.reasoning_effort(&request.model) {
            body.insert("reasoning".into(), json!({"effort": effort, "summary": "detailed"}));
        }
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
        body.insert("store".into(), false.into());
        body.insert("stream".into(), true.into());
        Value::Object(body)
    }

    /// The headers sent (credentials included). Fails when they cannot be written in a
    /// header.
    pub fn request_headers(&self) -> Result<reqwest::header::HeaderMap, LlmError> {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| -> Result<(), LlmError> {
            let mut value = HeaderValue::from_str(value).map_err(|_| LlmError::NoCredentials {
                provider: PROVIDER,
                hint: format!("the value for the `{name}` header has characters HTTP headers cannot carry"),
            })?;
            if name == "authorization" {
                value.set_sensitive(true);
            }
            h.insert(HeaderName::from_static(name), value);
            Ok(())
        };
        put("content-type", "application/json")?;
        put("accept", "text/event-stream")?;
        put("authorization", &format!("Bearer {}", self.access_token))?;
        put("openai-beta", OPENAI_BETA)?;
        put("originator", ORIGINATOR)?;
        put("openai-originator", ORIGINATOR)?;
        if !self.account_id.is_empty() {
            put("chatgpt-account-id", &self.account_id)?;
        }
        Ok(h)
    }
}

impl Provider for OpenAiResponsesProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn stream(&self, request: Request) -> EventStream {
        let headers = match self.request_headers() {
            Ok(h) => h,
            Err(e) => return failed(e),
        };
        let call = Call {
            provider: PROVIDER,
            client: self.client.clone(),
            url: self.responses_url(),
            headers,
            body: self.request_body(&request).to_string(),
        };
        retrying_stream(call, &self.retry, Decoder::default)
    }
}

/// Tool definitions as `{type: function, name, description, parameters}`.
pub fn convert_tools(tools: &[ToolDefinition]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            let parameters = if t.parameters.is_empty() {
                json!({"type": "object", "properties": {}})
            } else {
                Value::Object(t.parameters.clone())
            };
            json!({"type": "function", "name": t.name, "description": t.description, "parameters": parameters})
        })
        .collect()
}

/// Converts the conversation to Responses input items (see the module docs).
pub fn convert_input(messages: &[Message]) -> Vec<Value> {
    let mut out = Vec::new();
    for message in messages {
        match message {
            Message::User(u) => match &u.content {
                MessageContent::Text(s) if s.is_empty() => {}
                MessageContent::Text(s) => {
                    out.push(user_item(vec![json!({"type": "input_text", "text": s})]))
                }
                MessageContent::Blocks(blocks) => {
                    let mut parts = Vec::new();
                    for block in blocks {
                        match block {
                            ContentBlock::ToolResult(r) => out.push(call_output(&r.tool_call_id, &r.content)),
                            ContentBlock::Text(t) if !t.text.is_empty() => {
                                parts.push(json!({"type": "input_text", "text": t.text}));
                            }
                            ContentBlock::Image(i) => parts.push(json!({"type": "input_image",
                                "image_url": format!("data:{};base64,{}", i.mime_type, i.data), "detail": "auto"})),
                            ContentBlock::Document(d) => parts.push(json!({"type": "input_text", "text":
                                format!("[Document: {} ({})]", d.file_name.as_deref().unwrap_or("unnamed"), d.mime_type)})),
                            _ => {}
                        }
                    }
                    if !parts.is_empty() {
                        out.push(user_item(parts));
                    }
                }
            },
            Message::Assistant(a) => {
                let from_codex = a.usage.as_ref().and_then(|u| u.provider_type.as_ref())
                    == Some(&ProviderType::OpenAiCodex);
                let mut text_parts = Vec::new();
                let mut calls = Vec::new();
                for block in &a.content {
                    match block {
                        ContentBlock::Thinking(t) if from_codex => {
                            if let Some(sig) = t.signature.as_deref().filter(|s| !s.is_empty()) {
                                let summary: Vec<Value> = if t.thinking.is_empty() {
                                    Vec::new()
                                } else {
                                    vec![json!({"type": "summary_text", "text": t.thinking})]
                                };
                                out.push(json!({"type": "reasoning", "summary": summary, "encrypted_content": sig}));
                            }
                        }
                        ContentBlock::Text(t) if !t.text.is_empty() => {
                            text_parts.push(json!({"type": "output_text", "text": t.text}));
                        }
                        ContentBlock::ToolUse(u) => calls
                            .push(json!({"type": "function_call", "call_id": u.id,
                            "name": u.name, "arguments": Value::Object(u.arguments.clone()).to_string()})),
                        _ => {}
                    }
                }
                if !text_parts.is_empty() {
                    out.push(json!({"type": "message", "role": "assistant", "content": text_parts}));
                }
                out.extend(calls);
            }
            Message::ToolResult(r) => out.push(call_output(&r.tool_call_id, &r.content)),
            Message::Unknown(_) => {}
        }
    }
    out
}

fn user_item(content: Vec<Value>) -> Value {
    json!({"type": "message", "role": "user", "content": content})
}

fn call_output(id: &str, content: &MessageContent) -> Value {
    json!({"type": "function_call_output", "call_id": id, "output": content.text()})
}

/// An output item being streamed.
#[derive(Debug)]
enum Open {
    Reasoning { thinking: String, parts: usize },
    Text(String),
    Tool { call_id: String, name: String, json: String },
}

/// Decodes one response's events.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    started: bool,
    finished: bool,
    open: HashMap<String, Open>,
    content: Vec<ContentBlock>,
    called: bool,
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn protocol(message: String) -> LlmError {
    LlmError::Protocol { provider: PROVIDER, message }
}

/// The error of a `response.failed` event.
fn failed_error(data: &Value) -> LlmError {
    match data.pointer("/response/error").filter(|e| e.is_object()) {
        Some(e) => stream_error(PROVIDER, e),
        None => stream_error(PROVIDER, &json!({"code": "api_error", "message": "the response failed"})),
    }
}

impl Decode for Decoder {
    fn first_event(event: &SseEvent) -> Result<FirstEvent, LlmError> {
        let data: Value = event.json(PROVIDER)?;
        match str_at(&data, "type") {
            "error" => Err(stream_error(PROVIDER, &data)),
            "response.failed" => Err(failed_error(&data)),
            _ => Ok(FirstEvent::Begin),
        }
    }

    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.finished {
            return Ok(());
        }
        let data: Value = event.json(PROVIDER)?;
        let kind = match str_at(&data, "type") {
            "" => event.event.as_str(),
            k => k,
        };
        let item_id = str_at(&data, "item_id");
        let delta = || str_at(&data, "delta").to_owned();
        match kind {
            "error" => return Err(stream_error(PROVIDER, &data)),
            "response.failed" => return Err(failed_error(&data)),
            "response.created" | "response.in_progress" => self.start(out),
            "response.output_item.added" => {
                self.start(out);
                let item = data.get("item").unwrap_or(&Value::Null);
                let id = str_at(item, "id").to_owned();
                let open = match str_at(item, "type") {
                    "reasoning" => {
                        out.push_back(StreamEvent::ThinkingStart);
                        Open::Reasoning { thinking: String::new(), parts: 0 }
                    }
                    "message" => {
                        out.push_back(StreamEvent::TextStart);
                        Open::Text(String::new())
                    }
                    "function_call" => {
                        let (call_id, name) = (str_at(item, "call_id"), str_at(item, "name"));
                        if call_id.is_empty() || name.is_empty() {
                            return Err(protocol(format!(
                                "function_call item without call_id or name: {item}"
                            )));
                        }
                        out.push_back(StreamEvent::ToolCallStart {
                            tool_call_id: call_id.to_owned(),
                            name: name.to_owned(),
                        });
                        Open::Tool { call_id: call_id.to_owned(), name: name.to_owned(), json: String::new() }
                    }
                    _ => return Ok(()),
                };
                self.open.insert(id, open);
            }
            "response.reasoning_summary_part.added" => {
                if let Some(Open::Reasoning { thinking, parts }) = self.open.get_mut(item_id) {
                    if *parts > 0 {
                        thinking.push_str("\n\n");
                        out.push_back(StreamEvent::ThinkingDelta { delta: "\n\n".into() });
                    }
                    *parts += 1;
                }
            }
            "response.reasoning_summary_text.delta" => {
                if let Some(Open::Reasoning { thinking, .. }) = self.open.get_mut(item_id) {
                    let d = delta();
                    thinking.push_str(&d);
                    out.push_back(StreamEvent::ThinkingDelta { delta: d });
                }
            }
            "response.output_text.delta" => {
                if let Some(Open::Text(text)) = self.open.get_mut(item_id) {
                    let d = delta();
                    text.push_str(&d);
                    out.push_back(StreamEvent::TextDelta { delta: d });
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(Open::Tool { call_id, json, .. }) = self.open.get_mut(item_id) {
                    let d = delta();
                    json.push_str(&d);
                    out.push_back(StreamEvent::ToolCallDelta {
                        tool_call_id: call_id.clone(),
                        arguments_delta: d,
                    });
                }
            }
            "response.output_item.done" => {
                let item = data.get("item").unwrap_or(&Value::Null);
                if let Some(open) = self.open.remove(str_at(item, "id")) {
                    self.close(open, item, out)?;
                }
            }
            "response.completed" | "response.incomplete" => {
                self.start(out);
                self.finish(&data, out)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn retryable(e: &LlmError) -> bool {
        super::retryable(e)
    }

    fn category(e: &LlmError) -> ErrorCategory {
        super::category(e)
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        Err(LlmError::Stream {
            provider: PROVIDER,
            kind: CONNECTION_LOST.to_owned(),
            message: "the stream ended before response.completed".to_owned(),
        })
    }
}

impl Decoder {
    fn start(&mut self, out: &mut VecDeque<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push_back(StreamEvent::Start);
        }
    }

    fn close(&mut self, open: Open, item: &Value, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        match open {
            Open::Reasoning { thinking, .. } => {
                let signature = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                out.push_back(StreamEvent::ThinkingEnd {
                    thinking: thinking.clone(),
                    signature: signature.clone(),
                });
                if !thinking.is_empty() || signature.is_some() {
                    self.content.push(ContentBlock::thinking(thinking, signature));
                }
            }
            Open::Text(text) => {
                out.push_back(StreamEvent::TextEnd { text: text.clone(), signature: None });
                if !text.is_empty() {
                    self.content.push(ContentBlock::text(text));
                }
            }
            Open::Tool { call_id, name, json } => {
                let json = match item.get("arguments").and_then(Value::as_str) {
                    Some(full) if !full.is_empty() => full.to_owned(),
                    _ => json,
                };
                let arguments = parse_arguments(PROVIDER, &call_id, &name, &json)?;
                let call = ToolCall::new(call_id, name, arguments);
                self.content.push(call.to_block());
                self.called = true;
                out.push_back(StreamEvent::ToolCallEnd { tool_call: call });
            }
        }
        Ok(())
    }

    fn finish(&mut self, data: &Value, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let response = data.get("response").unwrap_or(&Value::Null);
        // Items the stream never closed (no `output_item.done`): close them from `output`.
        let output = response.get("output").and_then(Value::as_array).cloned().unwrap_or_default();
        for item in &output {
            if let Some(open) = self.open.remove(str_at(item, "id")) {
                self.close(open, item, out)?;
            }
        }
        self.finished = true;
        let incomplete = response.pointer("/incomplete_details/reason").and_then(Value::as_str);
        let stop_reason = match incomplete {
            Some("max_output_tokens") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::Refusal,
            _ if self.called => StopReason::ToolUse,
            _ => StopReason::EndTurn,
        };
        let usage = response.get("usage").unwrap_or(&Value::Null);
        let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64);
        let mut extra = JsonObject::new();
        if let Some(n) = count("/output_tokens_details/reasoning_tokens").filter(|n| *n > 0) {
            extra.insert("reasoningTokens".into(), n.into());
        }
        let usage = TokenUsage {
            input_tokens: count("/input_tokens").unwrap_or(0),
            output_tokens: count("/output_tokens").unwrap_or(0),
            cache_read_tokens: count("/input_tokens_details/cached_tokens"),
            cache_creation_tokens: None,
            provider_type: Some(ProviderType::OpenAiCodex),
            extra,
        };
        let message = AssistantMessage {
            content: std::mem::take(&mut self.content),
            usage: Some(usage),
            stop_reason: Some(stop_reason.clone()),
            ..Default::default()
        };
        out.push_back(StreamEvent::Done { message: Box::new(message), stop_reason });
        Ok(())
    }
}

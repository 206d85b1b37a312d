//! The Chat Completions provider: request body and stream decoding.
//!
//! Conversion rules:
//! - the system prompt is a leading `system` message;
//! - user messages: a string stays a string; blocks become `text` and `image_url` parts
//!   (`data:` URLs) and PDF documents `file` parts (`file_data` as a `data:` URL); tool-result
//!   blocks inside a user message become `tool` messages placed before it;
//! - assistant messages: the text blocks joined as `content` (`null` when there is none) and
//!   tool uses as `tool_calls` (`{id, type: function, function: {name, arguments}}` with the
//!   arguments as a JSON string); thinking blocks are not sent (Chat Completions takes none);
//! - `toolResult` messages become `tool` messages (`tool_call_id`, the result's text);
//! - messages left empty are dropped.

use std::collections::{BTreeMap, VecDeque};

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_arguments, stream_error, PROVIDER};
use crate::core::content::{ContentBlock, MessageContent};
use crate::core::errors::ErrorCategory;
use crate::core::messages::{AssistantMessage, Message, ProviderType, StopReason, TokenUsage};
use crate::core::retry::RetryPolicy;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;
use crate::llm::models;
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::request::{
    default_client, env_credentials, failed, retrying_stream, Call, Decode, FirstEvent,
};
use crate::llm::sse::SseEvent;

/// The Chat Completions provider (API key).
#[derive(Clone)]
pub struct OpenAiChatProvider {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for OpenAiChatProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChatProvider")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

impl OpenAiChatProvider {
    /// A provider for `base_url` (e.g. [`super::DEFAULT_BASE_URL`]; a trailing `/` is
    /// ignored) with the default retry policy.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { client: default_client(), base_url, api_key: api_key.into(), retry: RetryPolicy::default() }
    }

    /// A provider configured from the environment: `OPENAI_API_KEY`; base URL from
    /// `TRON_OPENAI_BASE_URL`, else `OPENAI_BASE_URL`, else [`super::DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, LlmError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`OpenAiChatProvider::from_env`] reading variables through `var` (empty values count
    /// as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, LlmError> {
        let env = env_credentials(
            var,
            PROVIDER,
            &["OPENAI_API_KEY"],
            &["TRON_OPENAI_BASE_URL", "OPENAI_BASE_URL"],
            super::DEFAULT_BASE_URL,
            "set OPENAI_API_KEY (base URL from TRON_OPENAI_BASE_URL or OPENAI_BASE_URL)",
        )?;
        Ok(Self::new(env.base_url, env.key))
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

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `{base}/v1/chat/completions` (a base URL already ending in `/v1` is not doubled).
    pub fn completions_url(&self) -> String {
        if self.base_url.ends_with("/v1") {
            format!("{}/chat/completions", self.base_url)
        } else {
            format!("{}/v1/chat/completions", self.base_url)
        }
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &Request) -> Value {
        request_body(request)
    }

    /// The headers sent (credentials included). Fails when the key cannot be written in a
    /// header.
    pub fn request_headers(&self) -> Result<reqwest::header::HeaderMap, LlmError> {
        use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.api_key)).map_err(|_| {
            LlmError::NoCredentials {
                provider: PROVIDER,
                hint: "the API key has characters HTTP headers cannot carry".to_owned(),
            }
        })?;
        auth.set_sensitive(true);
        h.insert(AUTHORIZATION, auth);
        Ok(h)
    }
}

impl Provider for OpenAiChatProvider {
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
            url: self.completions_url(),
            headers,
            body: self.request_body(&request).to_string(),
        };
        retrying_stream(call, &self.retry, Decoder::default)
    }
}

/// The whole request body (with `stream: true`).
pub(crate) fn request_body(request: &Request) -> Value {
    let mut body = JsonObject::new();
    body.insert("model".into(), request.model.clone().into());
    let mut messages = Vec::new();
    if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(convert_messages(&request.messages));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        body.insert("tools".into(), Value::Array(convert_tools(&request.tools)));
    }
    let max_tokens = match request.max_tokens {
        0 => models::lookup(&request.model).ok().map(|m| m.max_output),
        n => Some(n),
    };
    if let Some(n) = max_tokens {
        body.insert("max_completion_tokens".into(), n.into());
    }
    body.insert("stream".into(), true.into());
    body.insert("stream_options".into(), json!({"include_usage": true}));
    Value::Object(body)
}

/// Tool definitions as `{type: function, function: {name, description, parameters}}`.
pub fn convert_tools(tools: &[ToolDefinition]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            let parameters = if t.parameters.is_empty() {
                json!({"type": "object", "properties": {}})
            } else {
                Value::Object(t.parameters.clone())
            };
            json!({"type": "function", "function":
                {"name": t.name, "description": t.description, "parameters": parameters}})
        })
        .collect()
}

/// Converts the conversation to Chat Completions messages (see the module docs).
pub fn convert_messages(messages: &[Message]) -> Vec<Value> {
    let mut out = Vec::new();
    for message in messages {
        match message {
            Message::User(u) => match &u.content {
                MessageContent::Text(s) if s.is_empty() => {}
                MessageContent::Text(s) => out.push(json!({"role": "user", "content": s})),
                MessageContent::Blocks(blocks) => {
                    let mut parts = Vec::new();
                    for block in blocks {
                        match block {
                            ContentBlock::ToolResult(r) => {
                                out.push(tool_message(&r.tool_call_id, &r.content));
                            }
                            other => parts.extend(user_part(other)),
                        }
                    }
                    if !parts.is_empty() {
                        out.push(json!({"role": "user", "content": parts}));
                    }
                }
            },
            Message::Assistant(a) => {
                let text: String = a.content.iter().filter_map(ContentBlock::as_text).collect();
                let calls: Vec<Value> = a
                    .tool_uses()
                    .map(|u| {
                        json!({"id": u.id, "type": "function", "function":
                            {"name": u.name, "arguments": Value::Object(u.arguments.clone()).to_string()}})
                    })
                    .collect();
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                let mut m = JsonObject::new();
                m.insert("role".into(), "assistant".into());
                m.insert("content".into(), if text.is_empty() { Value::Null } else { text.into() });
                if !calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
                out.push(Value::Object(m));
            }
            Message::ToolResult(r) => out.push(tool_message(&r.tool_call_id, &r.content)),
            Message::Unknown(_) => {}
        }
    }
    out
}

fn tool_message(id: &str, content: &MessageContent) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": content.text()})
}

fn user_part(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text(t) if !t.text.is_empty() => Some(json!({"type": "text", "text": t.text})),
        ContentBlock::Image(i) => Some(json!({"type": "image_url", "image_url":
            {"url": format!("data:{};base64,{}", i.mime_type, i.data)}})),
        ContentBlock::Document(d) if d.mime_type == "application/pdf" => {
            Some(json!({"type": "file", "file": {
            "filename": d.file_name.clone().unwrap_or_else(|| "document.pdf".to_owned()),
            "file_data": format!("data:{};base64,{}", d.mime_type, d.data)}}))
        }
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Default, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// A tool call being streamed.
#[derive(Debug, Default)]
struct OpenCall {
    id: String,
    name: String,
    json: String,
    started: bool,
}

/// Decodes one response's chunks.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    started: bool,
    finished: bool,
    text: Option<String>,
    calls: BTreeMap<u64, OpenCall>,
    content: Vec<ContentBlock>,
    usage: Option<WireUsage>,
    finish_reason: Option<String>,
}

impl Decode for Decoder {
    fn first_event(event: &SseEvent) -> Result<FirstEvent, LlmError> {
        if event.is_done_marker() {
            return Ok(FirstEvent::Begin);
        }
        let data: Value = event.json(PROVIDER)?;
        match data.get("error") {
            Some(_) => Err(stream_error(PROVIDER, &data)),
            None => Ok(FirstEvent::Begin),
        }
    }

    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.finished {
            return Ok(());
        }
        if event.is_done_marker() {
            return self.finish(out);
        }
        let data: Value = event.json(PROVIDER)?;
        if data.get("error").is_some() {
            return Err(stream_error(PROVIDER, &data));
        }
        let chunk: Chunk = serde_json::from_value(data).map_err(|e| LlmError::Protocol {
            provider: PROVIDER,
            message: format!("malformed chat.completion.chunk ({e}): {}", event.data),
        })?;
        self.start(out);
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            let delta = choice.delta.unwrap_or_default();
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                let open = self.text.get_or_insert_with(|| {
                    out.push_back(StreamEvent::TextStart);
                    String::new()
                });
                open.push_str(&text);
                out.push_back(StreamEvent::TextDelta { delta: text });
            }
            for d in delta.tool_calls {
                self.close_text(out);
                self.tool_delta(d, out)?;
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
                self.close_blocks(out)?;
            }
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

    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.finish_reason.is_some() {
            return self.finish(out);
        }
        Err(LlmError::Stream {
            provider: PROVIDER,
            kind: crate::llm::sse::CONNECTION_LOST.to_owned(),
            message: "the stream ended before a finish_reason".to_owned(),
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

    fn tool_delta(&mut self, d: ToolCallDelta, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let call = self.calls.entry(d.index).or_default();
        if let Some(id) = d.id.filter(|s| !s.is_empty()) {
            call.id = id;
        }
        let function = d.function.unwrap_or_default();
        if let Some(name) = function.name.filter(|s| !s.is_empty()) {
            call.name.push_str(&name);
        }
        if !call.started && !call.id.is_empty() && !call.name.is_empty() {
            call.started = true;
            out.push_back(StreamEvent::ToolCallStart {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
            });
            if !call.json.is_empty() {
                out.push_back(StreamEvent::ToolCallDelta {
                    tool_call_id: call.id.clone(),
                    arguments_delta: call.json.clone(),
                });
            }
        }
        if let Some(args) = function.arguments.filter(|s| !s.is_empty()) {
            call.json.push_str(&args);
            if call.started {
                out.push_back(StreamEvent::ToolCallDelta {
                    tool_call_id: call.id.clone(),
                    arguments_delta: args,
                });
            }
        }
        Ok(())
    }

    fn close_text(&mut self, out: &mut VecDeque<StreamEvent>) {
        if let Some(text) = self.text.take() {
            out.push_back(StreamEvent::TextEnd { text: text.clone(), signature: None });
            self.content.push(ContentBlock::text(text));
        }
    }

    fn close_blocks(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        self.close_text(out);
        for (index, call) in std::mem::take(&mut self.calls) {
            if !call.started {
                return Err(LlmError::Protocol {
                    provider: PROVIDER,
                    message: format!("tool call at index {index} without an id or a name"),
                });
            }
            let arguments = parse_arguments(PROVIDER, &call.id, &call.name, &call.json)?;
            let call = ToolCall::new(call.id, call.name, arguments);
            self.content.push(call.to_block());
            out.push_back(StreamEvent::ToolCallEnd { tool_call: call });
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        self.start(out);
        self.close_blocks(out)?;
        self.finished = true;
        let stop_reason = match self.finish_reason.as_deref() {
            None | Some("stop") => StopReason::EndTurn,
            Some("tool_calls" | "function_call") => StopReason::ToolUse,
            Some("length") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::Refusal,
            Some(other) => StopReason::from(other),
        };
        let usage = self.usage.take().unwrap_or_default();
        let mut extra = JsonObject::new();
        if let Some(n) = usage.completion_tokens_details.and_then(|d| d.reasoning_tokens).filter(|n| *n > 0) {
            extra.insert("reasoningTokens".into(), n.into());
        }
        let usage = TokenUsage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cache_read_tokens: usage.prompt_tokens_details.and_then(|d| d.cached_tokens),
            cache_creation_tokens: None,
            provider_type: Some(ProviderType::OpenAi),
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

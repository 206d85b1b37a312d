//! Decoding the Messages API event stream into [`StreamEvent`]s.
//!
//! Wire events (`data` JSON tagged by `type`, the SSE `event:` name as fallback):
//! `message_start` (usage: `input_tokens`, `cache_read_input_tokens`,
//! `cache_creation_input_tokens`, `cache_creation.ephemeral_{5m,1h}_input_tokens`),
//! `content_block_start` (`text`, `thinking`, `redacted_thinking`, `tool_use`),
//! `content_block_delta` (`text_delta`, `thinking_delta`, `signature_delta`,
//! `input_json_delta`), `content_block_stop`, `message_delta` (`stop_reason`, cumulative
//! `usage.output_tokens`), `message_stop`, `ping`, and `error` (`{error: {type, message}}`).
//! Unknown event and delta types are skipped, for forward compatibility.

use std::collections::VecDeque;

use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

use crate::core::content::ContentBlock;
use crate::core::errors::ErrorCategory;
use crate::core::messages::{AssistantMessage, ProviderType, StopReason, TokenUsage};
use crate::core::stream::StreamEvent;
use crate::core::tools::ToolCall;
use crate::core::wire::JsonObject;
use crate::llm::provider::{EventStream, LlmError};
use crate::llm::request::{default_category, Decode, FirstEvent};
use crate::llm::sse::{SseEvent, SseStream, CONNECTION_LOST};

use super::PROVIDER;

fn protocol(message: impl Into<String>) -> LlmError {
    LlmError::Protocol { provider: PROVIDER, message: message.into() }
}

/// The `error` payload of an in-stream error event or an error body.
#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// Turns an in-stream `error` event's data into [`LlmError::Stream`].
pub(super) fn stream_error(data: &Value) -> LlmError {
    let error = data.get("error").and_then(|e| WireError::deserialize(e).ok());
    let (kind, message) = match error {
        Some(e) => (e.kind, e.message),
        None => (String::new(), String::new()),
    };
    let kind = if kind.is_empty() { "api_error".to_owned() } else { kind };
    let message = if message.is_empty() { kind.clone() } else { format!("{kind}: {message}") };
    LlmError::Stream { provider: PROVIDER, kind, message }
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<WireCacheCreation>,
}

#[derive(Debug, Default, Deserialize)]
struct WireCacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct MessageStart {
    message: MessageStartBody,
}

#[derive(Debug, Deserialize)]
struct MessageStartBody {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct BlockStart {
    content_block: JsonObject,
}

#[derive(Debug, Deserialize)]
struct BlockDelta {
    delta: JsonObject,
}

#[derive(Debug, Deserialize)]
struct MessageDelta {
    #[serde(default)]
    delta: MessageDeltaBody,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Default, Deserialize)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
}

/// The block being streamed.
#[derive(Debug)]
enum Open {
    Text(String),
    Thinking {
        thinking: String,
        signature: String,
    },
    Redacted(JsonObject),
    Tool {
        id: String,
        name: String,
        json: String,
    },
    /// A block type tron does not model (server tools, ...): its deltas are ignored.
    Other,
}

/// Token counts as reported so far.
#[derive(Debug, Default)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    cache_creation_5m: u64,
    cache_creation_1h: u64,
}

impl Usage {
    fn update(&mut self, u: WireUsage) {
        if let Some(n) = u.input_tokens {
            self.input = n;
        }
        if let Some(n) = u.output_tokens {
            self.output = n;
        }
        if let Some(n) = u.cache_read_input_tokens {
            self.cache_read = Some(n);
        }
        if let Some(n) = u.cache_creation_input_tokens {
            self.cache_creation = Some(n);
        }
        if let Some(c) = u.cache_creation {
            self.cache_creation_5m = c.ephemeral_5m_input_tokens.unwrap_or(self.cache_creation_5m);
            self.cache_creation_1h = c.ephemeral_1h_input_tokens.unwrap_or(self.cache_creation_1h);
        }
    }

    fn to_token_usage(&self) -> TokenUsage {
        let mut extra = JsonObject::new();
        if self.cache_creation_5m > 0 {
            extra.insert("cacheCreation5mTokens".into(), self.cache_creation_5m.into());
        }
        if self.cache_creation_1h > 0 {
            extra.insert("cacheCreation1hTokens".into(), self.cache_creation_1h.into());
        }
        TokenUsage {
            input_tokens: self.input,
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_creation_tokens: self.cache_creation,
            provider_type: Some(ProviderType::Anthropic),
            extra,
        }
    }
}

/// Decodes one response's events; feed it every SSE event in order.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    started: bool,
    finished: bool,
    open: Option<Open>,
    content: Vec<ContentBlock>,
    usage: Usage,
    stop_reason: Option<String>,
}

impl Decode for Decoder {
    fn first_event(event: &SseEvent) -> Result<FirstEvent, LlmError> {
        let data: Value = event.json(PROVIDER)?;
        match data.get("type").and_then(Value::as_str).unwrap_or(event.event.as_str()) {
            "ping" => Ok(FirstEvent::Skip),
            "error" => Err(stream_error(&data)),
            _ => Ok(FirstEvent::Begin),
        }
    }

    /// True once `message_stop` was decoded (the `done` event was produced).
    fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes one event, appending the stream events it produces to `out`.
    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.finished {
            return Ok(());
        }
        if self.fast_delta(event, out) {
            return Ok(());
        }
        let data: Value = event.json(PROVIDER)?;
        let kind = match data.get("type").and_then(Value::as_str) {
            Some(k) => k.to_owned(),
            None if !event.event.is_empty() => event.event.clone(),
            None => return Err(protocol(format!("event without a type: {}", event.data))),
        };
        let parse =
            |what: &str| -> LlmError { protocol(format!("malformed `{what}` event: {}", event.data)) };
        match kind.as_str() {
            "ping" => {}
            "error" => return Err(stream_error(&data)),
            "message_start" => {
                let m: MessageStart = serde_json::from_value(data).map_err(|_| parse("message_start"))?;
                if let Some(u) = m.message.usage {
                    self.usage.update(u);
                }
                self.start(out);
            }
            "content_block_start" => {
                let b: BlockStart = serde_json::from_value(data).map_err(|_| parse("content_block_start"))?;
                self.start(out);
                self.close_block(out)?;
                self.open_block(b.content_block, out)?;
            }
            "content_block_delta" => {
                let d: BlockDelta = serde_json::from_value(data).map_err(|_| parse("content_block_delta"))?;
                self.delta(d.delta, out)?;
            }
            "content_block_stop" => self.close_block(out)?,
            "message_delta" => {
                let d: MessageDelta = serde_json::from_value(data).map_err(|_| parse("message_delta"))?;
                if let Some(reason) = d.delta.stop_reason {
                    self.stop_reason = Some(reason);
                }
                if let Some(u) = d.usage {
                    self.usage.update(u);
                }
            }
            "message_stop" => {
                self.start(out);
                self.close_block(out)?;
                self.finish(out);
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, _out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        Err(LlmError::Stream {
            provider: PROVIDER,
            kind: CONNECTION_LOST.to_owned(),
            message: "the stream ended before message_stop".to_owned(),
        })
    }

    fn category(e: &LlmError) -> ErrorCategory {
        match e {
            LlmError::Http { status: 529, .. } => ErrorCategory::Server,
            other => default_category(other),
        }
    }
}

/// A text, thinking or tool-input delta, as most events of a stream are; read without
/// building a JSON tree first (see [`Decoder::fast_delta`]).
#[derive(Deserialize)]
struct FastDelta {
    #[serde(rename = "type")]
    kind: FastKind,
    delta: FastDeltaBody,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum FastKind {
    ContentBlockDelta,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum FastDeltaBody {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
}

impl Decoder {
    /// Decodes the common `content_block_delta` events straight from their text when the
    /// delta fits the open block; false (nothing done) for anything else, which then takes
    /// the general path with its checks and error messages. Performance only: the result is
    /// the same as the general path's.
    fn fast_delta(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> bool {
        if !event.data.contains("content_block_delta") {
            return false;
        }
        let Ok(FastDelta { kind: FastKind::ContentBlockDelta, delta }) = serde_json::from_str(&event.data)
        else {
            return false;
        };
        match (delta, self.open.as_mut()) {
            (FastDeltaBody::Text { text: d }, Some(Open::Text(text))) => {
                text.push_str(&d);
                out.push_back(StreamEvent::TextDelta { delta: d });
            }
            (FastDeltaBody::Thinking { thinking: d }, Some(Open::Thinking { thinking, .. })) => {
                thinking.push_str(&d);
                out.push_back(StreamEvent::ThinkingDelta { delta: d });
            }
            (FastDeltaBody::InputJson { partial_json: d }, Some(Open::Tool { id, json, .. })) => {
                json.push_str(&d);
                out.push_back(StreamEvent::ToolCallDelta { tool_call_id: id.clone(), arguments_delta: d });
            }
            (_, Some(Open::Other)) => {}
            _ => return false,
        }
        true
    }

    fn start(&mut self, out: &mut VecDeque<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push_back(StreamEvent::Start);
        }
    }

    fn open_block(&mut self, block: JsonObject, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let str_field = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let open = match block.get("type").and_then(Value::as_str).unwrap_or_default() {
            "text" => {
                out.push_back(StreamEvent::TextStart);
                let text = str_field("text");
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta { delta: text.clone() });
                }
                Open::Text(text)
            }
            "thinking" => {
                out.push_back(StreamEvent::ThinkingStart);
                let thinking = str_field("thinking");
                if !thinking.is_empty() {
                    out.push_back(StreamEvent::ThinkingDelta { delta: thinking.clone() });
                }
                Open::Thinking { thinking, signature: str_field("signature") }
            }
            "redacted_thinking" => Open::Redacted(block),
            "tool_use" => {
                let (id, name) = (str_field("id"), str_field("name"));
                if id.is_empty() || name.is_empty() {
                    return Err(protocol(format!(
                        "tool_use block without id or name: {}",
                        Value::Object(block)
                    )));
                }
                out.push_back(StreamEvent::ToolCallStart { tool_call_id: id.clone(), name: name.clone() });
                Open::Tool { id, name, json: String::new() }
            }
            _ => Open::Other,
        };
        self.open = Some(open);
        Ok(())
    }

    fn delta(&mut self, delta: JsonObject, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let kind = delta.get("type").and_then(Value::as_str).unwrap_or_default();
        let field = |key: &str| -> Result<String, LlmError> {
            match delta.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(protocol(format!(
                    "`{kind}` without a string `{key}`: {}",
                    Value::Object(delta.clone())
                ))),
            }
        };
        let mismatch = || protocol(format!("`{kind}` delta does not fit the open content block"));
        match (kind, self.open.as_mut()) {
            (_, None) => return Err(protocol(format!("`{kind}` delta outside a content block"))),
            ("text_delta", Some(Open::Text(text))) => {
                let d = field("text")?;
                text.push_str(&d);
                out.push_back(StreamEvent::TextDelta { delta: d });
            }
            ("thinking_delta", Some(Open::Thinking { thinking, .. })) => {
                let d = field("thinking")?;
                thinking.push_str(&d);
                out.push_back(StreamEvent::ThinkingDelta { delta: d });
            }
            ("signature_delta", Some(Open::Thinking { signature, .. })) => {
                signature.push_str(&field("signature")?)
            }
            ("input_json_delta", Some(Open::Tool { id, json, .. })) => {
                let d = field("partial_json")?;
                json.push_str(&d);
                out.push_back(StreamEvent::ToolCallDelta { tool_call_id: id.clone(), arguments_delta: d });
            }
            ("text_delta" | "thinking_delta" | "signature_delta" | "input_json_delta", Some(Open::Other)) => {
            }
            ("text_delta" | "thinking_delta" | "signature_delta" | "input_json_delta", Some(_)) => {
                return Err(mismatch())
            }
            _ => {}
        }
        Ok(())
    }

    fn close_block(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        match self.open.take() {
            None | Some(Open::Other) => {}
            Some(Open::Text(text)) => {
                out.push_back(StreamEvent::TextEnd { text: text.clone(), signature: None });
                self.content.push(ContentBlock::text(text));
            }
            Some(Open::Thinking { thinking, signature }) => {
                let signature = (!signature.is_empty()).then_some(signature);
                out.push_back(StreamEvent::ThinkingEnd {
                    thinking: thinking.clone(),
                    signature: signature.clone(),
                });
                // As in TypeScript: only signed thinking is kept (it must be sent back).
                if signature.is_some() {
                    self.content.push(ContentBlock::thinking(thinking, signature));
                }
            }
            Some(Open::Redacted(block)) => self.content.push(ContentBlock::Unknown(block)),
            Some(Open::Tool { id, name, json }) => {
                let arguments = parse_arguments(&id, &name, &json)?;
                let call = ToolCall::new(id, name, arguments);
                self.content.push(call.to_block());
                out.push_back(StreamEvent::ToolCallEnd { tool_call: call });
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        self.finished = true;
        let stop_reason = self.stop_reason.as_deref().map_or(StopReason::EndTurn, StopReason::from);
        let message = AssistantMessage {
            content: std::mem::take(&mut self.content),
            usage: Some(self.usage.to_token_usage()),
            stop_reason: Some(stop_reason.clone()),
            ..Default::default()
        };
        out.push_back(StreamEvent::Done { message: Box::new(message), stop_reason });
    }
}

/// Decodes a Messages API event-stream body, given as chunks of bytes, into the stream
/// events a provider call yields once its answer arrived: the bytes go through
/// [`crate::llm::sse::events_from`] (the SSE layer every response body goes through), leading
/// `ping`s are skipped, an error event arriving first is the stream's error, and every event
/// is fed to the provider's own decoder. As in a provider call, events decoded before a
/// failure are dropped and the failure ends the stream; a body that ends before
/// `message_stop` is an error. There is no HTTP and no retrying: this exists so that benches
/// and tests can drive the real decoding path from recorded or generated bytes.
pub fn decode_body<S, B, E>(chunks: S) -> EventStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]>,
    E: std::error::Error + Send + 'static,
{
    let body = Body {
        events: crate::llm::sse::events_from(PROVIDER, chunks),
        decoder: Decoder::default(),
        queue: VecDeque::new(),
        began: false,
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        let item = body.next().await?;
        Some((item, body))
    }))
}

/// The state of [`decode_body`].
struct Body {
    events: SseStream,
    decoder: Decoder,
    queue: VecDeque<StreamEvent>,
    /// A meaningful first event arrived (the answer began).
    began: bool,
    /// Nothing more is read.
    ended: bool,
}

impl Body {
    async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if self.ended || self.decoder.is_finished() {
                return None;
            }
            let failure = match self.events.next().await {
                None if !self.began => Some(LlmError::Stream {
                    provider: PROVIDER,
                    kind: CONNECTION_LOST.to_owned(),
                    message: "the body ended before any event".to_owned(),
                }),
                None => self.decoder.end(&mut self.queue).err(),
                Some(Err(e)) => Some(e),
                Some(Ok(event)) => {
                    if !self.began {
                        match Decoder::first_event(&event) {
                            Ok(FirstEvent::Skip) => continue,
                            Ok(FirstEvent::Begin) => self.began = true,
                            Err(e) => return self.fail(e),
                        }
                    }
                    match self.decoder.feed(&event, &mut self.queue) {
                        Ok(()) => continue,
                        Err(e) => Some(e),
                    }
                }
            };
            self.ended = true;
            if let Some(e) = failure {
                return self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: LlmError) -> Option<Result<StreamEvent, LlmError>> {
        self.ended = true;
        self.queue.clear();
        Some(Err(e))
    }
}

/// The arguments object assembled from `input_json_delta` fragments (`{}` when none came).
fn parse_arguments(id: &str, name: &str, json: &str) -> Result<JsonObject, LlmError> {
    if json.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => {
            Err(protocol(format!("arguments of tool call {id} ({name}) are not an object: {other}")))
        }
        Err(e) => {
            Err(protocol(format!("arguments of tool call {id} ({name}) are not valid JSON ({e}): {json}")))
        }
    }
}

//! Decoding the `streamGenerateContent?alt=sse` stream into [`StreamEvent`]s.
//!
//! Each SSE `data` is a whole `GenerateContentResponse`:
//! `{candidates: [{content: {parts, role}, finishReason?, safetyRatings?}], usageMetadata?,
//! promptFeedback?}`, or `{error: {code, message, status}}`. The Code Assist API
//! (`v1internal`, see [`super::code_assist`]) wraps each one as `{response: {...}}`; such a
//! frame is unwrapped first ([`unwrap_response`]), and plain frames are read as they are. Parts:
//! - `{text, thought: true}`: thinking (`thinking_*`);
//! - `{text}`: text (`text_*`); a `thoughtSignature` on it is kept as the text's signature
//!   (`text_end.signature`, and the text block's `extra.thoughtSignature`, replayed next turn).
//!   An empty text part carrying only a signature signs the thinking just streamed (or is kept
//!   as an empty signed text block when no thinking is open); an empty text part without one
//!   is ignored;
//! - `{functionCall: {name, args}, thoughtSignature?}`: a whole tool call. Gemini sends no
//!   ids, so they are generated as TypeScript does: `call_<8 random base-36 chars>_<n>`, unique
//!   per response. The arguments come as one `toolcall_delta` (the JSON of `args`); the
//!   signature is kept on the [`ToolCall`].
//!
//! `usageMetadata` (the last one wins): `promptTokenCount` is `inputTokens` (it includes
//! cached tokens, as `providerType: google` says), `cachedContentTokenCount` is
//! `cacheReadTokens`, and `candidatesTokenCount + thoughtsTokenCount` is `outputTokens`.
//!
//! The frame carrying `finishReason` ends the response with `done`: `STOP` is `end_turn`
//! (`tool_use` when the response holds tool calls), `MAX_TOKENS` is `max_tokens`, others are
//! kept lowercased. A blocked answer (`SAFETY`, `PROHIBITED_CONTENT`, `BLOCKLIST`, `SPII`,
//! `IMAGE_SAFETY`, or `promptFeedback.blockReason`) ends the stream with a `safety_block` event
//! (the categories rated `MEDIUM` / `HIGH` or marked `blocked`) followed by
//! [`LlmError::Stream`] with kind [`SAFETY_KIND`]. A stream that ends cleanly without a
//! `finishReason` gets a synthesized `done`, as in TypeScript.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;

use crate::core::content::{ContentBlock, TextBlock};
use crate::core::messages::{AssistantMessage, ProviderType, StopReason, TokenUsage};
use crate::core::stream::{StreamError, StreamEvent};
use crate::core::tools::ToolCall;
use crate::core::wire::JsonObject;
use crate::llm::provider::LlmError;
use crate::llm::request::{Decode, FirstEvent};
use crate::llm::sse::SseEvent;

use super::convert::TEXT_SIGNATURE_KEY;
use super::PROVIDER;

/// [`LlmError::Stream`] kind of a response blocked by Gemini's safety filters.
pub const SAFETY_KIND: &str = "safety";

/// Finish reasons meaning the answer was blocked.
const BLOCKED_REASONS: &[&str] = &["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"];

fn protocol(message: impl Into<String>) -> LlmError {
    LlmError::Protocol { provider: PROVIDER, message: message.into() }
}

/// The `GenerateContentResponse` inside a Code Assist frame `{"response": {...}}` (other
/// keys such as `traceId` beside it are ignored); any other frame as it is.
pub fn unwrap_response(data: Value) -> Value {
    match data {
        Value::Object(mut o)
            if o.get("response").is_some_and(Value::is_object) && !o.contains_key("candidates") =>
        {
            o.remove("response").expect("checked")
        }
        other => other,
    }
}

#[derive(Debug, Default, Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<u64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// Turns a `{error: {code, message, status}}` frame into [`LlmError::Stream`]. The kind is
/// mapped onto the retryable kinds ([`LlmError::is_retryable`]): `RESOURCE_EXHAUSTED` is
/// `rate_limit_error`, `UNAVAILABLE` is `overloaded_error`, `INTERNAL` / `UNKNOWN` /
/// `DEADLINE_EXCEEDED` are `api_error`; any other status is kept as written.
pub(super) fn stream_error(data: &Value) -> LlmError {
    let e = data.get("error").and_then(|e| WireError::deserialize(e).ok()).unwrap_or_default();
    let status =
        if e.status.is_empty() { e.code.map(|c| c.to_string()).unwrap_or_default() } else { e.status };
    let kind = match status.as_str() {
        "RESOURCE_EXHAUSTED" | "429" => "rate_limit_error".to_owned(),
        "UNAVAILABLE" | "503" => "overloaded_error".to_owned(),
        "INTERNAL" | "UNKNOWN" | "DEADLINE_EXCEEDED" | "500" | "504" | "" => "api_error".to_owned(),
        other => other.to_owned(),
    };
    let message = match (status.is_empty(), e.message.is_empty()) {
        (true, true) => kind.clone(),
        (true, false) => e.message,
        (false, true) => status,
        (false, false) => format!("{status}: {}", e.message),
    };
    LlmError::Stream { provider: PROVIDER, kind, message }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<WireUsage>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
    #[serde(default)]
    safety_ratings: Vec<SafetyRating>,
}

#[derive(Debug, Default, Deserialize)]
struct CandidateContent {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    thought_signature: Option<String>,
    function_call: Option<FunctionCall>,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SafetyRating {
    #[serde(default)]
    category: String,
    #[serde(default)]
    probability: String,
    #[serde(default)]
    blocked: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
    #[serde(default)]
    safety_ratings: Vec<SafetyRating>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

/// The block being streamed.
#[derive(Debug)]
enum Open {
    Text { text: String, signature: Option<String> },
    Thinking { thinking: String, signature: Option<String> },
}

/// Decodes one response's frames; feed it every SSE event in order.
#[derive(Debug)]
pub(super) struct Decoder {
    started: bool,
    finished: bool,
    open: Option<Open>,
    content: Vec<ContentBlock>,
    usage: Option<WireUsage>,
    id_prefix: String,
    tool_calls: usize,
}

impl Decoder {
    /// A decoder whose tool call ids start with `call_<id_prefix>_`.
    pub(super) fn new(id_prefix: String) -> Self {
        Self {
            started: false,
            finished: false,
            open: None,
            content: Vec::new(),
            usage: None,
            id_prefix,
            tool_calls: 0,
        }
    }
}

impl Decode for Decoder {
    /// Events decoded from a frame that then failed (a blocked answer's `safety_block`)
    /// are yielded before the failure.
    const DRAIN_BEFORE_FAILURE: bool = true;

    fn first_event(event: &SseEvent) -> Result<FirstEvent, LlmError> {
        if event.data.trim().is_empty() {
            return Ok(FirstEvent::Skip);
        }
        let data = unwrap_response(event.json(PROVIDER)?);
        if data.get("error").is_some() {
            return Err(stream_error(&data));
        }
        Ok(FirstEvent::Begin)
    }

    /// True once the response ended (`done` produced, or blocked).
    fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes one frame, appending the stream events it produces to `out`.
    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.finished || event.data.trim().is_empty() {
            return Ok(());
        }
        let data = unwrap_response(event.json(PROVIDER)?);
        if data.get("error").is_some() {
            return Err(stream_error(&data));
        }
        let chunk: Chunk = serde_json::from_value(data)
            .map_err(|e| protocol(format!("malformed response chunk ({e}): {}", event.data)))?;
        self.start(out);
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u);
        }
        if let Some(feedback) = chunk.prompt_feedback {
            if let Some(reason) = feedback.block_reason {
                return Err(self.blocked(&reason, &feedback.safety_ratings, out));
            }
        }
        let Some(candidate) = chunk.candidates.into_iter().next() else { return Ok(()) };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            self.part(part, out)?;
        }
        if let Some(reason) = candidate.finish_reason {
            if BLOCKED_REASONS.contains(&reason.as_str()) {
                return Err(self.blocked(&reason, &candidate.safety_ratings, out));
            }
            self.finish(Some(&reason), out);
        }
        Ok(())
    }

    /// Ends a response whose stream closed without a `finishReason`.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if !self.finished {
            self.start(out);
            self.finish(None, out);
        }
        Ok(())
    }
}

impl Decoder {
    fn start(&mut self, out: &mut VecDeque<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push_back(StreamEvent::Start);
        }
    }

    fn part(&mut self, part: Part, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        let signature = part.thought_signature.filter(|s| !s.is_empty());
        if let Some(call) = part.function_call {
            return self.tool_call(call, signature, out);
        }
        let Some(text) = part.text else { return Ok(()) };
        if part.thought {
            if !matches!(self.open, Some(Open::Thinking { .. })) {
                self.close(out);
                out.push_back(StreamEvent::ThinkingStart);
                self.open = Some(Open::Thinking { thinking: String::new(), signature: None });
            }
            if let Some(Open::Thinking { thinking, signature: sig }) = self.open.as_mut() {
                if sig.is_none() {
                    *sig = signature;
                }
                if !text.is_empty() {
                    thinking.push_str(&text);
                    out.push_back(StreamEvent::ThinkingDelta { delta: text });
                }
            }
            return Ok(());
        }
        if text.is_empty() {
            let Some(signature) = signature else { return Ok(()) };
            match self.open.as_mut() {
                Some(Open::Thinking { signature: sig, .. } | Open::Text { signature: sig, .. })
                    if sig.is_none() =>
                {
                    *sig = Some(signature);
                }
                _ => {
                    self.close(out);
                    self.content.push(signed_text(String::new(), Some(signature)));
                }
            }
            return Ok(());
        }
        if !matches!(self.open, Some(Open::Text { .. })) {
            self.close(out);
            out.push_back(StreamEvent::TextStart);
            self.open = Some(Open::Text { text: String::new(), signature: None });
        }
        if let Some(Open::Text { text: all, signature: sig }) = self.open.as_mut() {
            if sig.is_none() {
                *sig = signature;
            }
            all.push_str(&text);
            out.push_back(StreamEvent::TextDelta { delta: text });
        }
        Ok(())
    }

    fn tool_call(
        &mut self,
        call: FunctionCall,
        signature: Option<String>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), LlmError> {
        if call.name.is_empty() {
            return Err(protocol("functionCall without a name"));
        }
        let arguments = match call.args {
            Value::Null => JsonObject::new(),
            Value::Object(obj) => obj,
            other => {
                return Err(protocol(format!(
                    "arguments of a `{}` call are not an object: {other}",
                    call.name
                )))
            }
        };
        self.close(out);
        let id = format!("call_{}_{}", self.id_prefix, self.tool_calls);
        self.tool_calls += 1;
        out.push_back(StreamEvent::ToolCallStart { tool_call_id: id.clone(), name: call.name.clone() });
        out.push_back(StreamEvent::ToolCallDelta {
            tool_call_id: id.clone(),
            arguments_delta: Value::Object(arguments.clone()).to_string(),
        });
        let mut tool_call = ToolCall::new(id, call.name, arguments);
        tool_call.thought_signature = signature;
        self.content.push(tool_call.to_block());
        out.push_back(StreamEvent::ToolCallEnd { tool_call });
        Ok(())
    }

    fn close(&mut self, out: &mut VecDeque<StreamEvent>) {
        match self.open.take() {
            None => {}
            Some(Open::Text { text, signature }) => {
                out.push_back(StreamEvent::TextEnd { text: text.clone(), signature: signature.clone() });
                self.content.push(signed_text(text, signature));
            }
            Some(Open::Thinking { thinking, signature }) => {
                out.push_back(StreamEvent::ThinkingEnd {
                    thinking: thinking.clone(),
                    signature: signature.clone(),
                });
                self.content.push(ContentBlock::thinking(thinking, signature));
            }
        }
    }

    /// Closes the open block, queues `safety_block` and returns the error ending the stream.
    fn blocked(
        &mut self,
        reason: &str,
        ratings: &[SafetyRating],
        out: &mut VecDeque<StreamEvent>,
    ) -> LlmError {
        self.close(out);
        self.finished = true;
        let categories: Vec<String> = ratings
            .iter()
            .filter(|r| r.blocked || r.probability == "HIGH" || r.probability == "MEDIUM")
            .map(|r| r.category.clone())
            .collect();
        let mut message = format!("response blocked by Gemini safety filters ({reason})");
        if !categories.is_empty() {
            message.push_str(&format!(": {}", categories.join(", ")));
        }
        let mut error = StreamError::new(message.clone());
        error.extra.insert("finishReason".into(), reason.into());
        out.push_back(StreamEvent::SafetyBlock { blocked_categories: categories, error });
        LlmError::Stream { provider: PROVIDER, kind: SAFETY_KIND.to_owned(), message }
    }

    fn finish(&mut self, reason: Option<&str>, out: &mut VecDeque<StreamEvent>) {
        self.close(out);
        self.finished = true;
        let stop_reason = match reason {
            Some("MAX_TOKENS") => StopReason::MaxTokens,
            Some("STOP" | "FINISH_REASON_UNSPECIFIED") | None if self.tool_calls > 0 => StopReason::ToolUse,
            Some("STOP" | "FINISH_REASON_UNSPECIFIED") | None => StopReason::EndTurn,
            Some(other) => StopReason::from(other.to_ascii_lowercase().as_str()),
        };
        let usage = self.usage.take().unwrap_or_default();
        let usage = TokenUsage {
            input_tokens: usage.prompt_token_count.unwrap_or(0),
            output_tokens: usage.candidates_token_count.unwrap_or(0)
                + usage.thoughts_token_count.unwrap_or(0),
            cache_read_tokens: usage.cached_content_token_count,
            cache_creation_tokens: None,
            provider_type: Some(ProviderType::Google),
            extra: JsonObject::new(),
        };
        let message = AssistantMessage {
            content: std::mem::take(&mut self.content),
            usage: Some(usage),
            stop_reason: Some(stop_reason.clone()),
            ..Default::default()
        };
        out.push_back(StreamEvent::Done { message: Box::new(message), stop_reason });
    }
}

/// A text block, with the signature its part arrived with in `extra`.
fn signed_text(text: String, signature: Option<String>) -> ContentBlock {
    let mut extra = JsonObject::new();
    if let Some(sig) = signature {
        extra.insert(TEXT_SIGNATURE_KEY.into(), sig.into());
    }
    ContentBlock::Text(TextBlock { text, extra })
}

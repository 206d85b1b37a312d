//! Provider stream events: what an LLM provider emits while a response streams in, tagged by
//! `type` exactly as the TypeScript `StreamEvent` union names them.
//!
//! Order for one response: `start`, then per content block `text_start` / `text_delta`* /
//! `text_end`, `thinking_start` / `thinking_delta`* / `thinking_end`, or `toolcall_start` /
//! `toolcall_delta`* / `toolcall_end`; finally `done` (or `error`). `retry` is emitted before
//! waiting to retry a failed request; `safety_block` when a provider's safety filter blocks
//! the response (Gemini).
//!
//! These events are in-process (the wire shows the `agent.*` events derived from them), so
//! fields not modelled here are dropped; an event with an unknown `type` is kept verbatim as
//! [`StreamEvent::Unknown`].

use serde::{Deserialize, Serialize};

use super::errors::{ErrorCategory, TronError};
use super::messages::{AssistantMessage, StopReason};
use super::tools::ToolCall;
use super::wire::JsonObject;

/// An error carried by a stream event.
///
/// TypeScript puts a JavaScript `Error` here, which `JSON.stringify` writes as `{}` (its
/// `message` is not enumerable), so this shape is tron's: `{message, code?, ...}`. An empty
/// `message` is omitted so that `{}` round-trips.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreamError {
    /// What went wrong.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Fields not modelled here (e.g. `name`, `code`, `status`), kept verbatim.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl StreamError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), extra: JsonObject::new() }
    }
}

impl From<&TronError> for StreamError {
    fn from(e: &TronError) -> Self {
        let mut out = Self::new(e.to_string());
        out.extra.insert("code".into(), e.rpc_code().as_str().into());
        out
    }
}

/// The error summary in a `retry` event: `{category, message, isRetryable}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryErrorInfo {
    /// Error category (`rate_limit`, `network`, `server`, ...).
    pub category: ErrorCategory,
    /// Human-readable message.
    pub message: String,
    /// Whether the error is retryable (true for emitted retries).
    pub is_retryable: bool,
}

/// One provider stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StreamEvent {
    /// `{"type":"start"}`: the response began.
    #[serde(rename = "start")]
    Start,
    /// `{"type":"text_start"}`: a text block began.
    #[serde(rename = "text_start")]
    TextStart,
    /// `{"type":"text_delta","delta"}`: more text.
    #[serde(rename = "text_delta")]
    TextDelta {
        /// The new text.
        delta: String,
    },
    /// `{"type":"text_end","text","signature"?}`: the text block is complete.
    #[serde(rename = "text_end")]
    TextEnd {
        /// The whole block's text.
        text: String,
        /// Provider signature, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// `{"type":"thinking_start"}`: a thinking block began.
    #[serde(rename = "thinking_start")]
    ThinkingStart,
    /// `{"type":"thinking_delta","delta"}`: more thinking text.
    #[serde(rename = "thinking_delta")]
    ThinkingDelta {
        /// The new thinking text.
        delta: String,
    },
    /// `{"type":"thinking_end","thinking","signature"?}`: the thinking block is complete.
    #[serde(rename = "thinking_end")]
    ThinkingEnd {
        /// The whole thinking text.
        thinking: String,
        /// Signature to send back with the block.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// `{"type":"toolcall_start","toolCallId","name"}`: the model started a tool call.
    #[serde(rename = "toolcall_start")]
    ToolCallStart {
        /// Tool call id.
        #[serde(rename = "toolCallId")]
        tool_call_id: String,
        /// Tool name.
        name: String,
    },
    /// `{"type":"toolcall_delta","toolCallId","argumentsDelta"}`: more argument JSON text.
    #[serde(rename = "toolcall_delta")]
    ToolCallDelta {
        /// Tool call id.
        #[serde(rename = "toolCallId")]
        tool_call_id: String,
        /// A fragment of the arguments' JSON text.
        #[serde(rename = "argumentsDelta")]
        arguments_delta: String,
    },
    /// `{"type":"toolcall_end","toolCall"}`: the tool call is complete.
    #[serde(rename = "toolcall_end")]
    ToolCallEnd {
        /// The complete call.
        #[serde(rename = "toolCall")]
        tool_call: ToolCall,
    },
    /// `{"type":"done","message","stopReason"}`: the response is complete.
    #[serde(rename = "done")]
    Done {
        /// The assembled assistant message.
        message: Box<AssistantMessage>,
        /// Why generation stopped.
        #[serde(rename = "stopReason")]
        stop_reason: StopReason,
    },
    /// `{"type":"error","error"}`: the response failed.
    #[serde(rename = "error")]
    Error {
        /// The failure.
        error: StreamError,
    },
    /// `{"type":"retry","attempt","maxRetries","delayMs","error"}`: about to retry.
    #[serde(rename = "retry")]
    Retry {
        /// Retry number, 1-based.
        attempt: u32,
        /// Configured maximum number of retries.
        #[serde(rename = "maxRetries")]
        max_retries: u32,
        /// Wait before the retry, in milliseconds.
        #[serde(rename = "delayMs")]
        delay_ms: u64,
        /// The error that triggered the retry.
        error: RetryErrorInfo,
    },
    /// `{"type":"safety_block","blockedCategories","error"}`: blocked by a safety filter.
    #[serde(rename = "safety_block")]
    SafetyBlock {
        /// Categories that triggered the block.
        #[serde(rename = "blockedCategories")]
        blocked_categories: Vec<String>,
        /// Description of the block.
        error: StreamError,
    },
    /// Any other event (or a known `type` in a shape not modelled), kept verbatim.
    #[serde(untagged)]
    Unknown(JsonObject),
}

impl StreamEvent {
    /// The event's `type` string (for [`StreamEvent::Unknown`], its `type` if a string).
    pub fn kind(&self) -> &str {
        match self {
            Self::Start => "start",
            Self::TextStart => "text_start",
            Self::TextDelta { .. } => "text_delta",
            Self::TextEnd { .. } => "text_end",
            Self::ThinkingStart => "thinking_start",
            Self::ThinkingDelta { .. } => "thinking_delta",
            Self::ThinkingEnd { .. } => "thinking_end",
            Self::ToolCallStart { .. } => "toolcall_start",
            Self::ToolCallDelta { .. } => "toolcall_delta",
            Self::ToolCallEnd { .. } => "toolcall_end",
            Self::Done { .. } => "done",
            Self::Error { .. } => "error",
            Self::Retry { .. } => "retry",
            Self::SafetyBlock { .. } => "safety_block",
            Self::Unknown(obj) => obj.get("type").and_then(serde_json::Value::as_str).unwrap_or(""),
        }
    }

    /// True for the events that end a response (`done`, `error`, `safety_block`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done { .. } | Self::Error { .. } | Self::SafetyBlock { .. })
    }

    /// An `error` event with a message.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error { error: StreamError::new(message) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn round_trip(v: Value) -> StreamEvent {
        let e: StreamEvent = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), v, "round trip changed {e:?}");
        e
    }

    #[test]
    fn simple_events() {
        assert_eq!(round_trip(json!({"type": "start"})), StreamEvent::Start);
        assert_eq!(round_trip(json!({"type": "text_start"})), StreamEvent::TextStart);
        assert_eq!(
            round_trip(json!({"type": "text_delta", "delta": "Hel"})),
            StreamEvent::TextDelta { delta: "Hel".into() }
        );
        round_trip(json!({"type": "text_end", "text": "Hello"}));
        round_trip(json!({"type": "text_end", "text": "Hello", "signature": "s"}));
        assert_eq!(round_trip(json!({"type": "thinking_start"})).kind(), "thinking_start");
        round_trip(json!({"type": "thinking_delta", "delta": "hm"}));
        round_trip(json!({"type": "thinking_end", "thinking": "hmm", "signature": "sig"}));
    }

    #[test]
    fn tool_call_events() {
        round_trip(json!({"type": "toolcall_start", "toolCallId": "toolu_1", "name": "Bash"}));
        round_trip(json!({"type": "toolcall_delta", "toolCallId": "toolu_1", "argumentsDelta": "{\"comm"}));
        let e = round_trip(json!({"type": "toolcall_end", "toolCall":
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "arguments": {"command": "ls"}}}));
        let StreamEvent::ToolCallEnd { tool_call } = e else { panic!() };
        assert_eq!(tool_call.name, "Bash");
    }

    #[test]
    fn done_event() {
        let e = round_trip(json!({"type": "done", "stopReason": "end_turn", "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "Hi"}],
            "usage": {"inputTokens": 3, "outputTokens": 1},
            "stopReason": "end_turn"
        }}));
        assert!(e.is_terminal());
        let StreamEvent::Done { message, stop_reason } = e else { panic!() };
        assert_eq!((message.text(), stop_reason), ("Hi".to_owned(), StopReason::EndTurn));
    }

    #[test]
    fn error_retry_and_safety_events() {
        round_trip(json!({"type": "error", "error": {"message": "overloaded", "status": 529}}));
        round_trip(json!({"type": "error", "error": {}}));
        let e = round_trip(json!({"type": "retry", "attempt": 1, "maxRetries": 5, "delayMs": 1000,
            "error": {"category": "rate_limit", "message": "Rate limit exceeded", "isRetryable": true}}));
        let StreamEvent::Retry { error, .. } = e else { panic!() };
        assert_eq!(error.category, ErrorCategory::RateLimit);
        round_trip(
            json!({"type": "safety_block", "blockedCategories": ["HARM_CATEGORY_X"], "error": {"message": "blocked"}}),
        );
        assert_eq!(
            serde_json::to_value(StreamEvent::error("x")).unwrap(),
            json!({"type": "error", "error": {"message": "x"}})
        );
        let from_err = StreamError::from(&TronError::Aborted);
        assert_eq!(
            serde_json::to_value(from_err).unwrap(),
            json!({"message": "Operation aborted", "code": "AGENT_ABORTED"})
        );
    }

    #[test]
    fn unknown_events_are_preserved() {
        let e = round_trip(json!({"type": "citation_delta", "citation": {"url": "u"}}));
        assert_eq!(e.kind(), "citation_delta");
        assert!(matches!(round_trip(json!({"type": "text_delta"})), StreamEvent::Unknown(_)));
    }
}

//! The OpenAI providers: Chat Completions with an API key ([`OpenAiChatProvider`]) and the
//! Responses API of the ChatGPT Codex backend with an OAuth token
//! ([`OpenAiResponsesProvider`], see [`responses`]).
//!
//! One [`Provider::stream`] call is one `POST {base}/v1/chat/completions` with
//! `stream: true` and `stream_options.include_usage`. The body is built by
//! [`OpenAiChatProvider::request_body`] (conversion rules in [`chat`]); the answer's
//! server-sent events (`chat.completion.chunk`s, then `data: [DONE]`) are decoded into
//! canonical [`StreamEvent`]s: `start`, `text_*`, `toolcall_*` (arguments assembled per
//! tool-call `index` from fragments), then `done` with the assembled assistant message, its
//! usage (`providerType: openai`, input tokens counting cached ones) and stop reason
//! (`stop` → `end_turn`, `tool_calls` → `tool_use`, `length` → `max_tokens`,
//! `content_filter` → `refusal`).
//!
//! Retries: a failure before the first event of the answer (connection error, 408 / 429 /
//! 5xx, or an error event arriving first whose type is retryable) is retried under the
//! provider's [`RetryPolicy`], waiting at least what `retry-after` asked; each retry is
//! announced by a `retry` event before the wait. Once the answer has begun nothing is
//! retried: a later failure ends the stream with its error. The request and retry machinery
//! is shared ([`crate::llm::request`]); each format supplies its decoder, and this module the
//! OpenAI error handling both share ([`stream_error`], which errors are retried, their
//! category).
//!
//! [`StreamEvent`]: crate::core::stream::StreamEvent
//! [`RetryPolicy`]: crate::core::retry::RetryPolicy
//! [`Provider::stream`]: crate::llm::provider::Provider::stream

use crate::core::errors::ErrorCategory;
use crate::core::retry::classify_error_text;
use crate::llm::provider::LlmError;

pub mod chat;
pub mod responses;
#[cfg(test)]
mod tests;

pub use chat::OpenAiChatProvider;
pub use responses::OpenAiResponsesProvider;

/// The provider name in errors and events.
pub const PROVIDER: &str = "openai";

/// Where the API lives unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

/// In-stream error types (besides the generic retryable ones) worth retrying when they
/// arrive before any output.
const RETRYABLE_STREAM_KINDS: &[&str] = &["server_error", "rate_limit_exceeded", "server_is_overloaded"];

/// Whether a failure before any output is worth retrying.
fn retryable(e: &LlmError) -> bool {
    e.is_retryable()
        || matches!(e, LlmError::Stream { kind, .. } if RETRYABLE_STREAM_KINDS.contains(&kind.as_str()))
}

/// The category shown in `retry` events.
fn category(e: &LlmError) -> ErrorCategory {
    match e {
        LlmError::Http { status, .. } => ErrorCategory::from_http_status(*status),
        LlmError::Connect { .. } => ErrorCategory::Network,
        LlmError::Stream { kind, .. } if kind.starts_with("rate_limit") => ErrorCategory::RateLimit,
        LlmError::Stream { .. } => ErrorCategory::Server,
        other => classify_error_text(&other.to_string()),
    }
}

/// An in-stream `{"error": {"type" | "code", "message"}}` (or a flat `{"code", "message"}`)
/// as [`LlmError::Stream`].
fn stream_error(provider: &'static str, data: &serde_json::Value) -> LlmError {
    let error = data.get("error").filter(|e| e.is_object()).unwrap_or(data);
    let field = |key: &str| error.get(key).and_then(serde_json::Value::as_str).unwrap_or_default();
    // A flat event's `type` is the event name (`error`), not the error's type.
    let kind = [field("type"), field("code")]
        .into_iter()
        .find(|k| !k.is_empty() && *k != "error")
        .unwrap_or("api_error");
    let message = match field("message") {
        "" => kind.to_owned(),
        m => format!("{kind}: {m}"),
    };
    LlmError::Stream { provider, kind: kind.to_owned(), message }
}

/// The arguments object assembled from fragments (`{}` when none came).
fn parse_arguments(
    provider: &'static str,
    id: &str,
    name: &str,
    json: &str,
) -> Result<crate::core::wire::JsonObject, LlmError> {
    if json.trim().is_empty() {
        return Ok(crate::core::wire::JsonObject::new());
    }
    let protocol = |message: String| LlmError::Protocol { provider, message };
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(obj)) => Ok(obj),
        Ok(other) => {
            Err(protocol(format!("arguments of tool call {id} ({name}) are not an object: {other}")))
        }
        Err(e) => {
            Err(protocol(format!("arguments of tool call {id} ({name}) are not valid JSON ({e}): {json}")))
        }
    }
}

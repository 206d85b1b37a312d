//! The [`Provider`] trait: one streaming request to a model, as canonical stream events.
//!
//! Every provider (Anthropic, OpenAI, Google) turns a [`Request`] into its own HTTP call and
//! its server-sent events back into [`StreamEvent`]s, so the agent loop never sees a
//! provider's format. A stream ends with exactly one `done` or `error` event.

use std::pin::Pin;

use futures_util::Stream;

use crate::core::messages::Message;
use crate::core::stream::StreamEvent;
use crate::core::tools::ToolDefinition;

/// One request to a model.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The model id as the provider knows it (already resolved through the registry).
    pub model: String,
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolDefinition>,
    /// Output token limit for this response.
    pub max_tokens: u64,
    /// Extended-thinking budget in tokens (providers that support it), `None` for off.
    pub thinking_budget: Option<u64>,
}

/// Why a request failed before or while streaming.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an HTTP error status.
    #[error("{provider} answered {status}: {message}")]
    Http {
        provider: &'static str,
        status: u16,
        message: String,
        /// Seconds the provider asked us to wait (`retry-after`), if any.
        retry_after: Option<f64>,
    },
    /// The connection failed (before any byte of the answer).
    #[error("cannot reach {provider} at {url}: {message}")]
    Connect { provider: &'static str, url: String, message: String },
    /// The stream held something that is not the provider's format.
    #[error("{provider} sent a malformed stream: {message}")]
    Protocol { provider: &'static str, message: String },
    /// The provider reported an error inside the stream (overloaded, ...).
    #[error("{provider} error: {message}")]
    Stream { provider: &'static str, kind: String, message: String },
    /// No credentials for this provider.
    #[error("no credentials for {provider}: {hint}")]
    NoCredentials { provider: &'static str, hint: String },
}

impl LlmError {
    /// Whether retrying the same request may succeed (rate limits, overload, 5xx,
    /// connection failures). Only ever retried before any output was shown.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            LlmError::Connect { .. } => true,
            LlmError::Stream { kind, .. } => {
                kind == "overloaded_error" || kind == "rate_limit_error" || kind == "api_error"
            }
            LlmError::Protocol { .. } | LlmError::NoCredentials { .. } => false,
        }
    }
}

/// A stream of canonical events for one response.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// A model provider.
pub trait Provider: Send + Sync {
    /// The provider's name (`anthropic`, `openai`, `google`).
    fn name(&self) -> &'static str;

    /// Starts one streaming request. Errors that happen before the first byte (HTTP status,
    /// connection) come out as the stream's first and only item.
    fn stream(&self, request: Request) -> EventStream;
}

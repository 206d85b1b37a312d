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
//! retried: a later failure ends the stream with its error.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::HeaderMap;

use crate::core::errors::ErrorCategory;
use crate::core::retry::{classify_error_text, Backoff, RetryPolicy};
use crate::core::stream::{RetryErrorInfo, StreamEvent};
use crate::llm::provider::{EventStream, LlmError};
use crate::llm::sse::{self, SseEvent, SseStream, CONNECTION_LOST};

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

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest silence tolerated while reading an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// In-stream error types (besides the generic retryable ones) worth retrying when they
/// arrive before any output.
const RETRYABLE_STREAM_KINDS: &[&str] = &["server_error", "rate_limit_exceeded", "server_is_overloaded"];

/// The HTTP client every OpenAI provider starts with.
fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("tron/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Decodes one response's events (one implementation per wire format).
trait Decode: Default + Send + 'static {
    /// The error an event carries when it is an error event arriving before any output
    /// (checked on the first event only, so it can be retried).
    fn first_error(event: &SseEvent) -> Result<Option<LlmError>, LlmError>;

    /// Decodes one event, appending the stream events it produces to `out`.
    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;

    /// True once the `done` event was produced.
    fn is_finished(&self) -> bool;

    /// The body ended: finishes the message when enough of it arrived, else an error.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;
}

/// Everything needed to send (and resend) one request.
struct Call {
    provider: &'static str,
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    body: String,
}

impl Call {
    /// Sends the request and reads up to the first event of the answer. An error event
    /// arriving first, or a connection lost before any event, is an error here (so it can be
    /// retried); `Ok` carries the events and the first one.
    async fn open<D: Decode>(&self) -> Result<(SseStream, SseEvent), LlmError> {
        let provider = self.provider;
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| sse::connect_error(provider, &self.url, &e))?;
        let mut events = sse::open(provider, response).await?;
        let lost = |message: String| LlmError::Connect { provider, url: self.url.clone(), message };
        let event = match events.next().await {
            None => return Err(lost("the connection closed before any event".to_owned())),
            Some(Err(LlmError::Stream { kind, message, .. })) if kind == CONNECTION_LOST => {
                return Err(lost(message))
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(event)) => event,
        };
        match D::first_error(&event)? {
            Some(e) => Err(e),
            None => Ok((events, event)),
        }
    }
}

/// Starts the retrying stream for one request.
fn start_stream<D: Decode>(call: Call, retry: &RetryPolicy) -> EventStream {
    let backoff = retry.backoff(fastrand::Rng::new());
    let state: State<D> =
        State::Connecting { call: Arc::new(call), backoff, max_retries: retry.max_retries, wait: None };
    Box::pin(futures_util::stream::unfold(state, step::<D>))
}

/// A stream whose only item is `e`.
fn failed(e: LlmError) -> EventStream {
    Box::pin(futures_util::stream::once(async move { Err(e) }))
}

enum State<D> {
    /// Sending (after waiting `wait`, when retrying).
    Connecting { call: Arc<Call>, backoff: Backoff, max_retries: u32, wait: Option<Duration> },
    /// Reading the answer.
    Streaming { events: SseStream, decoder: Box<D>, queue: VecDeque<StreamEvent> },
    /// Nothing more to yield once the queue is empty.
    Draining { queue: VecDeque<StreamEvent> },
    /// Nothing more to yield.
    Finished,
}

type Item = Result<StreamEvent, LlmError>;

async fn step<D: Decode>(mut state: State<D>) -> Option<(Item, State<D>)> {
    loop {
        state = match state {
            State::Finished => return None,
            State::Draining { mut queue } => {
                let event = queue.pop_front()?;
                return Some((Ok(event), State::Draining { queue }));
            }
            State::Connecting { call, mut backoff, max_retries, wait } => {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                match call.open::<D>().await {
                    Ok((events, first)) => {
                        let mut decoder = Box::<D>::default();
                        let mut queue = VecDeque::new();
                        if let Err(e) = decoder.feed(&first, &mut queue) {
                            return Some((Err(e), State::Finished));
                        }
                        State::Streaming { events, decoder, queue }
                    }
                    Err(e) => {
                        let delay = if retryable(&e) { backoff.next_delay(retry_after(&e)) } else { None };
                        let Some(delay) = delay else {
                            return Some((Err(e), State::Finished));
                        };
                        let event = StreamEvent::Retry {
                            attempt: backoff.attempt(),
                            max_retries,
                            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            error: RetryErrorInfo {
                                category: category(&e),
                                message: e.to_string(),
                                is_retryable: true,
                            },
                        };
                        let next = State::Connecting { call, backoff, max_retries, wait: Some(delay) };
                        return Some((Ok(event), next));
                    }
                }
            }
            State::Streaming { mut events, mut decoder, mut queue } => {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), State::Streaming { events, decoder, queue }));
                }
                if decoder.is_finished() {
                    return None;
                }
                match events.next().await {
                    None => {
                        if let Err(e) = decoder.end(&mut queue) {
                            return Some((Err(e), State::Finished));
                        }
                        State::Draining { queue }
                    }
                    Some(Err(e)) => return Some((Err(e), State::Finished)),
                    Some(Ok(event)) => {
                        if let Err(e) = decoder.feed(&event, &mut queue) {
                            return Some((Err(e), State::Finished));
                        }
                        State::Streaming { events, decoder, queue }
                    }
                }
            }
        };
    }
}

/// Whether a failure before any output is worth retrying.
fn retryable(e: &LlmError) -> bool {
    e.is_retryable()
        || matches!(e, LlmError::Stream { kind, .. } if RETRYABLE_STREAM_KINDS.contains(&kind.as_str()))
}

/// The wait an error asks for.
fn retry_after(e: &LlmError) -> Option<Duration> {
    match e {
        LlmError::Http { retry_after: Some(secs), .. } => Duration::try_from_secs_f64(*secs).ok(),
        _ => None,
    }
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

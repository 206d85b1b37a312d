//! The Google Gemini API provider (API key).
//!
//! One [`Provider::stream`] call is one
//! `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse` with the key in the
//! `x-goog-api-key` header. The body is built by [`GoogleProvider::request_body`] (rules in
//! [`convert_messages`]); the answer's frames are decoded into canonical [`StreamEvent`]s:
//! `start`, `thinking_*` (thought parts), `text_*`, `toolcall_*` (ids generated, since Gemini
//! sends none; `thoughtSignature` kept on the call and replayed next turn), then `done` with
//! the assembled message, its usage (`providerType: google`) and stop reason.
//!
//! A response blocked by the safety filters ends with a `safety_block` event followed by
//! [`LlmError::Stream`] of kind [`SAFETY_KIND`] (so callers that only watch for `done` or an
//! error still see the stream fail); the `decode` submodule documents the details.
//!
//! Retries: a failure before the first frame of the answer (connection error, 408 / 429 /
//! 5xx, or an `{error}` frame arriving first with status `RESOURCE_EXHAUSTED`, `UNAVAILABLE`
//! or `INTERNAL`) is retried under the provider's [`RetryPolicy`], waiting at least what
//! `retry-after` asked; each retry is announced by a `retry` event before the wait. Once the
//! answer has begun nothing is retried.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::core::errors::ErrorCategory;
use crate::core::retry::{classify_error_text, Backoff, RetryPolicy};
use crate::core::stream::{RetryErrorInfo, StreamEvent};
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::sse::{self, SseEvent, SseStream, CONNECTION_LOST};

mod convert;
mod decode;
#[cfg(test)]
mod tests;

pub use convert::{
    clean_schema, convert_messages, convert_tools, is_gemini_3, FALLBACK_MAX_TOKENS, LOW_LEVEL_BELOW,
    SKIP_SIGNATURE,
};
pub use decode::SAFETY_KIND;

/// The provider name in errors and events.
pub const PROVIDER: &str = "google";

/// Where the API lives unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest silence tolerated while reading an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// The Google Gemini provider.
#[derive(Clone)]
pub struct GoogleProvider {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    retry: RetryPolicy,
}

impl fmt::Debug for GoogleProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleProvider")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

impl GoogleProvider {
    /// A provider for `base_url` (e.g. [`DEFAULT_BASE_URL`]; a trailing `/` is ignored) with
    /// the default retry policy.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("tron/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { client, base_url, api_key: api_key.into(), retry: RetryPolicy::default() }
    }

    /// A provider configured from the environment: `GEMINI_API_KEY`, else `GOOGLE_API_KEY`;
    /// base URL from `TRON_GOOGLE_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, LlmError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`GoogleProvider::from_env`] reading variables through `var` (empty values count as
    /// unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, LlmError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(key) = get("GEMINI_API_KEY").or_else(|| get("GOOGLE_API_KEY")) else {
            return Err(LlmError::NoCredentials {
                provider: PROVIDER,
                hint: "set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini API key".to_owned(),
            });
        };
        let base_url = get("TRON_GOOGLE_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Ok(Self::new(base_url, key))
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

    /// `{base}/v1beta/models/{model}:streamGenerateContent?alt=sse` (a leading `models/` or
    /// `google/` on the model is dropped).
    pub fn stream_url(&self, model: &str) -> String {
        let model = model.trim();
        let model = model.strip_prefix("google/").unwrap_or(model);
        let model = model.strip_prefix("models/").unwrap_or(model);
        format!("{}/v1beta/models/{model}:streamGenerateContent?alt=sse", self.base_url)
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &Request) -> Value {
        convert::request_body(request)
    }

    /// The headers sent with every request (the key included). Fails when the key cannot be
    /// written in a header.
    pub fn request_headers(&self) -> Result<HeaderMap, LlmError> {
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("content-type"), HeaderValue::from_static("application/json"));
        h.insert(HeaderName::from_static("accept"), HeaderValue::from_static("text/event-stream"));
        let mut key = HeaderValue::from_str(&self.api_key).map_err(|_| LlmError::NoCredentials {
            provider: PROVIDER,
            hint: "the Gemini API key has characters HTTP headers cannot carry".to_owned(),
        })?;
        key.set_sensitive(true);
        h.insert(HeaderName::from_static("x-goog-api-key"), key);
        Ok(h)
    }
}

impl Provider for GoogleProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn stream(&self, request: Request) -> EventStream {
        let headers = match self.request_headers() {
            Ok(h) => h,
            Err(e) => return Box::pin(futures_util::stream::once(async move { Err(e) })),
        };
        let body = self.request_body(&request).to_string();
        let call = Arc::new(Call {
            client: self.client.clone(),
            url: self.stream_url(&request.model),
            headers,
            body,
        });
        let backoff = self.retry.backoff(fastrand::Rng::new());
        let state = State::Connecting { call, backoff, max_retries: self.retry.max_retries, wait: None };
        Box::pin(futures_util::stream::unfold(state, step))
    }
}

/// Eight random base-36 characters, making tool call ids unique across responses.
fn id_prefix() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = fastrand::Rng::new();
    (0..8).map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())])).collect()
}

/// Everything needed to send (and resend) one request.
struct Call {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    body: String,
}

impl Call {
    /// Sends the request and reads up to the first frame of the answer. An `{error}` frame
    /// arriving first, or a connection lost before any frame, is an error here (so it can be
    /// retried); `Ok` carries the events and the first one.
    async fn open(&self) -> Result<(SseStream, SseEvent), LlmError> {
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| sse::connect_error(PROVIDER, &self.url, &e))?;
        let mut events = sse::open(PROVIDER, response).await?;
        loop {
            let lost =
                |message: String| LlmError::Connect { provider: PROVIDER, url: self.url.clone(), message };
            let event = match events.next().await {
                None => return Err(lost("the connection closed before any event".to_owned())),
                Some(Err(LlmError::Stream { kind, message, .. })) if kind == CONNECTION_LOST => {
                    return Err(lost(message))
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(event)) => event,
            };
            if event.data.trim().is_empty() {
                continue;
            }
            let data: Value = event.json(PROVIDER)?;
            if data.get("error").is_some() {
                return Err(decode::stream_error(&data));
            }
            return Ok((events, event));
        }
    }
}

enum State {
    /// Sending (after waiting `wait`, when retrying).
    Connecting { call: Arc<Call>, backoff: Backoff, max_retries: u32, wait: Option<Duration> },
    /// Reading the answer; `failure` ends the stream once `queue` is drained.
    Streaming {
        events: SseStream,
        decoder: Box<decode::Decoder>,
        queue: VecDeque<StreamEvent>,
        failure: Option<LlmError>,
    },
    /// Nothing more to yield.
    Finished,
}

type Item = Result<StreamEvent, LlmError>;

async fn step(mut state: State) -> Option<(Item, State)> {
    loop {
        state = match state {
            State::Finished => return None,
            State::Connecting { call, mut backoff, max_retries, wait } => {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                match call.open().await {
                    Ok((events, first)) => {
                        let mut decoder = Box::new(decode::Decoder::new(id_prefix()));
                        let mut queue = VecDeque::new();
                        let failure = decoder.feed(&first, &mut queue).err();
                        State::Streaming { events, decoder, queue, failure }
                    }
                    Err(e) => {
                        let delay = if e.is_retryable() { backoff.next_delay(retry_after(&e)) } else { None };
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
            State::Streaming { mut events, mut decoder, mut queue, failure } => {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), State::Streaming { events, decoder, queue, failure }));
                }
                if let Some(e) = failure {
                    return Some((Err(e), State::Finished));
                }
                if decoder.is_finished() {
                    return None;
                }
                let failure = match events.next().await {
                    None => {
                        decoder.end_of_stream(&mut queue);
                        None
                    }
                    Some(Err(e)) => Some(e),
                    Some(Ok(event)) => decoder.feed(&event, &mut queue).err(),
                };
                State::Streaming { events, decoder, queue, failure }
            }
        };
    }
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
        LlmError::Stream { kind, .. } if kind == "rate_limit_error" => ErrorCategory::RateLimit,
        LlmError::Stream { kind, .. } if kind == "overloaded_error" || kind == "api_error" => {
            ErrorCategory::Server
        }
        other => classify_error_text(&other.to_string()),
    }
}

//! The Anthropic Messages API provider (API key or Claude OAuth).
//!
//! One [`Provider::stream`] call is one `POST {base}/v1/messages` with `stream: true`. The
//! body is built by [`AnthropicProvider::request_body`] (conversion rules in
//! [`convert_messages`]); the answer's server-sent events are decoded into canonical
//! [`StreamEvent`]s: `start`, per block `text_*` / `thinking_*` (with its signature) /
//! `toolcall_*` (arguments assembled from `input_json_delta` fragments), then `done` with
//! the assembled assistant message, its usage and stop reason.
//!
//! Headers: `anthropic-version: 2023-06-01` always; an API key goes in `x-api-key`; an OAuth
//! token in `authorization: Bearer`, with `anthropic-dangerous-direct-browser-access: true`
//! and `anthropic-beta` = [`OAUTH_BETA`] (`oauth-2025-04-20` only for models that need no
//! thinking betas, i.e. Opus 4.6; [`OAUTH_BETA_WITH_THINKING`] otherwise, unknown models
//! included). OAuth requests also start the system prompt with
//! [`OAUTH_SYSTEM_PROMPT_PREFIX`] and use prompt caching.
//!
//! Retries: a failure before the first event of the answer (connection error, 408 / 429 /
//! 5xx / 529, or an `overloaded_error` / `rate_limit_error` / `api_error` event arriving
//! first) is retried under the provider's [`RetryPolicy`], waiting at least what
//! `retry-after` asked; each retry is announced by a `retry` event before the wait. Once the
//! answer has begun nothing is retried: a later failure ends the stream with its error.

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
mod stream_tests;
#[cfg(test)]
mod tests;

pub use convert::{convert_messages, convert_tools, FALLBACK_MAX_TOKENS, OAUTH_SYSTEM_PROMPT_PREFIX};

/// The provider name in errors and events.
pub const PROVIDER: &str = "anthropic";

/// Where the API lives unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The `anthropic-version` header value.
pub const API_VERSION: &str = "2023-06-01";

/// `anthropic-beta` for OAuth requests to models that need no thinking betas (Opus 4.6).
pub const OAUTH_BETA: &str = "oauth-2025-04-20";

/// `anthropic-beta` for OAuth requests to every other model.
pub const OAUTH_BETA_WITH_THINKING: &str =
    "oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14";

/// Models whose OAuth requests send only [`OAUTH_BETA`].
const NO_THINKING_BETA_MODELS: &[&str] = &["claude-opus-4-6"];

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest silence tolerated while reading an answer (the API sends `ping`s meanwhile).
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// How requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum AnthropicAuth {
    /// An API key (`x-api-key`).
    ApiKey(String),
    /// A Claude subscription OAuth access token (`authorization: Bearer`).
    OAuth {
        /// The access token.
        access_token: String,
    },
}

impl fmt::Debug for AnthropicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::OAuth { .. } => f.write_str("OAuth { access_token: <redacted> }"),
        }
    }
}

/// The Anthropic provider.
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    base_url: String,
    auth: AnthropicAuth,
    retry: RetryPolicy,
    prompt_caching: Option<bool>,
}

impl AnthropicProvider {
    /// A provider for `base_url` (e.g. [`DEFAULT_BASE_URL`]; a trailing `/` is ignored) with
    /// the default retry policy.
    pub fn new(base_url: impl Into<String>, auth: AnthropicAuth) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("tron/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { client, base_url, auth, retry: RetryPolicy::default(), prompt_caching: None }
    }

    /// A provider configured from the environment: `ANTHROPIC_API_KEY`, else
    /// `CLAUDE_CODE_OAUTH_TOKEN` (OAuth); base URL from `TRON_ANTHROPIC_BASE_URL`, else
    /// `ANTHROPIC_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, LlmError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`AnthropicProvider::from_env`] reading variables through `var` (empty values count
    /// as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, LlmError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let auth = match (get("ANTHROPIC_API_KEY"), get("CLAUDE_CODE_OAUTH_TOKEN")) {
            (Some(key), _) => AnthropicAuth::ApiKey(key),
            (None, Some(token)) => AnthropicAuth::OAuth { access_token: token },
            (None, None) => {
                return Err(LlmError::NoCredentials {
                    provider: PROVIDER,
                    hint: "set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN for a Claude subscription), \
                           or run `tron auth login anthropic`"
                        .to_owned(),
                })
            }
        };
        let base_url = get("TRON_ANTHROPIC_BASE_URL")
            .or_else(|| get("ANTHROPIC_BASE_URL"))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Ok(Self::new(base_url, auth))
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

    /// Turns prompt-caching breakpoints on or off (default: on for OAuth, off for API keys,
    /// as the TypeScript server does).
    pub fn with_prompt_caching(mut self, enabled: bool) -> Self {
        self.prompt_caching = Some(enabled);
        self
    }

    /// The base URL (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The credentials.
    pub fn auth(&self) -> &AnthropicAuth {
        &self.auth
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// True when authenticating with an OAuth token.
    pub fn is_oauth(&self) -> bool {
        matches!(self.auth, AnthropicAuth::OAuth { .. })
    }

    /// Whether requests carry `cache_control` breakpoints.
    pub fn prompt_caching(&self) -> bool {
        self.prompt_caching.unwrap_or_else(|| self.is_oauth())
    }

    /// `{base}/v1/messages`.
    pub fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }

    /// The JSON body sent for `request`.
    pub fn request_body(&self, request: &Request) -> Value {
        convert::request_body(
            request,
            convert::BodyOptions { oauth: self.is_oauth(), prompt_caching: self.prompt_caching() },
        )
    }

    /// The headers sent for a request to `model` (credentials included). Fails when the
    /// credentials cannot be written in a header.
    pub fn request_headers(&self, model: &str) -> Result<HeaderMap, LlmError> {
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| -> Result<(), LlmError> {
            let mut value = HeaderValue::from_str(value).map_err(|_| LlmError::NoCredentials {
                provider: PROVIDER,
                hint: format!("the value for the `{name}` header has characters HTTP headers cannot carry"),
            })?;
            if matches!(name, "x-api-key" | "authorization") {
                value.set_sensitive(true);
            }
            h.insert(HeaderName::from_static(name), value);
            Ok(())
        };
        put("content-type", "application/json")?;
        put("accept", "application/json")?;
        put("anthropic-version", API_VERSION)?;
        match &self.auth {
            AnthropicAuth::ApiKey(key) => put("x-api-key", key)?,
            AnthropicAuth::OAuth { access_token } => {
                put("authorization", &format!("Bearer {access_token}"))?;
                put("anthropic-beta", oauth_beta(model))?;
                put("anthropic-dangerous-direct-browser-access", "true")?;
            }
        }
        Ok(h)
    }
}

/// The `anthropic-beta` value for an OAuth request to `model`.
pub fn oauth_beta(model: &str) -> &'static str {
    let id = crate::llm::models::lookup(model).map_or(model, |m| m.id);
    if NO_THINKING_BETA_MODELS.contains(&id) {
        OAUTH_BETA
    } else {
        OAUTH_BETA_WITH_THINKING
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn stream(&self, request: Request) -> EventStream {
        let headers = match self.request_headers(&request.model) {
            Ok(h) => h,
            Err(e) => return Box::pin(futures_util::stream::once(async move { Err(e) })),
        };
        let body = self.request_body(&request).to_string();
        let call = Arc::new(Call { client: self.client.clone(), url: self.messages_url(), headers, body });
        let backoff = self.retry.backoff(fastrand::Rng::new());
        let state = State::Connecting { call, backoff, max_retries: self.retry.max_retries, wait: None };
        Box::pin(futures_util::stream::unfold(state, step))
    }
}

/// Everything needed to send (and resend) one request.
struct Call {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    body: String,
}

impl Call {
    /// Sends the request and reads up to the first event of the answer. An `error` event
    /// arriving first, or a connection lost before any event, is an error here (so it can
    /// be retried); `Ok` carries the events and the first one.
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
            let data: Value = event.json(PROVIDER)?;
            match data.get("type").and_then(Value::as_str).unwrap_or(event.event.as_str()) {
                "ping" => continue,
                "error" => return Err(decode::stream_error(&data)),
                _ => return Ok((events, event)),
            }
        }
    }
}

enum State {
    /// Sending (after waiting `wait`, when retrying).
    Connecting { call: Arc<Call>, backoff: Backoff, max_retries: u32, wait: Option<Duration> },
    /// Reading the answer.
    Streaming { events: SseStream, decoder: Box<decode::Decoder>, queue: VecDeque<StreamEvent> },
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
                        let mut decoder = Box::<decode::Decoder>::default();
                        let mut queue = VecDeque::new();
                        if let Err(e) = decoder.feed(&first, &mut queue) {
                            return Some((Err(e), State::Finished));
                        }
                        State::Streaming { events, decoder, queue }
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
            State::Streaming { mut events, mut decoder, mut queue } => {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), State::Streaming { events, decoder, queue }));
                }
                if decoder.is_finished() {
                    return None;
                }
                match events.next().await {
                    None => {
                        let e = LlmError::Stream {
                            provider: PROVIDER,
                            kind: CONNECTION_LOST.to_owned(),
                            message: "the stream ended before message_stop".to_owned(),
                        };
                        return Some((Err(e), State::Finished));
                    }
                    Some(Err(e)) => return Some((Err(e), State::Finished)),
                    Some(Ok(event)) => {
                        if let Err(e) = decoder.feed(&event, &mut queue) {
                            return Some((Err(e), State::Finished));
                        }
                    }
                }
                State::Streaming { events, decoder, queue }
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
        LlmError::Http { status: 529, .. } => ErrorCategory::Server,
        LlmError::Http { status, .. } => ErrorCategory::from_http_status(*status),
        LlmError::Connect { .. } => ErrorCategory::Network,
        LlmError::Stream { kind, .. } if kind == "rate_limit_error" => ErrorCategory::RateLimit,
        LlmError::Stream { kind, .. } if kind == "overloaded_error" || kind == "api_error" => {
            ErrorCategory::Server
        }
        other => classify_error_text(&other.to_string()),
    }
}

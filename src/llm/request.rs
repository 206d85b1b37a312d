//! Sending a provider's request and streaming its answer, with retries; shared by the
//! providers, which keep only their own wire formats.
//!
//! - [`Call`] is one request (client, URL, headers, body) that can be sent again.
//!   [`Call::open`] sends it, opens the server-sent-event stream ([`sse::open`]) and reads up
//!   to the first meaningful event: events the provider's [`Decode::first_event`] says to
//!   skip (pings, empty frames) are passed over, an error event arriving first is returned
//!   as an error, and a connection lost (or closed) before any event is [`LlmError::Connect`].
//! - [`retrying_stream`] turns a [`Call`] and a [`Decode`] implementation into the
//!   provider's [`EventStream`]: a failure before the first event (the provider's
//!   [`Decode::retryable`] decides which) is retried under the [`RetryPolicy`] with its
//!   backoff, waiting at least what `retry-after` asked, and each retry is announced by a
//!   [`StreamEvent::Retry`] before the wait. Once an event was yielded nothing is retried:
//!   the remaining events go through [`Decode::feed`] and a later failure ends the stream.
//! - [`default_client`], [`failed`] and [`env_credentials`] (key and base URL from an
//!   environment lookup, [`LlmError::NoCredentials`] with a hint when no key is set) are the
//!   small pieces every provider's constructor needs.

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

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest silence tolerated while reading an answer (providers send keep-alives meanwhile).
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// The HTTP client every provider starts with.
pub(crate) fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("tron/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// A stream whose only item is `e`.
pub(crate) fn failed(e: LlmError) -> EventStream {
    Box::pin(futures_util::stream::once(async move { Err(e) }))
}

/// A key and base URL read from the environment by [`env_credentials`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvCredentials {
    /// The variable the key came from (the first set of the names asked for).
    pub var: &'static str,
    /// The key (trimmed).
    pub key: String,
    /// The base URL: the first set of the URL variables, else the default.
    pub base_url: String,
}

/// Reads a key from the first set variable of `keys` and a base URL from the first set of
/// `base_urls` (else `default_base_url`) through `var`; values are trimmed and empty ones
/// count as unset. No key is [`LlmError::NoCredentials`] with `hint`.
pub(crate) fn env_credentials(
    var: impl Fn(&str) -> Option<String>,
    provider: &'static str,
    keys: &[&'static str],
    base_urls: &[&str],
    default_base_url: &str,
    hint: &str,
) -> Result<EnvCredentials, LlmError> {
    let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let Some((name, key)) = keys.iter().find_map(|name| get(name).map(|key| (*name, key))) else {
        return Err(LlmError::NoCredentials { provider, hint: hint.to_owned() });
    };
    let base_url = base_urls.iter().find_map(|name| get(name)).unwrap_or_else(|| default_base_url.to_owned());
    Ok(EnvCredentials { var: name, key, base_url })
}

/// What a provider makes of an answer's first event.
pub(crate) enum FirstEvent {
    /// Not meaningful (a ping, an empty frame): read the next one.
    Skip,
    /// The answer has begun: decode it.
    Begin,
}

/// Decodes one answer's events into [`StreamEvent`]s (one implementation per wire format).
pub(crate) trait Decode: Send + 'static {
    /// Set when events already decoded from an event that then failed are still yielded
    /// before the failure; otherwise they are dropped and the failure comes at once.
    const DRAIN_BEFORE_FAILURE: bool = false;

    /// Classifies an event arriving before the answer began. An error event (or data that is
    /// not the expected JSON) is `Err`, so that it can be retried.
    fn first_event(event: &SseEvent) -> Result<FirstEvent, LlmError>;

    /// Decodes one event, appending the stream events it produces to `out`.
    fn feed(&mut self, event: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;

    /// True once the answer is complete (nothing more is read).
    fn is_finished(&self) -> bool;

    /// The body ended before [`Decode::is_finished`]: finishes the message when enough of it
    /// arrived (appending to `out`), else an error.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError>;

    /// Whether a failure before any output is worth retrying.
    fn retryable(e: &LlmError) -> bool {
        e.is_retryable()
    }

    /// The category shown in `retry` events.
    fn category(e: &LlmError) -> ErrorCategory {
        default_category(e)
    }
}

/// The category shown in `retry` events unless a provider says otherwise.
pub(crate) fn default_category(e: &LlmError) -> ErrorCategory {
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

/// Everything needed to send (and resend) one request.
pub(crate) struct Call {
    /// The provider name in errors.
    pub provider: &'static str,
    /// The client sending it.
    pub client: reqwest::Client,
    /// Where it is POSTed.
    pub url: String,
    /// Its headers (credentials included).
    pub headers: HeaderMap,
    /// Its JSON body.
    pub body: String,
}

impl Call {
    /// Sends the request and reads up to the first meaningful event of the answer. An error
    /// event arriving first, or a connection lost before any event, is an error here (so it
    /// can be retried); `Ok` carries the events and the first one.
    pub(crate) async fn open<D: Decode>(&self) -> Result<(SseStream, SseEvent), LlmError> {
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
        loop {
            let event = match events.next().await {
                None => return Err(lost("the connection closed before any event".to_owned())),
                Some(Err(LlmError::Stream { kind, message, .. })) if kind == CONNECTION_LOST => {
                    return Err(lost(message))
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(event)) => event,
            };
            match D::first_event(&event)? {
                FirstEvent::Skip => continue,
                FirstEvent::Begin => return Ok((events, event)),
            }
        }
    }
}

/// The retrying stream for one request; `decoder` makes the decoder once the answer began.
pub(crate) fn retrying_stream<D: Decode>(call: Call, retry: &RetryPolicy, decoder: fn() -> D) -> EventStream {
    let backoff = retry.backoff(fastrand::Rng::new());
    let state: State<D> = State::Connecting {
        call: Arc::new(call),
        decoder,
        backoff,
        max_retries: retry.max_retries,
        wait: None,
    };
    Box::pin(futures_util::stream::unfold(state, step::<D>))
}

enum State<D> {
    /// Sending (after waiting `wait`, when retrying).
    Connecting {
        call: Arc<Call>,
        decoder: fn() -> D,
        backoff: Backoff,
        max_retries: u32,
        wait: Option<Duration>,
    },
    /// Reading the answer.
    Streaming { events: SseStream, decoder: Box<D>, queue: VecDeque<StreamEvent> },
    /// Nothing more to read: yields what is queued, then `failure` if any.
    Draining { queue: VecDeque<StreamEvent>, failure: Option<LlmError> },
}

type Item = Result<StreamEvent, LlmError>;

/// What is left once reading stopped: the queued events (dropped before a failure unless
/// the decoder drains first), then the failure.
fn drain<D: Decode>(mut queue: VecDeque<StreamEvent>, failure: Option<LlmError>) -> State<D> {
    if failure.is_some() && !D::DRAIN_BEFORE_FAILURE {
        queue.clear();
    }
    State::Draining { queue, failure }
}

async fn step<D: Decode>(mut state: State<D>) -> Option<(Item, State<D>)> {
    loop {
        state = match state {
            State::Draining { mut queue, failure } => {
                if let Some(event) = queue.pop_front() {
                    return Some((Ok(event), State::Draining { queue, failure }));
                }
                let e = failure?;
                return Some((Err(e), State::Draining { queue, failure: None }));
            }
            State::Connecting { call, decoder, mut backoff, max_retries, wait } => {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                match call.open::<D>().await {
                    Ok((events, first)) => {
                        let mut decoder = Box::new(decoder());
                        let mut queue = VecDeque::new();
                        match decoder.feed(&first, &mut queue) {
                            Ok(()) => State::Streaming { events, decoder, queue },
                            Err(e) => drain::<D>(queue, Some(e)),
                        }
                    }
                    Err(e) => {
                        let delay = if D::retryable(&e) { backoff.next_delay(retry_after(&e)) } else { None };
                        let Some(delay) = delay else {
                            return Some((Err(e), State::Draining { queue: VecDeque::new(), failure: None }));
                        };
                        tracing::info!(
                            component = "llm",
                            attempt = backoff.attempt(),
                            max_retries,
                            delay_ms = delay.as_millis() as u64,
                            error = %e,
                            "provider call failed; retrying"
                        );
                        let event = StreamEvent::Retry {
                            attempt: backoff.attempt(),
                            max_retries,
                            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            error: RetryErrorInfo {
                                category: D::category(&e),
                                message: e.to_string(),
                                is_retryable: true,
                            },
                        };
                        let next =
                            State::Connecting { call, decoder, backoff, max_retries, wait: Some(delay) };
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
                        let failure = decoder.end(&mut queue).err();
                        drain::<D>(queue, failure)
                    }
                    Some(Err(e)) => drain::<D>(queue, Some(e)),
                    Some(Ok(event)) => match decoder.feed(&event, &mut queue) {
                        Ok(()) => State::Streaming { events, decoder, queue },
                        Err(e) => drain::<D>(queue, Some(e)),
                    },
                }
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

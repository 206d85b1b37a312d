//! The Google Gemini API provider (API key), and in [`code_assist`] the same model calls on a
//! Google sign-in's OAuth token through the Code Assist API (Cloud Code Assist, Antigravity).
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
//! `retry-after` asked; each retry is announced by a `retry` event before the wait (frames
//! with empty data are skipped). Once the answer has begun nothing is retried. The request
//! and retry machinery is shared ([`crate::llm::request`]); this module supplies the URL,
//! headers, body and decoder.
//!
//! [`StreamEvent`]: crate::core::stream::StreamEvent

use std::fmt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::core::retry::RetryPolicy;
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::request::{default_client, env_credentials, failed, retrying_stream, Call};

pub mod code_assist;
mod convert;
mod decode;
#[cfg(test)]
mod tests;

pub use convert::{
    clean_schema, convert_messages, convert_tools, is_gemini_3, FALLBACK_MAX_TOKENS, LOW_LEVEL_BELOW,
    SKIP_SIGNATURE,
};
pub use decode::{unwrap_response, SAFETY_KIND};

/// The provider name in errors and events.
pub const PROVIDER: &str = "google";

/// Where the API lives unless configured otherwise.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

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
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { client: default_client(), base_url, api_key: api_key.into(), retry: RetryPolicy::default() }
    }

    /// A provider configured from the environment: `GEMINI_API_KEY`, else `GOOGLE_API_KEY`;
    /// base URL from `TRON_GOOGLE_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub fn from_env() -> Result<Self, LlmError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`GoogleProvider::from_env`] reading variables through `var` (empty values count as
    /// unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, LlmError> {
        let env = env_credentials(
            var,
            PROVIDER,
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            &["TRON_GOOGLE_BASE_URL"],
            DEFAULT_BASE_URL,
            "set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini API key",
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
            Err(e) => return failed(e),
        };
        let call = Call {
            provider: PROVIDER,
            client: self.client.clone(),
            url: self.stream_url(&request.model),
            headers,
            body: self.request_body(&request).to_string(),
        };
        retrying_stream(call, &self.retry, || decode::Decoder::new(id_prefix()))
    }
}

/// Eight random base-36 characters, making tool call ids unique across responses.
fn id_prefix() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = fastrand::Rng::new();
    (0..8).map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())])).collect()
}

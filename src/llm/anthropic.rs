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
//! [`OAUTH_SYSTEM_PROMPT_PREFIX`] and use prompt caching (no caching beta header: the
//! TypeScript server sends none).
//!
//! Prompt caching: the breakpoints are placed by the body builder (the `convert` submodule's rules); the
//! provider remembers when its last answer ended, and when a request comes more than
//! [`CACHE_TTL`] later (the cache is cold) the old turns' large tool results are pruned
//! before the conversation is cached again ([`prune_tool_results_for_recache`]). Clones of
//! a provider share that clock.
//!
//! Retries: a failure before the first event of the answer (connection error, 408 / 429 /
//! 5xx / 529, or an `overloaded_error` / `rate_limit_error` / `api_error` event arriving
//! first; `ping`s are skipped) is retried under the provider's [`RetryPolicy`], waiting at
//! least what `retry-after` asked; each retry is announced by a `retry` event before the
//! wait. Once the answer has begun nothing is retried: a later failure ends the stream with
//! its error. The request and retry machinery is shared ([`crate::llm::request`]); this
//! module supplies the headers, the body and the decoder.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::core::retry::RetryPolicy;
use crate::core::stream::StreamEvent;
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::request::{default_client, env_credentials, failed, retrying_stream, Call};

mod convert;
mod decode;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

pub use convert::{
    convert_messages, convert_tools, prune_tool_results_for_recache, CACHE_TTL, FALLBACK_MAX_TOKENS,
    MAX_CACHE_BREAKPOINTS, OAUTH_SYSTEM_PROMPT_PREFIX, PRUNE_THRESHOLD_CHARS, RECENT_TURNS_KEPT,
};
pub use decode::decode_body;

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
    /// When the last answer ended (`done` or error), shared by clones.
    last_call: Arc<Mutex<Option<Instant>>>,
}

impl AnthropicProvider {
    /// A provider for `base_url` (e.g. [`DEFAULT_BASE_URL`]; a trailing `/` is ignored) with
    /// the default retry policy.
    pub fn new(base_url: impl Into<String>, auth: AnthropicAuth) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self {
            client: default_client(),
            base_url,
            auth,
            retry: RetryPolicy::default(),
            prompt_caching: None,
            last_call: Arc::default(),
        }
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
        let env = env_credentials(
            var,
            PROVIDER,
            &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
            &["TRON_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"],
            DEFAULT_BASE_URL,
            "set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN for a Claude subscription), \
             or run `tron auth login anthropic`",
        )?;
        let auth = match env.var {
            "ANTHROPIC_API_KEY" => AnthropicAuth::ApiKey(env.key),
            _ => AnthropicAuth::OAuth { access_token: env.key },
        };
        Ok(Self::new(env.base_url, auth))
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

    /// Whether the prompt cache has gone cold: caching is on, a previous answer ended, and
    /// more than [`CACHE_TTL`] has passed since. The first request is never cold.
    pub fn cache_is_cold(&self) -> bool {
        self.prompt_caching() && self.last_call().is_some_and(|at| at.elapsed() > CACHE_TTL)
    }

    /// When the last answer ended, if any did.
    pub fn last_call(&self) -> Option<Instant> {
        *self.last_call.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Overrides when the last answer ended (tests simulate an idle gap with it).
    #[cfg(test)]
    pub(crate) fn set_last_call(&self, at: Option<Instant>) {
        *self.last_call.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// `{base}/v1/messages`.
    pub fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }

    /// The JSON body sent for `request` now (old tool results are pruned when the cache is
    /// cold, see [`AnthropicProvider::cache_is_cold`]).
    pub fn request_body(&self, request: &Request) -> Value {
        convert::request_body(
            request,
            convert::BodyOptions {
                oauth: self.is_oauth(),
                prompt_caching: self.prompt_caching(),
                prune_old_tool_results: self.cache_is_cold(),
            },
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
            Err(e) => return failed(e),
        };
        let call = Call {
            provider: PROVIDER,
            client: self.client.clone(),
            url: self.messages_url(),
            headers,
            body: self.request_body(&request).to_string(),
        };
        let last_call = Arc::clone(&self.last_call);
        let stream = retrying_stream(call, &self.retry, decode::Decoder::default).inspect(move |item| {
            // The answer is over (after any retries): restart the cache clock.
            if matches!(item, Ok(StreamEvent::Done { .. } | StreamEvent::Error { .. }) | Err(_)) {
                *last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
        });
        Box::pin(stream)
    }
}

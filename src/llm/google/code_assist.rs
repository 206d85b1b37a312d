//! Gemini through Google's Code Assist API (`v1internal`) on a Google sign-in's OAuth access
//! token: the Cloud Code Assist endpoint (Gemini CLI's backend) or Antigravity (the sandbox
//! tier), as chosen by `providers.google.endpoint` in the auth file.
//!
//! One [`Provider::stream`] call is one `POST {base}/v1internal:streamGenerateContent?alt=sse`
//! with `Authorization: Bearer <token>`; the model goes in the body, not the URL. The body is
//! the normal Gemini request ([`super::GoogleProvider::request_body`]) wrapped as
//! `{model, project, request}` ([`wrap_body`]); Antigravity adds `requestType: "agent"`,
//! `userAgent: "antigravity"` and `requestId: "agent-<uuid>"` and renames some models
//! ([`antigravity_model`]). The answer's frames are `{"response": <GenerateContentResponse>}`
//! and are decoded by the Gemini decoder after unwrapping ([`super::unwrap_response`];
//! plain frames are accepted too), so events, usage, retries and errors are the API-key
//! provider's.
//!
//! Decision: both endpoints get the wrapped body. The TypeScript server wraps only for
//! Antigravity and sends Cloud Code Assist the inner request flat with `model:
//! "models/<id>"`; the Code Assist service (as Gemini CLI uses it) expects
//! `{model, project, request}` with the bare model id, so the flat form is treated as an
//! upstream bug and not copied.
//!
//! Headers: Cloud Code Assist `User-Agent: tron-ai-agent/1.0.0`, `X-Goog-Api-Client:
//! gl-node/22.0.0` and `x-goog-user-project: <project>`; Antigravity `User-Agent:
//! antigravity/1.11.5 darwin/amd64`, `X-Goog-Api-Client: google-cloud-sdk
//! vscode_cloudshelleditor/0.1`, `Client-Metadata` and no `x-goog-user-project` (the
//! TypeScript server's values).
//!
//! The project: the one this provider was given (the auth file's `projectId`, else
//! `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_PROJECT_ID`, chosen by `agent::provider_for`), else
//! discovered once, lazily before the first request, by `POST {base}/v1internal:loadCodeAssist`
//! ([`discover_project`]: `cloudaicompanionProject`, then `managedProject`, each a string or
//! `{id}`) and handed to the [`ProjectSlot`]'s callback to be saved. Antigravity falls back to
//! [`ANTIGRAVITY_DEFAULT_PROJECT`] when discovery fails or names none; for Cloud Code Assist
//! that is an error saying to set `GOOGLE_CLOUD_PROJECT` or sign in again. A 401 from
//! discovery is returned as is, so the OAuth wrapper refreshes the token and tries again.
//!
//! Must not: refresh tokens or write the auth file itself (the caller does both), or log a
//! token (Debug output is redacted).

use std::fmt;
use std::sync::Arc;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use crate::core::retry::RetryPolicy;
use crate::llm::provider::{EventStream, LlmError, Provider, Request};
use crate::llm::request::{default_client, failed, retrying_stream, Call};

use super::{convert, decode, id_prefix, PROVIDER};

/// Cloud Code Assist's API host.
pub const CLOUD_CODE_ASSIST_BASE_URL: &str = "https://cloudcode-pa.googleapis.com";

/// Antigravity's API host.
pub const ANTIGRAVITY_BASE_URL: &str = "https://daily-cloudcode-pa.sandbox.googleapis.com";

/// The project Antigravity uses when discovery finds none (the TypeScript server's).
pub const ANTIGRAVITY_DEFAULT_PROJECT: &str = "rising-fact-p41fc";

/// Overrides the API host of both endpoints (tests, proxies).
pub const BASE_URL_VAR: &str = "TRON_GOOGLE_CODE_ASSIST_BASE_URL";

/// Overrides Antigravity's API host (before [`BASE_URL_VAR`]).
pub const ANTIGRAVITY_BASE_URL_VAR: &str = "TRON_GOOGLE_ANTIGRAVITY_BASE_URL";

/// The `metadata` both discovery and Antigravity's `Client-Metadata` header send.
const CLIENT_METADATA: &str =
    r#"{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}"#;

/// Which Code Assist service a Google sign-in is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Cloud Code Assist (`cloud-code-assist`, the default).
    CloudCodeAssist,
    /// Antigravity (`antigravity`).
    Antigravity,
}

impl Endpoint {
    /// The stored `endpoint` value (`cloud-code-assist` or `antigravity`).
    pub fn parse(value: &str) -> Option<Endpoint> {
        match value {
            "cloud-code-assist" => Some(Endpoint::CloudCodeAssist),
            "antigravity" => Some(Endpoint::Antigravity),
            _ => None,
        }
    }

    /// The stored `endpoint` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::CloudCodeAssist => "cloud-code-assist",
            Endpoint::Antigravity => "antigravity",
        }
    }

    /// The API host unless overridden.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Endpoint::CloudCodeAssist => CLOUD_CODE_ASSIST_BASE_URL,
            Endpoint::Antigravity => ANTIGRAVITY_BASE_URL,
        }
    }

    /// The API host read through `var`: Antigravity's [`ANTIGRAVITY_BASE_URL_VAR`], then
    /// [`BASE_URL_VAR`], else [`Endpoint::default_base_url`] (empty values count as unset).
    pub fn base_url_from(self, var: impl Fn(&str) -> Option<String>) -> String {
        let get = |n: &str| var(n).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let specific = match self {
            Endpoint::Antigravity => get(ANTIGRAVITY_BASE_URL_VAR),
            Endpoint::CloudCodeAssist => None,
        };
        specific.or_else(|| get(BASE_URL_VAR)).unwrap_or_else(|| self.default_base_url().to_owned())
    }
}

/// The model id as the endpoint knows it: a leading `google/` or `models/` dropped, and for
/// Antigravity the TypeScript server's renames (`gemini-3-pro-preview` → `gemini-3-pro-high`,
/// `gemini-3-flash-preview` → `gemini-3-pro-low` (sic, as upstream), `gemini-3.1-pro-preview`
/// → `gemini-3.1-pro-high`); anything else unchanged.
pub fn wire_model(endpoint: Endpoint, model: &str) -> String {
    let model = model.trim();
    let model = model.strip_prefix("google/").unwrap_or(model);
    let model = model.strip_prefix("models/").unwrap_or(model);
    match endpoint {
        Endpoint::CloudCodeAssist => model.to_owned(),
        Endpoint::Antigravity => antigravity_model(model).to_owned(),
    }
}

/// Antigravity's name for `model`.
pub fn antigravity_model(model: &str) -> &str {
    match model {
        "gemini-3-pro-preview" => "gemini-3-pro-high",
        "gemini-3-flash-preview" => "gemini-3-pro-low",
        "gemini-3.1-pro-preview" => "gemini-3.1-pro-high",
        other => other,
    }
}

/// The Code Assist body around a Gemini request body `inner`:
/// `{model, project, request: inner}`, plus Antigravity's `requestType: "agent"`,
/// `userAgent: "antigravity"` and a fresh `requestId: "agent-<uuid v4>"`.
pub fn wrap_body(endpoint: Endpoint, model: &str, project: &str, inner: Value) -> Value {
    let mut body = json!({"model": wire_model(endpoint, model), "project": project, "request": inner});
    if endpoint == Endpoint::Antigravity {
        body["requestType"] = json!("agent");
        body["userAgent"] = json!("antigravity");
        body["requestId"] = json!(format!("agent-{}", uuid::Uuid::new_v4()));
    }
    body
}

/// Called with a project found by discovery, to keep it (the auth file's `projectId`).
pub type SaveProject = dyn Fn(&str) + Send + Sync;

/// The project of one sign-in, shared by the providers built for its successive access
/// tokens, so discovery runs at most once (concurrent first requests wait for it).
pub struct ProjectSlot {
    project: tokio::sync::Mutex<Option<String>>,
    save: Option<Arc<SaveProject>>,
}

impl fmt::Debug for ProjectSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectSlot")
            .field("project", &self.project.try_lock().ok().map(|p| p.clone()))
            .finish()
    }
}

impl ProjectSlot {
    /// A slot holding `known` (a stored or configured project), or empty until discovery.
    pub fn new(known: Option<String>) -> Self {
        Self { project: tokio::sync::Mutex::new(known.filter(|p| !p.trim().is_empty())), save: None }
    }

    /// The same slot calling `save` (on a blocking thread) with a discovered project.
    pub fn on_discovered(mut self, save: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.save = Some(Arc::new(save));
        self
    }

    /// The project, when known.
    pub async fn current(&self) -> Option<String> {
        self.project.lock().await.clone()
    }
}

/// The project `loadCodeAssist` names for the signed-in user: `cloudaicompanionProject`,
/// else `managedProject` (each a string or `{id}`); `Ok(None)` when it names neither.
/// Errors: [`LlmError::Connect`], or [`LlmError::Http`] with the status and the answer's
/// message.
pub async fn discover_project(
    client: &reqwest::Client,
    base_url: &str,
    access_token: &str,
) -> Result<Option<String>, LlmError> {
    let url = format!("{}/v1internal:loadCodeAssist", base_url.trim_end_matches('/'));
    let mut auth = HeaderValue::from_str(&format!("Bearer {access_token}")).map_err(|_| bad_token())?;
    auth.set_sensitive(true);
    let body = json!({"metadata": serde_json::from_str::<Value>(CLIENT_METADATA).expect("valid JSON")});
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("user-agent", "tron-ai-agent/1.0.0")
        .header("x-goog-api-client", "gl-node/22.0.0")
        .header("authorization", auth)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| LlmError::Connect { provider: PROVIDER, url: url.clone(), message: e.to_string() })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let message =
            parsed.pointer("/error/message").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(
                || text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect(),
            );
        return Err(LlmError::Http {
            provider: PROVIDER,
            status: status.as_u16(),
            message: format!("loadCodeAssist: {message}"),
            retry_after: None,
        });
    }
    Ok(project_of(&parsed))
}

/// The project id in a `loadCodeAssist` answer.
pub fn project_of(answer: &Value) -> Option<String> {
    ["cloudaicompanionProject", "managedProject"].iter().find_map(|k| {
        let v = answer.get(*k)?;
        v.as_str().or_else(|| v.get("id")?.as_str()).filter(|s| !s.trim().is_empty()).map(str::to_owned)
    })
}

fn bad_token() -> LlmError {
    LlmError::NoCredentials {
        provider: PROVIDER,
        hint:
            "the Google access token has characters HTTP headers cannot carry; run `tron auth login google`"
                .to_owned(),
    }
}

/// Gemini on a Google OAuth access token through the Code Assist API.
#[derive(Clone)]
pub struct CodeAssistProvider {
    client: reqwest::Client,
    base_url: String,
    endpoint: Endpoint,
    access_token: String,
    retry: RetryPolicy,
    project: Arc<ProjectSlot>,
}

impl fmt::Debug for CodeAssistProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeAssistProvider")
            .field("base_url", &self.base_url)
            .field("endpoint", &self.endpoint)
            .field("access_token", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

impl CodeAssistProvider {
    /// A provider for `endpoint` at `base_url` (a trailing `/` is ignored) sending
    /// `access_token`, with the project kept in `project` and the default retry policy.
    pub fn new(
        base_url: impl Into<String>,
        endpoint: Endpoint,
        access_token: impl Into<String>,
        project: Arc<ProjectSlot>,
    ) -> Self {
        Self {
            client: default_client(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            endpoint,
            access_token: access_token.into(),
            retry: RetryPolicy::default(),
            project,
        }
    }

    /// The same provider with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The same provider with another HTTP client.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The base URL (without a trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `{base}/v1internal:streamGenerateContent?alt=sse`.
    pub fn stream_url(&self) -> String {
        format!("{}/v1internal:streamGenerateContent?alt=sse", self.base_url)
    }

    /// The JSON body sent for `request` in `project` (see [`wrap_body`]).
    pub fn request_body(&self, request: &Request, project: &str) -> Value {
        wrap_body(self.endpoint, &request.model, project, convert::request_body(request))
    }

    /// The headers sent with every request (the token included); `project` becomes
    /// `x-goog-user-project` for Cloud Code Assist.
    pub fn request_headers(&self, project: Option<&str>) -> Result<HeaderMap, LlmError> {
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, value: &'static str| {
            h.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        };
        put("content-type", "application/json");
        put("accept", "text/event-stream");
        match self.endpoint {
            Endpoint::Antigravity => {
                put("user-agent", "antigravity/1.11.5 darwin/amd64");
                put("x-goog-api-client", "google-cloud-sdk vscode_cloudshelleditor/0.1");
                put("client-metadata", CLIENT_METADATA);
            }
            Endpoint::CloudCodeAssist => {
                put("user-agent", "tron-ai-agent/1.0.0");
                put("x-goog-api-client", "gl-node/22.0.0");
            }
        }
        if let (Endpoint::CloudCodeAssist, Some(p)) = (self.endpoint, project.filter(|p| !p.is_empty())) {
            let value = HeaderValue::from_str(p).map_err(|_| LlmError::NoCredentials {
                provider: PROVIDER,
                hint: format!("the Google Cloud project id {p:?} is not valid in an HTTP header; fix projectId in the auth file or GOOGLE_CLOUD_PROJECT"),
            })?;
            h.insert(HeaderName::from_static("x-goog-user-project"), value);
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", self.access_token)).map_err(|_| bad_token())?;
        auth.set_sensitive(true);
        h.insert(HeaderName::from_static("authorization"), auth);
        Ok(h)
    }

    /// The project for the next request: the known one, else discovered (and saved).
    async fn project(&self) -> Result<String, LlmError> {
        let mut slot = self.project.project.lock().await;
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let found = discover_project(&self.client, &self.base_url, &self.access_token).await;
        let project = match (found, self.endpoint) {
            (Ok(Some(p)), _) => {
                if let Some(save) = &self.project.save {
                    let (save, p) = (Arc::clone(save), p.clone());
                    // Saving is best effort: the request goes on with the project either way.
                    let _ = tokio::task::spawn_blocking(move || save(&p)).await;
                }
                p
            }
            (Err(e @ LlmError::Http { status: 401, .. }), _) => return Err(e),
            (_, Endpoint::Antigravity) => ANTIGRAVITY_DEFAULT_PROJECT.to_owned(),
            (Ok(None), Endpoint::CloudCodeAssist) => {
                return Err(no_project("loadCodeAssist named no Cloud Code Assist project for this account"))
            }
            (Err(e), Endpoint::CloudCodeAssist) => return Err(no_project(&e.to_string())),
        };
        *slot = Some(project.clone());
        Ok(project)
    }

    async fn start(self, request: Request) -> EventStream {
        let project = match self.project().await {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
        let headers = match self.request_headers(Some(&project)) {
            Ok(h) => h,
            Err(e) => return failed(e),
        };
        let call = Call {
            provider: PROVIDER,
            client: self.client.clone(),
            url: self.stream_url(),
            headers,
            body: self.request_body(&request, &project).to_string(),
        };
        retrying_stream(call, &self.retry, || decode::Decoder::new(id_prefix()))
    }
}

fn no_project(why: &str) -> LlmError {
    LlmError::NoCredentials {
        provider: PROVIDER,
        hint: format!(
            "cannot find the Google Cloud project for Cloud Code Assist ({why}); set \
             GOOGLE_CLOUD_PROJECT to your project id, or sign in again with `tron auth login google`"
        ),
    }
}

impl Provider for CodeAssistProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn stream(&self, request: Request) -> EventStream {
        let this = self.clone();
        Box::pin(futures_util::stream::once(this.start(request)).flatten())
    }
}

#[cfg(test)]
mod tests;

//! Choosing a model's provider and its credentials, shared by `tron chat` and `tron serve`.
//!
//! OAuth tokens stored by `tron auth login` (Anthropic, OpenAI Codex, Google) are used through
//! [`OAuthRefreshing`]: refreshed before a request when they expire within the buffer, and
//! once more after a 401, through [`crate::auth::fresh_tokens`] (serialised across
//! sessions and processes). Google tokens drive Gemini models through the Code Assist API
//! ([`crate::llm::google::code_assist`]), with the project discovered once and saved.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use crate::auth::{
    env_credential_vars, fresh_tokens, lookup_with_file, needs_refresh, pkce, AuthError, AuthFile,
    OAuthConfig, OAuthProvider, Tokens,
};
use crate::core::retry::RetryPolicy;
use crate::llm::anthropic::{AnthropicAuth, AnthropicProvider};
use crate::llm::google::code_assist::{CodeAssistProvider, Endpoint, ProjectSlot};
use crate::llm::google::GoogleProvider;
use crate::llm::models::{ModelInfo, ProviderKind};
use crate::llm::openai::responses::DEFAULT_CODEX_BASE_URL;
use crate::llm::openai::{OpenAiChatProvider, OpenAiResponsesProvider};
use crate::llm::{EventStream, LlmError, Provider, Request};

/// Why no provider could be set up for a model.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The auth file could not be used, or a token refresh failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// No credentials, or a bad base URL.
    #[error(transparent)]
    Provider(#[from] LlmError),
    /// The model needs a sign-in that has not been done.
    #[error("{0} needs a ChatGPT sign-in: run `tron auth login openai-codex` (or set OPENAI_OAUTH_TOKEN)")]
    NeedsSignIn(String),
}

/// The provider for `model`: credentials from the environment (`env`), else from the auth
/// file at `auth_file` (see [`lookup_with_file`]); base URLs from the environment; provider
/// calls retried by `retry` (the `retry` settings).
///
/// A stored OAuth token (Anthropic, OpenAI Codex) that expires within
/// [`crate::auth::REFRESH_BUFFER_MS`] is refreshed and saved: here already when called
/// outside an async runtime (`tron chat`: a failed refresh is this call's error), else
/// before the first request. Codex models read `OPENAI_OAUTH_TOKEN`, else the file's
/// `openai-codex` tokens; their base URL is `TRON_OPENAI_CODEX_BASE_URL`, else ChatGPT's.
///
/// Gemini models use, in order: an access token in `GOOGLE_OAUTH_TOKEN` (the TypeScript
/// server's first choice; never refreshed), a key in the environment (`GEMINI_API_KEY`,
/// `GOOGLE_API_KEY`), the file's Google OAuth tokens (`tron auth login google`), the file's
/// API key. The TypeScript server puts stored OAuth before an environment key; tron lets a
/// key set for this process win, as it does for every other provider.
pub fn provider_for(
    model: &ModelInfo,
    auth_file: &Path,
    env: impl Fn(&str) -> Option<String>,
    retry: RetryPolicy,
    account: Option<&str>,
) -> Result<Box<dyn Provider>, SetupError> {
    let file = AuthFile::load(auth_file)?;
    let has_env = env_credential_vars(model.provider).iter().any(|v| env(v).is_some_and(|s| !s.is_empty()));
    match model.provider {
        ProviderKind::OpenAiCodex => {
            let base = env("TRON_OPENAI_CODEX_BASE_URL")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_CODEX_BASE_URL.to_owned());
            if let Some(token) = env("OPENAI_OAUTH_TOKEN").filter(|v| !v.is_empty()) {
                let account = codex_account_id(&token, None);
                return Ok(Box::new(
                    OpenAiResponsesProvider::new(base, token, account).with_retry_policy(retry),
                ));
            }
            let Some(tokens) = file.as_ref().and_then(|f| f.oauth("openai-codex")) else {
                return Err(SetupError::NeedsSignIn(model.id.to_owned()));
            };
            let stored_account = file
                .as_ref()
                .and_then(|f| f.provider_field("openai-codex", "accountId"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let cfg = OAuthConfig::new(OAuthProvider::OpenAiCodex, &env, file.as_ref())?;
            let build = move |token: &str| -> Box<dyn Provider> {
                let account = codex_account_id(token, stored_account.as_deref());
                Box::new(
                    OpenAiResponsesProvider::new(base.clone(), token, account)
                        .with_retry_policy(retry.clone()),
                )
            };
            Ok(Box::new(OAuthRefreshing::new("openai", auth_file, cfg, tokens, build)?))
        }
        ProviderKind::Anthropic
            if !has_env && file.as_ref().is_some_and(|f| anthropic_tokens(f, account).is_some()) =>
        {
            let (label, tokens) = file.as_ref().and_then(|f| anthropic_tokens(f, account)).expect("checked");
            let mut cfg = OAuthConfig::new(OAuthProvider::Anthropic, &env, file.as_ref())?;
            cfg.account = label;
            // The base URL as the provider reads it from the environment.
            let base = AnthropicProvider::from_lookup(|n| match n {
                "CLAUDE_CODE_OAUTH_TOKEN" => Some("-".into()),
                "ANTHROPIC_API_KEY" => None,
                _ => env(n),
            })?
            .base_url()
            .to_owned();
            let build = move |token: &str| -> Box<dyn Provider> {
                let auth = AnthropicAuth::OAuth { access_token: token.to_owned() };
                Box::new(AnthropicProvider::new(base.clone(), auth).with_retry_policy(retry.clone()))
            };
            Ok(Box::new(OAuthRefreshing::new("anthropic", auth_file, cfg, tokens, build)?))
        }
        ProviderKind::Google if env(GOOGLE_OAUTH_TOKEN).is_some_and(|t| !t.trim().is_empty()) => {
            Ok(google_env_token(&env, retry))
        }
        ProviderKind::Google if !has_env && file.as_ref().is_some_and(|f| f.oauth("google").is_some()) => {
            let file = file.as_ref().expect("checked");
            google_oauth(file, auth_file, &env, retry)
        }
        kind => {
            let var = lookup_with_file(kind, env, file.as_ref())?;
            Ok(match kind {
                ProviderKind::Anthropic => {
                    Box::new(AnthropicProvider::from_lookup(var)?.with_retry_policy(retry))
                }
                ProviderKind::OpenAi => {
                    Box::new(OpenAiChatProvider::from_lookup(var)?.with_retry_policy(retry))
                }
                _ => Box::new(GoogleProvider::from_lookup(var)?.with_retry_policy(retry)),
            })
        }
    }
}

/// The environment variable holding a ready Google OAuth access token (the TypeScript
/// server's first choice for Gemini, before any stored credential).
pub const GOOGLE_OAUTH_TOKEN: &str = "GOOGLE_OAUTH_TOKEN";

/// Gemini on the access token in [`GOOGLE_OAUTH_TOKEN`], as the TypeScript server treats it:
/// Cloud Code Assist, never refreshed (whoever set it renews it), nothing written to the
/// auth file. The project is `GOOGLE_CLOUD_PROJECT` (or `GOOGLE_CLOUD_PROJECT_ID`), else
/// discovered before the first request and kept for this process only.
fn google_env_token(env: &dyn Fn(&str) -> Option<String>, retry: RetryPolicy) -> Box<dyn Provider> {
    let token = env(GOOGLE_OAUTH_TOKEN).unwrap_or_default().trim().to_owned();
    let endpoint = Endpoint::CloudCodeAssist;
    let slot = Arc::new(ProjectSlot::new(env_project(env)));
    Box::new(
        CodeAssistProvider::new(endpoint.base_url_from(env), endpoint, token, slot).with_retry_policy(retry),
    )
}

/// `GOOGLE_CLOUD_PROJECT`, else `GOOGLE_CLOUD_PROJECT_ID` (blank values count as unset).
fn env_project(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ["GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT_ID"]
        .iter()
        .find_map(|v| env(v).filter(|p| !p.trim().is_empty()))
}

/// Gemini on the auth file's Google OAuth tokens: the Code Assist endpoint stored as
/// `providers.google.endpoint` (`cloud-code-assist` when absent), its OAuth client for
/// refreshes, its base URL from `TRON_GOOGLE_ANTIGRAVITY_BASE_URL` (Antigravity) or
/// `TRON_GOOGLE_CODE_ASSIST_BASE_URL`, and the project: `projectId` from the file, else
/// `GOOGLE_CLOUD_PROJECT` (or `GOOGLE_CLOUD_PROJECT_ID`), else discovered before the first
/// request and saved as `projectId`.
fn google_oauth(
    file: &AuthFile,
    auth_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    retry: RetryPolicy,
) -> Result<Box<dyn Provider>, SetupError> {
    let tokens = file.oauth("google").expect("checked by the caller");
    let endpoint = match file.provider_field("google", "endpoint") {
        None | Some(serde_json::Value::Null) => Endpoint::CloudCodeAssist,
        Some(v) => v.as_str().and_then(Endpoint::parse).ok_or_else(|| AuthError::Invalid {
            path: auth_file.to_owned(),
            detail: format!(
                "providers.google.endpoint is {v}, expected \"cloud-code-assist\" or \"antigravity\"; \
                 run `tron auth login google` (or google-antigravity) again"
            ),
        })?,
    };
    let oauth = match endpoint {
        Endpoint::CloudCodeAssist => OAuthProvider::GoogleCloudCodeAssist,
        Endpoint::Antigravity => OAuthProvider::GoogleAntigravity,
    };
    let cfg = OAuthConfig::new(oauth, env, Some(file))?;
    let base = endpoint.base_url_from(env);
    let known = file
        .provider_field("google", "projectId")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .filter(|p| !p.trim().is_empty())
        .or_else(|| env_project(env));
    let path = auth_file.to_owned();
    let slot = Arc::new(ProjectSlot::new(known).on_discovered(move |project| {
        let saved = crate::auth::update(&path, |f| {
            f.set_provider_field("google", "projectId", serde_json::Value::from(project))
        });
        if let Err(e) = saved {
            tracing::warn!(component = "auth", error = %e, "cannot save the discovered Google Cloud project");
        }
    }));
    let build = move |token: &str| -> Box<dyn Provider> {
        Box::new(
            CodeAssistProvider::new(base.clone(), endpoint, token, Arc::clone(&slot))
                .with_retry_policy(retry.clone()),
        )
    };
    Ok(Box::new(OAuthRefreshing::new("google", auth_file, cfg, tokens, build)?))
}

/// The first of `candidates` whose provider has credentials, and that model: how the
/// background model calls (compaction summaries, the memory ledger) pick `models.subagent`,
/// else the session's model. `None` when none has credentials.
pub fn first_available(
    candidates: &[&'static ModelInfo],
    auth_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    retry: &RetryPolicy,
    account: Option<&str>,
) -> Option<(Box<dyn Provider>, &'static ModelInfo)> {
    candidates.iter().find_map(|model| match provider_for(model, auth_file, env, retry.clone(), account) {
        Ok(provider) => Some((provider, *model)),
        Err(e) => {
            tracing::debug!(model = model.id, error = %e, "no credentials for a background model");
            None
        }
    })
}

/// The Anthropic account a run signs in with: `server.anthropicAccount` of `settings` (the
/// TypeScript server's setting; a label of `providers.anthropic.accounts[]`).
pub fn anthropic_account(settings: &crate::settings::Settings) -> Option<&str> {
    settings.get("server.anthropicAccount").and_then(serde_json::Value::as_str).filter(|s| !s.is_empty())
}

/// The stored Anthropic OAuth tokens to use, and the `accounts[]` label they are stored
/// under (`None`: the provider's own `oauth`). As in the TypeScript server, `accounts[]`
/// takes priority over the single `oauth`: the account named by `wanted`
/// (`server.anthropicAccount`), else the first account with tokens, else `oauth`.
fn anthropic_tokens(file: &AuthFile, wanted: Option<&str>) -> Option<(Option<String>, Tokens)> {
    let labels = file.account_labels("anthropic");
    if let Some(want) = wanted {
        if let Some(tokens) = file.account_oauth("anthropic", want) {
            return Some((Some(want.to_owned()), tokens));
        }
        tracing::warn!(
            account = want,
            "server.anthropicAccount names no stored Anthropic account; using another"
        );
    }
    labels
        .iter()
        .find_map(|l| file.account_oauth("anthropic", l).map(|t| (Some(l.clone()), t)))
        .or_else(|| file.oauth("anthropic").map(|t| (None, t)))
}

/// The ChatGPT account id for a Codex token: the stored one, else the token's claim.
fn codex_account_id(token: &str, stored: Option<&str>) -> String {
    stored.map(str::to_owned).unwrap_or_else(|| {
        pkce::jwt_claims(token)
            .and_then(|c| {
                c.pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")?.as_str().map(str::to_owned)
            })
            .unwrap_or_default()
    })
}

type Build = dyn Fn(&str) -> Box<dyn Provider> + Send + Sync;

/// A provider on stored OAuth tokens: refreshes them before a request when they expire
/// within the buffer, and once after a 401 (when the stored token is still the rejected
/// one), then builds the real provider for the current access token.
pub struct OAuthRefreshing {
    shared: Arc<Shared>,
}

struct Shared {
    name: &'static str,
    auth_file: PathBuf,
    cfg: OAuthConfig,
    build: Box<Build>,
    /// The tokens in use and the provider built for them.
    current: Mutex<(Tokens, Option<Arc<dyn Provider>>)>,
}

impl std::fmt::Debug for OAuthRefreshing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRefreshing").field("provider", &self.shared.name).finish_non_exhaustive()
    }
}

impl OAuthRefreshing {
    /// Wraps `tokens` (as read from `auth_file`). Outside an async runtime an expiring
    /// token is refreshed right away, so a failed refresh is reported here.
    pub fn new(
        name: &'static str,
        auth_file: &Path,
        cfg: OAuthConfig,
        tokens: Tokens,
        build: impl Fn(&str) -> Box<dyn Provider> + Send + Sync + 'static,
    ) -> Result<Self, AuthError> {
        let mut tokens = tokens;
        if needs_refresh(&tokens, chrono::Utc::now().timestamp_millis())
            && tokio::runtime::Handle::try_current().is_err()
        {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| AuthError::OAuth(format!("cannot start a runtime to refresh the token: {e}")))?;
            tokens = rt.block_on(fresh_tokens(auth_file, &cfg, None))?;
        }
        Ok(OAuthRefreshing {
            shared: Arc::new(Shared {
                name,
                auth_file: auth_file.to_owned(),
                cfg,
                build: Box::new(build),
                current: Mutex::new((tokens, None)),
            }),
        })
    }
}

impl Shared {
    fn provider(&self, tokens: &Tokens) -> Arc<dyn Provider> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.0.access_token != tokens.access_token || cur.1.is_none() {
            *cur = (tokens.clone(), Some(Arc::from((self.build)(&tokens.access_token))));
        }
        Arc::clone(cur.1.as_ref().expect("just set"))
    }

    fn failed(&self, e: AuthError) -> LlmError {
        LlmError::NoCredentials { provider: self.name, hint: e.to_string() }
    }

    async fn stream(self: Arc<Self>, request: Request) -> EventStream {
        let cached = self.current.lock().unwrap_or_else(|e| e.into_inner()).0.clone();
        let tokens = if needs_refresh(&cached, chrono::Utc::now().timestamp_millis()) {
            match fresh_tokens(&self.auth_file, &self.cfg, None).await {
                Ok(t) => t,
                Err(e) => return one_error(self.failed(e)),
            }
        } else {
            cached
        };
        let mut events = self.provider(&tokens).stream(request.clone());
        let first = events.next().await;
        if let Some(Err(LlmError::Http { status: 401, .. })) = &first {
            // The token was refused before its time (revoked, rotated elsewhere): refresh
            // once (unless another session already did) and try again.
            if let Ok(newer) = fresh_tokens(&self.auth_file, &self.cfg, Some(&tokens.access_token)).await {
                if newer.access_token != tokens.access_token {
                    return self.provider(&newer).stream(request);
                }
            }
        }
        Box::pin(futures_util::stream::iter(first).chain(events))
    }
}

fn one_error(e: LlmError) -> EventStream {
    Box::pin(futures_util::stream::iter([Err(e)]))
}

impl Provider for OAuthRefreshing {
    fn name(&self) -> &'static str {
        self.shared.name
    }

    fn stream(&self, request: Request) -> EventStream {
        let shared = Arc::clone(&self.shared);
        Box::pin(futures_util::stream::once(shared.stream(request)).flatten())
    }
}

//! Choosing a model's provider and its credentials, shared by `tron chat` and `tron serve`.

use std::path::Path;

use crate::auth::{lookup_with_file, AuthError, AuthFile};
use crate::core::retry::RetryPolicy;
use crate::llm::anthropic::AnthropicProvider;
use crate::llm::google::GoogleProvider;
use crate::llm::models::{ModelInfo, ProviderKind};
use crate::llm::openai::OpenAiChatProvider;
use crate::llm::{LlmError, Provider};

/// Why no provider could be set up for a model.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The auth file could not be used.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// No credentials, or a bad base URL.
    #[error(transparent)]
    Provider(#[from] LlmError),
    /// A retry setting in the environment is not a number.
    #[error("{var}={value:?} is not a whole number")]
    BadSetting {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The model needs a sign-in this version cannot do yet.
    #[error("{0} needs a ChatGPT sign-in, which arrives with `tron auth login openai` (issue 8)")]
    NeedsSignIn(String),
}

/// The provider for `model`: credentials from the environment (`env`), else from the auth
/// file at `auth_file` (see [`lookup_with_file`]); base URLs from the environment; the retry
/// policy is the TypeScript server's unless `TRON_MAX_RETRIES` / `TRON_RETRY_BASE_MS` say
/// otherwise.
pub fn provider_for(
    model: &ModelInfo,
    auth_file: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn Provider>, SetupError> {
    if model.provider == ProviderKind::OpenAiCodex {
        return Err(SetupError::NeedsSignIn(model.id.to_owned()));
    }
    let file = AuthFile::load(auth_file)?;
    let now = chrono::Utc::now().timestamp_millis();
    let retry = retry_policy(&env)?;
    let var = lookup_with_file(model.provider, env, file.as_ref(), now)?;
    Ok(match model.provider {
        ProviderKind::Anthropic => Box::new(AnthropicProvider::from_lookup(var)?.with_retry_policy(retry)),
        ProviderKind::OpenAi => Box::new(OpenAiChatProvider::from_lookup(var)?.with_retry_policy(retry)),
        _ => Box::new(GoogleProvider::from_lookup(var)?.with_retry_policy(retry)),
    })
}

/// The default retry policy with `TRON_MAX_RETRIES` and `TRON_RETRY_BASE_MS` applied.
fn retry_policy(env: &impl Fn(&str) -> Option<String>) -> Result<RetryPolicy, SetupError> {
    let number = |var: &'static str| -> Result<Option<u64>, SetupError> {
        match env(var).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => value.trim().parse().map(Some).map_err(|_| SetupError::BadSetting { var, value }),
        }
    };
    let mut policy = RetryPolicy::default();
    if let Some(n) = number("TRON_MAX_RETRIES")? {
        policy.max_retries = n.min(u32::MAX as u64) as u32;
    }
    if let Some(ms) = number("TRON_RETRY_BASE_MS")? {
        policy.base_delay = std::time::Duration::from_millis(ms);
    }
    Ok(policy)
}

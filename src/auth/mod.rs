//! Credentials: the auth store `~/.tron/auth.json` (the TypeScript server's format) and how a
//! provider's credentials are found.
//!
//! Owns: reading, validating and writing the auth file (atomic, mode 0600, unknown keys
//! kept, a lock file serialising writers), the order in which credentials are looked up
//! (environment first, then the file), OAuth logins (PKCE, the 127.0.0.1 callback server,
//! the paste fallback) and token refresh for Anthropic, OpenAI Codex and Google.
//! Must not: print, log or persist a secret anywhere but the auth file (Debug output and
//! errors are redacted), talk to a provider's model API (providers take the credential
//! they are given), or rewrite a file it could not parse.

mod file;
pub mod lock;
pub mod login;
pub mod oauth;
pub mod pkce;

pub use file::{expiry, AuthError, AuthFile, ProviderStatus, StoredCredential, Tokens};
pub use lock::{fresh_tokens, needs_refresh, update, FileLock};
pub use login::{login, LoginOptions};
pub use oauth::{Grant, OAuthConfig, OAuthProvider, REFRESH_BUFFER_MS};

use crate::llm::models::ProviderKind;

/// The environment variables that carry a credential for `kind`, in the order providers
/// read them.
pub fn env_credential_vars(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Anthropic => &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
        ProviderKind::OpenAi => &["OPENAI_API_KEY"],
        ProviderKind::Google => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        ProviderKind::OpenAiCodex => &[],
    }
}

/// A variable lookup for a provider's `from_lookup`: the environment (`env`) as it is when
/// it holds any credential for `kind`; otherwise the environment plus the credential from
/// `file`, presented under the variable the provider reads for it (an Anthropic OAuth token
/// as `CLAUDE_CODE_OAUTH_TOKEN`, an API key as `ANTHROPIC_API_KEY` ...).
///
/// The token is passed as stored: refreshing an expiring Anthropic token is done by
/// `agent::provider_for` through [`fresh_tokens`].
pub fn lookup_with_file<'a>(
    kind: ProviderKind,
    env: impl Fn(&str) -> Option<String> + 'a,
    file: Option<&AuthFile>,
) -> Result<impl Fn(&str) -> Option<String> + 'a, AuthError> {
    let vars = env_credential_vars(kind);
    let has_env = vars.iter().any(|v| env(v).is_some_and(|s| !s.is_empty()));
    let mut extra: Option<(&'static str, String)> = None;
    if !has_env {
        if let Some(found) = file.and_then(|f| f.credential(kind.as_str())) {
            extra = match (kind, found) {
                (ProviderKind::Anthropic, StoredCredential::OAuth { access_token, .. }) => {
                    Some(("CLAUDE_CODE_OAUTH_TOKEN", access_token))
                }
                (_, StoredCredential::ApiKey(key)) => vars.first().map(|v| (*v, key)),
                // Codex and Google OAuth are wired in `agent::provider_for` (Google's tokens
                // go to the Code Assist API, not the Gemini API-key one).
                (_, StoredCredential::OAuth { .. }) => None,
            };
        }
    }
    Ok(move |name: &str| match &extra {
        Some((var, value)) if *var == name => Some(value.clone()),
        _ => env(name),
    })
}

#[cfg(test)]
mod tests;

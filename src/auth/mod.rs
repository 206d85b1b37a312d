//! Credentials: the auth store `~/.tron/auth.json` (the TypeScript server's format) and how a
//! provider's credentials are found.
//!
//! Owns: reading and validating the auth file, and the order in which credentials are
//! looked up (environment first, then the file). Must not: print, log or persist a secret,
//! talk to a provider's API (providers take the credential they are given), or rewrite a
//! file it could not parse.
//!
//! Not built yet (issue 8): writing the file, OAuth logins (PKCE, callback server), token
//! refresh, `tron auth`.

mod file;

pub use file::{AuthError, AuthFile, StoredCredential};

use crate::llm::models::ProviderKind;

/// The environment variables that carry a credential for `kind`, in the order providers
/// read them.
fn env_credential_vars(kind: ProviderKind) -> &'static [&'static str] {
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
/// Fails when the file's credential is an OAuth token that has expired (refreshing arrives
/// with issue 8), naming the way out.
pub fn lookup_with_file<'a>(
    kind: ProviderKind,
    env: impl Fn(&str) -> Option<String> + 'a,
    file: Option<&AuthFile>,
    now_ms: i64,
) -> Result<impl Fn(&str) -> Option<String> + 'a, AuthError> {
    let vars = env_credential_vars(kind);
    let has_env = vars.iter().any(|v| env(v).is_some_and(|s| !s.is_empty()));
    let mut extra: Option<(&'static str, String)> = None;
    if !has_env {
        if let Some(found) = file.and_then(|f| f.credential(kind.as_str())) {
            extra = match (kind, found) {
                (ProviderKind::Anthropic, StoredCredential::OAuth { access_token, expires_at, .. }) => {
                    if expires_at <= now_ms {
                        return Err(AuthError::Expired { provider: kind.as_str().to_owned(), expires_at });
                    }
                    Some(("CLAUDE_CODE_OAUTH_TOKEN", access_token))
                }
                (_, StoredCredential::ApiKey(key)) => vars.first().map(|v| (*v, key)),
                // OAuth for OpenAI (Codex) and Google (Cloud Code Assist) uses other APIs;
                // they arrive with issue 8.
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

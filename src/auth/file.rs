//! The auth file `~/.tron/auth.json`:
//! `{"version":1,"providers":{"<id>":{"apiKey"?,"oauth"?:{"accessToken","refreshToken",
//! "expiresAt"},"accounts"?:[...]}},"services"?:{...},"lastUpdated"?}`. Provider ids are
//! the TypeScript server's: `anthropic`, `openai`, `openai-codex`, `google`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// The file format version this build reads.
pub const VERSION: u64 = 1;

/// A problem with the auth file. The file is never changed because of one.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file exists but cannot be read.
    #[error("cannot read the auth file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON or not in the expected shape.
    #[error("the auth file {path} is not valid ({detail}); fix or move it (tron leaves it untouched)")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column when JSON parsing failed.
        detail: String,
    },
    /// The file is from another format version.
    #[error("the auth file {path} has version {found}, this tron reads version {VERSION}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: String,
    },
    /// The stored OAuth token has expired.
    #[error(
        "the {provider} OAuth token in the auth file expired at {}; refreshing it arrives with `tron auth` \
         (issue 8); meanwhile set an API key in the environment",
        expiry(*expires_at)
    )]
    Expired {
        /// The provider id.
        provider: String,
        /// Expiry, Unix milliseconds.
        expires_at: i64,
    },
}

fn expiry(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

/// One provider's stored credential.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredCredential {
    /// An API key.
    ApiKey(String),
    /// OAuth tokens.
    OAuth {
        /// The access token.
        access_token: String,
        /// The refresh token.
        refresh_token: String,
        /// Expiry, Unix milliseconds.
        expires_at: i64,
    },
}

impl std::fmt::Debug for StoredCredential {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::OAuth { expires_at, .. } => write!(f, "OAuth {{ expires_at: {expires_at}, .. }}"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OAuthTokens {
    access_token: String,
    #[serde(default)]
    refresh_token: String,
    expires_at: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderEntry {
    api_key: Option<String>,
    oauth: Option<OAuthTokens>,
}

/// A parsed auth file. Fields this version does not model are kept in `raw`.
#[derive(Debug, Clone)]
pub struct AuthFile {
    path: PathBuf,
    raw: Map<String, Value>,
}

impl AuthFile {
    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn load(path: &Path) -> Result<Option<AuthFile>, AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(AuthError::Read { path: path.to_owned(), source }),
        };
        Self::parse(path, &text).map(Some)
    }

    /// Parses the text of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<AuthFile, AuthError> {
        let invalid = |detail: String| AuthError::Invalid { path: path.to_owned(), detail };
        let raw: Map<String, Value> = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        match raw.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
            Some(other) => {
                return Err(AuthError::Version { path: path.to_owned(), found: other.to_string() })
            }
            None => return Err(invalid("no \"version\"".into())),
        }
        let file = AuthFile { path: path.to_owned(), raw };
        match file.raw.get("providers") {
            Some(Value::Object(providers)) => {
                for (id, entry) in providers {
                    ProviderEntry::deserialize(entry).map_err(|e| invalid(format!("providers.{id}: {e}")))?;
                }
            }
            None => {}
            Some(_) => return Err(invalid("\"providers\" is not an object".into())),
        }
        Ok(file)
    }

    /// Where the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential stored for provider `id`: its OAuth tokens when present (the
    /// TypeScript server prefers them), else its API key.
    pub fn credential(&self, id: &str) -> Option<StoredCredential> {
        let entry = self.raw.get("providers")?.get(id)?;
        let entry = ProviderEntry::deserialize(entry).ok()?;
        if let Some(o) = entry.oauth.filter(|o| !o.access_token.is_empty()) {
            return Some(StoredCredential::OAuth {
                access_token: o.access_token,
                refresh_token: o.refresh_token,
                expires_at: o.expires_at,
            });
        }
        entry.api_key.filter(|k| !k.is_empty()).map(StoredCredential::ApiKey)
    }
}

//! The auth file `~/.tron/auth.json`:
//! `{"version":1,"providers":{"<id>":{"apiKey"?,"oauth"?:{"accessToken","refreshToken",
//! "expiresAt"},"accounts"?:[...]}},"services"?:{...},"lastUpdated"?}`. Provider ids are
//! the TypeScript server's: `anthropic`, `openai`, `openai-codex`, `google`.
//!
//! Writing keeps every key this version does not model (`services`, `accounts`, Google's
//! `endpoint`/`projectId`/`clientId` ...), replaces the file atomically (a temp file in the
//! same directory, then rename) with mode 0600, and is only ever done on a file that parsed.

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
    /// The file could not be written (nothing was changed).
    #[error("cannot write the auth file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another tron process holds the auth file's lock for too long.
    #[error("the auth file {path} is locked by another tron process (lock file {path}.lock); try again")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// An OAuth step failed (login, code exchange, refresh). Never carries a secret.
    #[error("{0}")]
    OAuth(String),
}

/// A Unix-millisecond time as RFC 3339 (or the number when out of range).
pub fn expiry(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

/// OAuth tokens as the file stores them (`accessToken`, `refreshToken`, `expiresAt`).
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token (empty when the provider gave none).
    pub refresh_token: String,
    /// When to consider the access token expired, Unix milliseconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for Tokens {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens {{ expires_at: {}, .. }}", self.expires_at)
    }
}

/// What `tron auth status` shows for one provider: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The provider id.
    pub provider: String,
    /// `oauth` or `apiKey` (the one used: OAuth wins, as in the TypeScript server).
    pub kind: String,
    /// Whether an API key is stored as well as OAuth tokens.
    pub has_api_key: bool,
    /// OAuth expiry, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The signed-in account (e-mail) when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Labels of the extra accounts in `accounts[]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
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

    /// An empty file (`{"version":1,"providers":{}}`) to be written at `path`.
    pub fn empty(path: &Path) -> AuthFile {
        let mut raw = Map::new();
        raw.insert("version".into(), Value::from(VERSION));
        raw.insert("providers".into(), Value::Object(Map::new()));
        AuthFile { path: path.to_owned(), raw }
    }

    /// The file at `path` for an update: its content, or an empty file when there is none.
    /// A file that does not parse is an error (and so is never overwritten).
    pub fn load_or_empty(path: &Path) -> Result<AuthFile, AuthError> {
        Ok(Self::load(path)?.unwrap_or_else(|| Self::empty(path)))
    }

    /// The JSON object stored for provider `id`, created when missing.
    fn entry_mut(&mut self, id: &str) -> &mut Map<String, Value> {
        let providers = self.raw.entry("providers").or_insert_with(|| Value::Object(Map::new()));
        if !providers.is_object() {
            *providers = Value::Object(Map::new());
        }
        let entry = providers
            .as_object_mut()
            .expect("an object")
            .entry(id.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().expect("an object")
    }

    /// A field of provider `id`'s entry (`endpoint`, `clientId`, `accountId` ...).
    pub fn provider_field(&self, id: &str, field: &str) -> Option<&Value> {
        self.raw.get("providers")?.get(id)?.get(field)
    }

    /// Sets a field of provider `id`'s entry.
    pub fn set_provider_field(&mut self, id: &str, field: &str, value: Value) {
        self.entry_mut(id).insert(field.to_owned(), value);
    }

    /// Stores an API key for provider `id` (its other fields are kept).
    pub fn set_api_key(&mut self, id: &str, key: &str) {
        self.entry_mut(id).insert("apiKey".into(), Value::from(key));
    }

    /// Stores OAuth tokens for provider `id` (its other fields are kept).
    pub fn set_oauth(&mut self, id: &str, tokens: &Tokens) {
        let entry = self.entry_mut(id);
        let mut oauth = entry.get("oauth").and_then(Value::as_object).cloned().unwrap_or_default();
        oauth.insert("accessToken".into(), Value::from(tokens.access_token.as_str()));
        oauth.insert("refreshToken".into(), Value::from(tokens.refresh_token.as_str()));
        oauth.insert("expiresAt".into(), Value::from(tokens.expires_at));
        entry.insert("oauth".into(), Value::Object(oauth));
    }

    /// The OAuth tokens stored for provider `id`.
    pub fn oauth(&self, id: &str) -> Option<Tokens> {
        let entry = ProviderEntry::deserialize(self.raw.get("providers")?.get(id)?).ok()?;
        entry.oauth.filter(|o| !o.access_token.is_empty()).map(|o| Tokens {
            access_token: o.access_token,
            refresh_token: o.refresh_token,
            expires_at: o.expires_at,
        })
    }

    /// The labels of provider `id`'s `accounts[]`, in order.
    pub fn account_labels(&self, id: &str) -> Vec<String> {
        self.provider_field(id, "accounts")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.get("label")?.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// The OAuth tokens of the account labelled `label` in provider `id`'s `accounts[]`.
    pub fn account_oauth(&self, id: &str, label: &str) -> Option<Tokens> {
        let accounts = self.provider_field(id, "accounts")?.as_array()?;
        let account = accounts.iter().find(|a| a.get("label").and_then(Value::as_str) == Some(label))?;
        let oauth: OAuthTokens = serde_json::from_value(account.get("oauth")?.clone()).ok()?;
        (!oauth.access_token.is_empty()).then_some(Tokens {
            access_token: oauth.access_token,
            refresh_token: oauth.refresh_token,
            expires_at: oauth.expires_at,
        })
    }

    /// Stores OAuth tokens for the account labelled `label` of provider `id` (its other
    /// fields kept; appended when there is no such account), as the TypeScript server's
    /// `saveAccountOAuthTokens`.
    pub fn set_account_oauth(&mut self, id: &str, label: &str, tokens: &Tokens) {
        let entry = self.entry_mut(id);
        let accounts = entry.entry("accounts").or_insert_with(|| Value::Array(Vec::new()));
        if !accounts.is_array() {
            *accounts = Value::Array(Vec::new());
        }
        let list = accounts.as_array_mut().expect("an array");
        let index = match list.iter().position(|a| a.get("label").and_then(Value::as_str) == Some(label)) {
            Some(i) => i,
            None => {
                list.push(serde_json::json!({ "label": label }));
                list.len() - 1
            }
        };
        let account = &mut list[index];
        if !account.is_object() {
            *account = serde_json::json!({ "label": label });
        }
        let account = account.as_object_mut().expect("an object");
        let mut oauth = account.get("oauth").and_then(Value::as_object).cloned().unwrap_or_default();
        oauth.insert("accessToken".into(), Value::from(tokens.access_token.as_str()));
        oauth.insert("refreshToken".into(), Value::from(tokens.refresh_token.as_str()));
        oauth.insert("expiresAt".into(), Value::from(tokens.expires_at));
        account.insert("oauth".into(), Value::Object(oauth));
    }

    /// Removes provider `id` (keys and tokens); false when it had no entry.
    pub fn remove_provider(&mut self, id: &str) -> bool {
        self.raw.get_mut("providers").and_then(Value::as_object_mut).is_some_and(|p| p.remove(id).is_some())
    }

    /// What each stored provider has, without secrets, sorted by id.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let Some(Value::Object(providers)) = self.raw.get("providers") else { return Vec::new() };
        let mut out: Vec<ProviderStatus> = providers
            .iter()
            .filter_map(|(id, entry)| {
                let parsed = ProviderEntry::deserialize(entry).ok()?;
                let has_api_key = parsed.api_key.as_deref().is_some_and(|k| !k.is_empty());
                let oauth = parsed.oauth.filter(|o| !o.access_token.is_empty());
                let accounts: Vec<String> = entry
                    .get("accounts")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| x.get("label")?.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if oauth.is_none() && !has_api_key && accounts.is_empty() {
                    return None;
                }
                Some(ProviderStatus {
                    provider: id.clone(),
                    kind: if oauth.is_some() || !has_api_key { "oauth" } else { "apiKey" }.into(),
                    has_api_key,
                    expires_at: oauth.map(|o| o.expires_at),
                    account: entry.get("accountLabel").and_then(Value::as_str).map(str::to_owned),
                    accounts,
                })
            })
            .collect();
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }

    /// The file's text as it would be written (pretty JSON, `lastUpdated` not touched).
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.raw).expect("a JSON object serialises");
        text.push('\n');
        text
    }

    /// Writes the file: `lastUpdated` set to now, the parent directory created when
    /// missing, a temp file with mode 0600 renamed over the old one.
    pub fn save(&mut self) -> Result<(), AuthError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.raw.insert("lastUpdated".into(), Value::from(now));
        crate::settings::files::write_atomic(&self.path, self.to_text().as_bytes(), Some(0o600))
            .map_err(|source| AuthError::Write { path: self.path.clone(), source })
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

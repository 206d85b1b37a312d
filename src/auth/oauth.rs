//! Per-provider OAuth settings (the TypeScript server's client ids, endpoints and scopes),
//! the authorization URL, the code-for-token exchange and the refresh grant.
//!
//! Every endpoint can be overridden from the environment so tests run against a local mock
//! authorization server: `TRON_AUTH_<P>_AUTHORIZE_URL`, `_TOKEN_URL`, `_CLIENT_ID`,
//! `_CLIENT_SECRET` and `_REDIRECT_URI`, with `<P>` one of `ANTHROPIC`, `OPENAI`, `GOOGLE`.
//! Errors name the provider, the HTTP status and the OAuth `error` code, never a token.

use std::time::Duration;

use serde_json::{json, Value};

use super::file::{AuthError, AuthFile, Tokens};
use super::pkce::{form_encode, jwt_claims, url_encode};

/// Refresh a stored token when it expires within this many milliseconds (the TypeScript
/// server's `tokenExpiryBufferSeconds`, 300).
pub const REFRESH_BUFFER_MS: i64 = 300_000;

/// The OAuth logins tron knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthProvider {
    /// Claude Pro/Max subscription.
    Anthropic,
    /// ChatGPT sign-in for the Codex models.
    OpenAiCodex,
    /// Google Cloud Code Assist (Gemini CLI's backend).
    GoogleCloudCodeAssist,
    /// Google Antigravity (the sandbox / free tier).
    GoogleAntigravity,
}

impl OAuthProvider {
    /// The provider named on the command line (`anthropic`, `openai-codex` or `openai`,
    /// `google`, `google-antigravity`).
    pub fn parse(name: &str) -> Option<OAuthProvider> {
        Some(match name {
            "anthropic" | "claude" => Self::Anthropic,
            "openai-codex" | "openai" | "codex" | "chatgpt" => Self::OpenAiCodex,
            "google" | "google-cloud-code-assist" | "gemini" => Self::GoogleCloudCodeAssist,
            "google-antigravity" | "antigravity" => Self::GoogleAntigravity,
            _ => return None,
        })
    }

    /// The key in the auth file's `providers`.
    pub fn store_id(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAiCodex => "openai-codex",
            Self::GoogleCloudCodeAssist | Self::GoogleAntigravity => "google",
        }
    }

    /// The Google `endpoint` value stored with the tokens.
    pub fn google_endpoint(self) -> Option<&'static str> {
        match self {
            Self::GoogleCloudCodeAssist => Some("cloud-code-assist"),
            Self::GoogleAntigravity => Some("antigravity"),
            _ => None,
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Self::Anthropic => "TRON_AUTH_ANTHROPIC",
            Self::OpenAiCodex => "TRON_AUTH_OPENAI",
            Self::GoogleCloudCodeAssist | Self::GoogleAntigravity => "TRON_AUTH_GOOGLE",
        }
    }
}

/// Everything one provider's OAuth flow needs.
#[derive(Clone)]
pub struct OAuthConfig {
    /// Which provider.
    pub provider: OAuthProvider,
    /// Authorization endpoint.
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Public client id.
    pub client_id: String,
    /// Client secret (Google's installed-app clients only).
    pub client_secret: Option<String>,
    /// Scopes, joined with spaces.
    pub scopes: Vec<String>,
    /// The redirect URI registered for the client.
    pub redirect_uri: String,
    /// Seconds taken off `expires_in` when storing the expiry (TypeScript: 300, OpenAI 0).
    pub store_buffer_secs: i64,
    /// The entry of the provider's `accounts[]` whose tokens are used and refreshed (by
    /// label); `None`: the provider's own `oauth`.
    pub account: Option<String>,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("provider", &self.provider)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

const GOOGLE_AUTHORIZE: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";

impl OAuthConfig {
    /// The provider's settings: the TypeScript server's defaults, overridden by
    /// `TRON_AUTH_<P>_*` from `env`. Google's client id and secret come from the
    /// environment or, as in the TypeScript server, from `providers.google.clientId` /
    /// `clientSecret` in the auth file; without them Google login is an error.
    pub fn new(
        provider: OAuthProvider,
        env: &dyn Fn(&str) -> Option<String>,
        file: Option<&AuthFile>,
    ) -> Result<OAuthConfig, AuthError> {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let mut cfg = match provider {
            OAuthProvider::Anthropic => OAuthConfig {
                provider,
                authorize_url: "https://console.anthropic.com/oauth/authorize".into(),
                token_url: "https://console.anthropic.com/v1/oauth/token".into(),
                client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".into(),
                client_secret: None,
                scopes: s(&["org:create_api_key", "user:profile", "user:inference"]),
                redirect_uri: "https://console.anthropic.com/oauth/code/callback".into(),
                store_buffer_secs: 300,
                account: None,
            },
            OAuthProvider::OpenAiCodex => OAuthConfig {
                provider,
                authorize_url: "https://auth.openai.com/oauth/authorize".into(),
                token_url: "https://auth.openai.com/oauth/token".into(),
                client_id: "app_EMoamEEZ73f0CkXaXp7hrann".into(),
                client_secret: None,
                scopes: s(&["openid", "profile", "email", "offline_access"]),
                redirect_uri: "http://localhost:1455/auth/callback".into(),
                store_buffer_secs: 0,
                account: None,
            },
            OAuthProvider::GoogleCloudCodeAssist => OAuthConfig {
                provider,
                authorize_url: GOOGLE_AUTHORIZE.into(),
                token_url: GOOGLE_TOKEN.into(),
                client_id: String::new(),
                client_secret: None,
                scopes: s(&[
                    "https://www.googleapis.com/auth/cloud-platform",
                    "https://www.googleapis.com/auth/userinfo.email",
                    "openid",
                ]),
                redirect_uri: "http://localhost:45289".into(),
                store_buffer_secs: 300,
                account: None,
            },
            OAuthProvider::GoogleAntigravity => OAuthConfig {
                provider,
                authorize_url: GOOGLE_AUTHORIZE.into(),
                token_url: GOOGLE_TOKEN.into(),
                client_id: String::new(),
                client_secret: None,
                scopes: s(&[
                    "https://www.googleapis.com/auth/cloud-platform",
                    "https://www.googleapis.com/auth/userinfo.email",
                    "https://www.googleapis.com/auth/userinfo.profile",
                    "https://www.googleapis.com/auth/cclog",
                    "https://www.googleapis.com/auth/experimentsandconfigs",
                    "openid",
                ]),
                redirect_uri: "http://localhost:51121/oauth-callback".into(),
                store_buffer_secs: 300,
                account: None,
            },
        };
        let prefix = provider.env_prefix();
        let var = |suffix: &str| env(&format!("{prefix}_{suffix}")).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("AUTHORIZE_URL") {
            cfg.authorize_url = v;
        }
        if let Some(v) = var("TOKEN_URL") {
            cfg.token_url = v;
        }
        if let Some(v) = var("REDIRECT_URI") {
            cfg.redirect_uri = v;
        }
        if provider == OAuthProvider::Anthropic {
            // The TypeScript server honours ANTHROPIC_CLIENT_ID too.
            if let Some(v) = env("ANTHROPIC_CLIENT_ID").filter(|v| !v.is_empty()) {
                cfg.client_id = v;
            }
        }
        if provider.google_endpoint().is_some() {
            let stored = |k: &str| {
                file.and_then(|f| f.provider_field("google", k)).and_then(Value::as_str).map(str::to_owned)
            };
            cfg.client_id = stored("clientId").unwrap_or_default();
            cfg.client_secret = stored("clientSecret");
        }
        if let Some(v) = var("CLIENT_ID") {
            cfg.client_id = v;
        }
        if let Some(v) = var("CLIENT_SECRET") {
            cfg.client_secret = Some(v);
        }
        if cfg.client_id.is_empty() {
            return Err(AuthError::OAuth(format!(
                "Google sign-in needs an OAuth client: put \"clientId\" and \"clientSecret\" under \
                 providers.google in the auth file (as for the TypeScript server) or set \
                 {prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET"
            )));
        }
        Ok(cfg)
    }

    fn name(&self) -> &'static str {
        self.provider.store_id()
    }

    /// The URL the user opens: `response_type=code`, the client, `redirect_uri`, scopes,
    /// the S256 challenge and `state`, plus each provider's extras as the TypeScript server
    /// sends them (Anthropic `code=true`; Google `access_type=offline&prompt=consent`;
    /// OpenAI none: its Codex login sends only the standard parameters).
    pub fn authorize_url(&self, challenge: &str, state: &str, redirect_uri: &str) -> String {
        let scope = self.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = Vec::new();
        if self.provider == OAuthProvider::Anthropic {
            params.push(("code", "true"));
        }
        params.extend([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", scope.as_str()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
        ]);
        if self.provider.google_endpoint().is_some() {
            params.extend([("access_type", "offline"), ("prompt", "consent")]);
        }
        let sep = if self.authorize_url.contains('?') { '&' } else { '?' };
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
        format!("{}{sep}{}", self.authorize_url, query.join("&"))
    }

    /// Exchanges an authorization code (`grant_type=authorization_code` with the PKCE
    /// verifier). Anthropic (with the `state`) and OpenAI take JSON; Google a form body.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        state: &str,
        redirect_uri: &str,
    ) -> Result<Grant, AuthError> {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("client_id", &self.client_id),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.client_secret {
            pairs.push(("client_secret", secret));
        }
        // The TypeScript server posts JSON to Anthropic (with the state) and OpenAI, a form
        // to Google.
        let json = self.provider.google_endpoint().is_none();
        if self.provider == OAuthProvider::Anthropic {
            pairs.push(("state", state));
        }
        let data = self.post("token exchange", &pairs, json).await?;
        self.grant(&data, None)
    }

    /// Uses a refresh token (`grant_type=refresh_token`). Anthropic and OpenAI take JSON,
    /// Google a form; a provider that returns no new refresh token keeps the old one.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant, AuthError> {
        if refresh_token.is_empty() {
            return Err(AuthError::OAuth(format!(
                "the stored {} OAuth token cannot be refreshed (no refresh token); run `tron auth login {}`",
                self.name(),
                self.name()
            )));
        }
        let mut pairs: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client_id),
        ];
        if let Some(secret) = &self.client_secret {
            pairs.push(("client_secret", secret));
        }
        let json = self.provider.google_endpoint().is_none();
        let data = self.post("token refresh", &pairs, json).await?;
        self.grant(&data, Some(refresh_token))
    }

    async fn post(&self, what: &str, pairs: &[(&str, &str)], json: bool) -> Result<Value, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AuthError::OAuth(format!("cannot start an HTTP client: {e}")))?;
        let req = client.post(&self.token_url).header("accept", "application/json");
        let req = if json {
            let body: serde_json::Map<String, Value> =
                pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
            req.json(&body)
        } else {
            req.header("content-type", "application/x-www-form-urlencoded").body(form_encode(pairs))
        };
        let name = self.name();
        let resp = req.send().await.map_err(|e| {
            AuthError::OAuth(format!(
                "{name} {what} failed: cannot reach {}: {}",
                self.token_url,
                e.without_url()
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body.get("error").and_then(|e| e.as_str().or_else(|| e.get("type")?.as_str()));
            let desc = body
                .get("error_description")
                .and_then(Value::as_str)
                .or_else(|| body.get("error")?.get("message")?.as_str());
            let mut msg = format!("{name} {what} failed: HTTP {}", status.as_u16());
            if let Some(c) = code {
                msg.push_str(&format!(" {}", one_line(c)));
            }
            if let Some(d) = desc {
                msg.push_str(&format!(" ({})", one_line(d)));
            }
            return Err(AuthError::OAuth(msg));
        }
        if !body.is_object() {
            return Err(AuthError::OAuth(format!("{name} {what} failed: the answer is not a JSON object")));
        }
        Ok(body)
    }

    fn grant(&self, data: &Value, old_refresh: Option<&str>) -> Result<Grant, AuthError> {
        let str_of = |k: &str| data.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let access = str_of("access_token").ok_or_else(|| {
            AuthError::OAuth(format!("{}: the token answer has no access_token", self.name()))
        })?;
        let refresh = str_of("refresh_token").or(old_refresh).unwrap_or_default();
        let expires_in = data.get("expires_in").and_then(Value::as_i64).unwrap_or(3600);
        let now = chrono::Utc::now().timestamp_millis();
        let tokens = Tokens {
            access_token: access.to_owned(),
            refresh_token: refresh.to_owned(),
            expires_at: now + (expires_in - self.store_buffer_secs) * 1000,
        };
        // Who signed in: Anthropic says so in the answer; OpenAI and Google in the id token.
        let id_claims = str_of("id_token").and_then(jwt_claims);
        let account = data
            .pointer("/account/email_address")
            .and_then(Value::as_str)
            .or_else(|| id_claims.as_ref()?.get("email")?.as_str())
            .map(str::to_owned);
        let account_id =
            [id_claims.as_ref(), jwt_claims(access).as_ref()].into_iter().flatten().find_map(|c| {
                c.pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")?.as_str().map(str::to_owned)
            });
        Ok(Grant { tokens, account, account_id })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect()
}

/// What a token endpoint granted.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The tokens to store.
    pub tokens: Tokens,
    /// The signed-in account's e-mail, when the answer says.
    pub account: Option<String>,
    /// The ChatGPT account id (OpenAI), sent as `chatgpt-account-id`.
    pub account_id: Option<String>,
}

impl Grant {
    /// Stores the grant for `provider` in `file` (tokens, `accountLabel`, OpenAI's
    /// `accountId`, Google's `endpoint`), keeping every other field.
    pub fn store(&self, provider: OAuthProvider, file: &mut AuthFile) {
        let id = provider.store_id();
        file.set_oauth(id, &self.tokens);
        if let Some(a) = &self.account {
            file.set_provider_field(id, "accountLabel", json!(a));
        }
        if let Some(a) = &self.account_id {
            file.set_provider_field(id, "accountId", json!(a));
        }
        if let Some(e) = provider.google_endpoint() {
            file.set_provider_field(id, "endpoint", json!(e));
        }
    }
}

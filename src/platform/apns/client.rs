//! One APNS connection (HTTP/2) and the request per device, as the TypeScript server sends
//! it: `POST <base>/3/device/<token>` with `authorization: bearer <provider token>`,
//! `apns-topic: <bundle id>`, `apns-push-type: alert`, `apns-priority: 10` (high) or `5`
//! (normal) and `apns-expiration: 0`; the body is `{"aps": {"alert": {title, body}, "sound",
//! "badge"?, "thread-id"?}, ...custom data at the top level}`.
//!
//! A `200` is a success (with the `apns-id` header); anything else a failure with the
//! `reason` of APNS's JSON answer. A `403 ExpiredProviderToken` gets one retry with a new
//! provider token (tron's addition; the TypeScript server only renews on its timer).
//! `http://` base URLs speak HTTP/2 without TLS (prior knowledge), for local mocks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::config::{self, ApnsConfig};
use super::{ApnsError, ProviderToken};
use crate::settings::EnvLookup;

/// A notification's priority (`apns-priority` 10 or 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Deliver now (`10`).
    High,
    /// May be delayed to save power (`5`, the default).
    #[default]
    Normal,
}

/// One notification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notification {
    /// The alert title.
    pub title: String,
    /// The alert body.
    pub body: String,
    /// Custom keys, sent at the top level of the payload next to `aps`.
    pub data: Map<String, Value>,
    /// The priority.
    pub priority: Priority,
    /// The sound (`default` when `None`).
    pub sound: Option<String>,
    /// The app icon's badge.
    pub badge: Option<u64>,
    /// Groups notifications (`aps.thread-id`; the session id).
    pub thread_id: Option<String>,
}

impl Notification {
    /// The JSON body APNS receives.
    pub fn payload(&self) -> Value {
        let mut aps = Map::new();
        aps.insert("alert".into(), json!({"title": self.title, "body": self.body}));
        aps.insert("sound".into(), json!(self.sound.as_deref().unwrap_or("default")));
        if let Some(badge) = self.badge {
            aps.insert("badge".into(), json!(badge));
        }
        if let Some(thread) = &self.thread_id {
            aps.insert("thread-id".into(), json!(thread));
        }
        let mut payload = Map::new();
        payload.insert("aps".into(), Value::Object(aps));
        for (k, v) in &self.data {
            payload.insert(k.clone(), v.clone());
        }
        Value::Object(payload)
    }
}

/// What happened to one device's notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The device token.
    pub device_token: String,
    /// Whether APNS accepted it (`200`).
    pub success: bool,
    /// The HTTP status, when APNS answered.
    pub status: Option<u16>,
    /// APNS's `apns-id` header on success.
    pub apns_id: Option<String>,
    /// APNS's `reason` (`Unregistered`, `BadDeviceToken`, ...) on failure.
    pub reason: Option<String>,
    /// `APNS error: <reason or status>`, or the connection error.
    pub error: Option<String>,
}

impl SendResult {
    /// Whether APNS says the token will never work again (`410 Unregistered`,
    /// `400 BadDeviceToken`): it is taken out of the store.
    pub fn token_is_dead(&self) -> bool {
        matches!(self.reason.as_deref(), Some("Unregistered" | "BadDeviceToken")) || self.status == Some(410)
    }
}

/// Sends notifications with one key and one HTTP/2 connection pool.
#[derive(Debug)]
pub struct ApnsClient {
    config: ApnsConfig,
    token: ProviderToken,
    http: reqwest::Client,
}

impl ApnsClient {
    /// A client for `config` (reads the key file: call it off the async runtime).
    pub fn new(config: ApnsConfig, config_file: &std::path::Path) -> Result<Self, ApnsError> {
        let token = ProviderToken::load(&config.key_path, config_file, &config.key_id, &config.team_id)?;
        Self::with_token(config, token)
    }

    /// A client for `config` that signs with `token`.
    pub fn with_token(config: ApnsConfig, token: ProviderToken) -> Result<Self, ApnsError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(300));
        if config.base_url.starts_with("http://") {
            builder = builder.http2_prior_knowledge();
        }
        let http = builder.build().map_err(|e| ApnsError::Http(e.to_string()))?;
        Ok(Self { config, token, http })
    }

    /// The settings in use.
    pub fn config(&self) -> &ApnsConfig {
        &self.config
    }

    /// How many provider tokens were signed so far.
    pub fn tokens_generated(&self) -> u64 {
        self.token.generated()
    }

    /// Sends `notification` to one device; never fails (a failure is in the result).
    pub async fn send(&self, device_token: &str, notification: &Notification) -> SendResult {
        let body = notification.payload().to_string();
        let jwt = self.token.current(now());
        let first = self.post(device_token, notification.priority, &body, &jwt).await;
        if first.status == Some(403) && first.reason.as_deref() == Some("ExpiredProviderToken") {
            tracing::info!("APNS rejected the provider token as expired; signing a new one");
            let jwt = self.token.renew(&jwt, now());
            return self.post(device_token, notification.priority, &body, &jwt).await;
        }
        first
    }

    /// Sends `notification` to every device at once; results in the order of `tokens`.
    pub async fn send_to_many(&self, tokens: &[String], notification: &Notification) -> Vec<SendResult> {
        futures_util::future::join_all(tokens.iter().map(|t| self.send(t, notification))).await
    }

    async fn post(&self, device_token: &str, priority: Priority, body: &str, jwt: &str) -> SendResult {
        let url = format!("{}/3/device/{device_token}", self.config.base_url);
        let request = self
            .http
            .post(&url)
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", &self.config.bundle_id)
            .header("apns-push-type", "alert")
            .header("apns-priority", if priority == Priority::High { "10" } else { "5" })
            .header("apns-expiration", "0")
            .header("content-type", "application/json")
            .body(body.to_owned());
        let mut result = SendResult {
            device_token: device_token.to_owned(),
            success: false,
            status: None,
            apns_id: None,
            reason: None,
            error: None,
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let e = e.without_url();
                tracing::warn!(device = short(device_token), error = %e, "APNS request failed");
                result.error = Some(format!("APNS request to {} failed: {e}", self.config.base_url));
                return result;
            }
        };
        let status = response.status().as_u16();
        result.status = Some(status);
        result.apns_id = response.headers().get("apns-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        if status == 200 {
            result.success = true;
            return result;
        }
        let reason = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_owned()));
        tracing::warn!(device = short(device_token), status, reason = reason.as_deref(), "APNS send failed");
        result.error =
            Some(format!("APNS error: {}", reason.as_deref().map_or(status.to_string(), str::to_owned)));
        result.reason = reason;
        result
    }
}

/// The first 8 characters of a device token, for logs (as the TypeScript server logs them).
fn short(token: &str) -> String {
    format!("{}...", token.chars().take(8).collect::<String>())
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

/// Shared clients by config and key fingerprint (SHA-256 of the key file).
type Clients = HashMap<(ApnsConfig, String), Arc<ApnsClient>>;

/// The client for the APNS config of `data_dir`: `Ok(None)` when there is none, an error
/// naming the file to fix when it is wrong. Clients are shared per config and key, so that
/// every run of the process reuses one provider token and one connection (Apple throttles
/// tokens renewed more often than every 20 minutes). Reads files: call it off the runtime.
pub fn shared(data_dir: &std::path::Path, env: &EnvLookup) -> Result<Option<Arc<ApnsClient>>, ApnsError> {
    static CLIENTS: OnceLock<Mutex<Clients>> = OnceLock::new();
    let Some(config) = config::load(data_dir, env)? else {
        return Ok(None);
    };
    let config_file = config::config_path(data_dir);
    let pem = std::fs::read_to_string(&config.key_path).map_err(|source| ApnsError::KeyRead {
        path: config.key_path.clone(),
        config: config_file.clone(),
        source,
    })?;
    let fingerprint = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(pem.as_bytes()))
    };
    let mut clients = CLIENTS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let key = (config, fingerprint);
    if let Some(client) = clients.get(&key) {
        return Ok(Some(Arc::clone(client)));
    }
    let token = ProviderToken::from_pem(&pem, &key.0.key_path, &key.0.key_id, &key.0.team_id)?;
    let client = Arc::new(ApnsClient::with_token(key.0.clone(), token)?);
    clients.insert(key, Arc::clone(&client));
    Ok(Some(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_the_typescript_servers() {
        let mut data = Map::new();
        data.insert("sessionId".into(), json!("sess_1"));
        let n = Notification {
            title: "Done".into(),
            body: "Tests pass".into(),
            data,
            badge: Some(2),
            thread_id: Some("sess_1".into()),
            ..Default::default()
        };
        assert_eq!(
            n.payload(),
            json!({
                "aps": {"alert": {"title": "Done", "body": "Tests pass"}, "sound": "default", "badge": 2, "thread-id": "sess_1"},
                "sessionId": "sess_1"
            })
        );
    }

    #[test]
    fn dead_tokens_are_unregistered_or_bad() {
        let r = |status, reason: &str| SendResult {
            device_token: "t".into(),
            success: false,
            status: Some(status),
            apns_id: None,
            reason: Some(reason.into()),
            error: None,
        };
        assert!(r(410, "Unregistered").token_is_dead());
        assert!(r(400, "BadDeviceToken").token_is_dead());
        assert!(!r(400, "BadTopic").token_is_dead());
        assert!(!r(403, "ExpiredProviderToken").token_is_dead());
    }
}

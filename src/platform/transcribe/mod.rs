//! Audio transcription: the [`AudioTranscriber`] interface and its implementation over the
//! TypeScript server's local transcription sidecar (an HTTP service on 127.0.0.1).
//!
//! Owns: the sidecar process ([`sidecar`]: start, health check, restart with backoff when
//! it dies, stop with the server, no orphans: the whole process group is killed), the HTTP
//! calls to it ([`client`]), the model list, and the voice-note files ([`notes`]). Must
//! not: speak the wire (rpc/handlers/transcribe.rs shapes params and results) or print.
//!
//! Settings (`server.transcription`, as upstream): `enabled`, `manageSidecar`, `baseUrl`
//! (`http://127.0.0.1:8787`), `timeoutMs`, `cleanupMode`, `maxBytes`; plus tron's
//! `server.transcription.sidecarCommand` (env `TRON_TRANSCRIBE_SIDECAR`): the shell command
//! that starts the sidecar. Upstream ran its own Python service from the repository; tron
//! runs whatever command is configured, with `TRON_TRANSCRIBE_HOST` / `TRON_TRANSCRIBE_PORT`
//! set from `baseUrl`. Without a command (or with `manageSidecar` off, or a `baseUrl` that is
//! not loopback) tron only talks to `baseUrl`, as upstream does for a sidecar it did not start.
//!
//! The sidecar protocol (upstream's): `GET /health` answers 200 once the server runs;
//! `POST /transcribe` (or the model's endpoint, `/transcribe/faster`) takes multipart form
//! fields `audio` (the file), `language`, `task`, `prompt`, `cleanup_mode`, `backend`,
//! `model_name`, `device`, `compute_type`, and answers JSON `text`, `raw_text`, `language`,
//! `duration_s`, `processing_time_ms`, `model`, `device`, `compute_type`, `cleanup_mode`.

pub mod client;
pub mod notes;
pub mod sidecar;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use crate::settings::Settings;

/// One audio file to transcribe.
#[derive(Debug, Clone, Default)]
pub struct AudioRequest {
    /// The audio bytes.
    pub audio: Vec<u8>,
    /// MIME type (`audio/m4a` when `None`).
    pub mime_type: Option<String>,
    /// File name (`audio.m4a` when `None`).
    pub file_name: Option<String>,
    /// A model id from [`models`].
    pub model_id: Option<String>,
    /// `faster` or `better`.
    pub quality: Option<String>,
    /// `none`, `basic` or `llm` (the setting's when `None`).
    pub cleanup_mode: Option<String>,
    /// Language hint.
    pub language: Option<String>,
    /// Initial prompt.
    pub prompt: Option<String>,
    /// `transcribe` or `translate`.
    pub task: Option<String>,
}

/// A transcription (upstream's `TranscribeAudioResult`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    pub text: String,
    pub raw_text: String,
    pub language: String,
    pub duration_seconds: f64,
    pub processing_time_ms: u64,
    pub model: String,
    pub device: String,
    pub compute_type: String,
    pub cleanup_mode: String,
}

/// A transcription model the client may pick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub id: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    /// Sidecar form fields and endpoint for this model (not sent to clients).
    #[serde(skip)]
    pub backend: &'static str,
    #[serde(skip)]
    pub model_name: &'static str,
    #[serde(skip)]
    pub device: &'static str,
    #[serde(skip)]
    pub compute_type: &'static str,
    #[serde(skip)]
    pub endpoint: &'static str,
}

/// The models upstream offers (one: Parakeet on MLX), the first being the default.
pub const MODELS: &[ModelInfo] = &[ModelInfo {
    id: "parakeet-tdt-0.6b-v3",
    label: "Parakeet TDT 0.6B v3",
    description: "Fast transcription on Apple Silicon",
    backend: "parakeet-mlx",
    model_name: "mlx-community/parakeet-tdt-0.6b-v3",
    device: "mlx",
    compute_type: "mlx",
    endpoint: "/transcribe/faster",
}];

/// The model a request asks for: by id, else by quality (both map to the default), else the
/// default. An unknown id falls back like upstream does.
pub fn model_for(id: Option<&str>, _quality: Option<&str>) -> &'static ModelInfo {
    id.and_then(|id| MODELS.iter().find(|m| m.id == id)).unwrap_or(&MODELS[0])
}

/// Why a transcription failed; every message names what to do.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// `server.transcription.enabled` is false.
    #[error("Transcription is disabled (set server.transcription.enabled to true)")]
    Disabled,
    /// No audio bytes.
    #[error("Audio payload is empty")]
    EmptyAudio,
    /// More bytes than `maxBytes`.
    #[error("Audio payload exceeds {0} bytes")]
    TooLarge(u64),
    /// The sidecar command could not run (not installed, not executable).
    #[error("the transcription sidecar could not start: {0}")]
    SidecarMissing(String),
    /// The sidecar started but died or never answered its health check.
    #[error("the transcription sidecar failed: {0}")]
    SidecarFailed(String),
    /// Nothing answers at `baseUrl` and tron does not manage a sidecar.
    #[error("no transcription sidecar answers at {0}: start one there, or set server.transcription.sidecarCommand (env TRON_TRANSCRIBE_SIDECAR) so tron starts it")]
    NotReachable(String),
    /// The sidecar answered with an error status.
    #[error("Sidecar error ({status}): {detail}")]
    Sidecar { status: u16, detail: String },
    /// No answer within `timeoutMs`.
    #[error("Transcription request timed out")]
    Timeout,
    /// The sidecar answered something that is not its JSON.
    #[error("the transcription sidecar answered something that is not JSON: {0}")]
    BadResponse(String),
}

/// Turns audio into text.
pub trait AudioTranscriber: Send + Sync {
    /// Transcribes one file.
    fn transcribe(&self, request: AudioRequest) -> BoxFuture<'_, Result<Transcript, TranscribeError>>;

    /// The models a client may pick, and the default's id.
    fn models(&self) -> (&'static [ModelInfo], &'static str) {
        (MODELS, MODELS[0].id)
    }
}

/// `server.transcription.*`, read from settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionConfig {
    pub enabled: bool,
    pub manage_sidecar: bool,
    pub base_url: String,
    pub timeout: Duration,
    pub cleanup_mode: String,
    pub max_bytes: u64,
    /// The shell command that starts the sidecar.
    pub sidecar_command: Option<String>,
    /// How often a running sidecar's health is checked
    /// (`server.transcription.healthCheckIntervalMs`, tron's; upstream's watchdog: 30 s).
    pub health_interval: Duration,
}

impl TranscriptionConfig {
    /// The configuration in `settings`; `env` may name the sidecar command
    /// (`TRON_TRANSCRIBE_SIDECAR`, which wins over the setting).
    pub fn from_settings(settings: &Settings, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let get =
            |k: &str| settings.get(&format!("server.transcription.{k}")).cloned().unwrap_or(Value::Null);
        let command = env("TRON_TRANSCRIBE_SIDECAR")
            .or_else(|| get("sidecarCommand").as_str().map(str::to_owned))
            .filter(|c| !c.trim().is_empty());
        Self {
            enabled: get("enabled").as_bool().unwrap_or(true),
            manage_sidecar: get("manageSidecar").as_bool().unwrap_or(true),
            base_url: get("baseUrl")
                .as_str()
                .unwrap_or("http://127.0.0.1:8787")
                .trim_end_matches('/')
                .to_owned(),
            timeout: Duration::from_millis(get("timeoutMs").as_u64().unwrap_or(180_000)),
            cleanup_mode: get("cleanupMode").as_str().unwrap_or("basic").to_owned(),
            max_bytes: get("maxBytes").as_u64().unwrap_or(26_214_400),
            sidecar_command: command,
            health_interval: Duration::from_millis(
                get("healthCheckIntervalMs").as_u64().unwrap_or(30_000).max(10),
            ),
        }
    }

    /// Whether tron starts and watches the sidecar itself: `manageSidecar`, a command, and a
    /// loopback `baseUrl` (upstream never starts a sidecar for a remote URL).
    pub fn managed(&self) -> bool {
        self.manage_sidecar && self.sidecar_command.is_some() && is_loopback_url(&self.base_url)
    }
}

/// Whether `url` points at this machine.
pub fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The transcriber a server uses, made from the settings on first use and made again when
/// they change (the old sidecar is stopped). Stopped with the server.
#[derive(Default)]
pub struct Transcription {
    current: Mutex<Option<(TranscriptionConfig, Arc<sidecar::SidecarTranscriber>)>>,
}

impl std::fmt::Debug for Transcription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcription").finish_non_exhaustive()
    }
}

impl Transcription {
    /// The transcriber for `config`.
    pub fn get(&self, config: TranscriptionConfig) -> Arc<sidecar::SidecarTranscriber> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, t)) = current.as_ref() {
            if *c == config {
                return Arc::clone(t);
            }
            t.sidecar().stop_now();
        }
        let t = Arc::new(sidecar::SidecarTranscriber::new(config.clone()));
        *current = Some((config, Arc::clone(&t)));
        t
    }

    /// Starts a managed sidecar in the background (so its model warms up before the first
    /// request, as upstream starts it at boot); nothing when not managed or disabled.
    pub fn warm_up(&self, config: TranscriptionConfig) {
        if !config.enabled || !config.managed() {
            return;
        }
        let t = self.get(config);
        tokio::spawn(async move {
            if let Err(e) = t.sidecar().ensure_running().await {
                tracing::warn!(error = %e, "the transcription sidecar did not start");
            }
        });
    }

    /// Stops the sidecar (if tron started one) and waits for it to exit.
    pub async fn shutdown(&self) {
        let t = self.current.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((_, t)) = t {
            t.sidecar().stop().await;
        }
    }
}

//! The sidecar process: started through `sh -c <command>` in its own process group, healthy
//! once `GET {baseUrl}/health` answers 200 (polled every 100 ms for up to 20 s), watched by
//! a task that waits for it to exit (or kills it when 3 health checks in a row fail, checked
//! every `server.transcription.healthCheckIntervalMs`, 30 s as upstream's watchdog) and
//! restarts it with exponential backoff (1 s doubling to 60 s, at most 5 restarts in a row,
//! as upstream), and stopped with SIGTERM,
//! then SIGKILL after 5 s, to the whole group, so nothing it spawned outlives it. Dropping the
//! last handle kills the group too.
//!
//! A command that cannot run (the shell answers 127 or 126) is reported as missing, with
//! what the shell said; one that exits or never becomes healthy is reported with the tail
//! of its stderr.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{watch, Mutex};

use super::{AudioRequest, AudioTranscriber, TranscribeError, Transcript, TranscriptionConfig};

/// How the process is supervised (the defaults are upstream's).
#[derive(Debug, Clone)]
pub struct Supervision {
    /// Longest wait for the first healthy answer after a start.
    pub startup_timeout: Duration,
    /// Time limit of one health check.
    pub health_timeout: Duration,
    /// First restart delay; doubles per restart in a row.
    pub backoff_base: Duration,
    /// Longest restart delay.
    pub backoff_max: Duration,
    /// Restarts in a row before giving up (a request starts it again).
    pub max_restarts: u32,
    /// How often the watchdog checks a running sidecar's health; after
    /// [`UNHEALTHY_CHECKS`] failed checks in a row it kills the group (and restarts it).
    pub health_interval: Duration,
}

/// Failed health checks in a row after which a running sidecar counts as hung.
pub const UNHEALTHY_CHECKS: u32 = 3;

impl Default for Supervision {
    fn default() -> Self {
        Self {
            startup_timeout: Duration::from_secs(20),
            health_timeout: Duration::from_secs(2),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_restarts: 5,
            health_interval: Duration::from_secs(30),
        }
    }
}

/// Lines of stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// The running process, as the manager knows it.
struct Proc {
    pgid: u32,
    /// Which start this is (a watchdog only restarts the process it watched).
    generation: u64,
    /// Becomes `Some(exit description)` when the process exits.
    exited: watch::Receiver<Option<String>>,
}

struct State {
    proc: Option<Proc>,
    generation: u64,
    restarts: u32,
}

struct Inner {
    command: Option<String>,
    base_url: String,
    supervision: Supervision,
    http: reqwest::Client,
    state: Mutex<State>,
    /// The running group, for `Drop` (which cannot take the async lock).
    pgid: StdMutex<Option<u32>>,
    stderr: Arc<StdMutex<VecDeque<String>>>,
    stopping: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.lock().unwrap_or_else(|e| e.into_inner()).take() {
            signal_group(pgid, "-KILL");
        }
    }
}

/// Manages one sidecar (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct Sidecar {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar").field("base_url", &self.inner.base_url).finish_non_exhaustive()
    }
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Sidecar {
    /// A manager for the sidecar at `base_url`, started by `command` (`None`: tron does not
    /// start one and only checks that something answers there).
    pub fn new(command: Option<String>, base_url: &str, supervision: Supervision) -> Self {
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                command,
                base_url: base_url.trim_end_matches('/').to_owned(),
                supervision,
                http,
                state: Mutex::new(State { proc: None, generation: 0, restarts: 0 }),
                pgid: StdMutex::new(None),
                stderr: Arc::default(),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// The sidecar's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The HTTP client for calls to it.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The process group of the running sidecar, if tron started one that runs.
    pub async fn pid(&self) -> Option<u32> {
        let state = self.inner.state.lock().await;
        state.proc.as_ref().filter(|p| p.exited.borrow().is_none()).map(|p| p.pgid)
    }

    /// Whether `GET /health` answers 200 now.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/health", self.inner.base_url);
        let call = self.inner.http.get(url).timeout(self.inner.supervision.health_timeout).send();
        matches!(call.await, Ok(r) if r.status().is_success())
    }

    /// Makes sure the sidecar answers: starts it when tron manages it and it does not run
    /// (waiting until it is healthy), else checks that something answers.
    pub async fn ensure_running(&self) -> Result<(), TranscribeError> {
        let mut state = self.inner.state.lock().await;
        let running = state.proc.as_ref().is_some_and(|p| p.exited.borrow().is_none());
        if running && self.healthy().await {
            return Ok(());
        }
        let Some(command) = self.inner.command.clone() else {
            return match self.healthy().await {
                true => Ok(()),
                false => Err(TranscribeError::NotReachable(self.inner.base_url.clone())),
            };
        };
        if !running && self.healthy().await {
            // Something else (an earlier tron, a hand-started sidecar) already serves there.
            return Ok(());
        }
        self.inner.stopping.store(false, Ordering::SeqCst);
        if let Some(old) = state.proc.take() {
            signal_group(old.pgid, "-KILL");
        }
        let proc = self.spawn(&command, &mut state)?;
        let mut exited = proc.exited.clone();
        state.proc = Some(proc);
        let deadline = tokio::time::Instant::now() + self.inner.supervision.startup_timeout;
        loop {
            let ended = exited.borrow().clone();
            if let Some(how) = ended {
                // A start that failed is not restarted by the watchdog: the caller hears why.
                state.proc = None;
                return Err(self.start_failure(&command, &how));
            }
            if self.healthy().await {
                tracing::info!(url = %self.inner.base_url, "transcription sidecar started");
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                if let Some(p) = state.proc.take() {
                    signal_group(p.pgid, "-KILL");
                }
                return Err(TranscribeError::SidecarFailed(format!(
                    "`{command}` did not answer {}/health within {} s{}",
                    self.inner.base_url,
                    self.inner.supervision.startup_timeout.as_secs(),
                    self.stderr_tail()
                )));
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), exited.changed()).await;
        }
    }

    fn stderr_tail(&self) -> String {
        let lines = self.inner.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match lines.is_empty() {
            true => String::new(),
            false => format!("; its stderr ends: {}", lines.iter().cloned().collect::<Vec<_>>().join(" | ")),
        }
    }

    fn start_failure(&self, command: &str, how: &str) -> TranscribeError {
        let tail = self.stderr_tail();
        if how.ends_with("code 127") || how.ends_with("code 126") {
            TranscribeError::SidecarMissing(format!(
                "`{command}` cannot run ({how}){tail}; set server.transcription.sidecarCommand (env TRON_TRANSCRIBE_SIDECAR) to a command that starts the sidecar"
            ))
        } else {
            TranscribeError::SidecarFailed(format!(
                "`{command}` {how} before answering its health check{tail}"
            ))
        }
    }

    /// Starts the process and its watchdog.
    fn spawn(&self, command: &str, state: &mut State) -> Result<Proc, TranscribeError> {
        let (host, port) = match url::Url::parse(&self.inner.base_url) {
            Ok(u) => {
                (u.host_str().unwrap_or("127.0.0.1").to_owned(), u.port_or_known_default().unwrap_or(8787))
            }
            Err(_) => ("127.0.0.1".to_owned(), 8787),
        };
        self.inner.stderr.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("TRON_TRANSCRIBE_HOST", host.trim_matches(['[', ']']))
            .env("TRON_TRANSCRIBE_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TranscribeError::SidecarMissing(format!("cannot run `sh -c {command}`: {e}")))?;
        let pgid = child.id().unwrap_or(0);
        *self.inner.pgid.lock().unwrap_or_else(|e| e.into_inner()) = Some(pgid);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "transcription_sidecar", "{line}");
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let keep = Arc::clone(&self.inner.stderr);
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "transcription_sidecar", "{line}");
                    let mut kept = keep.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() == STDERR_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        state.generation += 1;
        let generation = state.generation;
        let (tx, exited) = watch::channel(None);
        let me = Arc::downgrade(&self.inner);
        let interval = self.inner.supervision.health_interval;
        tokio::spawn(async move {
            let wait = child.wait();
            tokio::pin!(wait);
            let (mut up, mut failed) = (false, 0);
            let status = loop {
                tokio::select! {
                    status = &mut wait => break status,
                    _ = tokio::time::sleep(interval) => {
                        let Some(inner) = me.upgrade() else { continue };
                        let healthy = Sidecar { inner }.healthy().await;
                        if healthy {
                            (up, failed) = (true, 0);
                            continue;
                        }
                        // Starting up is not hanging (the start has its own time limit).
                        if !up {
                            continue;
                        }
                        failed += 1;
                        if failed >= UNHEALTHY_CHECKS {
                            tracing::warn!(failed, "the transcription sidecar stopped answering its health check; killing it");
                            signal_group(pgid, "-KILL");
                        }
                    }
                }
            };
            let how = match status {
                Ok(status) => match status.code() {
                    Some(code) => format!("exited with code {code}"),
                    None => format!("was killed ({status})"),
                },
                Err(e) => format!("could not be waited for: {e}"),
            };
            let _ = tx.send(Some(how.clone()));
            if let Some(inner) = me.upgrade() {
                Sidecar { inner }.on_exit(generation, pgid, how).await;
            }
        });
        Ok(Proc { pgid, generation, exited })
    }

    /// The watchdog's reaction to the exit of start `generation`: restart with backoff
    /// unless tron is stopping it or a newer start replaced it.
    async fn on_exit(self, generation: u64, pgid: u32, how: String) {
        // Children of the sidecar may still hold its port: end the whole group.
        signal_group(pgid, "-KILL");
        let attempt = {
            let mut state = self.inner.state.lock().await;
            if state.proc.as_ref().map(|p| p.generation) != Some(generation) {
                return;
            }
            state.proc = None;
            *self.inner.pgid.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if self.inner.stopping.load(Ordering::SeqCst) {
                return;
            }
            if state.restarts >= self.inner.supervision.max_restarts {
                tracing::error!(
                    restarts = state.restarts,
                    "the transcription sidecar keeps dying; giving up until the next request"
                );
                return;
            }
            state.restarts += 1;
            state.restarts
        };
        let s = &self.inner.supervision;
        let delay = s.backoff_base.saturating_mul(1 << (attempt - 1).min(16)).min(s.backoff_max);
        tracing::warn!(%how, attempt, ?delay, "the transcription sidecar died; restarting");
        tokio::time::sleep(delay).await;
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.ensure_running().await {
            tracing::error!(error = %e, "restarting the transcription sidecar failed");
        }
    }

    /// Forgets past restarts (after the sidecar served a request).
    pub async fn mark_good(&self) {
        self.inner.state.lock().await.restarts = 0;
    }

    /// Stops the sidecar tron started: SIGTERM to its group, SIGKILL after 5 s; waits for
    /// the exit. No restart follows.
    pub async fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let proc = self.inner.state.lock().await.proc.take();
        *self.inner.pgid.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(mut p) = proc {
            signal_group(p.pgid, "-TERM");
            let timed_out = tokio::time::timeout(Duration::from_secs(5), p.exited.wait_for(Option::is_some))
                .await
                .is_err();
            if timed_out {
                signal_group(p.pgid, "-KILL");
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), p.exited.wait_for(Option::is_some)).await;
            }
            tracing::info!("transcription sidecar stopped");
        }
    }

    /// Kills the sidecar's group at once, without waiting (settings changed under it).
    pub fn stop_now(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        if let Some(pgid) = self.inner.pgid.lock().unwrap_or_else(|e| e.into_inner()).take() {
            signal_group(pgid, "-KILL");
        }
    }
}

/// An [`AudioTranscriber`] over the sidecar.
#[derive(Debug)]
pub struct SidecarTranscriber {
    config: TranscriptionConfig,
    sidecar: Sidecar,
}

impl SidecarTranscriber {
    /// A transcriber for `config` (upstream's supervision timings).
    pub fn new(config: TranscriptionConfig) -> Self {
        let supervision = Supervision { health_interval: config.health_interval, ..Supervision::default() };
        Self::with_supervision(config, supervision)
    }

    /// A transcriber with other supervision timings (tests use short backoffs).
    pub fn with_supervision(config: TranscriptionConfig, supervision: Supervision) -> Self {
        let command = if config.managed() { config.sidecar_command.clone() } else { None };
        let sidecar = Sidecar::new(command, &config.base_url, supervision);
        Self { config, sidecar }
    }

    /// The process manager.
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }
}

impl AudioTranscriber for SidecarTranscriber {
    fn transcribe(&self, request: AudioRequest) -> BoxFuture<'_, Result<Transcript, TranscribeError>> {
        Box::pin(async move {
            if !self.config.enabled {
                return Err(TranscribeError::Disabled);
            }
            if request.audio.is_empty() {
                return Err(TranscribeError::EmptyAudio);
            }
            if request.audio.len() as u64 > self.config.max_bytes {
                return Err(TranscribeError::TooLarge(self.config.max_bytes));
            }
            self.sidecar.ensure_running().await?;
            let t = super::client::transcribe(&self.sidecar, &self.config, &request).await?;
            self.sidecar.mark_good().await;
            Ok(t)
        })
    }
}

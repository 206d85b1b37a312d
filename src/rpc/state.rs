//! What every connection and handler shares: the store, the event fan-out, and the runs in
//! progress (one per session at most).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::frames::Event;
use crate::agent::subagents::{ChildEnv, SubagentEvent, SubagentSink, Subagents};
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::StoreHandle;
use crate::settings::{Paths, SettingsHandle};

/// How many pushed events a slow client may fall behind before it is told it lagged.
pub const EVENT_BUFFER: usize = 4096;

pub use crate::settings::EnvLookup;

/// A pushed event, serialized once for every client.
#[derive(Debug)]
pub struct Outgoing {
    /// The session it belongs to (clients bound to another session skip it).
    pub session_id: Option<String>,
    /// The frame's JSON text.
    pub json: String,
    /// For `event.new` frames, the persisted event's sequence: a client that already has
    /// it from a history read is not sent it again.
    pub sequence: Option<i64>,
    /// The last sequence of the session persisted when the frame was published (a run's
    /// frames carry it): a client that lags is caught up from the store after the last
    /// watermark it was sent, so no persisted event it has not heard of is lost.
    pub watermark: Option<i64>,
}

/// A run in progress.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The id `agent.prompt` answered with.
    pub run_id: String,
    /// Cancelled by `agent.abort` and at shutdown.
    pub cancel: CancellationToken,
    /// The model call in progress (1-based, 0 before the first).
    pub turn: i64,
    /// The text streamed so far in the current model call.
    pub turn_text: String,
    /// Tool calls of the current model call: (id, name, arguments, status, started at).
    pub tool_calls: Vec<ToolCallState>,
    /// Set when `agent.abort` stopped the run (and sent its `agent.complete`).
    pub aborted: bool,
}

/// A tool call of the running turn, as `agent.getState` reports it.
#[derive(Debug, Clone)]
pub struct ToolCallState {
    /// The call id.
    pub id: String,
    /// The tool name.
    pub name: String,
    /// The arguments.
    pub arguments: serde_json::Value,
    /// `running`, `completed` or `error`.
    pub status: &'static str,
    /// ISO start time.
    pub started_at: String,
    /// ISO end time.
    pub completed_at: Option<String>,
}

/// Shared server state.
pub struct ServerState {
    /// The event store (single writer thread).
    pub store: StoreHandle,
    /// Where the auth file and data live.
    pub paths: Paths,
    /// Reads environment variables (credentials, base URLs); tests inject their own.
    pub env: EnvLookup,
    /// The settings in force (a prompt takes a snapshot when it starts, so an update or an
    /// edit of the file reaches the next prompt of every session).
    pub settings: Arc<SettingsHandle>,
    /// When the server started.
    pub started: Instant,
    /// The transcription sidecar (started on demand, stopped with the server).
    pub transcription: crate::platform::transcribe::Transcription,
    events: broadcast::Sender<Arc<Outgoing>>,
    runs: Mutex<HashMap<String, RunInfo>>,
    idle: Notify,
    /// Each session's subagents (created at its first prompt; they outlive a run).
    subagents: Mutex<HashMap<String, Arc<Subagents>>>,
    /// Per repository root, the session that works in its main checkout (lazy isolation: a
    /// later session created there gets its own worktree; see `handlers::worktree`).
    pub main_checkouts: tokio::sync::Mutex<HashMap<std::path::PathBuf, String>>,
    /// Embeds new memory entries (created at the first one written).
    #[cfg(all(feature = "embed", feature = "vector-search"))]
    memory_indexer: std::sync::OnceLock<Arc<crate::embed::live::LiveIndexer>>,
    /// The sessions' browsers (created on first use).
    browser: std::sync::OnceLock<Arc<crate::platform::browser::BrowserService>>,
    /// The message bus between sessions and its subscriptions (see [`super::ui`]).
    pub ui: super::ui::UiServices,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState").field("paths", &self.paths).finish_non_exhaustive()
    }
}

impl ServerState {
    /// State over `store`, with the default event buffer ([`EVENT_BUFFER`]).
    pub fn new(store: StoreHandle, paths: Paths, env: EnvLookup, settings: Arc<SettingsHandle>) -> Arc<Self> {
        Self::with_event_buffer(store, paths, env, settings, EVENT_BUFFER)
    }

    /// State over `store` whose clients may fall `event_buffer` pushed events behind (at
    /// least 1) before they lag and are caught up from the store with an `events.batch`.
    /// Tests use a small buffer to make a client lag; servers use [`ServerState::new`].
    pub fn with_event_buffer(
        store: StoreHandle,
        paths: Paths,
        env: EnvLookup,
        settings: Arc<SettingsHandle>,
        event_buffer: usize,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(event_buffer.max(1));
        Arc::new(Self {
            store,
            paths,
            env,
            settings,
            started: Instant::now(),
            transcription: Default::default(),
            events,
            runs: Mutex::default(),
            idle: Notify::new(),
            subagents: Mutex::default(),
            main_checkouts: Default::default(),
            #[cfg(all(feature = "embed", feature = "vector-search"))]
            memory_indexer: Default::default(),
            browser: std::sync::OnceLock::new(),
            ui: Default::default(),
        })
    }

    /// After a memory entry was written: embeds the entries without a vector in the
    /// background, as the TypeScript server does (fail-silent: a model that cannot load
    /// leaves memory unindexed; `tron embed index` backfills later). Needs the store opened
    /// after [`crate::embed::store::register`] (as `tron serve` does).
    pub fn index_memory(self: &Arc<Self>) {
        #[cfg(all(feature = "embed", feature = "vector-search"))]
        {
            let indexer = self.memory_indexer();
            let state = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                let settings = state.settings.current();
                match indexer.catch_up(&state.store, &settings) {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(component = "embed", stored = n, "memory entries embedded"),
                    Err(e) => tracing::warn!(component = "embed", error = %e, "failed to embed memory"),
                }
            });
        }
    }

    /// The server's memory indexer (see [`crate::embed::live`]).
    #[cfg(all(feature = "embed", feature = "vector-search"))]
    pub fn memory_indexer(&self) -> Arc<crate::embed::live::LiveIndexer> {
        self.memory_indexer
            .get_or_init(|| {
                Arc::new(crate::embed::live::LiveIndexer::new(self.env.clone(), self.paths.data_dir.clone()))
            })
            .clone()
    }

    /// Sends `event` to every client that should see it.
    pub fn publish(&self, event: &Event) {
        self.publish_at(event, None);
    }

    /// Sends `event` to every client that should see it, published when its session's
    /// persisted events went up to `watermark` (see [`Outgoing::watermark`]).
    pub fn publish_at(&self, event: &Event, watermark: Option<i64>) {
        let sequence = match event.event_type.as_str() {
            "event.new" => event.data["event"]["sequence"].as_i64(),
            _ => None,
        };
        let watermark = watermark.or(sequence);
        let out =
            Outgoing { session_id: event.session_id.clone(), json: event.to_json(), sequence, watermark };
        // No receiver (no client connected) is fine.
        let _ = self.events.send(Arc::new(out));
    }

    /// A new subscription to pushed events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outgoing>> {
        self.events.subscribe()
    }

    fn runs(&self) -> MutexGuard<'_, HashMap<String, RunInfo>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `session` as running the run `run_id`, aborted through `cancel`;
    /// `SESSION_BUSY` when it already runs.
    pub fn start_run(
        &self,
        session: &str,
        run_id: &str,
        cancel: CancellationToken,
    ) -> Result<RunInfo, RpcError> {
        let mut runs = self.runs();
        if runs.contains_key(session) {
            return Err(busy(session));
        }
        let run = RunInfo {
            run_id: run_id.to_owned(),
            cancel,
            turn: 0,
            turn_text: String::new(),
            tool_calls: Vec::new(),
            aborted: false,
        };
        runs.insert(session.to_owned(), run.clone());
        Ok(run)
    }

    /// `SESSION_BUSY` when `session` runs a prompt now: a cheap check before a prompt's
    /// setup (rules, skills, hooks read the disk), so a busy answer comes at once.
    pub fn check_idle(&self, session: &str) -> Result<(), RpcError> {
        match self.runs().contains_key(session) {
            true => Err(busy(session)),
            false => Ok(()),
        }
    }

    /// Updates the state of `session`'s run.
    pub fn update_run(&self, session: &str, f: impl FnOnce(&mut RunInfo)) {
        if let Some(run) = self.runs().get_mut(session) {
            f(run);
        }
    }

    /// Forgets `session`'s run; whether `agent.abort` stopped it.
    pub fn finish_run(&self, session: &str) -> bool {
        let mut runs = self.runs();
        let run = runs.remove(session);
        if runs.is_empty() {
            self.idle.notify_waiters();
        }
        run.is_some_and(|r| r.aborted)
    }

    /// Aborts `session`'s run and its running subagents. `None` when it was not running (or
    /// was already aborted), else the text its current model call had streamed.
    pub fn abort(&self, session: &str) -> Option<String> {
        self.abort_subagents(session);
        let mut runs = self.runs();
        let run = runs.get_mut(session).filter(|r| !r.aborted)?;
        run.aborted = true;
        run.cancel.cancel();
        Some(run.turn_text.clone())
    }

    /// Aborts `session`'s running subagents; whether there were any.
    pub fn abort_subagents(&self, session: &str) -> bool {
        self.subagent_hosts().get(session).is_some_and(|s| {
            let running = s.running();
            s.abort_all();
            running > 0
        })
    }

    /// The subagents of `session` (see [`crate::agent::subagents`]): their events go to
    /// the session's clients as the TypeScript server's `agent.subagent_*` frames.
    pub fn subagents(self: &Arc<Self>, session: &str) -> Arc<Subagents> {
        let mut hosts = self.subagent_hosts();
        if let Some(host) = hosts.get(session) {
            return Arc::clone(host);
        }
        let state = Arc::downgrade(self);
        let runs = Mutex::new(HashMap::new());
        let sink: SubagentSink = Arc::new(move |parent: &str, event: SubagentEvent<'_>| {
            let Some(state) = state.upgrade() else { return };
            let mut runs = runs.lock().unwrap_or_else(|e| e.into_inner());
            for frame in super::adapters::subagent_frames(parent, &event, &mut runs) {
                state.publish(&frame);
            }
        });
        let settings = Arc::clone(&self.settings);
        let env = ChildEnv {
            store: self.store.clone(),
            settings: Arc::new(move || settings.current()),
            data_dir: self.paths.data_dir.clone(),
            env: self.env.clone(),
        };
        let host = Subagents::new(session, env, sink, CancellationToken::new());
        hosts.insert(session.to_owned(), Arc::clone(&host));
        host
    }

    /// The sessions' browsers (see [`crate::platform::browser`]): started as the
    /// environment says (`TRON_BROWSER`, `CHROME_PATH`, `TRON_BROWSER_WS`), their frames
    /// and closings pushed as `browser.frame` / `browser.closed` to the session's clients.
    pub fn browser(self: &Arc<Self>) -> Arc<crate::platform::browser::BrowserService> {
        let service = self.browser.get_or_init(|| {
            let state = Arc::downgrade(self);
            let sink: crate::platform::browser::FrameSink = Arc::new(move |event| {
                if let Some(state) = state.upgrade() {
                    state.publish(&super::handlers::browser::event_of(&event));
                }
            });
            let config = crate::platform::browser::BrowserConfig::from_env(&*self.env);
            crate::platform::browser::BrowserService::new(config, Some(sink))
        });
        Arc::clone(service)
    }

    fn subagent_hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Subagents>>> {
        self.subagents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of `session`'s run state, if it is running.
    pub fn run(&self, session: &str) -> Option<RunInfo> {
        self.runs().get(session).cloned()
    }

    /// How many sessions are running.
    pub fn running(&self) -> usize {
        self.runs().len()
    }

    /// Aborts every run and every subagent, and waits until all have persisted what they
    /// had and ended.
    pub async fn abort_all(&self) {
        if let Some(browser) = self.browser.get() {
            browser.close_all().await;
        }
        let hosts: Vec<Arc<Subagents>> = self.subagent_hosts().values().cloned().collect();
        for host in &hosts {
            host.abort_all();
        }
        for host in &hosts {
            host.wait_idle().await;
        }
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let runs = self.runs();
                if runs.is_empty() {
                    return;
                }
                for run in runs.values() {
                    run.cancel.cancel();
                }
            }
            idle.await;
        }
    }
}

fn busy(session: &str) -> RpcError {
    RpcError::new(RpcErrorCode::SessionBusy, format!("Session {session} is already processing a prompt"))
}

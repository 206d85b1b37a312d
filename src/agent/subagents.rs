//! Subagents: child sessions a session's run spawns (`SpawnSubagent`), that run their task
//! concurrently, can be queried (`QueryAgent`) and awaited (`WaitForAgents`), and are
//! aborted with their parent.
//!
//! Owns the [`Subagents`] of one parent session: creating the child session (its row marked
//! `spawn_type = subsession`, `spawning_session_id`, `spawn_task`, tags `subagent`,
//! `subsession`, title `Subagent: <task>`), running it through the same
//! [`super::runner::prepare_run`] as any prompt, tracking it, and the events in the
//! parent's log, with the TypeScript server's payloads: `subagent.spawned`, a
//! `subagent.status_update` each time the child starts a turn, then `subagent.completed` or
//! `subagent.failed`, and `notification.subagent_result` for a subagent spawned without
//! waiting. Everything live goes to the [`SubagentSink`] as a
//! [`SubagentEvent`] (`tron serve` turns them into the `agent.subagent_*` frames).
//!
//! Decisions (where the TypeScript server differs, on purpose):
//! - a child offers its parent's tools minus `toolDenials`, but never the subagent tools
//!   themselves: one level of subagents, so a model cannot fan out without bound;
//! - aborting the parent ([`Subagents::abort_all`], which `agent.abort` and Ctrl-C in
//!   `tron chat` call) aborts its running children; each still records how it ended;
//! - a child is stopped after [`GUARDRAIL_TIMEOUT`] (the TypeScript guardrail) and fails
//!   with `completionType: "timeout"`;
//! - `maxTurns` is enforced (the TypeScript in-process path recorded it only);
//! - `subagent.status_update` is persisted (the TypeScript server declared the event and
//!   replayed it, but only sent the live `agent.subagent_status` frame), so the parent's
//!   log says how far each child got, in `tron chat` and after a restart too.
//!
//! Must not: print, or shape wire frames (rpc/ does).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::hooks::HookKind;
use super::runner::{prepare_run, RunSpec, ToolChoice};
use super::{AgentEvent, TurnError, TurnOutcome};
use crate::events::{NewEvent, NewSession, SessionEvent, StoreError, StoreHandle};
use crate::llm::{models, EventStream, Provider, Request};
use crate::settings::{EnvLookup, Settings};
use crate::tools::subagent::{
    Entry, QueryAnswer, QueryKind, SpawnRequest, StatusInfo, SubagentControl, SubagentResult, WaitError,
    WaitMode, NAMES,
};

/// A child still running after this long is aborted (one hour, as the TypeScript server).
pub const GUARDRAIL_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// What a parent's subagents do, live. Every event is about the parent session the
/// [`Subagents`] belongs to.
#[derive(Debug)]
pub enum SubagentEvent<'a> {
    /// An event was committed, in the parent's log (`subagent.*`, `notification.*`,
    /// hooks) or in a child's (the child's own setup events).
    Persisted { session: &'a str, event: &'a SessionEvent },
    /// A child was created and starts.
    Spawned {
        child: &'a str,
        tool_call_id: Option<&'a str>,
        task: &'a str,
        model: &'a str,
        working_directory: &'a str,
    },
    /// A step of a child's run (its own events, including what it persists).
    Run { child: &'a str, event: &'a AgentEvent<'a> },
    /// A child completed: the `subagent.completed` payload.
    Completed { child: &'a str, payload: &'a Value },
    /// A child failed: the `subagent.failed` payload.
    Failed { child: &'a str, payload: &'a Value },
    /// A child spawned without waiting ended: the `notification.subagent_result` payload.
    ResultAvailable { payload: &'a Value },
}

/// Receives a parent's [`SubagentEvent`]s (from the children's tasks).
pub type SubagentSink = Arc<dyn Fn(&str, SubagentEvent<'_>) + Send + Sync>;

/// Gives the settings in force when a child starts.
pub type SettingsSource = Arc<dyn Fn() -> Arc<Settings> + Send + Sync>;

/// Where children run: what every child of the server or the chat shares.
#[derive(Clone)]
pub struct ChildEnv {
    /// The event store.
    pub store: StoreHandle,
    /// The settings.
    pub settings: SettingsSource,
    /// The data dir (`~/.tron`).
    pub data_dir: PathBuf,
    /// Environment lookups.
    pub env: EnvLookup,
}

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Running,
    Completed,
    Failed,
}

impl Status {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    task: String,
    model: String,
    status: Status,
    ended_at: Option<String>,
    result: Option<SubagentResult>,
}

/// The subagents of one parent session (see the module doc).
pub struct Subagents {
    parent: String,
    env: ChildEnv,
    sink: SubagentSink,
    tracked: Mutex<HashMap<String, Tracked>>,
    changed: Notify,
    cancel: Mutex<CancellationToken>,
    me: Weak<Self>,
}

impl std::fmt::Debug for Subagents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subagents").field("parent", &self.parent).finish_non_exhaustive()
    }
}

impl Subagents {
    /// The subagents of `parent`; children are aborted when `cancel` is (and by
    /// [`Subagents::abort_all`]).
    pub fn new(parent: &str, env: ChildEnv, sink: SubagentSink, cancel: CancellationToken) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            parent: parent.to_owned(),
            env,
            sink,
            tracked: Mutex::default(),
            changed: Notify::new(),
            cancel: Mutex::new(cancel),
            me: me.clone(),
        })
    }

    /// Aborts every running child (each records how it ended); later spawns run normally.
    pub fn abort_all(&self) {
        let mut cancel = self.cancel.lock().unwrap_or_else(|e| e.into_inner());
        cancel.cancel();
        *cancel = CancellationToken::new();
    }

    /// How many children are running.
    pub fn running(&self) -> usize {
        self.lock().values().filter(|t| t.status == Status::Running).count()
    }

    /// Waits until no child is running.
    pub async fn wait_idle(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            changed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: SubagentEvent<'_>) {
        (self.sink)(&self.parent, event);
    }

    async fn append(&self, session: &str, event: NewEvent) -> Result<SessionEvent, StoreError> {
        let id = session.to_owned();
        let event = self.env.store.run(move |s| s.append(&id, event)).await?;
        self.emit(SubagentEvent::Persisted { session, event: &event });
        Ok(event)
    }

    /// Creates the child and starts it; its session id.
    async fn start(
        self: Arc<Self>,
        request: SpawnRequest,
        tool_call_id: Option<String>,
    ) -> Result<String, String> {
        let parent_id = self.parent.clone();
        let parent = self.env.store.run(move |s| s.session(&parent_id)).await.map_err(|e| match e {
            StoreError::SessionNotFound(_) => "Parent session not found".to_owned(),
            e => e.to_string(),
        })?;
        // The parent's directory: its worktree when it holds one (src/platform/worktree).
        let parent_dir = crate::platform::worktree::journal::working_dir(
            &self.env.store,
            &self.parent,
            &parent.working_directory,
        )
        .await;
        let working_dir = request.working_directory.clone().unwrap_or(parent_dir);
        if !std::path::Path::new(&working_dir).is_dir() {
            return Err(format!("working directory {working_dir} does not exist"));
        }
        let settings = (self.env.settings)();
        // Skills asked for must exist; a `subagent: yes` skill brings its model
        // (`subagentModel`, else `models.subagent`), as the TypeScript server runs them.
        let skill_model = if request.skills.is_empty() {
            None
        } else {
            let (skills, wd, data) =
                (request.skills.clone(), PathBuf::from(&working_dir), self.env.data_dir.clone());
            tokio::task::spawn_blocking(move || skill_model(&skills, &wd, &data))
                .await
                .map_err(|e| e.to_string())??
                .map(|m| m.unwrap_or_else(|| settings.models.subagent.clone()))
        };
        let model_name = request.model.clone().or(skill_model).unwrap_or_else(|| parent.latest_model.clone());
        let model = models::lookup(&model_name).map_err(|e| e.to_string())?;
        // A child that could never run is refused before anything is written.
        let env = self.env.env.clone();
        super::provider_for(
            model,
            &self.env.data_dir.join("auth.json"),
            move |n| env(n),
            settings.retry.policy(),
            super::setup::anthropic_account(&settings),
        )
        .map_err(|e| e.to_string())?;

        let title: String = request.task.chars().take(50).collect();
        let new = NewSession {
            working_directory: working_dir.clone(),
            model: model_name.clone(),
            provider: Some(model.provider.to_string()),
            title: Some(format!("Subagent: {title}")),
            extra: Map::new(),
        };
        let (parent_id, task) = (self.parent.clone(), request.task.clone());
        let child = self
            .env
            .store
            .run(move |s| {
                let (row, _) = s.create_session(new)?;
                s.set_spawn_info(
                    row.id.as_str(),
                    &parent_id,
                    "subsession",
                    &task,
                    &["subagent", "subsession"],
                )
            })
            .await
            .map_err(|e| e.to_string())?
            .id
            .into_string();

        // `spawn-handler.ts` @c6131e6: the keys in its order; `systemPrompt`, `toolDenials`
        // and `skills` only when the call had them.
        let mut spawned = json!({ "subagentSessionId": child, "spawnType": "subsession", "task": request.task, "model": model_name });
        if let Some(prompt) = &request.system_prompt {
            spawned["systemPrompt"] = json!(prompt);
        }
        if let Some(denials) = &request.tool_denials {
            spawned["toolDenials"] = denials.clone();
        }
        if !request.skills.is_empty() {
            spawned["skills"] = json!(request.skills);
        }
        spawned["workingDirectory"] = json!(working_dir);
        spawned["maxTurns"] = json!(request.max_turns);
        self.append(&self.parent, NewEvent::raw("subagent.spawned", spawned))
            .await
            .map_err(|e| e.to_string())?;
        self.lock().insert(
            child.clone(),
            Tracked {
                task: request.task.clone(),
                model: model_name.clone(),
                status: Status::Running,
                ended_at: None,
                result: None,
            },
        );
        self.emit(SubagentEvent::Spawned {
            child: &child,
            tool_call_id: tool_call_id.as_deref(),
            task: &request.task,
            model: &model_name,
            working_directory: &working_dir,
        });
        let cancel = self.cancel.lock().unwrap_or_else(|e| e.into_inner()).child_token();
        let this = Arc::clone(&self);
        let id = child.clone();
        // The child's log records carry its session (and the parent's).
        let span = tracing::info_span!("subagent", session_id = %child, parent_session_id = %self.parent);
        let run = async move {
            let notify = !request.blocking && tool_call_id.is_some();
            this.run_child(
                id,
                model,
                model_name,
                PathBuf::from(working_dir),
                request,
                cancel,
                notify,
                settings,
            )
            .await
        };
        tokio::spawn(tracing::Instrument::instrument(run, span));
        Ok(child)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_child(
        self: Arc<Self>,
        child: String,
        model: &'static models::ModelInfo,
        model_name: String,
        working_dir: PathBuf,
        request: SpawnRequest,
        cancel: CancellationToken,
        notify: bool,
        settings: Arc<Settings>,
    ) {
        let started = Instant::now();
        let mut denied: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
        let none = match request.denied_tools() {
            Some(tools) => {
                denied.extend(tools);
                false
            }
            None => true,
        };
        let max_turns = request.max_turns;
        let spec = RunSpec {
            store: self.env.store.clone(),
            settings,
            max_turns: Some(max_turns),
            data_dir: self.env.data_dir.clone(),
            env: self.env.env.clone(),
            session: child.clone(),
            working_dir,
            model,
            model_name: Some(model_name.clone()),
            prompt: request.task.clone(),
            skills: request.skills.clone(),
            spells: Vec::new(),
            system_override: request.system_prompt.clone(),
            tools: ToolChoice { none, allowed: Vec::new(), denied },
            thinking_budget: None,
            run_id: None,
            user_fields: Map::new(),
            subagents: None,
            browser: None,
            interactive: None,
            cancel: cancel.clone(),
            memory: false,
            failures: Default::default(),
        };
        let mut timed_out = false;
        // Each turn the child starts is recorded in the parent's log as
        // `subagent.status_update` by one writer, in turn order, and before the child's
        // `subagent.completed` / `subagent.failed` (the writer is drained first). The
        // child's model call waits for that record ([`AfterStatus`]), so the parent's
        // frames follow the child's steps in order.
        let (turns, mut started_turns) = tokio::sync::mpsc::unbounded_channel::<i64>();
        let turns_started = Arc::new(AtomicU64::new(0));
        let (recorded, recorded_turns) = tokio::sync::watch::channel(0u64);
        let status_writer = {
            let (this, child) = (Arc::clone(&self), child.clone());
            tokio::spawn(async move {
                while let Some(turn) = started_turns.recv().await {
                    this.status_update(&child, turn).await;
                    recorded.send_modify(|n| *n += 1);
                }
            })
        };
        let (outcome, run): (Result<TurnOutcome, String>, Option<super::runner::PreparedRun>) = async {
            let after_status = |inner: Box<dyn Provider>| -> Box<dyn Provider> {
                Box::new(AfterStatus {
                    inner: Arc::from(inner),
                    started: Arc::clone(&turns_started),
                    recorded: recorded_turns,
                })
            };
            let mut run = match prepare_run(spec).await {
                Ok(run) => run.with_provider(after_status),
                Err(e) => return (Err(e.to_string()), None),
            };
            let setup = run.persist_setup(|event| {
                if let AgentEvent::Persisted(event) = event {
                    self.emit(SubagentEvent::Persisted { session: &child, event });
                }
            });
            if let Err(e) = setup.await {
                tracing::warn!(error = %e, "could not record a subagent's rules and skills");
            }
            let sink = Arc::clone(&self.sink);
            let (parent, id, turns) = (self.parent.clone(), child.clone(), turns.clone());
            let started = Arc::clone(&turns_started);
            let result = {
                let running = run.run(move |event| {
                    if let AgentEvent::Persisted(e) = &event {
                        if e.event_type.as_str() == "stream.turn_start" {
                            started.fetch_add(1, Ordering::SeqCst);
                            let _ = turns.send(e.payload["turn"].as_i64().unwrap_or(1));
                        }
                    }
                    sink(&parent, SubagentEvent::Run { child: &id, event: &event })
                });
                tokio::pin!(running);
                tokio::select! {
                    r = &mut running => r,
                    _ = tokio::time::sleep(GUARDRAIL_TIMEOUT) => {
                        timed_out = true;
                        cancel.cancel();
                        running.await
                    }
                }
            };
            let outcome = match result {
                Ok(outcome) => Ok(outcome),
                Err(TurnError::Aborted) if timed_out => {
                    Err(format!("Subagent guardrail timeout exceeded ({}ms)", GUARDRAIL_TIMEOUT.as_millis()))
                }
                Err(TurnError::Aborted) => Err("Subagent was aborted".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            (outcome, Some(run))
        }
        .await;
        drop(turns);
        if let Err(e) = status_writer.await {
            tracing::warn!(error = %e, "a subagent's status writer failed");
        }
        let duration = started.elapsed().as_millis() as i64;
        let id = child.clone();
        let row = self.env.store.run(move |s| s.session(&id)).await.ok();
        let (input, output_tokens) = row.map_or((0, 0), |r| (r.total_input_tokens, r.total_output_tokens));
        match outcome {
            Ok(outcome) => {
                let turns = outcome.turn;
                let output = outcome.message.text();
                let stop_reason = outcome.stop_reason.as_str().to_owned();
                let summary = Summary::of(&output, &stop_reason);
                let mut payload = json!({
                    "subagentSessionId": child,
                    "resultSummary": summary.text,
                    "fullOutput": output,
                    "totalTurns": turns,
                    "totalTokenUsage": {"inputTokens": input, "outputTokens": output_tokens},
                    "duration": duration,
                    "model": model_name,
                    "stopReason": stop_reason,
                    "truncated": summary.truncated,
                    "completionType": summary.completion_type,
                });
                if let Some(w) = &summary.warning {
                    payload["warning"] = json!(w);
                }
                if let Err(e) =
                    self.append(&self.parent, NewEvent::raw("subagent.completed", payload.clone())).await
                {
                    tracing::warn!(error = %e, "could not record a subagent's completion");
                }
                self.emit(SubagentEvent::Completed { child: &child, payload: &payload });
                let result = SubagentResult {
                    session_id: child.clone(),
                    success: true,
                    output: output.clone(),
                    summary: summary.text.clone(),
                    task: request.task.clone(),
                    total_turns: turns,
                    input_tokens: input,
                    output_tokens,
                    duration_ms: duration,
                    error: None,
                    completion_type: summary.completion_type.to_owned(),
                };
                self.finish(&child, Status::Completed, result);
                if notify {
                    let mut note = json!({
                        "parentSessionId": self.parent,
                        "subagentSessionId": child,
                        "task": request.task,
                        "resultSummary": summary.text,
                        "success": true,
                        "totalTurns": turns,
                        "duration": duration,
                        "tokenUsage": {"inputTokens": input, "outputTokens": output_tokens},
                        "completedAt": crate::events::now_iso(),
                    });
                    if let Some(w) = &summary.warning {
                        note["warning"] = json!(w);
                    }
                    self.notify(note).await;
                }
                let fields = json!({
                    "subagentId": child,
                    "stopReason": "completed",
                    "result": {
                        "success": true, "turns": turns, "output": output,
                        "tokenUsage": {"inputTokens": input, "outputTokens": output_tokens},
                        "duration": duration, "completionType": summary.completion_type,
                        "truncated": summary.truncated,
                    },
                });
                self.subagent_stop(run.as_ref(), fields).await;
            }
            Err(error) => {
                let completion_type = if timed_out {
                    "timeout"
                } else if cancel.is_cancelled() {
                    "aborted"
                } else {
                    "error"
                };
                let payload = json!({
                    "subagentSessionId": child,
                    "error": error,
                    "recoverable": false,
                    "duration": duration,
                    "completionType": completion_type,
                });
                if let Err(e) =
                    self.append(&self.parent, NewEvent::raw("subagent.failed", payload.clone())).await
                {
                    tracing::warn!(error = %e, "could not record a subagent's failure");
                }
                self.emit(SubagentEvent::Failed { child: &child, payload: &payload });
                let result = SubagentResult {
                    session_id: child.clone(),
                    success: false,
                    output: String::new(),
                    summary: format!("Failed: {error}"),
                    task: request.task.clone(),
                    total_turns: 0,
                    input_tokens: input,
                    output_tokens,
                    duration_ms: duration,
                    error: Some(error.clone()),
                    completion_type: completion_type.to_owned(),
                };
                self.finish(&child, Status::Failed, result);
                if notify {
                    self.notify(json!({
                        "parentSessionId": self.parent,
                        "subagentSessionId": child,
                        "task": request.task,
                        "resultSummary": "",
                        "success": false,
                        "totalTurns": 0,
                        "duration": duration,
                        "error": error,
                        "completedAt": crate::events::now_iso(),
                        "completionType": completion_type,
                    }))
                    .await;
                }
                // SubagentStop for a child that failed too: how it ended, and why.
                let fields = json!({
                    "subagentId": child,
                    "stopReason": completion_type,
                    "result": { "success": false, "error": error, "duration": duration },
                });
                self.subagent_stop(run.as_ref(), fields).await;
            }
        }
    }

    fn finish(&self, child: &str, status: Status, result: SubagentResult) {
        if let Some(t) = self.lock().get_mut(child) {
            t.status = status;
            t.ended_at = Some(crate::events::now_iso());
            t.result = Some(result);
        }
        self.changed.notify_waiters();
    }

    /// Records in the parent's log that `child` started its turn `turn`
    /// (`subagent.status_update`, with the child's token usage so far); the live
    /// `agent.subagent_status` frame is derived from the committed event.
    async fn status_update(&self, child: &str, turn: i64) {
        let (parent, id) = (self.parent.clone(), child.to_owned());
        let appended = self
            .env
            .store
            .run(move |s| {
                let row = s.session(&id)?;
                let payload = json!({
                    "subagentSessionId": id,
                    "status": "running",
                    "currentTurn": turn,
                    "tokenUsage": {
                        "inputTokens": row.total_input_tokens,
                        "outputTokens": row.total_output_tokens,
                    },
                });
                s.append(&parent, NewEvent::raw("subagent.status_update", payload))
            })
            .await;
        match appended {
            Ok(event) => self.emit(SubagentEvent::Persisted { session: &self.parent, event: &event }),
            Err(e) => tracing::warn!(error = %e, "could not record a subagent's status"),
        }
    }

    async fn notify(&self, payload: Value) {
        if let Err(e) =
            self.append(&self.parent, NewEvent::raw("notification.subagent_result", payload.clone())).await
        {
            tracing::warn!(error = %e, "could not record a subagent's result notification");
        }
        self.emit(SubagentEvent::ResultAvailable { payload: &payload });
    }

    /// `SubagentStop` hooks, in the parent's log: with the child's hooks when its run was
    /// set up (`run`), else with hooks loaded for its working directory.
    async fn subagent_stop(&self, run: Option<&super::runner::PreparedRun>, fields: Value) {
        let sink = Arc::clone(&self.sink);
        let parent = self.parent.clone();
        let on_event = move |event: AgentEvent<'_>| {
            if let AgentEvent::Persisted(e) = event {
                sink(&parent, SubagentEvent::Persisted { session: &parent, event: e });
            }
        };
        let ran = match run {
            Some(run) => {
                run.run_hooks(&self.parent, HookKind::SubagentStop, fields, on_event).await.map(drop)
            }
            None => self.subagent_stop_without_run(fields, on_event).await,
        };
        if let Err(e) = ran {
            tracing::warn!(error = %e, "SubagentStop hooks failed");
        }
    }

    /// `SubagentStop` hooks for a child whose run could not be set up.
    async fn subagent_stop_without_run(
        &self,
        fields: Value,
        mut on_event: impl FnMut(AgentEvent<'_>),
    ) -> Result<(), crate::events::StoreError> {
        let parent = self.parent.clone();
        let row = self.env.store.run(move |s| s.session(&parent)).await?;
        let working_dir = PathBuf::from(row.working_directory);
        let settings = (self.env.settings)();
        let gate =
            super::runner::load_gate(&settings, &working_dir, &self.env.data_dir, &self.env.env).await?;
        let site = super::hooks::gate::Site {
            gate: &gate,
            store: &self.env.store,
            working_dir: &working_dir,
            run_id: None,
            cancel: None,
        };
        super::hooks::gate::run_at(site, &self.parent, HookKind::SubagentStop, fields, None, &mut on_event)
            .await?;
        Ok(())
    }

    /// A child's result from its parent's log (a child of an earlier server run).
    async fn logged_result(&self, child: &str) -> Result<Option<SubagentResult>, String> {
        let (parent, id) = (self.parent.clone(), child.to_owned());
        let events = self.env.store.run(move |s| s.head_chain(&parent)).await.map_err(|e| e.to_string())?;
        let ended = events.iter().rev().find(|e| {
            matches!(e.event_type.as_str(), "subagent.completed" | "subagent.failed")
                && e.payload["subagentSessionId"].as_str() == Some(id.as_str())
        });
        let spawned = events.iter().find(|e| {
            e.event_type.as_str() == "subagent.spawned"
                && e.payload["subagentSessionId"].as_str() == Some(child)
        });
        Ok(ended.map(|e| {
            let p = &e.payload;
            let int = |v: &Value| v.as_i64().unwrap_or(0);
            let success = e.event_type.as_str() == "subagent.completed";
            SubagentResult {
                session_id: child.to_owned(),
                success,
                output: p["fullOutput"].as_str().unwrap_or_default().to_owned(),
                summary: p["resultSummary"].as_str().unwrap_or_default().to_owned(),
                task: spawned.and_then(|s| s.payload["task"].as_str()).unwrap_or_default().to_owned(),
                total_turns: int(&p["totalTurns"]),
                input_tokens: int(&p["totalTokenUsage"]["inputTokens"]),
                output_tokens: int(&p["totalTokenUsage"]["outputTokens"]),
                duration_ms: int(&p["duration"]),
                error: p["error"].as_str().map(str::to_owned),
                completion_type: p["completionType"]
                    .as_str()
                    .unwrap_or(if success { "success" } else { "error" })
                    .to_owned(),
            }
        }))
    }

    /// The result of `child` if it has ended: `Err` when it is not a child of this parent.
    async fn ended(&self, child: &str) -> Result<Option<SubagentResult>, WaitError> {
        let tracked = self.lock().get(child).map(|t| t.result.clone());
        match tracked {
            Some(result) => Ok(result),
            None => match self.logged_result(child).await.map_err(WaitError::Failed)? {
                Some(result) => Ok(Some(result)),
                None => Err(WaitError::Failed(format!("Sub-agent {child} not found"))),
            },
        }
    }

    async fn wait_for(
        &self,
        ids: &[String],
        mode: WaitMode,
        timeout: Duration,
    ) -> Result<Vec<SubagentResult>, WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let mut done = Vec::new();
            for id in ids {
                if let Some(result) = self.ended(id).await? {
                    done.push(result);
                }
            }
            match mode {
                WaitMode::Any if !done.is_empty() => return Ok(done.into_iter().take(1).collect()),
                WaitMode::All if done.len() == ids.len() => return Ok(done),
                _ => {}
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(WaitError::Timeout);
            }
        }
    }

    async fn query_child(&self, child: &str, kind: QueryKind, limit: usize) -> Result<QueryAnswer, String> {
        let id = child.to_owned();
        let row = self.env.store.run(move |s| s.session(&id)).await.map_err(|e| match e {
            StoreError::SessionNotFound(_) => format!("Sub-agent {child} not found"),
            e => e.to_string(),
        })?;
        if row.spawning_session_id.as_ref().map(|p| p.as_str()) != Some(self.parent.as_str()) {
            return Err(format!("{child} is not a sub-agent of this session"));
        }
        let tracked = self.lock().get(child).cloned();
        match kind {
            QueryKind::Status => {
                let logged = if tracked.is_none() { self.logged_result(child).await? } else { None };
                let status = match (&tracked, &logged) {
                    (Some(t), _) => t.status.as_str(),
                    (None, Some(r)) if r.success => "completed",
                    (None, Some(_)) => "failed",
                    (None, None) => "unknown",
                };
                // The turns its log holds (the sessions row's `turn_count` is never counted,
                // as in the TypeScript store, so it would always say 0).
                let id = child.to_owned();
                let turns = self
                    .env
                    .store
                    .run(move |s| Ok(s.messages(&id)?.turn_count))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(QueryAnswer::Status(Box::new(StatusInfo {
                    session_id: child.to_owned(),
                    status: status.to_owned(),
                    spawn_type: row.spawn_type.clone(),
                    task: row.spawn_task.clone().or_else(|| tracked.as_ref().map(|t| t.task.clone())),
                    turn_count: turns.max(row.turn_count),
                    input_tokens: row.total_input_tokens,
                    output_tokens: row.total_output_tokens,
                    cost: row.total_cost,
                    created_at: row.created_at.clone(),
                    last_activity_at: row.last_activity_at.clone(),
                    ended_at: tracked.as_ref().and_then(|t| t.ended_at.clone()),
                    model: tracked.map_or(row.latest_model.clone(), |t| t.model),
                    working_directory: row.working_directory.clone(),
                })))
            }
            QueryKind::Events => {
                let id = child.to_owned();
                let events =
                    self.env.store.run(move |s| s.head_chain(&id)).await.map_err(|e| e.to_string())?;
                let skip = events.len().saturating_sub(limit);
                Ok(QueryAnswer::Events(events[skip..].iter().map(event_entry).collect()))
            }
            QueryKind::Logs => {
                let q = crate::logging::query::LogQuery {
                    session_id: Some(child.to_owned()),
                    limit,
                    ..Default::default()
                };
                let rows = self
                    .env
                    .store
                    .run(move |s| {
                        crate::logging::query::query_logs(s.connection(), &q)
                            .map_err(|e| StoreError::Invalid(e.to_string()))
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(QueryAnswer::Logs(
                    rows.into_iter()
                        .map(|r| Entry {
                            timestamp: r.timestamp,
                            kind: r.level,
                            component: r.component,
                            text: r.message,
                        })
                        .collect(),
                ))
            }
            QueryKind::Output => {
                if let Some(result) = tracked.and_then(|t| t.result).filter(|r| r.success) {
                    return Ok(QueryAnswer::Output(Some(result.output).filter(|o| !o.is_empty())));
                }
                let id = child.to_owned();
                let text = self
                    .env
                    .store
                    .run(move |s| {
                        let rec = s.messages(&id)?;
                        Ok(rec
                            .messages()
                            .filter(|m| m.role() == "assistant")
                            .last()
                            .map(|m| m.to_message().text()))
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(QueryAnswer::Output(text.filter(|t| !t.is_empty())))
            }
        }
    }
}

/// A child's provider: each model call first waits until the parent's log records every
/// turn the child has started (`subagent.status_update`, written by another task), so the
/// parent's status comes before what the child's turn streams. A writer that is gone no
/// longer holds the child back.
struct AfterStatus {
    inner: Arc<dyn Provider>,
    /// Turns the child started.
    started: Arc<AtomicU64>,
    /// Turns recorded in the parent's log.
    recorded: tokio::sync::watch::Receiver<u64>,
}

impl Provider for AfterStatus {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn stream(&self, request: Request) -> EventStream {
        let (inner, wanted, mut recorded) =
            (Arc::clone(&self.inner), self.started.load(Ordering::SeqCst), self.recorded.clone());
        Box::pin(
            futures_util::stream::once(async move {
                let _ = recorded.wait_for(|n| *n >= wanted).await;
                inner.stream(request)
            })
            .flatten(),
        )
    }
}

/// Checks that `skills` exist (found from `working_dir` as a prompt finds them) and gives
/// the model a `subagent: yes` skill among them asks for: `Some(None)` for such a skill
/// without `subagentModel`, `None` when none is a subagent skill.
fn skill_model(
    skills: &[String],
    working_dir: &std::path::Path,
    data_dir: &std::path::Path,
) -> Result<Option<Option<String>>, String> {
    let opts =
        crate::context::rules::RulesOptions { data_dir: data_dir.to_owned(), discover_standalone: false };
    let root = crate::context::rules::discover(working_dir, &opts).root;
    let registry = super::skills::SkillRegistry::discover(data_dir, &[working_dir, root.as_path()]);
    let mut model = None;
    for name in skills {
        let Some(skill) = registry.get(name) else {
            let known = registry.names().join(", ");
            let known = if known.is_empty() { "none installed".to_owned() } else { known };
            return Err(format!("unknown skill {name:?} (skills: {known})"));
        };
        if model.is_none() && skill.frontmatter.subagent == super::skills::SubagentMode::Yes {
            model = Some(skill.frontmatter.subagent_model.clone());
        }
    }
    Ok(model)
}

/// One line of `QueryAgent events`.
fn event_entry(e: &SessionEvent) -> Entry {
    let p = &e.payload;
    let clip = |s: &str| -> String {
        let short: String = s.chars().take(100).collect();
        if s.chars().count() > 100 {
            format!("{short}...")
        } else {
            short
        }
    };
    let text_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    };
    let summary = match e.event_type.as_str() {
        "message.user" | "message.assistant" => clip(&text_of(&p["content"])),
        "tool.call" => format!("{} called", p["name"].as_str().unwrap_or("tool")),
        "tool.result" => {
            let failed = p["isError"].as_bool() == Some(true);
            format!("{} result", if failed { "error" } else { "ok" })
        }
        "stream.turn_start" | "stream.turn_end" => format!("turn {}", p["turn"].as_i64().unwrap_or(0)),
        _ => String::new(),
    };
    Entry {
        timestamp: e.timestamp.clone(),
        kind: e.event_type.as_str().to_owned(),
        component: String::new(),
        text: summary,
    }
}

/// How a completed child's answer is summarised (the TypeScript server's rules).
#[derive(Debug, PartialEq)]
struct Summary {
    text: String,
    truncated: bool,
    completion_type: &'static str,
    warning: Option<String>,
}

impl Summary {
    fn of(output: &str, stop_reason: &str) -> Self {
        let truncated = stop_reason == "max_tokens";
        let empty = output.trim().is_empty();
        let warning = match (truncated, empty) {
            (true, true) => Some(
                "Hit token limit before producing any text output. Consider increasing maxTokens or \
                 breaking the task into smaller chunks."
                    .to_owned(),
            ),
            (true, false) => {
                Some("Output was truncated due to token limit. The response may be incomplete.".to_owned())
            }
            (false, true) => Some("Subagent completed without producing text output.".to_owned()),
            (false, false) => None,
        };
        let first = |n: usize| -> String {
            let head: String = output.chars().take(n).collect();
            if output.chars().count() > n {
                format!("{head}...")
            } else {
                head
            }
        };
        let text = match &warning {
            Some(w) if empty => format!("[WARNING: {w}] No output"),
            Some(w) => format!("[WARNING: {w}] {}", first(150)),
            // (an empty answer always has a warning)
            None => first(200),
        };
        Self { text, truncated, completion_type: if truncated { "max_tokens" } else { "success" }, warning }
    }
}

impl SubagentControl for Subagents {
    fn spawn<'a>(
        &'a self,
        request: SpawnRequest,
        tool_call_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, String>> {
        let this = self.arc();
        let tool_call_id = tool_call_id.map(str::to_owned);
        Box::pin(async move {
            match this {
                Some(this) => this.start(request, tool_call_id).await,
                None => Err("Parent session not found".to_owned()),
            }
        })
    }

    fn wait<'a>(
        &'a self,
        ids: &'a [String],
        mode: WaitMode,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<SubagentResult>, WaitError>> {
        Box::pin(self.wait_for(ids, mode, timeout))
    }

    fn query<'a>(
        &'a self,
        id: &'a str,
        kind: QueryKind,
        limit: usize,
    ) -> BoxFuture<'a, Result<QueryAnswer, String>> {
        Box::pin(self.query_child(id, kind, limit))
    }
}

impl Subagents {
    /// An `Arc` of `self`, for the spawned child task ([`Subagents::new`] is the only
    /// constructor and returns an `Arc`).
    fn arc(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_follow_the_typescript_rules() {
        let s = Summary::of("short answer", "end_turn");
        assert_eq!(
            s,
            Summary {
                text: "short answer".into(),
                truncated: false,
                completion_type: "success",
                warning: None
            }
        );
        let long = "a".repeat(250);
        assert_eq!(Summary::of(&long, "end_turn").text, format!("{}...", "a".repeat(200)));
        let cut = Summary::of(&long, "max_tokens");
        assert!(cut.truncated);
        assert_eq!(cut.completion_type, "max_tokens");
        assert!(cut.text.starts_with("[WARNING: Output was truncated"));
        assert!(cut.text.ends_with(&format!("] {}...", "a".repeat(150))));
        let empty = Summary::of("", "end_turn");
        assert_eq!(empty.text, "[WARNING: Subagent completed without producing text output.] No output");
        assert_eq!(empty.completion_type, "success");
    }
}

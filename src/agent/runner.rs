//! One prompt run of a session, set up in one place for `tron serve` (`agent.prompt`),
//! `tron chat` and subagents, so that all three offer the same tools, build the same system
//! prompt and obey the same hooks, guardrails and compaction.
//!
//! [`prepare_run`] does everything that can fail before anything is persisted: it finds the
//! model's credentials, builds the tools (core tools, `TaskManager`, the subagent tools when
//! the run may spawn subagents) and filters them, reads rules and skills for the system
//! prompt, loads hooks and guardrails (with the built-in hooks; `builtin:memory-ledger` when
//! the run keeps a ledger), and picks the compaction summariser. The caller answers its
//! client, waits for the session's background hooks of earlier runs
//! ([`PreparedRun::wait_background`]), then calls [`PreparedRun::persist_setup`] (the
//! compaction the prompt needs first, then the `rules.loaded`, `rules.indexed`,
//! `memory.loaded` and `skill.added` events) and [`PreparedRun::run`] (the run, then the
//! compaction the trigger asks for, then the ledger hook's entry). The tools and the
//! prompt's context come from [`run_context`], which the `context.*` methods use too, so a
//! snapshot counts what a run sends.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::hooks::{builtin, gate, HookKind, HookResult};
use super::subagents::Subagents;
use super::{provider_for, run_turn, AgentEvent, Gate, SetupError, TurnError, TurnOutcome, TurnSettings};
use crate::context::prompt::{self, LiveSystem, PrepareError, Prepared, PromptSetup};
use crate::events::{SessionEvent, StoreError, StoreHandle};
use crate::llm::models::ModelInfo;
use crate::llm::Provider;
use crate::settings::{EnvLookup, Settings};
use crate::tools::{ToolContext, ToolRegistry};

/// Which tools a run offers, before skills take theirs away.
#[derive(Debug, Clone, Default)]
pub struct ToolChoice {
    /// Offer no tools at all.
    pub none: bool,
    /// Offer only these (empty: every tool).
    pub allowed: Vec<String>,
    /// Never offer these.
    pub denied: Vec<String>,
}

impl ToolChoice {
    fn keeps(&self, name: &str) -> bool {
        !self.none
            && (self.allowed.is_empty() || self.allowed.iter().any(|a| a == name))
            && !self.denied.iter().any(|d| d == name)
    }
}

/// What a run is set up from.
pub struct RunSpec {
    /// The event store.
    pub store: StoreHandle,
    /// The settings in force (a snapshot for this run).
    pub settings: Arc<Settings>,
    /// The data dir (`~/.tron`): auth file, rules, skills, hooks, guardrails.
    pub data_dir: PathBuf,
    /// Environment lookups (credentials, base URLs, `HOME`).
    pub env: EnvLookup,
    /// The session that runs.
    pub session: String,
    /// Its working directory.
    pub working_dir: PathBuf,
    /// Its model.
    pub model: &'static ModelInfo,
    /// How the session names its model (an alias a client chose), when not the registry id.
    pub model_name: Option<String>,
    /// The prompt.
    pub prompt: String,
    /// Skills picked for the session (`agent.prompt`'s `skills`).
    pub skills: Vec<String>,
    /// One-shot skills (`spells`).
    pub spells: Vec<String>,
    /// Replaces the core system prompt (`tron chat --system`, a subagent's `systemPrompt`).
    pub system_override: Option<String>,
    /// Which tools to offer.
    pub tools: ToolChoice,
    /// Most model calls for this prompt; `agent.maxTurns` when `None`.
    pub max_turns: Option<u32>,
    /// Extended-thinking budget.
    pub thinking_budget: Option<u64>,
    /// `agent.prompt`'s run id (added to every persisted payload).
    pub run_id: Option<String>,
    /// Extra `message.user` fields (`skills`, `spells`).
    pub user_fields: Map<String, Value>,
    /// The session's subagents; `Some` offers `SpawnSubagent`, `QueryAgent` and
    /// `WaitForAgents`.
    pub subagents: Option<Arc<Subagents>>,
    /// The browser `BrowseTheWeb` drives (`None`: the tool answers that no browser is
    /// available).
    pub browser: Option<Arc<dyn crate::tools::browser::BrowserControl>>,
    /// The interactive tools' services (see [`crate::tools::interactive`]); `Some` offers
    /// `AskUserQuestion`, `RenderAppUI`, `send_message` and `receive_messages` (server
    /// sessions only).
    pub interactive: Option<crate::tools::interactive::Interactive>,
    /// Aborts the run.
    pub cancel: CancellationToken,
    /// Whether the run's memory upkeep happens: the compaction the trigger asks for at its
    /// end (see [`PreparedRun::run`]) and the ledger entry `builtin:memory-ledger` writes
    /// after it (`context.memory.ledger.enabled` decides too). Off for subagents, as in the
    /// TypeScript server, where both were its memory-ledger hook's work.
    pub memory: bool,
    /// What a provider failure leaves in the log.
    pub failures: crate::agent::turn::FailureLog,
}

/// Why a run could not be set up (nothing was persisted).
#[derive(Debug, thiserror::Error)]
pub enum RunSetupError {
    /// No provider for the model (credentials, sign-in).
    #[error(transparent)]
    Provider(#[from] SetupError),
    /// A skill asked for does not exist.
    #[error("{0}")]
    UnknownSkill(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PrepareError> for RunSetupError {
    fn from(e: PrepareError) -> Self {
        match e {
            PrepareError::UnknownSkill { .. } => Self::UnknownSkill(e.to_string()),
            PrepareError::Store(e) => Self::Store(e),
        }
    }
}

/// A run that is set up and ready (see the module doc).
pub struct PreparedRun {
    store: StoreHandle,
    session: String,
    prompt: String,
    provider: Box<dyn Provider>,
    tools: ToolRegistry,
    ctx: ToolContext,
    settings: TurnSettings,
    gate: Gate,
    prepared: Prepared,
    config: Arc<Settings>,
    memory: bool,
    /// The tools before the prompt's skills took theirs away, and what the prompt's context
    /// was built from: to build it again when a compaction comes before the prompt.
    offered: ToolRegistry,
    setup: PromptSetup,
    live: LiveSystem,
    /// Told when the run and its trigger compaction are over: the ledger hook, started by
    /// `Stop`, waits for it so its entry comes after the compaction (the TypeScript order).
    run_done: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for PreparedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRun").field("session", &self.session).field("tools", &self.tools).finish()
    }
}

/// Every tool name a run can offer (for checking `--allowed-tools` and the like).
pub fn known_tools(settings: &Settings) -> Vec<String> {
    let mut names = crate::tools::core_tools(settings).names();
    names.push(crate::tools::task_manager::NAME.to_owned());
    names.push(crate::tools::notify_app::NAME.to_owned());
    names.extend(crate::tools::subagent::NAMES.iter().map(|n| (*n).to_owned()));
    names.extend(crate::tools::browser::NAMES.iter().map(|n| (*n).to_owned()));
    names.extend(crate::tools::interactive::NAMES.iter().map(|n| (*n).to_owned()));
    names.extend(crate::tools::web::NAMES.iter().map(|n| (*n).to_owned()));
    names
}

/// What a run's tools and system prompt are built from: [`prepare_run`] and the
/// `context.*` methods both build them with [`run_context`], so a context snapshot counts
/// exactly the tools and prompt a run of the session sends.
pub struct ContextSpec<'a> {
    /// The event store.
    pub store: &'a StoreHandle,
    /// The settings in force.
    pub settings: &'a Settings,
    /// The data dir (`~/.tron`).
    pub data_dir: &'a std::path::Path,
    /// Environment lookups.
    pub env: &'a EnvLookup,
    /// The session.
    pub session: &'a str,
    /// Its working directory.
    pub working_dir: &'a std::path::Path,
    /// Its model.
    pub model: &'static ModelInfo,
    /// The prompt (its `@mentions` activate skills; "" for none).
    pub prompt: &'a str,
    /// Skills picked for the session.
    pub skills: Vec<String>,
    /// One-shot skills.
    pub spells: Vec<String>,
    /// Replaces the core system prompt.
    pub system_override: Option<String>,
    /// Which tools to offer.
    pub tools: &'a ToolChoice,
    /// See [`RunSpec::subagents`].
    pub subagents: Option<Arc<Subagents>>,
    /// See [`RunSpec::browser`].
    pub browser: Option<Arc<dyn crate::tools::browser::BrowserControl>>,
    /// See [`RunSpec::interactive`].
    pub interactive: Option<&'a crate::tools::interactive::Interactive>,
}

/// A run's tools and prompt context (see [`run_context`]).
#[derive(Debug)]
pub struct RunContext {
    /// The tools the run offers.
    pub tools: ToolRegistry,
    /// The prompt's context (system prompt, events to persist, snapshot parts).
    pub prepared: Prepared,
    /// The tools before the skills took theirs away.
    pub offered: ToolRegistry,
    /// What `prepared` was built from (to build it again after a compaction).
    pub setup: PromptSetup,
}

/// A run's tools and prompt context (see [`ContextSpec`]): every tool the run offers
/// (core tools, `TaskManager`, the browser tools, `NotifyApp` when APNS is configured, the
/// subagent and interactive tools when given, the web tools the model can use), filtered
/// by the [`ToolChoice`], and the prompt's context; then the tools its skills deny are taken
/// out.
pub async fn run_context(spec: ContextSpec<'_>) -> Result<RunContext, PrepareError> {
    let ContextSpec { store, settings, data_dir, env, session, working_dir, model, .. } = spec;
    let auth_file = data_dir.join("auth.json");
    let mut tools = crate::tools::core_tools(settings);
    tools.register(Arc::new(crate::tools::task_manager::TaskManagerTool::new(store.clone(), session)));
    for tool in crate::tools::browser::tools(spec.browser, session) {
        tools.register(tool);
    }
    // NotifyApp only when APNS is configured (as in the TypeScript server).
    if let Some(notify) = crate::tools::notify_app::for_session(store, data_dir, env, session).await {
        tools.register(notify);
    }
    if let Some(subagents) = spec.subagents {
        for tool in crate::tools::subagent::tools(subagents) {
            tools.register(tool);
        }
    }
    if let Some(services) = spec.interactive {
        for tool in crate::tools::interactive::tools(services, session) {
            tools.register(tool);
        }
    }
    for tool in crate::tools::web::tools_for_run(settings, model, &auth_file, env.clone()) {
        tools.register(tool);
    }
    tools.retain(|name| spec.tools.keeps(name));
    let setup = PromptSetup {
        working_dir: working_dir.to_owned(),
        data_dir: data_dir.to_owned(),
        provider: model.provider,
        prompt: spec.prompt.to_owned(),
        skills: spec.skills,
        spells: spec.spells,
        system_override: spec.system_override,
        discover_standalone: settings.rules.discover_standalone_files,
        available_tools: tools.names(),
        memory: (settings.get("context.memory.autoInject.enabled").and_then(Value::as_bool) == Some(true))
            .then(|| {
                prompt::memory::clamp_count(
                    settings.get("context.memory.autoInject.count").and_then(Value::as_u64),
                )
            }),
    };
    let prepared = prompt::prepare(store, session, setup.clone()).await?;
    let offered = tools.clone();
    tools.retain(|name| !prepared.denied_tools.iter().any(|d| d == name));
    Ok(RunContext { tools, prepared, offered, setup })
}

/// Sets up a run (see the module doc). Fails, persisting nothing, when the model has no
/// credentials or a skill asked for does not exist.
pub async fn prepare_run(spec: RunSpec) -> Result<PreparedRun, RunSetupError> {
    let RunSpec { store, settings, data_dir, env, session, working_dir, model, .. } = spec;
    let auth_file = data_dir.join("auth.json");
    let provider = {
        let env = env.clone();
        provider_for(
            model,
            &auth_file,
            move |n| env(n),
            settings.retry.policy(),
            super::setup::anthropic_account(&settings),
        )?
    };
    let RunContext { tools, prepared, offered, setup } = run_context(ContextSpec {
        store: &store,
        settings: &settings,
        data_dir: &data_dir,
        env: &env,
        session: &session,
        working_dir: &working_dir,
        model,
        prompt: &spec.prompt,
        skills: spec.skills,
        spells: spec.spells,
        system_override: spec.system_override,
        tools: &spec.tools,
        subagents: spec.subagents,
        browser: spec.browser,
        interactive: spec.interactive.as_ref(),
    })
    .await?;
    let mut gate = load_gate(&settings, &working_dir, &data_dir, &env).await?;
    let ledger_enabled =
        settings.get("context.memory.ledger.enabled").and_then(Value::as_bool) != Some(false);
    let (run_done, after_run) = tokio::sync::watch::channel(false);
    if spec.memory && ledger_enabled {
        gate.register(Arc::new(builtin::MemoryLedger {
            store: store.clone(),
            session: session.clone(),
            settings: Arc::clone(&settings),
            model,
            auth_file: auth_file.clone(),
            env: env.clone(),
            late: gate.late_events().clone(),
            after_run,
        }));
    }
    let summarizer = {
        let env = env.clone();
        crate::context::summarizer_for(&settings, model, &auth_file, move |n| env(n))
    };
    let turn = TurnSettings {
        model,
        max_tokens: None,
        thinking_budget: spec.thinking_budget,
        system: Some(prepared.system.clone()),
        max_turns: spec.max_turns.unwrap_or(settings.agent.max_turns),
        run_id: spec.run_id,
        model_name: spec.model_name,
        user_fields: spec.user_fields,
        compaction: Some(crate::context::Compaction::from_settings(&settings, summarizer)),
        failures: spec.failures,
    };
    let mut ctx = ToolContext::new(working_dir);
    ctx.cancel = spec.cancel;
    let live = LiveSystem::new(&prepared);
    Ok(PreparedRun {
        store,
        session,
        prompt: spec.prompt,
        provider,
        tools,
        ctx,
        settings: turn,
        gate,
        prepared,
        offered,
        setup,
        live,
        run_done,
        config: settings,
        memory: spec.memory,
    })
}

/// The hooks (with the built-ins the settings leave on) and guardrails of a session working
/// in `working_dir`. Discovery reads the filesystem: done off the runtime.
pub async fn load_gate(
    settings: &Settings,
    working_dir: &std::path::Path,
    data_dir: &std::path::Path,
    env: &EnvLookup,
) -> Result<Gate, StoreError> {
    let (tree, cwd, data) = (settings.tree().clone(), working_dir.to_owned(), data_dir.to_owned());
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    tokio::task::spawn_blocking(move || Gate::load(&tree, &cwd, home.as_deref(), &data))
        .await
        .map_err(|e| StoreError::Invalid(format!("loading hooks and guardrails failed: {e}")))
}

/// `PreCompact` hooks for a compaction asked for outside a run (`context.compact`) of
/// `session` working in `working_dir`, whose context holds `current_tokens` of a model with
/// `context_window` tokens: the continuation note `builtin:pre-compact` asked for (for
/// [`crate::context::compact`]) and the hook events persisted.
#[allow(clippy::too_many_arguments)]
pub async fn pre_compact_hooks(
    store: &StoreHandle,
    settings: &Settings,
    data_dir: &std::path::Path,
    env: &EnvLookup,
    session: &str,
    working_dir: &std::path::Path,
    current_tokens: u64,
    context_window: u64,
) -> Result<(Option<String>, Vec<SessionEvent>), StoreError> {
    let gate = load_gate(settings, working_dir, data_dir, env).await?;
    let site = gate::Site { gate: &gate, store, working_dir, run_id: None, cancel: None };
    // The TypeScript context: the tokens now and the target (70% of the window).
    let fields = serde_json::json!({
        "currentTokens": current_tokens,
        "targetTokens": (context_window as f64 * 0.7).floor() as u64,
    });
    let mut events = Vec::new();
    let mut on_event = |e: AgentEvent<'_>| {
        if let AgentEvent::Persisted(e) = e {
            events.push(e.clone());
        }
    };
    let run = gate::run_at(site, session, HookKind::PreCompact, fields, None, &mut on_event).await?;
    Ok((builtin::continuation(&run), events))
}

impl PreparedRun {
    /// Persists what the setup found (`rules.loaded` when the rules changed, `skill.added`
    /// per newly activated skill); `on_event` hears every event committed, which are also
    /// returned.
    ///
    /// When the prompt takes the context over the compaction threshold, the compaction
    /// comes first (`PreCompact` hooks, `compact.boundary`, `compact.summary`), and the
    /// prompt's context is built again after it: a compaction resets the session's skills
    /// and touched paths, so the skills this prompt picks or mentions are recorded after
    /// the boundary and stay active for the next prompt.
    pub async fn persist_setup(
        &mut self,
        mut on_event: impl FnMut(AgentEvent<'_>),
    ) -> Result<Vec<SessionEvent>, StoreError> {
        let mut committed = Vec::new();
        let mut keep = |event: AgentEvent<'_>| {
            if let AgentEvent::Persisted(e) = &event {
                committed.push((*e).clone());
            }
            on_event(event);
        };
        if crate::context::auto_compact(self.agent(), &self.session, Some(&self.prompt), &mut keep).await? {
            let prepared =
                prompt::prepare(&self.store, &self.session, self.setup.clone()).await.map_err(|e| {
                    StoreError::Invalid(format!("setting up the prompt again after compacting: {e}"))
                })?;
            self.tools = self.offered.clone();
            self.tools.retain(|name| !prepared.denied_tools.iter().any(|d| d == name));
            self.settings.system = Some(prepared.system.clone());
            self.prepared = prepared;
        }
        for event in self.prepared.persist(&self.store, &self.session).await? {
            keep(AgentEvent::Persisted(&event));
        }
        Ok(committed)
    }

    /// The same run with `wrap` put around its provider (a subagent's model calls wait for
    /// its parent's records, see [`super::subagents`]).
    pub fn with_provider(mut self, wrap: impl FnOnce(Box<dyn Provider>) -> Box<dyn Provider>) -> Self {
        self.provider = wrap(self.provider);
        self
    }

    /// Runs the prompt to the end (see [`run_turn`]); `on_event` hears every step. A run of
    /// a session's own prompt (not a subagent's) that ended (completed or failed, but not
    /// aborted or refused by a hook) ends with the compaction the [`Trigger`] asks for
    /// (see [`crate::context::trigger`]), before `builtin:memory-ledger` writes its entry.
    ///
    /// [`Trigger`]: crate::context::trigger::Trigger
    pub async fn run(&self, on_event: impl FnMut(AgentEvent<'_>)) -> Result<TurnOutcome, TurnError> {
        let mut on_event = on_event;
        let result = run_turn(self.agent(), &self.session, &self.prompt, &mut on_event).await;
        let ended =
            !matches!(result, Err(TurnError::Aborted | TurnError::PromptBlocked(_) | TurnError::Store(_)));
        if self.memory && ended {
            let trigger = crate::context::trigger::Trigger::from_settings(&self.config.compactor);
            if let Err(e) =
                crate::context::compact_for_run(self.agent(), &self.session, &trigger, &mut on_event).await
            {
                tracing::warn!(session = %self.session, error = %e, "the compaction after the run failed");
            }
        }
        // Nobody may be listening (no ledger hook): that is fine.
        let _ = self.run_done.send(true);
        result
    }

    /// Runs the hooks of `kind` for `session` (which may be another session than the run's,
    /// e.g. `SubagentStop` in the parent), persisting the hook events there.
    pub async fn run_hooks(
        &self,
        session: &str,
        kind: HookKind,
        fields: Value,
        on_event: impl FnMut(AgentEvent<'_>),
    ) -> Result<HookResult, StoreError> {
        let mut on_event = on_event;
        Ok(gate::run_hooks(self.agent(), session, kind, fields, None, &mut on_event).await?.result)
    }

    /// The tools offered, after every filter.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools.names()
    }

    /// The system prompt.
    pub fn system_prompt(&self) -> &str {
        &self.prepared.system
    }

    /// Problems found loading hooks and guardrails (bad files), to report.
    pub fn warnings(&self) -> &[String] {
        self.gate.warnings()
    }

    /// Cancelled when the run is aborted.
    pub fn cancel(&self) -> &CancellationToken {
        &self.ctx.cancel
    }

    /// Waits (at most `timeout`) for the session's background hooks to finish: those of
    /// earlier runs before this one starts (so their events, e.g. the memory ledger entry,
    /// never interleave with this run's), this run's before a process exits. Whether all
    /// ended.
    pub async fn wait_background(&self, timeout: std::time::Duration) -> bool {
        let ended = self.gate.wait_background(&self.session, timeout).await;
        if !ended {
            tracing::warn!(session = %self.session, "background hooks still running after {timeout:?}; going on");
        }
        ended
    }

    /// Sends the events the run's background hooks append after the run (the memory
    /// ledger's `memory.ledger`, `hook.background_completed`) to `sink`, once committed.
    pub fn on_late_event(&self, sink: impl Fn(&SessionEvent) + Send + Sync + 'static) {
        self.gate.late_events().set(sink);
    }

    fn agent(&self) -> super::Agent<'_> {
        super::Agent {
            store: &self.store,
            provider: self.provider.as_ref(),
            tools: &self.tools,
            ctx: &self.ctx,
            settings: &self.settings,
            gate: Some(&self.gate),
            live: Some(&self.live),
        }
    }
}

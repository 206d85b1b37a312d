//! One prompt run of a session, set up in one place for `tron serve` (`agent.prompt`),
//! `tron chat` and subagents, so that all three offer the same tools, build the same system
//! prompt and obey the same hooks, guardrails and compaction.
//!
//! [`prepare_run`] does everything that can fail before anything is persisted: it finds the
//! model's credentials, builds the tools (core tools, `TaskManager`, the subagent tools when
//! the run may spawn subagents) and filters them, reads rules and skills for the system
//! prompt, loads hooks and guardrails, and picks the compaction summariser. The caller
//! answers its client, then calls [`PreparedRun::persist_setup`] (the `rules.loaded` and
//! `skill.added` events) and [`PreparedRun::run`].

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::hooks::{gate, HookKind, HookResult};
use super::subagents::Subagents;
use super::{provider_for, run_turn, AgentEvent, Gate, SetupError, TurnError, TurnOutcome, TurnSettings};
use crate::context::prompt::{self, PrepareError, Prepared, PromptSetup};
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
    /// Whether [`PreparedRun::write_memory`] may write a ledger entry after the run (off for
    /// subagents, as in the TypeScript server; `context.memory.ledger.enabled` decides too).
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
    config: Arc<Settings>,
    data_dir: PathBuf,
    env: EnvLookup,
    memory: bool,
    session: String,
    prompt: String,
    provider: Box<dyn Provider>,
    tools: ToolRegistry,
    ctx: ToolContext,
    settings: TurnSettings,
    gate: Gate,
    prepared: Prepared,
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
    let mut tools = crate::tools::core_tools(&settings);
    tools.register(Arc::new(crate::tools::task_manager::TaskManagerTool::new(store.clone(), &session)));
    for tool in crate::tools::browser::tools(spec.browser.clone(), &session) {
        tools.register(tool);
    }
    // NotifyApp only when APNS is configured (as in the TypeScript server).
    if let Some(notify) = crate::tools::notify_app::for_session(&store, &data_dir, &env, &session).await {
        tools.register(notify);
    }
    if let Some(subagents) = &spec.subagents {
        for tool in crate::tools::subagent::tools(subagents.clone()) {
            tools.register(tool);
        }
    }
    if let Some(services) = &spec.interactive {
        for tool in crate::tools::interactive::tools(services, &session) {
            tools.register(tool);
        }
    }
    for tool in crate::tools::web::tools_for_run(&settings, model, &auth_file, env.clone()) {
        tools.register(tool);
    }
    tools.retain(|name| spec.tools.keeps(name));
    let setup = PromptSetup {
        working_dir: working_dir.clone(),
        data_dir: data_dir.clone(),
        provider: model.provider,
        prompt: spec.prompt.clone(),
        skills: spec.skills,
        spells: spec.spells,
        system_override: spec.system_override,
        discover_standalone: settings.rules.discover_standalone_files,
        available_tools: tools.names(),
    };
    let prepared = prompt::prepare(&store, &session, setup).await?;
    tools.retain(|name| !prepared.denied_tools.iter().any(|d| d == name));
    // Hook and guardrail discovery reads the filesystem: off the runtime.
    let gate = {
        let (tree, cwd, data) = (settings.tree().clone(), working_dir.clone(), data_dir.clone());
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        tokio::task::spawn_blocking(move || Gate::load(&tree, &cwd, home.as_deref(), &data))
            .await
            .map_err(|e| StoreError::Invalid(format!("loading hooks and guardrails failed: {e}")))?
    };
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
    Ok(PreparedRun {
        store,
        config: settings,
        data_dir,
        env,
        memory: spec.memory,
        session,
        prompt: spec.prompt,
        provider,
        tools,
        ctx,
        settings: turn,
        gate,
        prepared,
    })
}

impl PreparedRun {
    /// Persists what the setup found (`rules.loaded` when the rules changed, `skill.added`
    /// per newly activated skill) and returns the committed events.
    pub async fn persist_setup(&self) -> Result<Vec<SessionEvent>, StoreError> {
        self.prepared.persist(&self.store, &self.session).await
    }

    /// Runs the prompt to the end (see [`run_turn`]); `on_event` hears every step.
    pub async fn run(&self, on_event: impl FnMut(AgentEvent<'_>)) -> Result<TurnOutcome, TurnError> {
        run_turn(self.agent(), &self.session, &self.prompt, on_event).await
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
        gate::run_hooks(self.agent(), session, kind, fields, None, &mut on_event).await
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

    /// Waits (at most `timeout`) for background hooks to finish.
    pub async fn wait_background(&self, timeout: std::time::Duration) -> bool {
        self.gate.wait_background(timeout).await
    }

    /// Writes the memory ledger entry of the run that just ended (see
    /// [`crate::context::memory`]), when enabled: `None` when off or no ledger model has
    /// credentials. Never fails (fail-silent, as the TypeScript server).
    pub async fn write_memory(&self) -> Option<crate::context::memory::LedgerOutcome> {
        let enabled =
            self.config.get("context.memory.ledger.enabled").and_then(Value::as_bool) != Some(false);
        if !self.memory || !enabled {
            return None;
        }
        crate::context::memory::write_with(
            &self.store,
            &self.session,
            &self.config,
            self.settings.model,
            &self.data_dir.join("auth.json"),
            &self.env,
        )
        .await
    }

    fn agent(&self) -> super::Agent<'_> {
        super::Agent {
            store: &self.store,
            provider: self.provider.as_ref(),
            tools: &self.tools,
            ctx: &self.ctx,
            settings: &self.settings,
            gate: Some(&self.gate),
        }
    }
}

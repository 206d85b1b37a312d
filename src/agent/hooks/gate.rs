//! The one seam through which hooks and guardrails see a run ([`Gate`], held by
//! [`Agent::gate`]).
//!
//! Called by the turn loop: `prompt_submitted` before the prompt is persisted
//! (`UserPromptSubmit` hooks may refuse it), `stopped` when a run ends (`Stop`); and by
//! the tool executor: `before_tool` before a call's `tool.call` is persisted
//! (guardrails first, then `PreToolUse` hooks; a refusal becomes the call's error result
//! `Tool execution blocked: <reason>` and the tool does not run; `modify` merges the
//! hook's `modifications` into the arguments, which the guardrails then check again),
//! `after_tool` after its `tool.result` (`PostToolUse`, with the call's `toolArguments`
//! besides the TypeScript fields; the path `builtin:post-tool-use` tracked, if any, is
//! returned). Without a gate every function returns at once, except that `before_tool`
//! still applies the built-in core guardrails. [`run_at`] runs hooks outside
//! a run (`PreCompact` for `context.compact`).
//!
//! Events, with the TypeScript payloads: `hook.triggered` before and `hook.completed` after
//! the blocking hooks of one point (only when there are some), `hook.background_started`
//! when background hooks start and `hook.background_completed` when they end. The first
//! three go through the caller (stamped with `runId` in a run, seen by the caller);
//! `hook.background_completed` may come after the run ended, so it is appended directly
//! and told to [`Gate::late_events`].
//!
//! The run's abort token stops only the hooks that guard the run ([`guards_the_run`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::builtin::{self, BuiltinHook, LateEvents};
use super::engine::{self, HookRun};
use super::{HookAction, HookEngine, HookKind};
use crate::agent::guardrails::{builtin as core_rules, custom, EvalContext, GuardrailEngine};
use crate::agent::plan::{PlanMode, PLAN_EVENTS};
use crate::agent::turn::{Agent, AgentEvent};
use crate::core::content::ToolUseBlock;
use crate::core::tools::ToolResult;
use crate::events::types::{
    HookBackgroundCompletedPayload, HookBackgroundStartedPayload, HookCompletedPayload, HookTriggeredPayload,
};
use crate::events::{now_iso, NewEvent, StoreError, StoreHandle};

/// Hooks and guardrails for one session's runs.
#[derive(Debug)]
pub struct Gate {
    hooks: HookEngine,
    guardrails: GuardrailEngine,
    warnings: Vec<String>,
    late: LateEvents,
}

impl Gate {
    /// A gate from its parts.
    pub fn new(hooks: HookEngine, guardrails: GuardrailEngine) -> Self {
        let warnings = guardrails.warnings().to_vec();
        Gate { hooks, guardrails, warnings, late: LateEvents::default() }
    }

    /// The gate for a session in `working_dir`: hooks discovered per `hooks.*` plus the
    /// built-ins `builtin:post-tool-use` and `builtin:pre-compact` (unless
    /// `hooks.builtin.<name>.enabled` is `false`), guardrails per `guardrails.*`
    /// (`settings` is the whole settings tree). `home` is the user's home (user hooks, `~`
    /// in rules), `data_dir` tron's data directory (protected). Reads the filesystem: call
    /// it off the async runtime.
    pub fn load(settings: &Value, working_dir: &Path, home: Option<&Path>, data_dir: &Path) -> Self {
        let (mut hooks, mut warnings) = HookEngine::from_settings(working_dir, home, settings);
        if builtin::enabled(settings, "postToolUse") {
            hooks.register(Arc::new(builtin::PostToolUse::default()));
        }
        if builtin::enabled(settings, "preCompact") {
            hooks.register(Arc::new(builtin::PreCompact::default()));
        }
        let home_for_rules =
            home.map(Path::to_owned).unwrap_or_else(|| data_dir.parent().unwrap_or(data_dir).to_owned());
        let guardrails = custom::from_settings(settings, &home_for_rules, data_dir);
        warnings.extend(guardrails.warnings().iter().cloned());
        Gate { hooks, guardrails, warnings, late: LateEvents::default() }
    }

    /// Adds a built-in hook (e.g. `builtin:memory-ledger`).
    pub fn register(&mut self, hook: Arc<dyn BuiltinHook>) {
        self.hooks.register(hook);
    }

    /// What could not be used (hooks skipped, settings refused), for the user.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The hooks.
    pub fn hooks(&self) -> &HookEngine {
        &self.hooks
    }

    /// The guardrails (and their audit log).
    pub fn guardrails(&self) -> &GuardrailEngine {
        &self.guardrails
    }

    /// Where events appended after the run go (`hook.background_completed`, and what
    /// background built-ins write).
    pub fn late_events(&self) -> &LateEvents {
        &self.late
    }

    /// Waits (at most `timeout`) for `session`'s background hooks still running (of this
    /// run and earlier ones); whether all ended.
    pub async fn wait_background(&self, session: &str, timeout: Duration) -> bool {
        engine::wait_background(session, timeout).await
    }
}

/// The text a refused call's result carries (as the TypeScript server's).
fn blocked(reason: &str) -> ToolResult {
    ToolResult::error(format!("Tool execution blocked: {reason}"))
}

/// Guardrails, then `PreToolUse` hooks, for `call`: the call to run (its arguments maybe
/// changed by a hook) and, when refused, the error result to use instead of running it.
pub(crate) async fn before_tool(
    agent: Agent<'_>,
    session: &str,
    call: &ToolUseBlock,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(ToolUseBlock, Option<ToolResult>), StoreError> {
    // Without a gate the built-in core rules still apply.
    let Some(gate) = agent.gate else {
        let refusal = guard(core_rules::core_engine(), agent, session, call, None);
        return Ok((call.clone(), refusal));
    };
    // Context rules (`session.plan-mode`) see the session's state as it is now.
    let plan = match gate.guardrails.needs_session_state(&call.name) {
        true => plan_mode(agent, session).await?,
        false => None,
    };
    if let Some(refusal) = guard(&gate.guardrails, agent, session, call, plan.as_ref()) {
        return Ok((call.clone(), Some(refusal)));
    }
    let fields = json!({
        "toolName": call.name,
        "toolArguments": call.arguments,
        "toolCallId": call.id,
    });
    let tool = Some((call.name.as_str(), call.id.as_str()));
    let result = run_hooks(agent, session, HookKind::PreToolUse, fields, tool, on_event).await?.result;
    let mut call = call.clone();
    match result.action {
        HookAction::Block => {
            let reason = result.reason.unwrap_or_else(|| "blocked by a PreToolUse hook".into());
            return Ok((call, Some(blocked(&reason))));
        }
        HookAction::Modify => {
            call.arguments.extend(result.modifications);
            // Changed arguments are checked again: a hook cannot steer around a guardrail.
            if let Some(refusal) = guard(&gate.guardrails, agent, session, &call, plan.as_ref()) {
                return Ok((call, Some(refusal)));
            }
        }
        HookAction::Continue => {}
    }
    Ok((call, None))
}

/// The guardrails' verdict on `call`: the refusal, when blocked.
fn guard(
    engine: &GuardrailEngine,
    agent: Agent<'_>,
    session: &str,
    call: &ToolUseBlock,
    plan_mode: Option<&PlanMode>,
) -> Option<ToolResult> {
    let evaluation = engine.evaluate(&EvalContext {
        tool_name: &call.name,
        arguments: &call.arguments,
        working_directory: &agent.ctx.working_directory,
        session_id: Some(session),
        tool_call_id: Some(&call.id),
        plan_mode,
    });
    evaluation
        .blocked
        .then(|| blocked(evaluation.block_reason.as_deref().unwrap_or("blocked by a guardrail")))
}

/// The session's plan mode now (from its plan events along the head).
async fn plan_mode(agent: Agent<'_>, session: &str) -> Result<Option<PlanMode>, StoreError> {
    let id = session.to_owned();
    let events = agent.store.run(move |s| s.head_events_of_types(&id, &PLAN_EVENTS)).await?;
    Ok(PlanMode::from_typed(events.iter().map(|(t, p)| (t.as_str(), p))))
}

/// `PostToolUse` hooks for a call that ended with `result` after `duration_ms`: the file
/// path `builtin:post-tool-use` tracked for it, if any (as the call's arguments name it).
pub(crate) async fn after_tool(
    agent: Agent<'_>,
    session: &str,
    call: &ToolUseBlock,
    result: &ToolResult,
    duration_ms: u64,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<Option<String>, StoreError> {
    if agent.gate.is_none() {
        return Ok(None);
    }
    let fields = json!({
        "toolName": call.name,
        "toolCallId": call.id,
        "toolArguments": call.arguments,
        "result": { "content": result.text_content(), "isError": result.failed() },
        "duration": duration_ms,
    });
    let tool = Some((call.name.as_str(), call.id.as_str()));
    let run = run_hooks(agent, session, HookKind::PostToolUse, fields, tool, on_event).await?;
    Ok(builtin::tracked_file(&run))
}

/// `UserPromptSubmit` hooks for `prompt`: `Some(reason)` when one refused it.
pub(crate) async fn prompt_submitted(
    agent: Agent<'_>,
    session: &str,
    prompt: &str,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<Option<String>, StoreError> {
    if agent.gate.is_none() {
        return Ok(None);
    }
    let fields = json!({ "prompt": prompt });
    let result = run_hooks(agent, session, HookKind::UserPromptSubmit, fields, None, on_event).await?.result;
    Ok((result.action == HookAction::Block)
        .then(|| result.reason.unwrap_or_else(|| "refused by a UserPromptSubmit hook".into())))
}

/// `SessionStart` hooks when a run starts (the TypeScript agent runs them at the start of
/// every run, with the working directory).
pub(crate) async fn session_started(
    agent: Agent<'_>,
    session: &str,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    if agent.gate.is_none() {
        return Ok(());
    }
    let fields = json!({ "workingDirectory": agent.ctx.working_directory.display().to_string() });
    run_hooks(agent, session, HookKind::SessionStart, fields, None, on_event).await?;
    Ok(())
}

/// `Stop` hooks when a run ends: `stop_reason` is `completed`, `error`, `interrupted` or
/// `blocked`; `final_message` the model's last text (or why the prompt was refused);
/// `provider_reason` the model's own stop reason (`data.stoppedReason`), when it finished.
pub(crate) async fn stopped(
    agent: Agent<'_>,
    session: &str,
    stop_reason: &str,
    final_message: Option<String>,
    provider_reason: Option<String>,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    if agent.gate.is_none() {
        return Ok(());
    }
    let mut fields = json!({ "stopReason": stop_reason });
    if let Some(text) = final_message {
        fields["finalMessage"] = json!(text);
    }
    if let Some(reason) = provider_reason {
        fields["data"] = json!({ "stoppedReason": reason });
    }
    run_hooks(agent, session, HookKind::Stop, fields, None, on_event).await?;
    Ok(())
}

/// `SessionEnd` hooks after a run's `Stop` hooks, with the session's message count and the
/// run's tool call count. The count is read only when such a hook exists.
pub(crate) async fn session_ended(
    agent: Agent<'_>,
    session: &str,
    tool_calls: usize,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    let Some(gate) = agent.gate else { return Ok(()) };
    let (blocking, background) = gate.hooks.of_kind(HookKind::SessionEnd);
    if blocking.is_empty() && background.is_empty() {
        return Ok(());
    }
    let id = session.to_owned();
    let messages = agent.store.run(move |s| Ok(s.messages(&id)?.messages().count())).await?;
    let fields = json!({ "messageCount": messages, "toolCallCount": tool_calls });
    run_hooks(agent, session, HookKind::SessionEnd, fields, None, on_event).await?;
    Ok(())
}

/// Where hooks run: the gate, the store, the working directory, the run's id (stamped on
/// the events, when there is a run) and the run's token (see [`guards_the_run`]).
#[derive(Clone, Copy)]
pub struct Site<'a> {
    /// The hooks.
    pub gate: &'a Gate,
    /// Where the hook events go.
    pub store: &'a StoreHandle,
    /// Where hook files run.
    pub working_dir: &'a Path,
    /// `runId` for the events, inside a server run.
    pub run_id: Option<&'a str>,
    /// The run's abort token, if there is a run.
    pub cancel: Option<&'a CancellationToken>,
}

/// Whether hooks of `kind` guard the run, so that an abort stops them (a stopped hook
/// counts as a block: nothing it guards runs). `Stop`, `SessionEnd` and `SubagentStop`
/// report how a run ended, so an abort does not stop them: they run to their own timeout
/// (with `stopReason: "interrupted"`), as upstream.
pub fn guards_the_run(kind: HookKind) -> bool {
    !matches!(kind, HookKind::Stop | HookKind::SessionEnd | HookKind::SubagentStop)
}

/// Runs the hooks of `kind` with a context of the base fields (`hookType`, `sessionId`,
/// `timestamp`, `data`) plus `fields`, persisting the hook events; `tool` is (name, call id)
/// for tool hooks. The helpers above call it for each point of a run.
pub async fn run_hooks(
    agent: Agent<'_>,
    session: &str,
    kind: HookKind,
    fields: Value,
    tool: Option<(&str, &str)>,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<HookRun, StoreError> {
    let Some(gate) = agent.gate else { return Ok(HookRun::default()) };
    let site = Site {
        gate,
        store: agent.store,
        working_dir: &agent.ctx.working_directory,
        run_id: agent.settings.run_id.as_deref(),
        cancel: Some(&agent.ctx.cancel),
    };
    run_at(site, session, kind, fields, tool, on_event).await
}

/// [`run_hooks`] at `site`, which need not be a run (e.g. `context.compact`).
pub async fn run_at(
    site: Site<'_>,
    session: &str,
    kind: HookKind,
    fields: Value,
    tool: Option<(&str, &str)>,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<HookRun, StoreError> {
    let gate = site.gate;
    let mut context = Map::new();
    context.insert("hookType".into(), json!(kind.as_str()));
    context.insert("sessionId".into(), json!(session));
    context.insert("timestamp".into(), json!(now_iso()));
    context.insert("data".into(), json!({}));
    if let Value::Object(extra) = fields {
        context.extend(extra);
    }
    let context = Value::Object(context);
    let (blocking, background) = gate.hooks.for_context(kind, &context);
    if blocking.is_empty() && background.is_empty() {
        return Ok(HookRun::default());
    }
    let cwd = site.working_dir.to_owned();
    let (tool_name, tool_call_id) = (tool.map(|t| t.0.to_owned()), tool.map(|t| t.1.to_owned()));
    // Stamped with the run id, as a run's own events.
    let persist = |mut event: NewEvent| {
        if let (Some(run), Some(p)) = (site.run_id, event.payload.as_object_mut()) {
            p.insert("runId".into(), json!(run));
        }
        site.store.append(session, event)
    };
    let mut run = HookRun::default();
    if !blocking.is_empty() {
        let names: Vec<String> = blocking.iter().map(|h| h.name().to_owned()).collect();
        let triggered = HookTriggeredPayload {
            hook_names: names.clone(),
            hook_event: kind.as_str().into(),
            tool_name: tool_name.clone(),
            tool_call_id: tool_call_id.clone(),
            timestamp: now_iso(),
            ..Default::default()
        };
        on_event(AgentEvent::Persisted(&persist(hook_event("hook.triggered", &triggered)).await?));
        let started = Instant::now();
        let fresh = CancellationToken::new();
        let cancel = match site.cancel {
            Some(cancel) if guards_the_run(kind) => cancel,
            _ => &fresh,
        };
        run = gate.hooks.run_blocking(&blocking, &context, &cwd, cancel).await;
        let completed = HookCompletedPayload {
            hook_names: names,
            hook_event: kind.as_str().into(),
            result: run.result.action.as_str().into(),
            duration: Some(started.elapsed().as_millis() as i64),
            reason: run.result.reason.clone(),
            tool_name,
            tool_call_id,
            timestamp: now_iso(),
            ..Default::default()
        };
        on_event(AgentEvent::Persisted(&persist(hook_event("hook.completed", &completed)).await?));
    }
    if !background.is_empty() {
        let engine = gate.hooks.clone();
        let pending = engine::background_started(session);
        let execution_id = pending.execution_id.clone();
        let names: Vec<String> = background.iter().map(|h| h.name().to_owned()).collect();
        let start = HookBackgroundStartedPayload {
            hook_names: names.clone(),
            hook_event: kind.as_str().into(),
            execution_id: execution_id.clone(),
            timestamp: now_iso(),
            ..Default::default()
        };
        on_event(AgentEvent::Persisted(&persist(hook_event("hook.background_started", &start)).await?));
        let store = site.store.clone();
        let late = gate.late.clone();
        let session = session.to_owned();
        tokio::spawn(async move {
            // Counted as pending (see engine::wait_background) until this task ends.
            let _pending = pending;
            let started = Instant::now();
            let outcome = engine.run_background(&background, &context, &cwd).await;
            let done = HookBackgroundCompletedPayload {
                hook_names: names,
                hook_event: kind.as_str().into(),
                execution_id,
                result: if outcome.is_ok() { "continue" } else { "error" }.into(),
                duration: started.elapsed().as_millis() as i64,
                error: outcome.err(),
                timestamp: now_iso(),
                ..Default::default()
            };
            match store.append(&session, hook_event("hook.background_completed", &done)).await {
                Ok(event) => late.emit(&event),
                Err(e) => {
                    tracing::warn!(target: "tron::hooks", "cannot persist hook.background_completed: {e}")
                }
            }
        });
    }
    Ok(run)
}

fn hook_event(kind: &str, payload: &impl serde::Serialize) -> NewEvent {
    NewEvent::raw(kind, serde_json::to_value(payload).unwrap_or(Value::Null))
}

//! A prompt run to completion: model responses and tool calls, persisted event by event.
//!
//! Order of persisted events (the TypeScript server's): `message.user`, then per model call
//! `stream.turn_start`, `message.assistant`, for each tool call `tool.call` and
//! `tool.result`, and `stream.turn_end` (tokens and cost). When the model asked for tools,
//! the next call carries their results; the run ends when a response asks for none, or
//! after a round of calls in which a tool asked to stop (`stopTurn`, e.g. `AskUserQuestion`).
//! Provider failures are logged as [`FailureLog`] says. Each event is committed before the
//! caller hears of it.

use std::time::Instant;

use futures_util::StreamExt;
use rusqlite::OptionalExtension;
use serde_json::{json, Value};

use crate::core::content::{ArgumentsKey, ContentBlock};
use crate::core::messages::{AssistantMessage, Message, StopReason, TokenUsage};
use crate::core::stream::StreamEvent;
use crate::core::tools::ToolResult;
use crate::events::types::{ErrorProviderPayload, ToolResultPayload};
use crate::events::{EventPayload, NewEvent, SessionEvent, StoreError, StoreHandle};
use crate::llm::models::{self, ModelInfo};
use crate::llm::{LlmError, Provider, Request};
use crate::tools::{ToolContext, ToolRegistry};

use super::partial::Partial;
use super::{tokens, tool_calls};

/// Sent after a compaction in the middle of a run, so the model goes on with its task.
pub const CONTINUE_AFTER_COMPACTION: &str =
    "The conversation was compacted while you were working; the summary above includes this task, \
     your tool calls and their results so far. Continue the task from where you left off.";

/// How a run is done.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    /// The model (from the registry).
    pub model: &'static ModelInfo,
    /// Output token limit per response; the model's maximum when `None`.
    pub max_tokens: Option<u64>,
    /// Extended-thinking budget, when the model supports thinking.
    pub thinking_budget: Option<u64>,
    /// The system prompt.
    pub system: Option<String>,
    /// Most model calls in one run (each tool round trip is one).
    pub max_turns: u32,
    /// How the session names its model (e.g. the alias `claude-sonnet-4-5` a client chose),
    /// written as `model` in persisted payloads; the registry id when `None`.
    pub model_name: Option<String>,
    /// The run's id (`agent.prompt`'s `runId`), added as `runId` to every payload the run
    /// persists, as the TypeScript server does; `None` outside the server.
    pub run_id: Option<String>,
    /// Fields the persisted `message.user` carries besides `content`: the `skills` and
    /// `spells` an `agent.prompt` named, as the client sent them (the TypeScript server's
    /// payload); empty for `tron chat`.
    pub user_fields: serde_json::Map<String, Value>,
    /// Automatic context compaction (see [`crate::context`]); `None`: never compacts.
    pub compaction: Option<crate::context::Compaction>,
    /// What a provider failure leaves in the log (see [`FailureLog`]).
    pub failures: FailureLog,
}

/// What a provider failure leaves in the session's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureLog {
    /// The TypeScript server's (`tron serve`, subagents): `error.provider {provider, error,
    /// code, retryable: true, retryAfter}` for each retry
    /// (`lifecycle-event-handler.ts` `handleApiRetry`), nothing for a request that finally
    /// failed (its `RunResult` carries the error; what it had streamed is not kept).
    #[default]
    TypeScript,
    /// `tron chat`'s own record: nothing for retries; for a request that finally failed,
    /// what it had streamed (a `message.assistant` with `stopReason: "error"`) and one
    /// `error.provider`, so `tron events` shows why the command failed.
    Chat,
}

impl TurnSettings {
    /// The model's name in persisted payloads (see [`TurnSettings::model_name`]).
    pub fn model_name(&self) -> &str {
        self.model_name.as_deref().unwrap_or(self.model.id)
    }
}

/// What happened during a run, for live display. Every event that is also persisted has
/// committed by the time the caller sees it.
#[derive(Debug)]
pub enum AgentEvent<'a> {
    /// A provider stream event (text and thinking deltas, ...).
    Stream(&'a StreamEvent),
    /// A tool is about to run.
    ToolStart { id: &'a str, name: &'a str, arguments: &'a Value },
    /// A chunk of a running tool's output (e.g. Bash stdout or stderr), for live display.
    /// Not persisted: the tool's result holds the output. Every chunk of a call comes after
    /// its `ToolStart` and before its `ToolEnd`, in the order the tool produced them; chunks
    /// of calls running at the same time may interleave. When the consumer falls behind,
    /// chunks are dropped and replaced by a notice counting them (see
    /// [`crate::agent::tool_calls`]).
    ToolOutput { id: &'a str, chunk: &'a str },
    /// A tool finished.
    ToolEnd { id: &'a str, name: &'a str, result: &'a ToolResult, duration_ms: u64 },
    /// An automatic compaction starts (the TypeScript `compaction_start`): why, and the
    /// estimated tokens of the messages before it.
    CompactionStarted { reason: &'a str, tokens_before: u64 },
    /// An event was committed to the store (every event the run writes, in order).
    Persisted(&'a SessionEvent),
}

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// The last assistant message.
    pub message: AssistantMessage,
    /// Why the model stopped the last time.
    pub stop_reason: StopReason,
    /// The number of the last turn in the session (1-based).
    pub turn: i64,
    /// Cost of the run in USD, `None` when a model call had no pricing.
    pub cost: Option<f64>,
    /// Tool calls made during the run.
    pub tool_calls: usize,
    /// Model calls made during the run.
    pub model_calls: u32,
    /// Token usage summed over the run's model calls.
    pub usage: TokenUsage,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The provider failed (after retries).
    #[error(transparent)]
    Provider(#[from] LlmError),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream ended without a final message.
    #[error("the model's response ended without completing")]
    Incomplete,
    /// The model asked for a tool, and no tools were offered.
    #[error("the model called the tool `{0}`, but no tools are available to this run")]
    ToolsUnavailable(String),
    /// The run was aborted (everything up to the abort is persisted).
    #[error("interrupted")]
    Aborted,
    /// The model kept calling tools past the limit.
    #[error("stopped after {0} model calls (the limit for one prompt); continue the session to go on")]
    TooManyTurns(u32),
    /// A `UserPromptSubmit` hook refused the prompt (it was not persisted or sent).
    #[error("the prompt was refused by a UserPromptSubmit hook: {0}")]
    PromptBlocked(String),
}

/// Everything a run uses.
#[derive(Clone, Copy)]
pub struct Agent<'a> {
    /// Where events are persisted.
    pub store: &'a StoreHandle,
    /// The model's provider.
    pub provider: &'a dyn Provider,
    /// Tools offered to the model (empty: none).
    pub tools: &'a ToolRegistry,
    /// Where tools run.
    pub ctx: &'a ToolContext,
    /// Model and limits.
    pub settings: &'a TurnSettings,
    /// Hooks and guardrails (see [`crate::agent::hooks::gate`]); `None`: none.
    pub gate: Option<&'a crate::agent::Gate>,
    /// The system prompt as the run goes (path-scoped rules the run activates join it);
    /// `None`: [`TurnSettings::system`] throughout.
    pub live: Option<&'a crate::context::prompt::LiveSystem>,
}

impl Agent<'_> {
    /// The system prompt for the next model call.
    pub fn system_prompt(&self) -> Option<String> {
        match self.live {
            Some(live) => Some(live.current()),
            None => self.settings.system.clone(),
        }
    }
}

/// Runs `prompt` in `session` until the model stops asking for tools.
///
/// Cancelling `agent.ctx.cancel` aborts the run: what the model had streamed is persisted
/// as a `message.assistant` with `stopReason: "interrupted"`, every tool call without a
/// result gets an interrupted `tool.result` (so the session can be continued), then
/// `notification.interrupted`; the run returns [`TurnError::Aborted`].
pub async fn run_turn(
    agent: Agent<'_>,
    session: &str,
    prompt: &str,
    mut on_event: impl FnMut(AgentEvent<'_>),
) -> Result<TurnOutcome, TurnError> {
    // Hooks (src/agent/hooks), as the TypeScript agent runs them: `SessionStart` when a run
    // starts; `UserPromptSubmit` may refuse the prompt, which is then neither persisted nor
    // sent; `Stop` then `SessionEnd` when the run ends, however it ends.
    use crate::agent::hooks::gate;
    gate::session_started(agent, session, &mut on_event).await?;
    if let Some(reason) = gate::prompt_submitted(agent, session, prompt, &mut on_event).await? {
        gate::stopped(agent, session, "blocked", Some(reason.clone()), None, &mut on_event).await?;
        gate::session_ended(agent, session, 0, &mut on_event).await?;
        return Err(TurnError::PromptBlocked(reason));
    }
    let mut tool_calls = 0;
    let result = run_prompt(agent, session, prompt, &mut tool_calls, &mut on_event).await;
    let (reason, text, provider_reason) = match &result {
        Ok(outcome) => (
            "completed",
            Some(outcome.message.text()).filter(|t| !t.is_empty()),
            serde_json::to_value(&outcome.stop_reason).ok().and_then(|v| v.as_str().map(str::to_owned)),
        ),
        Err(TurnError::Aborted) => ("interrupted", None, None),
        Err(_) => ("error", None, None),
    };
    // A store failure of the hooks' own events does not hide how the run ended.
    let hooks = async {
        gate::stopped(agent, session, reason, text, provider_reason, &mut on_event).await?;
        gate::session_ended(agent, session, tool_calls, &mut on_event).await
    };
    match (result, hooks.await) {
        (Ok(_), Err(e)) => Err(e.into()),
        (result, _) => result,
    }
}

/// The prompt's part of a run: compaction, `message.user`, then model calls and tool calls
/// until the model is done; `tool_calls` counts the calls made.
async fn run_prompt(
    agent: Agent<'_>,
    session: &str,
    prompt: &str,
    tool_calls: &mut usize,
    mut on_event: impl FnMut(AgentEvent<'_>),
) -> Result<TurnOutcome, TurnError> {
    let Agent { tools, settings, .. } = agent;
    // Context compaction (src/context), checked before the run's first model call: when the
    // context this prompt would be sent with crosses `context.compactor.triggerTokenThreshold`
    // of the model's window, older turns are summarised (`compact.boundary`,
    // `compact.summary`) before the prompt is persisted, so the prompt follows the summary.
    crate::context::auto_compact(agent, session, Some(prompt), &mut on_event).await?;
    // The prompt is persisted before the run's events, without a `runId` (as the
    // TypeScript server persists it).
    let mut user = json!({ "content": prompt });
    for (key, value) in &settings.user_fields {
        user[key.as_str()] = value.clone();
    }
    let user = NewEvent::raw("message.user", user);
    let user = agent.store.append(session, user).await?;
    on_event(AgentEvent::Persisted(&user));
    let mut cost_total = Some(0.0);
    let mut usage = TokenUsage::default();
    let mut turn = 0;
    let mut window = last_window(agent, session).await?;
    for model_calls in 1..=settings.max_turns.max(1) {
        if agent.ctx.cancel.is_cancelled() {
            return Err(interrupted(agent, session, turn.max(1), &mut on_event).await);
        }
        let (message, stop_reason, this_turn, cost, record) =
            model_call(agent, session, &mut window, &mut on_event).await?;
        turn = this_turn;
        cost_total = cost_total.zip(cost).map(|(a, b)| a + b);
        add_usage(&mut usage, message.usage.as_ref());
        let calls: Vec<_> = message.tool_uses().cloned().collect();
        if stop_reason != StopReason::ToolUse || calls.is_empty() {
            return Ok(TurnOutcome {
                message,
                stop_reason,
                turn,
                cost: cost_total,
                tool_calls: *tool_calls,
                model_calls,
                usage,
            });
        }
        if tools.is_empty() {
            return Err(TurnError::ToolsUnavailable(calls[0].name.clone()));
        }
        let ran = tool_calls::run_calls(agent, session, turn, &calls, &mut on_event).await?;
        *tool_calls += ran.count;
        if ran.aborted {
            return Err(interrupted(agent, session, turn, &mut on_event).await);
        }
        persist(agent, session, turn_end(turn, &message, cost, record), &mut on_event).await?;
        // Path-scoped rules the calls' files activate reach the next model call.
        if let Some(loaded) = agent.live.and_then(|live| live.touch(session, &ran.touched)) {
            persist(agent, session, loaded, &mut on_event).await?;
        }
        // A tool that waits for the user (`stopTurn`) ends the run here; the user's answer
        // is the session's next prompt.
        if ran.stop {
            return Ok(TurnOutcome {
                message,
                stop_reason,
                turn,
                cost: cost_total,
                tool_calls: *tool_calls,
                model_calls,
                usage,
            });
        }
        // Tool results can fill the window in the middle of a run: compact before the next
        // call if they did (the run's own turn is kept).
        if crate::context::auto_compact(agent, session, None, &mut on_event).await? {
            window = last_window(agent, session).await?;
            if let Some(loaded) = agent.live.and_then(|live| live.compacted(session)) {
                persist(agent, session, loaded, &mut on_event).await?;
            }
        }
    }
    Err(TurnError::TooManyTurns(settings.max_turns))
}

/// Adds the run's id to an event the run persists (see [`TurnSettings::run_id`]).
pub(crate) fn stamp(agent: Agent<'_>, event: &mut NewEvent) {
    if let (Some(run), Some(payload)) = (&agent.settings.run_id, event.payload.as_object_mut()) {
        payload.insert("runId".into(), Value::String(run.clone()));
    }
}

/// Appends one event (stamped with the run id) and tells the caller it has committed.
pub(crate) async fn persist(
    agent: Agent<'_>,
    session: &str,
    mut event: NewEvent,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<SessionEvent, StoreError> {
    stamp(agent, &mut event);
    let event = agent.store.append(session, event).await?;
    on_event(AgentEvent::Persisted(&event));
    Ok(event)
}

/// Persists `notification.interrupted` and gives the error that ends an aborted run.
async fn interrupted(
    agent: Agent<'_>,
    session: &str,
    turn: i64,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> TurnError {
    // Appended outside the run's context, so without a `runId` (as the TypeScript server).
    let payload = json!({ "timestamp": crate::events::now_iso(), "turn": turn });
    match agent.store.append(session, NewEvent::raw("notification.interrupted", payload)).await {
        Ok(event) => {
            on_event(AgentEvent::Persisted(&event));
            TurnError::Aborted
        }
        Err(e) => e.into(),
    }
}

/// One model call: `stream.turn_start`, the streamed response, `message.assistant`, and
/// (unless tools follow) `stream.turn_end`.
async fn model_call(
    agent: Agent<'_>,
    session: &str,
    window: &mut u64,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(AssistantMessage, StopReason, i64, Option<f64>, Value), TurnError> {
    let Agent { store, provider, tools, settings, .. } = agent;
    let id = session.to_owned();
    let (history, last_turn) = store.run(move |s| Ok((s.messages(&id)?, last_turn(s, &id)?))).await?;
    let turn = last_turn + 1;
    let mut messages: Vec<Message> = history.messages().map(|m| m.to_message()).collect();
    // After a compaction in the middle of the run the context ends with the summary's
    // acknowledgment; the model is asked to go on (sent only, not persisted: the run's own
    // turn, tool results included, is in the summary).
    if matches!(messages.last(), Some(Message::Assistant(_))) {
        messages.push(Message::user(CONTINUE_AFTER_COMPACTION));
    }
    persist(agent, session, NewEvent::raw("stream.turn_start", json!({ "turn": turn })), on_event).await?;

    let model = settings.model;
    let request = Request {
        model: model.id.to_owned(),
        system: agent.system_prompt(),
        messages,
        tools: tools.definitions(),
        max_tokens: settings.max_tokens.unwrap_or(model.max_output),
        thinking_budget: settings.thinking_budget.filter(|_| model.supports_thinking),
    };
    let started = Instant::now();
    let mut stream = provider.stream(request);
    let mut done = None;
    let mut partial = Partial::default();
    let cancel = &agent.ctx.cancel;
    loop {
        let item = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                drop(stream);
                persist_partial(agent, session, turn, partial, started, Ended::Aborted, on_event).await?;
                return Err(interrupted(agent, session, turn, on_event).await);
            }
            item = stream.next() => item,
        };
        let Some(item) = item else { break };
        match item {
            Ok(event) => {
                if let (StreamEvent::Retry { delay_ms, error, .. }, FailureLog::TypeScript) =
                    (&event, settings.failures)
                {
                    let payload = ErrorProviderPayload {
                        provider: provider.name().to_owned(),
                        error: error.message.clone(),
                        code: serde_json::to_value(&error.category)
                            .ok()
                            .and_then(|c| c.as_str().map(str::to_owned)),
                        retryable: true,
                        retry_after: Some((*delay_ms).into()),
                        extra: Default::default(),
                    };
                    persist(agent, session, NewEvent::new(EventPayload::from(payload)), on_event).await?;
                }
                on_event(AgentEvent::Stream(&event));
                partial.observe(&event);
                if let StreamEvent::Done { message, stop_reason } = event {
                    done = Some((*message, stop_reason));
                }
            }
            Err(e) => {
                if settings.failures == FailureLog::Chat {
                    persist_partial(agent, session, turn, partial, started, Ended::Failed, on_event).await?;
                    let payload = EventPayload::from(provider_error(provider, &e));
                    persist(agent, session, NewEvent::new(payload), on_event).await?;
                }
                return Err(e.into());
            }
        }
    }
    let (message, stop_reason) = done.ok_or(TurnError::Incomplete)?;
    let cost = models::cost(model, &message.usage.clone().unwrap_or_default()).map(|c| c.total);
    let latency = started.elapsed().as_millis() as u64;
    let usage = message.usage.clone().unwrap_or_default();
    let record = tokens::token_record(model.provider, &usage, *window, turn, session);
    *window = tokens::window_of(&record);
    let payload = assistant_payload(&message, &stop_reason, turn, settings.model_name(), latency, &record);
    persist(agent, session, NewEvent::raw("message.assistant", payload), on_event).await?;
    if stop_reason != StopReason::ToolUse || message.tool_uses().next().is_none() {
        persist(agent, session, turn_end(turn, &message, cost, record.clone()), on_event).await?;
    }
    Ok((message, stop_reason, turn, cost, record))
}

/// The number of the session's last model call: the TypeScript agent counts the turns it
/// ran itself (its `currentTurn`, kept while its session is active), so a fork, which gets a
/// new agent, starts again at 1; here that is the session's own `stream.turn_start` events,
/// not those inherited from the session it was forked from.
fn last_turn(store: &crate::events::EventStore, session: &str) -> Result<i64, StoreError> {
    let turn: Option<i64> = store
        .connection()
        .prepare_cached(
            "SELECT MAX(CAST(json_extract(payload, '$.turn') AS INTEGER)) FROM events
             WHERE session_id = ?1 AND type = 'stream.turn_start' AND json_valid(payload)",
        )?
        .query_row([session], |r| r.get(0))?;
    Ok(turn.unwrap_or(0).max(0))
}

/// Why a response ended before it was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The run was aborted.
    Aborted,
    /// The provider failed mid-stream (after what was streamed had been shown).
    Failed,
}

/// Persists what an unfinished response had streamed, so nothing a user saw is lost: the
/// partial `message.assistant` (`stopReason: "interrupted"` and `interrupted: true` when
/// aborted, `stopReason: "error"` when the provider failed) and, for each complete tool call
/// in it, an error `tool.result` saying it did not run, so that the next request is well
/// formed.
async fn persist_partial(
    agent: Agent<'_>,
    session: &str,
    turn: i64,
    partial: Partial,
    started: Instant,
    ended: Ended,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(), StoreError> {
    let calls = partial.calls().to_vec();
    let content = partial.into_content();
    if content.is_empty() {
        return Ok(());
    }
    let has_thinking = content.iter().any(|b| matches!(b, ContentBlock::Thinking(_)));
    let mut events = vec![NewEvent::raw(
        "message.assistant",
        json!({
            "content": content,
            "tokenUsage": TokenUsage::default(),
            "turn": turn,
            "model": agent.settings.model_name(),
            "stopReason": if ended == Ended::Aborted { "interrupted" } else { "error" },
        }),
    )];
    if ended == Ended::Aborted {
        // The TypeScript server's interrupted message: `interrupted: true`, no latency.
        events[0].payload["interrupted"] = json!(true);
    } else {
        events[0].payload["latency"] = json!(started.elapsed().as_millis() as u64);
        events[0].payload["hasThinking"] = json!(has_thinking);
    }
    for call in calls {
        let (content, extra) = match ended {
            Ended::Aborted => (
                "Not run: the run was aborted before this tool call started",
                [("interrupted".to_owned(), json!(true))].into_iter().collect(),
            ),
            Ended::Failed => {
                ("Not run: the model's response failed before this tool call started", Default::default())
            }
        };
        let payload = ToolResultPayload {
            tool_call_id: call.id,
            content: content.into(),
            is_error: true,
            duration: None,
            affected_files: None,
            truncated: None,
            blob_id: None,
            run_id: None,
            extra,
        };
        events.push(NewEvent::new(EventPayload::from(payload)));
    }
    if ended == Ended::Failed {
        for event in &mut events {
            stamp(agent, event);
        }
    }
    for event in agent.store.append_batch(session, events).await? {
        on_event(AgentEvent::Persisted(&event));
    }
    Ok(())
}

/// A message's token counts as the TypeScript server persists them: the four counts,
/// without the provider family (which `tokenRecord.source.provider` carries).
fn persisted_usage(message: &AssistantMessage) -> TokenUsage {
    TokenUsage { provider_type: None, ..message.usage.clone().unwrap_or_default() }
}

fn add_usage(total: &mut TokenUsage, usage: Option<&TokenUsage>) {
    let Some(u) = usage else { return };
    total.input_tokens += u.input_tokens;
    total.output_tokens += u.output_tokens;
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    total.cache_read_tokens = add(total.cache_read_tokens, u.cache_read_tokens);
    total.cache_creation_tokens = add(total.cache_creation_tokens, u.cache_creation_tokens);
    if total.provider_type.is_none() {
        total.provider_type = u.provider_type.clone();
    }
}

/// The context window of the session's last model call (its last `tokenRecord`), 0 when
/// it has none.
async fn last_window(agent: Agent<'_>, session: &str) -> Result<u64, StoreError> {
    let session = session.to_owned();
    agent
        .store
        .run(move |store| {
            let window: Option<i64> = store
                .connection()
                .prepare_cached(
                    "SELECT json_extract(payload, '$.tokenRecord.computed.contextWindowTokens') FROM events
                     WHERE session_id = ?1 AND type = 'message.assistant' AND json_valid(payload)
                     ORDER BY sequence DESC LIMIT 1",
                )?
                .query_row([&session], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten();
            Ok(window.unwrap_or(0).max(0) as u64)
        })
        .await
}

fn turn_end(turn: i64, message: &AssistantMessage, cost: Option<f64>, record: Value) -> NewEvent {
    let mut payload = json!({
        "turn": turn,
        "tokenUsage": persisted_usage(message),
        "tokenRecord": record,
    });
    if let Some(cost) = cost {
        payload["cost"] = json!(cost);
    }
    NewEvent::raw("stream.turn_end", payload)
}

fn provider_error(provider: &dyn Provider, e: &LlmError) -> ErrorProviderPayload {
    let (code, retry_after) = match e {
        LlmError::Http { status, retry_after, .. } => (Some(status.to_string()), *retry_after),
        LlmError::Stream { kind, .. } => (Some(kind.clone()), None),
        _ => (None, None),
    };
    ErrorProviderPayload {
        provider: provider.name().to_owned(),
        error: e.to_string(),
        code,
        retryable: e.is_retryable(),
        retry_after: retry_after.and_then(serde_json::Number::from_f64),
        extra: Default::default(),
    }
}

/// The `message.assistant` payload as the TypeScript server persists it, keys in its order
/// (`turn-event-handler.ts` / `tool-event-handler.ts`): content blocks (tool calls with
/// their arguments under `input`), token usage, token record, turn, model, stop reason,
/// latency and whether it thought.
fn assistant_payload(
    message: &AssistantMessage,
    stop_reason: &StopReason,
    turn: i64,
    model: &str,
    latency_ms: u64,
    record: &Value,
) -> Value {
    let content: Vec<ContentBlock> = message
        .content
        .iter()
        .cloned()
        .map(|block| match block {
            ContentBlock::ToolUse(mut t) => {
                t.arguments_key = ArgumentsKey::Input;
                ContentBlock::ToolUse(t)
            }
            other => other,
        })
        .collect();
    let has_thinking = content.iter().any(|b| matches!(b, ContentBlock::Thinking(_)));
    json!({
        "content": content,
        "tokenUsage": persisted_usage(message),
        "tokenRecord": record,
        "turn": turn,
        "model": model,
        "stopReason": stop_reason,
        "latency": latency_ms,
        "hasThinking": has_thinking,
    })
}

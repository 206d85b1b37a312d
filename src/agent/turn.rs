//! A prompt run to completion: model responses and tool calls, persisted event by event.
//!
//! Order of persisted events (the TypeScript server's): `message.user`, then per model call
//! `stream.turn_start`, `message.assistant`, for each tool call `tool.call` and
//! `tool.result`, and `stream.turn_end` (tokens and cost). When the model asked for tools,
//! the next call carries their results; the run ends when a response asks for none. A
//! failed request persists `error.provider`. Each event is committed before the caller
//! hears of it, so nothing a user saw can be lost.

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::core::content::{ArgumentsKey, ContentBlock};
use crate::core::messages::{AssistantMessage, Message, StopReason, TokenUsage};
use crate::core::stream::StreamEvent;
use crate::core::tools::ToolResult;
use crate::events::types::{ErrorProviderPayload, ToolCallPayload, ToolResultPayload};
use crate::events::{EventPayload, NewEvent, StoreError, StoreHandle};
use crate::llm::models::{self, ModelInfo};
use crate::llm::{LlmError, Provider, Request};
use crate::tools::{ToolContext, ToolRegistry};

/// Longest tool result text kept in the event log and sent back (the TypeScript server's
/// `MAX_TOOL_RESULT_SIZE` is 10 KiB per stored result; tools cap their own output first).
const MAX_RESULT_CHARS: usize = 40_000;

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
}

/// What happened during a run, for live display. Every event that is also persisted has
/// committed by the time the caller sees it.
#[derive(Debug)]
pub enum AgentEvent<'a> {
    /// A provider stream event (text and thinking deltas, ...).
    Stream(&'a StreamEvent),
    /// A tool is about to run.
    ToolStart { id: &'a str, name: &'a str, arguments: &'a Value },
    /// A tool finished.
    ToolEnd { id: &'a str, name: &'a str, result: &'a ToolResult, duration_ms: u64 },
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
    /// The model kept calling tools past the limit.
    #[error("stopped after {0} model calls (the limit for one prompt); continue the session to go on")]
    TooManyTurns(u32),
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
}

/// Runs `prompt` in `session` until the model stops asking for tools.
pub async fn run_turn(
    agent: Agent<'_>,
    session: &str,
    prompt: &str,
    mut on_event: impl FnMut(AgentEvent<'_>),
) -> Result<TurnOutcome, TurnError> {
    let Agent { store, tools, ctx, settings, .. } = agent;
    store.append(session, NewEvent::raw("message.user", json!({ "content": prompt }))).await?;
    let mut cost_total = Some(0.0);
    let mut tool_calls = 0;
    let mut usage = TokenUsage::default();
    for model_calls in 1..=settings.max_turns.max(1) {
        let (message, stop_reason, turn, cost) = model_call(agent, session, &mut on_event).await?;
        cost_total = cost_total.zip(cost).map(|(a, b)| a + b);
        add_usage(&mut usage, message.usage.as_ref());
        let calls: Vec<_> = message.tool_uses().cloned().collect();
        if stop_reason != StopReason::ToolUse || calls.is_empty() {
            return Ok(TurnOutcome {
                message,
                stop_reason,
                turn,
                cost: cost_total,
                tool_calls,
                model_calls,
                usage,
            });
        }
        if tools.is_empty() {
            return Err(TurnError::ToolsUnavailable(calls[0].name.clone()));
        }
        for call in calls {
            tool_calls += 1;
            let arguments = Value::Object(call.arguments.clone());
            let payload = ToolCallPayload {
                tool_call_id: call.id.clone(),
                name: call.name.clone(),
                arguments: arguments.clone(),
                turn,
                run_id: None,
                extra: Default::default(),
            };
            store.append(session, NewEvent::new(EventPayload::from(payload))).await?;
            on_event(AgentEvent::ToolStart { id: &call.id, name: &call.name, arguments: &arguments });
            let started = Instant::now();
            let result = match tools.get(&call.name) {
                Some(tool) => tool.execute(&call.arguments, ctx).await,
                None => ToolResult::error(format!("Tool not found: {}", call.name)),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            let mut text = result.text_content();
            let truncated = text.chars().count() > MAX_RESULT_CHARS;
            if truncated {
                text = text.chars().take(MAX_RESULT_CHARS).collect();
                text.push_str("\n\n... [truncated]");
            }
            let payload = ToolResultPayload {
                tool_call_id: call.id.clone(),
                content: text,
                is_error: result.is_error.unwrap_or(false),
                duration: Some(duration_ms as i64),
                affected_files: None,
                truncated: truncated.then_some(true),
                blob_id: None,
                run_id: None,
                extra: Default::default(),
            };
            store.append(session, NewEvent::new(EventPayload::from(payload))).await?;
            on_event(AgentEvent::ToolEnd { id: &call.id, name: &call.name, result: &result, duration_ms });
        }
        store.append(session, turn_end(turn, &message, cost)).await?;
    }
    Err(TurnError::TooManyTurns(settings.max_turns))
}

/// One model call: `stream.turn_start`, the streamed response, `message.assistant`, and
/// (unless tools follow) `stream.turn_end`.
async fn model_call(
    agent: Agent<'_>,
    session: &str,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<(AssistantMessage, StopReason, i64, Option<f64>), TurnError> {
    let Agent { store, provider, tools, settings, .. } = agent;
    let id = session.to_owned();
    let history = store.run(move |s| s.messages(&id)).await?;
    let turn = history.turn_count + 1;
    let messages: Vec<Message> = history.messages().map(|m| m.to_message()).collect();
    store.append(session, NewEvent::raw("stream.turn_start", json!({ "turn": turn }))).await?;

    let model = settings.model;
    let request = Request {
        model: model.id.to_owned(),
        system: settings.system.clone(),
        messages,
        tools: tools.definitions(),
        max_tokens: settings.max_tokens.unwrap_or(model.max_output),
        thinking_budget: settings.thinking_budget.filter(|_| model.supports_thinking),
    };
    let started = Instant::now();
    let mut stream = provider.stream(request);
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                on_event(AgentEvent::Stream(&event));
                if let StreamEvent::Done { message, stop_reason } = event {
                    done = Some((*message, stop_reason));
                }
            }
            Err(e) => {
                store
                    .append(session, NewEvent::new(EventPayload::from(provider_error(provider, &e))))
                    .await?;
                return Err(e.into());
            }
        }
    }
    let (message, stop_reason) = done.ok_or(TurnError::Incomplete)?;
    let cost = models::cost(model, &message.usage.clone().unwrap_or_default()).map(|c| c.total);
    let latency = started.elapsed().as_millis() as u64;
    let payload = assistant_payload(&message, &stop_reason, turn, model, latency);
    store.append(session, NewEvent::raw("message.assistant", payload)).await?;
    if stop_reason != StopReason::ToolUse || message.tool_uses().next().is_none() {
        store.append(session, turn_end(turn, &message, cost)).await?;
    }
    Ok((message, stop_reason, turn, cost))
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

fn turn_end(turn: i64, message: &AssistantMessage, cost: Option<f64>) -> NewEvent {
    let mut payload = json!({ "turn": turn, "tokenUsage": message.usage.clone().unwrap_or_default() });
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

/// The `message.assistant` payload as the TypeScript server persists it: content blocks
/// (tool calls with their arguments under `input`), token usage, turn, model, stop reason,
/// latency and whether it thought.
fn assistant_payload(
    message: &AssistantMessage,
    stop_reason: &StopReason,
    turn: i64,
    model: &ModelInfo,
    latency_ms: u64,
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
        "tokenUsage": message.usage.clone().unwrap_or_default(),
        "turn": turn,
        "model": model.id,
        "stopReason": stop_reason,
        "latency": latency_ms,
        "hasThinking": has_thinking,
    })
}

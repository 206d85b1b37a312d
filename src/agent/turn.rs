//! One prompt, one model response, persisted event by event.
//!
//! Order of persisted events (the TypeScript server's): `message.user` before the request,
//! `stream.turn_start`, then after the response `message.assistant` and `stream.turn_end`
//! (tokens and cost). A failed request persists `error.provider`. Each event is committed
//! before the caller hears of it, so nothing a user saw can be lost.

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::core::content::{ArgumentsKey, ContentBlock};
use crate::core::messages::{AssistantMessage, Message, StopReason};
use crate::core::stream::StreamEvent;
use crate::events::types::ErrorProviderPayload;
use crate::events::{EventPayload, NewEvent, StoreError, StoreHandle};
use crate::llm::models::{self, ModelInfo};
use crate::llm::{LlmError, Provider, Request};

/// How a turn is run.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    /// The model (from the registry).
    pub model: &'static ModelInfo,
    /// Output token limit; the model's maximum when `None`.
    pub max_tokens: Option<u64>,
    /// Extended-thinking budget, when the model supports thinking.
    pub thinking_budget: Option<u64>,
    /// The system prompt.
    pub system: Option<String>,
}

/// What a finished turn produced.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// The assistant's message.
    pub message: AssistantMessage,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// The turn number in the session (1-based).
    pub turn: i64,
    /// Cost in USD, `None` when the model has no pricing.
    pub cost: Option<f64>,
}

/// Why a turn failed.
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
    /// The model asked for a tool, and tools are not available in this version.
    #[error("the model called the tool `{0}`, but tools are not built yet in this version (issue 5)")]
    ToolsUnavailable(String),
}

/// Runs `prompt` as the next turn of `session`. `on_event` sees every stream event as it
/// arrives (to print deltas); persisted events are committed before it sees the next one.
pub async fn run_turn(
    store: &StoreHandle,
    provider: &dyn Provider,
    session: &str,
    prompt: &str,
    settings: &TurnSettings,
    mut on_event: impl FnMut(&StreamEvent),
) -> Result<TurnOutcome, TurnError> {
    store.append(session, NewEvent::raw("message.user", json!({ "content": prompt }))).await?;
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
        tools: Vec::new(),
        max_tokens: settings.max_tokens.unwrap_or(model.max_output),
        thinking_budget: settings.thinking_budget.filter(|_| model.supports_thinking),
    };
    let started = Instant::now();
    let mut stream = provider.stream(request);
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                on_event(&event);
                if let StreamEvent::Done { message, stop_reason } = event {
                    done = Some((*message, stop_reason));
                }
            }
            Err(e) => {
                let (code, retry_after) = match &e {
                    LlmError::Http { status, retry_after, .. } => (Some(status.to_string()), *retry_after),
                    LlmError::Stream { kind, .. } => (Some(kind.clone()), None),
                    _ => (None, None),
                };
                let payload = ErrorProviderPayload {
                    provider: provider.name().to_owned(),
                    error: e.to_string(),
                    code,
                    retryable: e.is_retryable(),
                    retry_after: retry_after.and_then(serde_json::Number::from_f64),
                    extra: Default::default(),
                };
                store.append(session, NewEvent::new(EventPayload::from(payload))).await?;
                return Err(e.into());
            }
        }
    }
    let (message, stop_reason) = done.ok_or(TurnError::Incomplete)?;
    let usage = message.usage.clone().unwrap_or_default();
    let cost = models::cost(model, &usage).map(|c| c.total);
    let latency = started.elapsed().as_millis() as u64;
    store
        .append(
            session,
            NewEvent::raw(
                "message.assistant",
                assistant_payload(&message, &stop_reason, turn, model, latency),
            ),
        )
        .await?;
    let mut turn_end = json!({ "turn": turn, "tokenUsage": usage });
    if let Some(cost) = cost {
        turn_end["cost"] = json!(cost);
    }
    store.append(session, NewEvent::raw("stream.turn_end", turn_end)).await?;
    if stop_reason == StopReason::ToolUse {
        let name = message.tool_uses().next().map(|t| t.name.clone()).unwrap_or_default();
        return Err(TurnError::ToolsUnavailable(name));
    }
    Ok(TurnOutcome { message, stop_reason, turn, cost })
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

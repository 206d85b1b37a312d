//! Compaction and clearing: what is summarised, what is kept, and the events that record it.
//!
//! A compaction persists `compact.boundary {originalTokens, compactedTokens,
//! compressionRatio, reason, summary}` then `compact.summary {summary, keyDecisions,
//! filesModified}` (the TypeScript payloads, `operations/context-ops.ts` @0b37067; a run's
//! automatic compaction stamps both with its `runId`). Deliberately, an automatic
//! compaction also persists `compact.summary` (the TypeScript agent writes only the
//! boundary and keeps the summary in memory): reconstruction replaces everything before
//! `compact.summary` with its summary, so the kept turns are appended to that summary as
//! text and the context after a restart is exactly the one the model is sent right after
//! compacting. `context.clear` persists `context.cleared {tokensBefore, tokensAfter,
//! reason: "manual"}`.
//!
//! Reasons: `threshold_exceeded` (automatic: before a prompt or a model call, and at the end
//! of a run when the [`super::trigger`] asks for it) and `manual` (on request).
//!
//! `PreCompact` hooks run before both; when `builtin:pre-compact` makes a checkpoint (the
//! context is at 80% of the target or more) its continuation note ends the persisted
//! summary (see [`crate::agent::hooks::builtin`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::manager::ContextManager;
use super::summarizer::{transcript, ExtractedData, Summarizer};
use super::tokens::estimate_text_tokens;
use super::trigger::Trigger;
use crate::agent::{Agent, AgentEvent};
use crate::events::{NewEvent, SessionEvent, StoreError, StoreHandle};
use crate::settings::Settings;

/// Estimated tokens of the wrapper around the summary and of the acknowledgement (the
/// TypeScript estimate: 50 each).
const WRAPPER_TOKENS: u64 = 100;
/// Longest tool result or argument text of a kept turn, in characters.
const KEPT_RESULT_CHARS: usize = 4_000;
/// The heading of the kept turns in the persisted summary.
const KEPT_HEADING: &str = "Most recent turns, kept as they were:";

/// Why compaction or clearing failed.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The event store failed (an unknown session is [`StoreError`]'s not-found).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Automatic compaction for a run ([`crate::agent::TurnSettings::compaction`]).
#[derive(Clone)]
pub struct Compaction {
    /// Fraction of the model's window at which a prompt first compacts the context
    /// (`context.compactor.triggerTokenThreshold`, 0.7).
    pub threshold: f64,
    /// User turns kept through a compaction (`context.compactor.preserveRecentCount`, 5).
    pub preserve_recent: usize,
    /// What writes the summary.
    pub summarizer: Arc<dyn Summarizer>,
}

impl std::fmt::Debug for Compaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compaction")
            .field("threshold", &self.threshold)
            .field("preserve_recent", &self.preserve_recent)
            .field("summarizer", &self.summarizer)
            .finish()
    }
}

impl Compaction {
    /// The `context.compactor` settings with `summarizer`.
    pub fn from_settings(settings: &Settings, summarizer: Arc<dyn Summarizer>) -> Self {
        Self {
            threshold: settings.compactor.trigger_token_threshold,
            preserve_recent: settings.compactor.preserve_recent_count,
            summarizer,
        }
    }
}

/// What a compaction did (or, for a preview, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionOutcome {
    pub success: bool,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub compression_ratio: f64,
    pub preserved_turns: usize,
    pub summarized_turns: usize,
    /// The narrative summary (without the kept turns).
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extracted_data: Option<ExtractedData>,
    /// The events persisted (empty for a preview or when there was nothing to summarise).
    #[serde(skip)]
    pub events: Vec<SessionEvent>,
    /// The summary text persisted in `compact.summary` (narrative + kept turns).
    #[serde(skip)]
    pub persisted_summary: String,
}

/// The user turns among `messages` (compaction summaries do not count).
fn turns(messages: &[crate::core::messages::Message]) -> usize {
    messages.iter().filter(|m| super::manager::is_real_user_turn(m)).count()
}

/// Summarises the messages before the split (or takes `edited`), without persisting;
/// `continuation` (a `PreCompact` checkpoint note) ends the persisted summary.
async fn plan(
    manager: &ContextManager,
    summarizer: &dyn Summarizer,
    edited: Option<String>,
    continuation: Option<&str>,
) -> CompactionOutcome {
    let tokens_before = manager.current_tokens();
    let split = manager.split_point();
    let (old, kept) = manager.messages.split_at(split);
    let (summary, extracted) = match edited {
        Some(s) => (s, None),
        None if old.is_empty() => (String::new(), None),
        None => {
            let r = summarizer.summarize(old).await;
            (r.narrative, Some(r.extracted_data))
        }
    };
    let mut persisted_summary = if kept.is_empty() {
        summary.clone()
    } else {
        format!("{summary}\n\n{KEPT_HEADING}\n\n{}", transcript(kept, KEPT_RESULT_CHARS).trim_end())
    };
    if let Some(note) = continuation.filter(|n| !n.trim().is_empty()) {
        persisted_summary = format!("{persisted_summary}\n\n{}", note.trim_end());
    }
    let tokens_after = manager.overhead() + estimate_text_tokens(&persisted_summary) + WRAPPER_TOKENS;
    let ratio = if tokens_before == 0 { 1.0 } else { tokens_after as f64 / tokens_before as f64 };
    CompactionOutcome {
        success: true,
        tokens_before,
        tokens_after,
        compression_ratio: ratio,
        preserved_turns: turns(kept),
        summarized_turns: turns(old),
        summary,
        extracted_data: extracted,
        events: Vec::new(),
        persisted_summary,
    }
}

/// What compacting would do, changing nothing (`context.previewCompaction`).
pub async fn preview(manager: &ContextManager, summarizer: &dyn Summarizer) -> CompactionOutcome {
    plan(manager, summarizer, None, None).await
}

/// Compacts `session` (whose context is `manager`): summarises all but the kept turns (or
/// uses `edited`, a summary the user wrote) and persists `compact.boundary` and
/// `compact.summary` (ended by `continuation`, a `PreCompact` checkpoint note, when
/// given), stamped with `run_id` when given. When there is nothing to summarise (no more
/// turns than are kept, and no edited summary) nothing is persisted and the outcome reports
/// the context unchanged.
#[allow(clippy::too_many_arguments)]
pub async fn compact(
    store: &StoreHandle,
    session: &str,
    manager: &ContextManager,
    summarizer: &dyn Summarizer,
    reason: &str,
    edited: Option<String>,
    run_id: Option<&str>,
    continuation: Option<&str>,
) -> Result<CompactionOutcome, ContextError> {
    let mut outcome = plan(manager, summarizer, edited.clone(), continuation).await;
    if edited.is_none() && manager.split_point() == 0 {
        outcome.tokens_after = outcome.tokens_before;
        outcome.compression_ratio = 1.0;
        return Ok(outcome);
    }
    let mut boundary = json!({
        "originalTokens": outcome.tokens_before,
        "compactedTokens": outcome.tokens_after,
        "compressionRatio": outcome.compression_ratio,
        "reason": reason,
        "summary": outcome.summary,
    });
    let mut summary = json!({ "summary": outcome.persisted_summary });
    if let Some(data) = &outcome.extracted_data {
        summary["keyDecisions"] = json!(data.key_decisions.iter().map(|d| &d.decision).collect::<Vec<_>>());
        summary["filesModified"] = json!(data.files_modified);
    }
    if let Some(run) = run_id {
        boundary["runId"] = json!(run);
        summary["runId"] = json!(run);
    }
    let id = session.to_owned();
    outcome.events = store
        .run(move |s| {
            let boundary = s.append(&id, NewEvent::raw("compact.boundary", boundary))?;
            let summary = s.append(&id, NewEvent::raw("compact.summary", summary))?;
            Ok(vec![boundary, summary])
        })
        .await?;
    Ok(outcome)
}

/// Clears `session`'s context (`context.clear`): persists `context.cleared` and returns it
/// with the tokens before and after (system prompt and tools only).
pub async fn clear(
    store: &StoreHandle,
    session: &str,
    manager: &ContextManager,
) -> Result<(u64, u64, SessionEvent), ContextError> {
    let before = manager.current_tokens();
    let after = manager.overhead();
    let payload = json!({ "tokensBefore": before, "tokensAfter": after, "reason": "manual" });
    let event = store.append(session, NewEvent::raw("context.cleared", payload)).await?;
    Ok((before, after, event))
}

/// The automatic compaction of a run: when the context the next model call would be sent
/// with crosses the threshold of the model's window, everything but the kept turns is
/// summarised. A summariser that fails falls back to the keyword one, so only a store
/// failure is an error. Whether it compacted.
///
/// Checked twice: with `Some(prompt)` before the run's prompt is persisted (so the prompt
/// follows the summary), and with `None` between the model calls of a run, after tool
/// results (the run's own turn is always kept then: the model must see its tool results).
/// `PreCompact` hooks run before a compaction (see [`crate::agent::hooks`]).
pub async fn auto_compact(
    agent: Agent<'_>,
    session: &str,
    prompt: Option<&str>,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<bool, StoreError> {
    let Some(config) = &agent.settings.compaction else { return Ok(false) };
    // The prompt as it will be sent: a user message of its text.
    let prompt_tokens =
        prompt.map_or(0, |p| super::estimate_message_tokens(&crate::core::messages::Message::user(p)));
    // Cheap check first: the provider's last count, when valid, needs no reconstruction.
    let window = super::manager::provider_window(agent.store, session).await?;
    let limit = agent.settings.model.context_window as f64;
    if window > 0 && ((window + prompt_tokens) as f64) < config.threshold * limit {
        return Ok(false);
    }
    let manager = run_context(agent, session, config).await?;
    if manager.messages.is_empty() || !manager.should_compact_with(prompt_tokens) {
        return Ok(false);
    }
    // Mid-run, the run's own turn (its prompt, tool calls and results) is never summarised.
    let min_kept = if prompt.is_some() { 0 } else { 1 };
    compact_run_context(agent, session, config, manager, min_kept, on_event).await
}

/// The compaction at the end of a run that the [`Trigger`] asks for (its reason, `None`
/// when it asked for none or there was nothing to summarise); the run's own turn is kept.
/// `PreCompact` hooks run first, as for [`auto_compact`]; the boundary's reason is
/// `threshold_exceeded`, the TypeScript server's for every automatic compaction.
pub async fn compact_for_run(
    agent: Agent<'_>,
    session: &str,
    trigger: &Trigger,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<Option<String>, StoreError> {
    let Some(config) = &agent.settings.compaction else { return Ok(None) };
    let manager = run_context(agent, session, config).await?;
    let limit = manager.context_limit();
    let ratio = if limit == 0 { 0.0 } else { manager.current_tokens() as f64 / limit as f64 };
    let id = session.to_owned();
    let events = agent.store.run(move |s| s.head_chain(&id)).await?;
    let Some(reason) = trigger.reason(ratio, &events) else { return Ok(None) };
    if manager.messages.is_empty() {
        return Ok(None);
    }
    let compacted = compact_run_context(agent, session, config, manager, 1, on_event).await?;
    if compacted {
        tracing::info!(session, reason, "compacted the context after the run");
    }
    Ok(compacted.then_some(reason))
}

/// The context a run's next model call would be sent with.
async fn run_context(
    agent: Agent<'_>,
    session: &str,
    config: &Compaction,
) -> Result<ContextManager, StoreError> {
    let mut manager = ContextManager::load(
        agent.store,
        session,
        agent.settings.model,
        agent.system_prompt(),
        agent.tools.definitions(),
        &Settings::defaults(),
    )
    .await?;
    manager.threshold = config.threshold;
    manager.preserve_recent = config.preserve_recent;
    Ok(manager)
}

/// Compacts a run's context (`manager`), keeping at least `min_kept` turns: `PreCompact`
/// hooks, then `compact.boundary` and `compact.summary`. Whether it compacted.
async fn compact_run_context(
    agent: Agent<'_>,
    session: &str,
    config: &Compaction,
    mut manager: ContextManager,
    min_kept: usize,
    on_event: &mut impl FnMut(AgentEvent<'_>),
) -> Result<bool, StoreError> {
    // Fewer turns than are kept: keep as many as still leaves something to summarise.
    manager.preserve_recent = manager.preserve_recent.max(min_kept);
    while manager.split_point() == 0 && manager.preserve_recent > min_kept {
        manager.preserve_recent -= 1;
    }
    if manager.split_point() == 0 {
        return Ok(false);
    }
    // The TypeScript context: the tokens now and the target (70% of the window).
    let hook = serde_json::json!({
        "currentTokens": manager.current_tokens(),
        "targetTokens": (agent.settings.model.context_window as f64 * 0.7).floor() as u64,
    });
    let hooks = crate::agent::hooks::gate::run_hooks(
        agent,
        session,
        crate::agent::hooks::HookKind::PreCompact,
        hook,
        None,
        on_event,
    )
    .await?;
    let note = crate::agent::hooks::builtin::continuation(&hooks);
    let run = agent.settings.run_id.as_deref();
    let reason = "threshold_exceeded";
    on_event(AgentEvent::CompactionStarted { reason, tokens_before: manager.breakdown().messages });
    let summarizer = config.summarizer.as_ref();
    let outcome = compact(agent.store, session, &manager, summarizer, reason, None, run, note.as_deref())
        .await
        .map_err(|ContextError::Store(e)| e)?;
    tracing::info!(
        session,
        tokens_before = outcome.tokens_before,
        tokens_after = outcome.tokens_after,
        "compacted the context"
    );
    for event in &outcome.events {
        on_event(AgentEvent::Persisted(event));
    }
    Ok(true)
}

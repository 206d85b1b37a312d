//! `agent.prompt`, `agent.abort`, `agent.getState`, and the run a prompt starts.
//!
//! `agent.prompt` answers `{acknowledged: true, runId}` at once and runs the prompt in a
//! task; the run's frames are pushed as it goes (see [`RunAdapter`]) and always end with
//! `agent.complete` then `agent.ready` (the iOS app unlocks its input on `agent.ready`).
//!
//! How a run ends, as the TypeScript server's `AgentRunner` (`agent-runner.ts` @129e9f8)
//! ends it:
//! - finished, or failed inside the agent (a provider error, a refused prompt, no final
//!   message...: `TronAgent.run` returns a `RunResult` with `error`): `agent.turn` (the
//!   RunResult, see [`run_result`]), `agent.complete {success, error?}`, `agent.ready`.
//!   Nothing is persisted for the failure (the TypeScript server writes `error.provider`
//!   only for retries, see [`crate::agent`]);
//! - thrown (here: the event store failed): `error.agent {error, code, recoverable: false}`
//!   is persisted if it can be, then `agent.complete {success: false, error}`, `agent.ready`;
//! - aborted: `agent.complete {success: false, interrupted: true, partialContent?}` goes
//!   out from `agent.abort` itself, before its response (`TronAgent.abort` emits it
//!   synchronously); the run then persists what it had and sends `agent.ready`.
//!
//! No `agent.error` frame: the TypeScript orchestrator never sends one for a run.

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::runner::{prepare_run, RunSetupError, RunSpec, ToolChoice};
use crate::agent::{AgentEvent, TurnError};
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::core::stream::StreamEvent;
use crate::events::NewEvent;
use crate::llm::models;
use crate::rpc::adapters::RunAdapter;
use crate::rpc::frames::Event;
use crate::rpc::params::{required_str, Params};
use crate::rpc::state::{RunInfo, ToolCallState};
use crate::rpc::{Connection, ServerState};

/// `agent.prompt {sessionId, prompt, ...}` -> `{acknowledged: true, runId}`.
///
/// Refused with `SESSION_BUSY` while the session runs, and with a clear error when the
/// session does not exist, its model has no credentials or a skill asked for does not exist
/// (all checked before answering, so a prompt that cannot start is never acknowledged).
pub async fn prompt(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let prompt = required_str(p, "prompt")?.to_owned();
    let id = session.clone();
    let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    state.check_idle(&session)?;
    let model = models::lookup(&row.latest_model).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    // The prompt's skills and spells go into its `message.user` as the client sent them.
    let user_fields: serde_json::Map<String, Value> = ["skills", "spells"]
        .into_iter()
        .filter_map(|k| {
            p.get(k)
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                .map(|v| (k.to_owned(), v.clone()))
        })
        .collect();
    // A session holding a worktree works in it (src/platform/worktree).
    let working_dir =
        crate::platform::worktree::journal::working_dir(&state.store, &session, &row.working_directory).await;
    let run_id = uuid::Uuid::new_v4().to_string();
    let cancel = tokio_util::sync::CancellationToken::new();
    // The session's working directory and model, its system prompt (core, provider part,
    // rules, skills), its tools and its hooks: the same setup as `tron chat` and subagents.
    let spec = RunSpec {
        store: state.store.clone(),
        settings: state.settings.current(),
        data_dir: state.paths.data_dir.clone(),
        env: state.env.clone(),
        session: session.clone(),
        working_dir: working_dir.into(),
        model,
        model_name: Some(row.latest_model.clone()),
        prompt: prompt.clone(),
        skills: super::skill::skill_names(p, "skills")?,
        spells: super::skill::skill_names(p, "spells")?,
        system_override: None,
        tools: ToolChoice::default(),
        max_turns: None,
        thinking_budget: None,
        run_id: Some(run_id.clone()),
        user_fields,
        subagents: Some(state.subagents(&session)),
        browser: Some(state.browser()),
        interactive: Some(crate::rpc::ui::interactive(state)),
        cancel: cancel.clone(),
        memory: true,
        failures: Default::default(),
    };
    let mut prepared = prepare_run(spec).await.map_err(|e| match e {
        RunSetupError::Provider(e) => RpcError::new(RpcErrorCode::Unauthorized, e.to_string()),
        RunSetupError::UnknownSkill(e) => RpcError::invalid_params(e),
        RunSetupError::Store(e) => store_error(e),
    })?;
    {
        // What the run's background hooks append after it (the memory ledger) is pushed too.
        let (state, session) = (Arc::clone(state), session.clone());
        prepared.on_late_event(move |event| late_event(&state, &session, event));
    }
    let run = state.start_run(&session, &run_id, cancel)?;
    let state = Arc::clone(state);
    let guard = RunGuard { state: Arc::clone(&state), session: session.clone(), done: false };
    let (sent, acknowledged) = tokio::sync::oneshot::channel();
    conn.after_response.push(sent);
    // The run's log records carry its session (the request's span ends with the reply).
    let span = tracing::info_span!("run", session_id = %session, run_id = %run_id);
    let task = async move {
        let mut guard = guard;
        // Start once the acknowledgment is out (or the connection is gone), so it always
        // precedes the run's frames, and once the background hooks of the session's earlier
        // runs (the memory ledger) ended, so their events never land inside this run.
        let _ = acknowledged.await;
        prepared.wait_background(crate::agent::hooks::engine::DRAIN_TIMEOUT).await;
        let mut adapter = RunAdapter::new(&session);
        // The prompt's rules and skills (after the compaction it may need first).
        let setup = prepared.persist_setup(|event| {
            let frames = adapter.frames(&event);
            let watermark = adapter.watermark();
            for frame in frames {
                state.publish_at(&frame, watermark);
            }
        });
        if let Err(e) = setup.await {
            tracing::warn!(error = %e, "could not record the prompt's rules and skills");
        }
        state.publish(&Event::agent("agent.turn_start", Some(&session), json!({})));
        let result = prepared
            .run(|event| {
                track(&state, &session, &event);
                let frames = adapter.frames(&event);
                let watermark = adapter.watermark();
                for frame in frames {
                    state.publish_at(&frame, watermark);
                }
            })
            .await;
        drop(run);
        guard.done = true;
        let partial = state.run(&session).map(|r| r.turn_text).unwrap_or_default();
        let completed = state.finish_run(&session);
        let ended = |kind: &str, data: Value| {
            state.publish_at(&Event::agent(kind, Some(&session), data), adapter.watermark());
        };
        match &result {
            Err(TurnError::Aborted) => {
                // `agent.abort` sent `agent.complete` already, unless the run was cancelled
                // another way (shutdown).
                if !completed {
                    ended("agent.complete", interrupted(&partial));
                }
            }
            Err(TurnError::Store(e)) => {
                let payload = json!({ "error": e.to_string(), "code": "StoreError", "recoverable": false });
                let id = session.clone();
                let error_event = NewEvent::raw("error.agent", payload);
                if let Err(e) = state.store.run(move |s| s.append(&id, error_event)).await {
                    tracing::warn!(error = %e, "could not record the run's error");
                }
                ended("agent.complete", json!({ "success": false, "error": e.to_string() }));
            }
            Ok(_) | Err(_) => {
                let turn = run_result(&state, &session, &result).await;
                ended("agent.turn", turn);
                let data = match &result {
                    Ok(_) => json!({ "success": true }),
                    Err(e) => json!({ "success": false, "error": e.to_string() }),
                };
                ended("agent.complete", data);
            }
        }
        ended("agent.ready", json!({}));
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
    Ok(json!({ "acknowledged": true, "runId": run_id }))
}

/// An event a run's background hooks appended after the run (persisted, not broadcast, as
/// every run event): a `memory.ledger` entry (written by `builtin:memory-ledger`) is pushed
/// as `agent.memory_updated {title, entryType}` and indexed for `memory.search`.
fn late_event(state: &Arc<ServerState>, session: &str, event: &crate::events::SessionEvent) {
    if event.event_type.as_str() == "memory.ledger" {
        let data = json!({ "title": event.payload["title"], "entryType": event.payload["entryType"] });
        state.publish(&Event::new("agent.memory_updated", Some(session), data));
        state.index_memory();
    }
}

/// The `agent.complete` of an aborted run (`lifecycle-event-handler.ts`):
/// `{success: false, interrupted: true, partialContent}`, `partialContent` (the text the
/// current model call had streamed) left out when there is none.
fn interrupted(partial: &str) -> Value {
    let mut data = json!({ "success": false, "interrupted": true });
    if !partial.is_empty() {
        data["partialContent"] = json!(partial);
    }
    data
}

/// The `agent.turn` data: the TypeScript `RunResult` (`runtime/agent/types.ts` @317bdff, as
/// `TronAgent.run` @ae66e8b builds it): `{success, messages, turns, totalTokenUsage,
/// stoppedReason}` when the run finished, `{success: false, messages, turns,
/// totalTokenUsage, error}` when it failed.
///
/// The TypeScript agent lives as long as its session is active, so `messages` is its whole
/// context, `turns` its turn counter and `totalTokenUsage` (`{inputTokens, outputTokens}`)
/// the sum over its turns. Here that is the session's own events (a fork starts again, as
/// a TypeScript fork gets a new agent when it is first used): messages the session's own
/// run produced have the agent's in-memory shape (tool calls with `arguments`; assistant
/// messages with the provider's `usage {inputTokens, outputTokens, cacheCreationTokens,
/// cacheReadTokens, providerType}` and `stopReason`), messages inherited through a fork the
/// shape reconstruction gives them (as the TypeScript server restores them). A prompt a
/// hook refused reports `turns: 0`.
async fn run_result(
    state: &Arc<ServerState>,
    session: &str,
    result: &Result<crate::agent::TurnOutcome, TurnError>,
) -> Value {
    let id = session.to_owned();
    let read = state
        .store
        .run(move |s| {
            let rec = s.messages(&id)?;
            let own = s.events(&id)?;
            Ok((rec, own))
        })
        .await;
    let (messages, turns, input, output) = match read {
        Ok((rec, own)) => own_view(&rec, &own),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the run's messages for agent.turn");
            (Vec::new(), 0, 0, 0)
        }
    };
    let mut v = json!({ "success": result.is_ok(), "messages": messages });
    v["turns"] = json!(if matches!(result, Err(TurnError::PromptBlocked(_))) { 0 } else { turns });
    v["totalTokenUsage"] = json!({ "inputTokens": input, "outputTokens": output });
    match result {
        Ok(outcome) => v["stoppedReason"] = json!(outcome.stop_reason),
        Err(e) => v["error"] = json!(e.to_string()),
    }
    v
}

/// The messages of a RunResult, the last turn number and the token totals of the session's
/// own turns (see [`run_result`]).
fn own_view(
    rec: &crate::events::reconstruct::Reconstructed,
    own: &[crate::events::SessionEvent],
) -> (Vec<Value>, i64, u64, u64) {
    use std::collections::HashMap;
    let mut assistant: HashMap<&str, &Value> = HashMap::new();
    let mut others: std::collections::HashSet<&str> = Default::default();
    let (mut turns, mut input, mut output) = (0, 0, 0);
    for e in own {
        match e.event_type.as_str() {
            "message.assistant" => {
                assistant.insert(e.id.as_str(), &e.payload);
            }
            "stream.turn_start" => turns = turns.max(e.payload["turn"].as_i64().unwrap_or(0)),
            "stream.turn_end" => {
                input += e.payload["tokenUsage"]["inputTokens"].as_u64().unwrap_or(0);
                output += e.payload["tokenUsage"]["outputTokens"].as_u64().unwrap_or(0);
            }
            _ => {
                others.insert(e.id.as_str());
            }
        }
    }
    let messages = rec
        .messages_with_event_ids
        .iter()
        .map(|m| {
            let ids: Vec<&str> = m.event_ids.iter().flatten().map(|id| id.as_str()).collect();
            let inherited =
                !ids.is_empty() && ids.iter().all(|id| !assistant.contains_key(id) && !others.contains(id));
            if inherited {
                return serde_json::to_value(&m.message).unwrap_or(Value::Null);
            }
            let mut message = m.message.to_message();
            if let crate::core::messages::Message::Assistant(a) = &mut message {
                for block in &mut a.content {
                    if let crate::core::content::ContentBlock::ToolUse(t) = block {
                        t.arguments_key = crate::core::content::ArgumentsKey::Arguments;
                    }
                }
            }
            let mut v = serde_json::to_value(message).unwrap_or(Value::Null);
            // The provider's final message of the (last) model call of this message.
            if let Some(payload) = ids.iter().rev().find_map(|id| assistant.get(id)) {
                v["usage"] = in_memory_usage(payload);
                if let Some(reason) = payload.get("stopReason").filter(|r| r.is_string()) {
                    v["stopReason"] = reason.clone();
                }
            }
            v
        })
        .collect();
    (messages, turns, input, output)
}

/// An assistant message's `usage` as the provider's final message carries it
/// (`llm/providers/anthropic/stream-handler.ts` `buildDoneEvent` @c101b5f): `{inputTokens,
/// outputTokens, cacheCreationTokens, cacheReadTokens, providerType}`, from the persisted
/// `tokenUsage` and `tokenRecord.source.provider`.
fn in_memory_usage(payload: &Value) -> Value {
    let u = &payload["tokenUsage"];
    let mut usage = json!({ "inputTokens": u["inputTokens"].as_u64().unwrap_or(0),
                            "outputTokens": u["outputTokens"].as_u64().unwrap_or(0) });
    for key in ["cacheCreationTokens", "cacheReadTokens"] {
        if let Some(n) = u.get(key).filter(|n| n.is_number()) {
            usage[key] = n.clone();
        }
    }
    if let Some(provider) = payload["tokenRecord"]["source"]["provider"].as_str() {
        usage["providerType"] = json!(provider);
    }
    usage
}

/// Ends a run whose task stopped without finishing it (a panic): the session is freed, and
/// clients are told the run failed and may prompt again.
struct RunGuard {
    state: Arc<ServerState>,
    session: String,
    /// Set once the run ended normally (its task frees the session itself).
    done: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.state.finish_run(&self.session);
        let message = "the run stopped unexpectedly (an internal error); the session can take a new prompt";
        let session = Some(self.session.as_str());
        self.state.publish(&Event::agent(
            "agent.complete",
            session,
            json!({ "success": false, "error": message }),
        ));
        self.state.publish(&Event::agent("agent.ready", session, json!({})));
    }
}

/// Keeps the run's state (turn, streamed text, tool calls) for `agent.getState`.
fn track(state: &ServerState, session: &str, event: &AgentEvent<'_>) {
    let now = crate::events::now_iso;
    match event {
        AgentEvent::Persisted(e) if e.event_type.as_str() == "stream.turn_start" => {
            let turn = e.payload["turn"].as_i64().unwrap_or(0);
            state.update_run(session, |r| {
                r.turn = turn;
                r.turn_text.clear();
                r.tool_calls.clear();
            });
        }
        AgentEvent::Stream(StreamEvent::TextDelta { delta }) => {
            state.update_run(session, |r| r.turn_text.push_str(delta));
        }
        AgentEvent::ToolStart { id, name, arguments } => state.update_run(session, |r| {
            r.tool_calls.push(ToolCallState {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                arguments: (*arguments).clone(),
                status: "running",
                started_at: now(),
                completed_at: None,
            })
        }),
        AgentEvent::ToolEnd { id, result, .. } => state.update_run(session, |r| {
            if let Some(call) = r.tool_calls.iter_mut().find(|c| c.id == *id) {
                call.status = if result.failed() { "error" } else { "completed" };
                call.completed_at = Some(now());
            }
        }),
        _ => {}
    }
}

/// `agent.abort {sessionId}` -> `{aborted}`: whether a run was stopped. As in the
/// TypeScript server (`AgentController.cancel` @6cfc9d2 calls `TronAgent.abort`, which
/// emits `agent_interrupted` at once), `agent.complete {success: false, interrupted: true,
/// partialContent?}` goes out before the response; the run then persists what it had and
/// sends `agent.ready`.
pub fn abort(state: &ServerState, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let aborted = match state.abort(session) {
        Some(partial) => {
            state.publish(&Event::agent("agent.complete", Some(session), interrupted(&partial)));
            true
        }
        None => state.abort_subagents(session),
    };
    Ok(json!({ "aborted": aborted }))
}

/// `agent.getState {sessionId}` -> `{isRunning, currentTurn, messageCount, tokenUsage:
/// {input, output}, model, tools: [], currentTurnText?, currentTurnToolCalls?,
/// wasInterrupted}` (`agent.adapter.ts` @2d7fff5 / @570dba3, keys in its order): the turn,
/// message count and token totals of the session's agent (see [`run_result`]), the text and
/// tool calls of the turn in progress while it runs.
pub async fn get_state(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let id = session.clone();
    let (row, interrupted, rec, own) = state
        .store
        .run(move |s| {
            let row = s.session(&id)?;
            let last: Option<String> = s
                .connection()
                .prepare_cached(
                    "SELECT type FROM events WHERE session_id = ?1
                     AND type IN ('message.assistant', 'notification.interrupted', 'message.user')
                     ORDER BY sequence DESC LIMIT 1",
                )?
                .query_row([&id], |r| r.get(0))
                .ok();
            let rec = s.messages(&id)?;
            let own = s.events(&id)?;
            Ok((row, last.as_deref() == Some("notification.interrupted"), rec, own))
        })
        .await
        .map_err(store_error)?;
    let (messages, turns, input, output) = own_view(&rec, &own);
    let run: Option<RunInfo> = state.run(&session);
    let mut v = json!({
        "isRunning": run.is_some(),
        "currentTurn": run.as_ref().map_or(turns, |r| r.turn),
        "messageCount": messages.len(),
        "tokenUsage": {"input": input, "output": output},
        "model": row.latest_model,
        "tools": [],
    });
    if let Some(run) = run {
        v["currentTurnText"] = json!(run.turn_text);
        v["currentTurnToolCalls"] = run
            .tool_calls
            .iter()
            .map(|c| {
                json!({"toolCallId": c.id, "toolName": c.name, "arguments": c.arguments,
                       "status": c.status, "startedAt": c.started_at, "completedAt": c.completed_at})
            })
            .collect();
    }
    v["wasInterrupted"] = json!(interrupted);
    Ok(v)
}

//! `agent.prompt`, `agent.abort`, `agent.getState`, and the run a prompt starts.
//!
//! `agent.prompt` answers `{acknowledged: true, runId}` at once and runs the prompt in a
//! task; the run's frames are pushed as it goes (see [`RunAdapter`]) and always end with
//! `agent.complete` then `agent.ready` (the iOS app unlocks its input on `agent.ready`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::runner::{prepare_run, RunSetupError, RunSpec, ToolChoice};
use crate::agent::{AgentEvent, TurnError};
use crate::context::memory::LedgerOutcome;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::core::stream::StreamEvent;
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
    };
    let prepared = prepare_run(spec).await.map_err(|e| match e {
        RunSetupError::Provider(e) => RpcError::new(RpcErrorCode::Unauthorized, e.to_string()),
        RunSetupError::UnknownSkill(e) => RpcError::invalid_params(e),
        RunSetupError::Store(e) => store_error(e),
    })?;
    let run = state.start_run(&session, &run_id, cancel)?;
    let state = Arc::clone(state);
    let guard = RunGuard { state: Arc::clone(&state), session: session.clone(), done: false };
    let (sent, acknowledged) = tokio::sync::oneshot::channel();
    conn.after_response.push(sent);
    // The run's log records carry its session (the request's span ends with the reply).
    let span = tracing::info_span!("run", session_id = %session, run_id = %run_id);
    let run = async move {
        let mut guard = guard;
        // Start once the acknowledgment is out (or the connection is gone), so it always
        // precedes the run's frames.
        let _ = acknowledged.await;
        match prepared.persist_setup().await {
            Ok(events) => super::skill::publish(&state, &session, &events),
            Err(e) => tracing::warn!(error = %e, "could not record the prompt's rules and skills"),
        }
        let mut adapter = RunAdapter::new(&session);
        // The text of the model call in progress, for `partialContent` when aborted.
        let state_text = std::sync::Mutex::new(String::new());
        state.publish(&Event::new("agent.turn_start", Some(&session), json!({})));
        let result = prepared
            .run(|event| {
                track(&state, &session, &event);
                if let Ok(mut text) = state_text.lock() {
                    match &event {
                        AgentEvent::Stream(StreamEvent::TextDelta { delta }) => text.push_str(delta),
                        AgentEvent::Persisted(e) if e.event_type.as_str() == "stream.turn_start" => {
                            text.clear()
                        }
                        _ => {}
                    }
                }
                for frame in adapter.frames(&event) {
                    state.publish(&frame);
                }
            })
            .await;
        drop(run);
        guard.done = true;
        state.finish_run(&session);
        let data = match &result {
            Ok(outcome) => {
                let turn = run_result(&state, &session, outcome).await;
                state.publish(&Event::new("agent.turn", Some(&session), turn));
                json!({ "success": true })
            }
            Err(TurnError::Aborted) => {
                let partial = state_text.lock().map(|t| t.clone()).unwrap_or_default();
                json!({ "success": false, "interrupted": true, "partialContent": partial })
            }
            Err(e) => {
                state.publish(&Event::new(
                    "agent.error",
                    Some(&session),
                    json!({ "code": error_code(e), "message": e.to_string(), "error": e.to_string() }),
                ));
                json!({ "success": false, "error": e.to_string() })
            }
        };
        state.publish(&Event::new("agent.complete", Some(&session), data));
        state.publish(&Event::new("agent.ready", Some(&session), json!({})));
        // The memory ledger, after the client was told the run ended (fail-silent).
        if !matches!(result, Err(TurnError::PromptBlocked(_))) {
            if let Some(LedgerOutcome::Written { event, title, entry_type }) = prepared.write_memory().await {
                super::skill::publish(&state, &session, std::slice::from_ref(&*event));
                let data = json!({ "title": title, "entryType": entry_type });
                state.publish(&Event::new("agent.memory_updated", Some(&session), data));
                state.index_memory();
            }
        }
    };
    tokio::spawn(tracing::Instrument::instrument(run, span));
    Ok(json!({ "acknowledged": true, "runId": run_id }))
}

/// The `agent.turn` data (the TypeScript server's RunResult): `{success, messages, turns,
/// totalTokenUsage}`, the messages being the session's conversation in the in-memory shape
/// (tool calls with `arguments`, tool results as `toolResult` messages).
async fn run_result(state: &Arc<ServerState>, session: &str, outcome: &crate::agent::TurnOutcome) -> Value {
    let id = session.to_owned();
    let messages: Vec<Value> = match state.store.run(move |s| s.messages(&id)).await {
        Ok(rec) => rec
            .messages()
            .map(|m| {
                let mut message = m.to_message();
                if let crate::core::messages::Message::Assistant(a) = &mut message {
                    for block in &mut a.content {
                        if let crate::core::content::ContentBlock::ToolUse(t) = block {
                            t.arguments_key = crate::core::content::ArgumentsKey::Arguments;
                        }
                    }
                }
                serde_json::to_value(message).unwrap_or(Value::Null)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    json!({
        "success": true,
        "messages": messages,
        "turns": outcome.model_calls,
        "totalTokenUsage": {"inputTokens": outcome.usage.input_tokens, "outputTokens": outcome.usage.output_tokens},
    })
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
        self.state.publish(&Event::new(
            "agent.error",
            session,
            json!({ "code": "INTERNAL_ERROR", "message": message, "error": message }),
        ));
        self.state.publish(&Event::new(
            "agent.complete",
            session,
            json!({ "success": false, "error": message }),
        ));
        self.state.publish(&Event::new("agent.ready", session, json!({})));
    }
}

fn error_code(e: &TurnError) -> &'static str {
    match e {
        TurnError::Provider(_) => "PROVIDER_ERROR",
        TurnError::Aborted => "AGENT_ABORTED",
        TurnError::PromptBlocked(_) => "PROMPT_BLOCKED",
        _ => "INTERNAL_ERROR",
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

/// `agent.abort {sessionId}` -> `{aborted}`: whether a run was stopped. The run persists
/// what it had and ends with `agent.complete {interrupted: true}` and `agent.ready`.
pub fn abort(state: &ServerState, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    Ok(json!({ "aborted": state.abort(session) }))
}

/// `agent.getState {sessionId}` -> `{isRunning, currentTurn, messageCount, tokenUsage,
/// model, tools, currentTurnText?, currentTurnToolCalls?, wasInterrupted}`.
pub async fn get_state(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let id = session.clone();
    let (row, interrupted) = state
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
            Ok((row, last.as_deref() == Some("notification.interrupted")))
        })
        .await
        .map_err(store_error)?;
    let run: Option<RunInfo> = state.run(&session);
    let mut v = json!({
        "isRunning": run.is_some(),
        "currentTurn": run.as_ref().map_or(row.turn_count, |r| r.turn),
        "messageCount": row.message_count,
        "tokenUsage": {"input": row.total_input_tokens, "output": row.total_output_tokens},
        "model": row.latest_model,
        "tools": crate::agent::runner::known_tools(&state.settings.current()),
        "wasInterrupted": interrupted,
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
    Ok(v)
}

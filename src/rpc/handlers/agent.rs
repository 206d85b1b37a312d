//! `agent.prompt`, `agent.abort`, `agent.getState`, and the run a prompt starts.
//!
//! `agent.prompt` answers `{acknowledged: true, runId}` at once and runs the prompt in a
//! task; the run's frames are pushed as it goes (see [`RunAdapter`]) and always end with
//! `agent.complete` then `agent.ready` (the iOS app unlocks its input on `agent.ready`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::{provider_for, run_turn, Agent, AgentEvent, TurnError, TurnSettings};
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::core::stream::StreamEvent;
use crate::llm::models;
use crate::rpc::adapters::RunAdapter;
use crate::rpc::frames::Event;
use crate::rpc::params::{required_str, Params};
use crate::rpc::state::{RunInfo, ToolCallState};
use crate::rpc::{Connection, ServerState};
use crate::tools::{core_tools, ToolContext};

/// `agent.prompt {sessionId, prompt, ...}` -> `{acknowledged: true, runId}`.
///
/// Refused with `SESSION_BUSY` while the session runs, and with a clear error when the
/// session does not exist or its model has no credentials (checked before answering, so a
/// prompt that cannot start is never acknowledged).
pub async fn prompt(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let prompt = required_str(p, "prompt")?.to_owned();
    let id = session.clone();
    let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    state.check_idle(&session)?;
    let model = models::lookup(&row.latest_model).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    let settings = state.settings.current();
    let provider = provider_for(model, &state.paths.auth_file(), |n| (state.env)(n), settings.retry.policy())
        .map_err(|e| RpcError::new(RpcErrorCode::Unauthorized, e.to_string()))?;
    // System prompt (core, provider part, rules, skills) and skill tool denials; a bad
    // `skills` param or an unknown skill is refused before the prompt is acknowledged.
    let prepared = super::skill::prepare_prompt(state, &row, model, &prompt, &settings, p).await?;
    // The prompt's skills and spells go into its `message.user` as the client sent them.
    let user_fields: serde_json::Map<String, Value> = ["skills", "spells"]
        .into_iter()
        .filter_map(|k| {
            p.get(k)
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
                .map(|v| (k.to_owned(), v.clone()))
        })
        .collect();
    let run = state.start_run(&session)?;
    let run_id = run.run_id.clone();
    let state = Arc::clone(state);
    let guard = RunGuard { state: Arc::clone(&state), session: session.clone(), done: false };
    let (sent, acknowledged) = tokio::sync::oneshot::channel();
    conn.after_response.push(sent);
    tokio::spawn(async move {
        let mut guard = guard;
        // Start once the acknowledgment is out (or the connection is gone), so it always
        // precedes the run's frames.
        let _ = acknowledged.await;
        super::skill::persist_prepared(&state, &session, &prepared).await;
        let mut tools = core_tools(&settings);
        tools.register(Arc::new(crate::tools::task_manager::TaskManagerTool::new(
            state.store.clone(),
            &session,
        )));
        tools.retain(|name| !prepared.denied_tools.iter().any(|d| d == name));
        let env = state.env.clone();
        let auth_file = state.paths.auth_file();
        let summarizer = crate::context::summarizer_for(&settings, model, &auth_file, move |n| env(n));
        let settings = TurnSettings {
            model,
            max_tokens: None,
            thinking_budget: None,
            system: Some(prepared.system.clone()),
            max_turns: settings.agent.max_turns,
            run_id: Some(run.run_id.clone()),
            model_name: Some(row.latest_model.clone()),
            user_fields,
            compaction: Some(crate::context::Compaction::from_settings(&settings, summarizer)),
        };
        // A session holding a worktree works in it (src/platform/worktree).
        let id = session.clone();
        let cwd = state
            .store
            .run(move |s| Ok(crate::platform::worktree::journal::worktree_dir_in(s, &id)))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_else(|| row.working_directory.clone());
        let mut ctx = ToolContext::new(&cwd);
        ctx.cancel = run.cancel.clone();
        // Hooks and guardrails (src/agent/hooks, src/agent/guardrails) for this run; hook
        // discovery reads the filesystem, so off the runtime.
        let gate = {
            let (tree, cwd) = (state.settings.current().tree().clone(), ctx.working_directory.clone());
            let (home, data) =
                ((state.env)("HOME").map(std::path::PathBuf::from), state.paths.data_dir.clone());
            tokio::task::spawn_blocking(move || crate::agent::Gate::load(&tree, &cwd, home.as_deref(), &data))
                .await
                .ok()
        };
        let agent = Agent {
            store: &state.store,
            provider: provider.as_ref(),
            tools: &tools,
            ctx: &ctx,
            settings: &settings,
            gate: gate.as_ref(),
        };
        let mut adapter = RunAdapter::new(&session);
        // The text of the model call in progress, for `partialContent` when aborted.
        let state_text = std::sync::Mutex::new(String::new());
        state.publish(&Event::new("agent.turn_start", Some(&session), json!({})));
        let result = run_turn(agent, &session, &prompt, |event| {
            track(&state, &session, &event);
            if let Ok(mut text) = state_text.lock() {
                match &event {
                    AgentEvent::Stream(StreamEvent::TextDelta { delta }) => text.push_str(delta),
                    AgentEvent::Persisted(e) if e.event_type.as_str() == "stream.turn_start" => text.clear(),
                    _ => {}
                }
            }
            for frame in adapter.frames(&event) {
                state.publish(&frame);
            }
        })
        .await;
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
    });
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
        "tools": ([core_tools(&state.settings.current()).names(), vec!["TaskManager".to_owned()]].concat()),
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

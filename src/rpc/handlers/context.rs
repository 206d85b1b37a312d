//! `context.getSnapshot|getDetailedSnapshot|shouldCompact|previewCompaction|
//! confirmCompaction|compact|canAcceptTurn|clear`: the TypeScript server's context methods,
//! over [`crate::context`].
//!
//! Every method needs `sessionId` (`INVALID_PARAMS` without it, `SESSION_NOT_FOUND` for an
//! unknown one); `canAcceptTurn` also needs `estimatedResponseTokens`. Compacting or
//! clearing a session while it runs is refused with `SESSION_BUSY`. A compaction persists
//! `compact.boundary` and `compact.summary` and pushes `agent.compaction {tokensBefore,
//! tokensAfter, reason: "manual", summary}` (as `server.ts` @0b37067 forwards
//! `compaction_completed`; no `agent.compaction_started`, which only an automatic
//! compaction sends), after the `PreCompact` hooks (as for an automatic one); with the
//! memory ledger on, the ledger entry of what no entry covers yet is then written
//! (fail-silent) before the answer; a clear persists `context.cleared` and pushes `agent.context_cleared
//! {tokensBefore, tokensAfter}`. Neither is broadcast as `event.new`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::store_error;
use crate::agent::runner::{run_context, ContextSpec, ToolChoice};
use crate::context::prompt::{PrepareError, Prepared};
use crate::context::{self, ContextManager};
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::llm::models::{self, ModelInfo};
use crate::rpc::adapters::context_snapshot;
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_str, required_str, Params};
use crate::rpc::ServerState;
use crate::settings::Settings;

/// The session's context, its model and the settings in force: the system prompt and the
/// tools its next prompt would be sent with, built as `agent.prompt` builds them (see
/// [`crate::agent::runner::run_context`]), with the prompt's context.
async fn load(
    state: &Arc<ServerState>,
    session: &str,
) -> Result<(ContextManager, Prepared, &'static ModelInfo, Arc<Settings>), RpcError> {
    let id = session.to_owned();
    let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    let model = models::lookup(&row.latest_model).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    let settings = state.settings.current();
    let working_dir =
        crate::platform::worktree::journal::working_dir(&state.store, session, &row.working_directory).await;
    let interactive = crate::rpc::ui::interactive(state);
    let context = run_context(ContextSpec {
        store: &state.store,
        settings: &settings,
        data_dir: &state.paths.data_dir,
        env: &state.env,
        session,
        working_dir: std::path::Path::new(&working_dir),
        model,
        prompt: "",
        skills: Vec::new(),
        spells: Vec::new(),
        system_override: None,
        tools: &ToolChoice::default(),
        subagents: Some(state.subagents(session)),
        browser: Some(state.browser()),
        interactive: Some(&interactive),
    })
    .await
    .map_err(|e| match e {
        PrepareError::UnknownSkill { .. } => RpcError::invalid_params(e.to_string()),
        PrepareError::Store(e) => store_error(e),
    })?;
    let prepared = context.prepared;
    let manager = ContextManager::load(
        &state.store,
        session,
        model,
        Some(prepared.system.clone()),
        context.tools.definitions(),
        &settings,
    )
    .await
    .map_err(store_error)?
    .with_parts(prepared.parts.clone());
    Ok((manager, prepared, model, settings))
}

fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn not_while_running(state: &ServerState, session: &str) -> Result<(), RpcError> {
    match state.run(session) {
        Some(_) => Err(RpcError::new(
            RpcErrorCode::SessionBusy,
            format!("Session {session} is processing a prompt; try again when it is done"),
        )),
        None => Ok(()),
    }
}

/// `context.getSnapshot {sessionId}` -> `{currentTokens, contextLimit, usagePercent,
/// thresholdLevel, breakdown}`.
pub async fn snapshot(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let (manager, ..) = load(state, session).await?;
    Ok(context_snapshot(to_value(manager.snapshot())))
}

/// `context.getDetailedSnapshot {sessionId}` -> the snapshot plus `messages`,
/// `systemPromptContent`, `toolsContent`, `capabilitiesContent`, `addedSkills` (the active
/// skills the session added: `{name, source, addedVia, eventId, tokens?}`) and, when the
/// prompt has rules files, `rules` (`{files: [{path, relativePath, level, depth,
/// sizeBytes}], totalFiles, tokens}`).
pub async fn detailed_snapshot(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let (manager, prepared, ..) = load(state, session).await?;
    let mut v = context_snapshot(to_value(manager.snapshot()));
    v["messages"] = to_value(manager.message_infos());
    v["systemPromptContent"] = json!(manager.system_prompt);
    v["toolsContent"] =
        json!(manager.tools.iter().map(|t| format!("{}: {}", t.name, t.description)).collect::<Vec<_>>());
    v["capabilitiesContent"] = json!(manager
        .tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description}))
        .collect::<Vec<_>>());
    v["addedSkills"] = to_value(&prepared.added_skills);
    if prepared.rules.total_files > 0 {
        v["rules"] = json!({
            "files": prepared.rules.files,
            "totalFiles": prepared.rules.total_files,
            "tokens": prepared.rules.merged_tokens,
        });
    }
    Ok(v)
}

/// `context.shouldCompact {sessionId}` -> `{shouldCompact}`.
pub async fn should_compact(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let (manager, ..) = load(state, session).await?;
    Ok(json!({ "shouldCompact": manager.should_compact() }))
}

/// `context.canAcceptTurn {sessionId, estimatedResponseTokens}` -> `{canProceed,
/// needsCompaction, wouldExceedLimit, currentTokens, estimatedAfterTurn, contextLimit}`.
pub async fn can_accept_turn(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let tokens = match p.get("estimatedResponseTokens") {
        None | Some(Value::Null) => return Err(RpcError::missing_param("estimatedResponseTokens")),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.is_finite()).map(|f| f.ceil() as u64))
            .ok_or_else(|| {
                RpcError::invalid_params("estimatedResponseTokens must be a non-negative number")
            })?,
    };
    let (manager, ..) = load(state, session).await?;
    Ok(to_value(manager.can_accept_turn(tokens)))
}

/// `context.previewCompaction {sessionId}` -> `{tokensBefore, tokensAfter,
/// compressionRatio, preservedTurns, summarizedTurns, summary, extractedData}`; persists
/// nothing.
pub async fn preview_compaction(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let (manager, _, model, settings) = load(state, session).await?;
    let env = state.env.clone();
    let summarizer = context::summarizer_for(&settings, model, &state.paths.auth_file(), move |n| env(n));
    let outcome = context::preview(&manager, summarizer.as_ref()).await;
    let mut v = to_value(&outcome);
    if let Some(obj) = v.as_object_mut() {
        obj.shift_remove("success");
    }
    Ok(v)
}

/// `context.confirmCompaction {sessionId, editedSummary?}` (and its alias `context.compact`)
/// -> `{success, tokensBefore, tokensAfter, compressionRatio, summary, extractedData?}`.
pub async fn confirm_compaction(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let edited = opt_str(p, "editedSummary")?.filter(|s| !s.trim().is_empty()).map(str::to_owned);
    let reason = opt_str(p, "reason")?.unwrap_or("manual").to_owned();
    not_while_running(state, session)?;
    let (manager, _, model, settings) = load(state, session).await?;
    let env = state.env.clone();
    let summarizer = context::summarizer_for(&settings, model, &state.paths.auth_file(), move |n| env(n));
    let mut note = None;
    if edited.is_some() || manager.split_point() > 0 {
        note = pre_compact(state, session, &manager, model, &settings).await?;
    }
    let summarizer = summarizer.as_ref();
    let outcome =
        context::compact(&state.store, session, &manager, summarizer, &reason, edited, None, note.as_deref())
            .await
            .map_err(|context::ContextError::Store(e)| store_error(e))?;
    let compacted = !outcome.events.is_empty();
    if compacted {
        let data = json!({ "tokensBefore": outcome.tokens_before, "tokensAfter": outcome.tokens_after,
                           "reason": "manual", "summary": outcome.summary });
        state.publish(&Event::new("agent.compaction", Some(session), data));
    }
    // The memory ledger after a compaction (fail-silent; `context.memory.ledger.enabled`):
    // the entry of what no entry covers yet, after the boundary, before the answer.
    let ledger = settings.get("context.memory.ledger.enabled").and_then(Value::as_bool) != Some(false);
    if compacted && ledger {
        super::memory::write_entry(state, session, &settings, model).await;
    }
    let mut v = to_value(&outcome);
    if let Some(obj) = v.as_object_mut() {
        obj.shift_remove("preservedTurns");
        obj.shift_remove("summarizedTurns");
    }
    Ok(v)
}

/// `PreCompact` hooks before a compaction on request, as before an automatic one (their
/// events persisted, not broadcast): the continuation note `builtin:pre-compact` asked for.
async fn pre_compact(
    state: &Arc<ServerState>,
    session: &str,
    manager: &ContextManager,
    model: &ModelInfo,
    settings: &Settings,
) -> Result<Option<String>, RpcError> {
    let id = session.to_owned();
    let row = state.store.run(move |s| s.session(&id)).await.map_err(store_error)?;
    let wd =
        crate::platform::worktree::journal::working_dir(&state.store, session, &row.working_directory).await;
    let wd = std::path::PathBuf::from(wd);
    let (tokens, window) = (manager.current_tokens(), model.context_window);
    let (store, data, env) = (&state.store, &state.paths.data_dir, &state.env);
    let (note, _events) =
        crate::agent::runner::pre_compact_hooks(store, settings, data, env, session, &wd, tokens, window)
            .await
            .map_err(store_error)?;
    Ok(note)
}

/// `context.clear {sessionId}` -> `{success, tokensBefore, tokensAfter, clearedTodos}`;
/// persists `context.cleared`.
pub async fn clear(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    not_while_running(state, session)?;
    let (manager, ..) = load(state, session).await?;
    let (before, after, _) = context::clear(&state.store, session, &manager)
        .await
        .map_err(|context::ContextError::Store(e)| store_error(e))?;
    let data = json!({ "tokensBefore": before, "tokensAfter": after });
    state.publish(&Event::new("agent.context_cleared", Some(session), data));
    Ok(json!({ "success": true, "tokensBefore": before, "tokensAfter": after, "clearedTodos": [] }))
}

//! `tool.result {sessionId, toolCallId, result}` -> `{success: true, toolCallId, runId}`:
//! the answers to an `AskUserQuestion` call (or the user's response to a `RenderAppUI`
//! canvas: any object, passed on as JSON), which continue the session.
//!
//! The TypeScript server resolves a pending call with this method and answers
//! `NOT_FOUND` ("No pending tool call found with ID: ...") when there is none. Here, as in
//! its async model, `AskUserQuestion` has already ended its run, so the call is pending
//! while it is the session's `AskUserQuestion` (or `RenderAppUI`) call with no prompt after
//! it. For questions, `result` is the app's `AskUserQuestionResult` (`{answers: [{questionId, selectedValues,
//! otherValue?}], complete, submittedAt}`); the answers are checked against the questions
//! asked and become the session's next prompt (see [`crate::tools::ask_user`]), started as
//! `agent.prompt` starts one (same acknowledgment rules, same frames).

use std::sync::Arc;

use rusqlite::OptionalExtension;
use serde_json::{json, Map, Value};

use super::store_error;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::rpc::params::{required_str, Params};
use crate::rpc::{Connection, ServerState};
use crate::tools::{ask_user, render_ui};

/// `tool.result`.
pub async fn result(state: &Arc<ServerState>, conn: &mut Connection, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let call = required_str(p, "toolCallId")?.to_owned();
    let result = match p.get("result") {
        Some(r @ Value::Object(_)) => r.clone(),
        _ => {
            return Err(RpcError::invalid_params(
                "result is required (an object: the AskUserQuestion answers, or the canvas response)",
            ))
        }
    };
    let (s, c) = (session.clone(), call.clone());
    // The call, when it is an AskUserQuestion or RenderAppUI call no prompt has followed yet.
    let pending: Option<Value> = state
        .store
        .run(move |store| {
            store.session(&s)?;
            let db = store.connection();
            let found: Option<(i64, String)> = db
                .prepare_cached(
                    "SELECT sequence, payload FROM events WHERE session_id = ?1 AND type = 'tool.call'
                     AND json_extract(payload, '$.toolCallId') = ?2 ORDER BY sequence DESC LIMIT 1",
                )?
                .query_row([&s, &c], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((sequence, payload)) = found else { return Ok(None) };
            let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
            if payload["name"] != ask_user::NAME && payload["name"] != render_ui::NAME {
                return Ok(None);
            }
            let answered: i64 = db
                .prepare_cached(
                    "SELECT COUNT(*) FROM events WHERE session_id = ?1 AND type = 'message.user' AND sequence > ?2",
                )?
                .query_row(rusqlite::params![&s, sequence], |r| r.get(0))?;
            Ok((answered == 0).then_some(payload))
        })
        .await
        .map_err(store_error)?;
    let Some(payload) = pending else {
        return Err(RpcError::new(
            RpcErrorCode::NotFound,
            format!("No pending tool call found with ID: {call}"),
        ));
    };
    let arguments = payload
        .get("arguments")
        .or_else(|| payload.get("input"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let prompt = if payload["name"] == render_ui::NAME {
        // The user's actions on a canvas (button taps, bound values), as the app sends them.
        let canvas = arguments.get("canvasId").and_then(Value::as_str).unwrap_or("(generated id)");
        let pretty = serde_json::to_string_pretty(&result).unwrap_or_default();
        format!("[User response from canvas {canvas}]\n{pretty}")
    } else {
        answers_prompt(&call, &arguments, &result)?
    };
    let mut params = Map::new();
    params.insert("sessionId".into(), json!(session));
    params.insert("prompt".into(), json!(prompt));
    let ack = super::agent::prompt(state, conn, &params).await?;
    Ok(json!({ "success": true, "toolCallId": call, "runId": ack["runId"] }))
}

/// The prompt carrying the answers `result` to the `AskUserQuestion` call `call`.
fn answers_prompt(
    call: &str,
    arguments: &serde_json::Map<String, Value>,
    result: &Value,
) -> Result<String, RpcError> {
    let questions = ask_user::validate(arguments).map_err(|e| {
        RpcError::new(RpcErrorCode::InvalidOperation, format!("the call {call} has no valid questions: {e}"))
    })?;
    let answers = ask_user::parse_answers(result, &questions).map_err(RpcError::invalid_params)?;
    Ok(ask_user::format_answers(&questions, &answers))
}

//! `model.list`, `model.switch`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::session::model_param;
use super::store_error;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::NewEvent;
use crate::llm::models;
use crate::rpc::adapters::model_info;
use crate::rpc::params::{required_str, Params};
use crate::rpc::ServerState;

/// `model.list` -> `{models: [...]}`, every model of the registry.
pub fn list() -> Value {
    json!({ "models": models::all().iter().map(model_info).collect::<Vec<_>>() })
}

/// `model.switch {sessionId, model}` -> `{previousModel, newModel}`; persists
/// `config.model_switch` (not broadcast: the TypeScript `ModelController` appends it
/// without `event.new`). Refused while the session is running.
pub async fn switch(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let model_id = required_str(p, "model")?.to_owned();
    model_param(&model_id)?;
    if state.run(&session).is_some() {
        return Err(RpcError::new(
            RpcErrorCode::SessionBusy,
            format!("Session {session} is running; switch the model when it is done"),
        ));
    }
    let id = session.clone();
    let new_model = model_id.clone();
    let previous = state
        .store
        .run(move |s| {
            let previous = s.session(&id)?.latest_model;
            let payload = json!({ "previousModel": previous, "newModel": new_model });
            s.append(&id, NewEvent::raw("config.model_switch", payload))?;
            Ok(previous)
        })
        .await
        .map_err(store_error)?;
    Ok(json!({ "previousModel": previous, "newModel": model_id }))
}

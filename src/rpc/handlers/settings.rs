//! `settings.get`, `settings.update` and `logs.export`.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::core::errors::RpcError;
use crate::rpc::adapters::settings_view;
use crate::rpc::params::{opt_str, required_str, Params};
use crate::rpc::ServerState;
use crate::settings::UpdateError;

/// `settings.get` -> the settings in force (see [`settings_view`]).
pub fn get(state: &ServerState) -> Value {
    settings_view(state.settings.current().tree())
}

/// `settings.update {settings}` -> `{success: true}`: deep-merges `settings` (nested, as the
/// file is: `server.defaultModel`, `context.compactor.preserveRecentCount`, ...) into
/// `~/.tron/settings.json`, after checking it. A bad value is `INVALID_PARAMS` naming the
/// key; a settings file that does not parse is reported and left as it is.
pub async fn update(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let Some(patch) = p.get("settings").cloned() else {
        return Err(RpcError::invalid_params("settings is required"));
    };
    let handle = Arc::clone(&state.settings);
    let outcome = tokio::task::spawn_blocking(move || handle.update(&patch))
        .await
        .map_err(|e| RpcError::internal(e.to_string()))?;
    match outcome {
        Ok(_) => {
            tracing::info!(component = "settings", "settings updated through settings.update");
            Ok(json!({ "success": true }))
        }
        Err(e @ (UpdateError::NotAnObject | UpdateError::Invalid(_))) => {
            Err(RpcError::invalid_params(e.to_string()))
        }
        Err(e) => Err(RpcError::internal(e.to_string())),
    }
}

/// `logs.export {content, filename?}` -> `{success: true, path, bytesWritten}`: saves logs
/// the iOS app sends under `<data dir>/artifacts/ios-logs/` (the file name defaults to
/// `logs_<time>.txt`; a name with a path in it is refused).
pub async fn export_logs(state: &ServerState, p: &Params) -> Result<Value, RpcError> {
    let content = required_str(p, "content")?;
    if content.is_empty() {
        return Err(RpcError::invalid_params("content is required"));
    }
    let name = match opt_str(p, "filename")?.filter(|n| !n.is_empty()) {
        Some(n) if n.contains(['/', '\\']) || n.starts_with('.') => {
            return Err(RpcError::invalid_params(format!("filename {n:?} must be a plain file name")));
        }
        Some(n) => n.to_owned(),
        None => format!("logs_{}.txt", chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S")),
    };
    let path = state.paths.data_dir.join("artifacts").join("ios-logs").join(name);
    let bytes = content.as_bytes().to_vec();
    let target = path.clone();
    tokio::task::spawn_blocking(move || crate::settings::files::write_atomic(&target, &bytes, None))
        .await
        .map_err(|e| RpcError::internal(e.to_string()))?
        .map_err(|e| RpcError::internal(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(component = "rpc:logs", path = %path.display(), bytes = content.len(), "iOS logs exported");
    Ok(json!({ "success": true, "path": path.display().to_string(), "bytesWritten": content.len() }))
}

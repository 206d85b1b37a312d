//! `device.register` and `device.unregister`: the iOS app's push-notification device token
//! (stored in `device_tokens`, see [`crate::events::devices`]), with the TypeScript
//! server's params, results and error codes (`REGISTRATION_FAILED`,
//! `UNREGISTRATION_FAILED`).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::devices::DeviceRegistration;
use crate::events::StoreError;
use crate::rpc::params::{opt_str, required_str, Params};
use crate::rpc::ServerState;

fn failed(code: &str, e: StoreError) -> RpcError {
    RpcError::new(RpcErrorCode::from(code), e.to_string())
}

/// `device.register {deviceToken, sessionId?, workspaceId?, environment?}` -> `{id,
/// created}`: registers the token (64 hex characters), or updates and reactivates a known
/// one.
pub async fn register(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let reg = DeviceRegistration {
        device_token: required_str(p, "deviceToken")?.to_owned(),
        session_id: opt_str(p, "sessionId")?.map(str::to_owned),
        workspace_id: opt_str(p, "workspaceId")?.map(str::to_owned),
        environment: opt_str(p, "environment")?.map(str::to_owned),
    };
    let done = state
        .store
        .run(move |s| s.register_device(&reg))
        .await
        .map_err(|e| failed("REGISTRATION_FAILED", e))?;
    Ok(json!({ "id": done.id, "created": done.created }))
}

/// `device.unregister {deviceToken}` -> `{success}`: deactivates the token; `success` is
/// whether it was known.
pub async fn unregister(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let token = required_str(p, "deviceToken")?.to_owned();
    let success = state
        .store
        .run(move |s| s.unregister_device(&token))
        .await
        .map_err(|e| failed("UNREGISTRATION_FAILED", e))?;
    Ok(json!({ "success": success }))
}

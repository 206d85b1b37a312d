//! `system.ping`, `system.getInfo`.

use serde_json::{json, Value};

use crate::rpc::ServerState;

/// `system.ping` -> `{pong: true, timestamp}`.
pub fn ping() -> Value {
    json!({ "pong": true, "timestamp": crate::events::now_iso() })
}

/// `system.getInfo` -> `{version, uptime (ms, integer), activeSessions}`.
pub fn info(state: &ServerState) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": state.started.elapsed().as_millis() as u64,
        "activeSessions": state.running(),
    })
}

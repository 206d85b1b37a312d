//! The three frame shapes of the wire: requests from clients, responses to them, and pushed
//! events. Everything here is the TypeScript server's JSON, field for field.
//!
//! - request `{"id": string, "method": string, "params"?: object, "idempotencyKey"?: string}`
//! - response `{"id", "success": true, "result"}` or
//!   `{"id", "success": false, "error": {"code", "message", "details"?}}`
//! - event `{"type", "sessionId"?, "timestamp", "data"}`

use serde::Serialize;
use serde_json::{Map, Value};

use crate::core::errors::RpcError;

/// A request as a handler sees it. `params` is always an object (`{}` when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The client's id, echoed in the response.
    pub id: String,
    /// e.g. `session.create`.
    pub method: String,
    /// The parameters.
    pub params: Map<String, Value>,
}

/// Reads one client frame (text or binary; the iOS app sends binary). Not JSON is a
/// `PARSE_ERROR`; JSON that is not an object with string `id` and `method` (or whose
/// `params` is neither absent, null nor an object) is `INVALID_FORMAT`. Both are answered
/// with a `system.error` event, and the connection stays open.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RpcError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| RpcError::parse_error())?;
    let Value::Object(mut obj) = value else { return Err(RpcError::invalid_format()) };
    let (Some(Value::String(id)), Some(Value::String(method))) = (obj.remove("id"), obj.remove("method"))
    else {
        return Err(RpcError::invalid_format());
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(RpcError::invalid_format()),
    };
    Ok(Request { id, method, params })
}

/// A successful response. A `null` result is sent as `{}`: the iOS app treats a missing or
/// null `result` as a failure.
pub fn ok_response(id: &str, result: Value) -> String {
    let result = if result.is_null() { Value::Object(Map::new()) } else { result };
    #[derive(Serialize)]
    struct Ok<'a> {
        id: &'a str,
        success: bool,
        result: Value,
    }
    serde_json::to_string(&Ok { id, success: true, result }).expect("JSON values serialize")
}

/// A failed response.
pub fn error_response(id: &str, error: &RpcError) -> String {
    #[derive(Serialize)]
    struct Err<'a> {
        id: &'a str,
        success: bool,
        error: &'a RpcError,
    }
    serde_json::to_string(&Err { id, success: false, error }).expect("errors serialize")
}

/// A pushed event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// e.g. `agent.text_delta`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The session it belongs to; clients bound to other sessions do not get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// ISO 8601 with milliseconds.
    pub timestamp: String,
    /// The event's data.
    pub data: Value,
}

impl Event {
    /// An event stamped now.
    pub fn new(event_type: impl Into<String>, session_id: Option<&str>, data: Value) -> Self {
        Self {
            event_type: event_type.into(),
            session_id: session_id.map(str::to_owned),
            timestamp: crate::events::now_iso(),
            data,
        }
    }

    /// An orchestrator `agent_event` / `agent_turn` frame (a run's `agent.*` frames, the
    /// subagent frames): as `interface/server.ts` @0b37067 forwards them, the data also
    /// carries the frame's `timestamp` (`{...event.data, timestamp}`). Frames the TypeScript
    /// server builds itself (`session.*`, `event.new`, a manual `agent.compaction`,
    /// `agent.context_cleared`, `agent.memory_updated`, `agent.skill_removed`,
    /// `agent.todos_updated`, `agent.message_deleted`) use [`Event::new`].
    pub fn agent(event_type: impl Into<String>, session_id: Option<&str>, data: Value) -> Self {
        let mut event = Self::new(event_type, session_id, data);
        if let Value::Object(data) = &mut event.data {
            data.insert("timestamp".into(), Value::String(event.timestamp.clone()));
        }
        event
    }

    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events serialize")
    }
}

/// The `system.error` event sent for a frame that is not a request.
pub fn system_error(error: &RpcError) -> Event {
    Event::new("system.error", None, serde_json::json!({ "code": error.code, "message": error.message }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::errors::RpcErrorCode;
    use serde_json::json;

    #[test]
    fn requests_need_string_ids_and_methods() {
        let r = parse_request(br#"{"id":"1","method":"system.ping"}"#).unwrap();
        assert_eq!((r.id.as_str(), r.method.as_str(), r.params.len()), ("1", "system.ping", 0));
        let r = parse_request(br#"{"id":"A","method":"m","params":{"x":1},"idempotencyKey":"k"}"#).unwrap();
        assert_eq!(r.params["x"], 1);
        for bad in [
            &br#"{"id":7,"method":"system.ping"}"#[..],
            b"[1]",
            br#"{"hello":1}"#,
            br#"{"id":"1","method":"m","params":[1]}"#,
        ] {
            assert_eq!(parse_request(bad).unwrap_err().code, RpcErrorCode::InvalidFormat, "{bad:?}");
        }
        assert_eq!(parse_request(b"{not json").unwrap_err().code, RpcErrorCode::ParseError);
    }

    #[test]
    fn frames_have_the_typescript_shapes() {
        assert_eq!(
            ok_response("1", json!({"pong": true})),
            r#"{"id":"1","success":true,"result":{"pong":true}}"#
        );
        assert_eq!(ok_response("1", Value::Null), r#"{"id":"1","success":true,"result":{}}"#);
        let e = error_response("2", &RpcError::method_not_found("x.y"));
        assert_eq!(
            e,
            r#"{"id":"2","success":false,"error":{"code":"METHOD_NOT_FOUND","message":"Unknown method: x.y"}}"#
        );
        let ev: Value = serde_json::from_str(&system_error(&RpcError::parse_error()).to_json()).unwrap();
        assert_eq!(ev["type"], "system.error");
        assert_eq!(ev["data"]["code"], "PARSE_ERROR");
        assert!(ev.get("sessionId").is_none());
    }
}

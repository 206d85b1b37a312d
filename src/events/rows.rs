//! Mapping between [`SessionEvent`] and rows of the `events` table, including the
//! denormalised columns the TypeScript server derives from each payload.

use rusqlite::Row;
use serde_json::Value;

use super::types::{EventType, SessionEvent};

/// The columns of `events` that every read selects, in this order (see [`event_from_row`]).
pub const EVENT_COLUMNS: &str =
    "id, parent_id, session_id, workspace_id, timestamp, type, sequence, checksum, payload";

/// Builds an event from a row selected with [`EVENT_COLUMNS`]. A payload that is not JSON
/// (never written by tron or the TypeScript server, but possible in a damaged row) reads as
/// `{}`, as the TypeScript store does, instead of failing the whole read.
pub fn event_from_row(row: &Row<'_>) -> rusqlite::Result<SessionEvent> {
    let payload_text: String = row.get(8)?;
    let payload = serde_json::from_str(&payload_text).unwrap_or_else(|_| Value::Object(Default::default()));
    let parent: Option<String> = row.get(1)?;
    Ok(SessionEvent {
        id: row.get(0)?,
        parent_id: parent.filter(|p| !p.is_empty()).map(crate::core::EventId::from_raw),
        session_id: row.get(2)?,
        workspace_id: row.get(3)?,
        timestamp: row.get(4)?,
        event_type: EventType::parse(&row.get::<_, String>(5)?),
        sequence: row.get(6)?,
        checksum: row.get(7)?,
        payload,
    })
}

/// The values the TypeScript server stores beside the payload, derived from it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Derived<'a> {
    pub role: Option<&'static str>,
    pub tool_name: Option<&'a str>,
    pub tool_call_id: Option<&'a str>,
    pub turn: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
}

/// Derives the denormalised columns: role from the type, tool name and call id, turn and
/// token counts from the payload (for every type, as the TypeScript store does).
pub fn derive<'a>(event_type: &EventType, payload: &'a Value) -> Derived<'a> {
    let role = match event_type.as_str() {
        "message.user" => Some("user"),
        "message.assistant" => Some("assistant"),
        "message.system" => Some("system"),
        "tool.call" | "tool.result" => Some("tool"),
        _ => None,
    };
    let s = |k: &str| payload.get(k).and_then(Value::as_str);
    let usage = payload.get("tokenUsage");
    let tok = |k: &str| usage.and_then(|u| u.get(k)).and_then(as_i64);
    Derived {
        role,
        tool_name: s("toolName").or_else(|| s("name")),
        tool_call_id: s("toolCallId"),
        turn: payload.get("turn").and_then(as_i64),
        input_tokens: tok("inputTokens"),
        output_tokens: tok("outputTokens"),
        cache_read_tokens: tok("cacheReadTokens"),
        cache_creation_tokens: tok("cacheCreationTokens"),
    }
}

/// A JSON number as an integer (JavaScript writes whole numbers that may be floats).
pub fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derives_columns_like_the_typescript_store() {
        let p = json!({"toolCallId": "t1", "name": "Bash", "turn": 3,
                       "tokenUsage": {"inputTokens": 10, "outputTokens": 5.0}});
        let d = derive(&EventType::parse("tool.call"), &p);
        assert_eq!(d.role, Some("tool"));
        assert_eq!(d.tool_name, Some("Bash"));
        assert_eq!(d.tool_call_id, Some("t1"));
        assert_eq!(d.turn, Some(3));
        assert_eq!((d.input_tokens, d.output_tokens, d.cache_read_tokens), (Some(10), Some(5), None));
        assert_eq!(derive(&EventType::parse("rules.loaded"), &json!({})), Derived::default());
    }
}

//! `send_message` and `receive_messages`: sessions talking to each other through a message
//! bus, and [`MemoryBus`], the in-memory bus behind them (the TypeScript server's
//! `InMemoryMessageBus`: messages live in memory only, per target session, newest kept).
//!
//! Owns the two tools' names, schemas, checks and result texts (the TypeScript server's:
//! snake_case names, `targetSessionId`/`messageType`/`payload`/`waitForReply`/`timeout` and
//! `type`/`fromSessionId`/`limit`/`markAsRead`) and the bus's rules (newest first, unread
//! filter, mark as read, at most [`MAX_PER_SESSION`] messages kept per session). The tools
//! reach the bus through [`MessageBus`], which rpc/ implements over a [`MemoryBus`] (it
//! also refuses unknown target sessions and pushes `communication.message` frames), so
//! tools/ never depends on the server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// The tools' names.
pub const NAMES: [&str; 2] = ["send_message", "receive_messages"];

/// Messages kept per target session (the oldest go first).
pub const MAX_PER_SESSION: usize = 1000;
/// `waitForReply` waits this long by default (30 s).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// `receive_messages` returns at most this many by default.
pub const DEFAULT_LIMIT: usize = 20;

/// One message between sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct BusMessage {
    /// Its id (`msg_` and a UUID).
    pub id: String,
    /// The sender session.
    pub from_session_id: String,
    /// The target session.
    pub to_session_id: String,
    /// Its type, for routing (`task`, `query`, ...).
    pub message_type: String,
    /// Its content.
    pub payload: Value,
    /// When it was sent (ISO 8601).
    pub timestamp: String,
    /// The message it answers.
    pub reply_to: Option<String>,
    /// Whether it was read.
    pub read: bool,
}

impl BusMessage {
    /// The wire / tool-details shape: `{id, fromSessionId, toSessionId, type, payload,
    /// timestamp, replyTo?}`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "fromSessionId": self.from_session_id, "toSessionId": self.to_session_id,
            "type": self.message_type, "payload": self.payload, "timestamp": self.timestamp,
        });
        if let Some(r) = &self.reply_to {
            v["replyTo"] = json!(r);
        }
        v
    }
}

/// What to receive.
#[derive(Debug, Clone, Default)]
pub struct ReceiveFilter {
    /// Only this type.
    pub message_type: Option<String>,
    /// Only from this session.
    pub from_session_id: Option<String>,
    /// Only unread messages.
    pub unread_only: bool,
}

/// What the tools need from the bus.
pub trait MessageBus: Send + Sync {
    /// Sends a message from `from` to `to`; its id, or why it was refused.
    fn send<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        message_type: &'a str,
        payload: Value,
        reply_to: Option<String>,
    ) -> BoxFuture<'a, Result<String, String>>;

    /// Messages to `session` matching `filter`, newest first, at most `limit`, and the
    /// session's unread count before this call; marks the returned ones read when
    /// `mark_read`.
    fn receive<'a>(
        &'a self,
        session: &'a str,
        filter: ReceiveFilter,
        limit: usize,
        mark_read: bool,
    ) -> BoxFuture<'a, Result<(Vec<BusMessage>, usize), String>>;

    /// Marks the messages `ids` read (unknown ids are ignored).
    fn mark_read<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>>;
}

/// The in-memory bus (see the module doc).
#[derive(Debug, Default)]
pub struct MemoryBus {
    inboxes: Mutex<HashMap<String, VecDeque<BusMessage>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a message; the stored message.
    pub fn post(
        &self,
        from: &str,
        to: &str,
        message_type: &str,
        payload: Value,
        reply_to: Option<String>,
    ) -> BusMessage {
        let message = BusMessage {
            id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
            from_session_id: from.to_owned(),
            to_session_id: to.to_owned(),
            message_type: message_type.to_owned(),
            payload,
            timestamp: crate::events::now_iso(),
            reply_to,
            read: false,
        };
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        let inbox = inboxes.entry(to.to_owned()).or_default();
        inbox.push_back(message.clone());
        while inbox.len() > MAX_PER_SESSION {
            inbox.pop_front();
        }
        message
    }

    /// Marks the messages `ids` read.
    pub fn mark(&self, ids: &[String]) {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        for m in inboxes.values_mut().flat_map(|i| i.iter_mut()) {
            if ids.contains(&m.id) {
                m.read = true;
            }
        }
    }

    /// See [`MessageBus::receive`].
    pub fn take(
        &self,
        session: &str,
        filter: &ReceiveFilter,
        limit: usize,
        mark_read: bool,
    ) -> (Vec<BusMessage>, usize) {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(inbox) = inboxes.get_mut(session) else { return (Vec::new(), 0) };
        let unread = inbox.iter().filter(|m| !m.read).count();
        let mut out = Vec::new();
        for m in inbox.iter_mut().rev() {
            if out.len() >= limit {
                break;
            }
            let wanted = (!filter.unread_only || !m.read)
                && filter.message_type.as_ref().is_none_or(|t| *t == m.message_type)
                && filter.from_session_id.as_ref().is_none_or(|f| *f == m.from_session_id);
            if wanted {
                out.push(m.clone());
                if mark_read {
                    m.read = true;
                }
            }
        }
        (out, unread)
    }
}

impl MessageBus for MemoryBus {
    fn send<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        message_type: &'a str,
        payload: Value,
        reply_to: Option<String>,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Ok(self.post(from, to, message_type, payload, reply_to).id) })
    }

    fn receive<'a>(
        &'a self,
        session: &'a str,
        filter: ReceiveFilter,
        limit: usize,
        mark_read: bool,
    ) -> BoxFuture<'a, Result<(Vec<BusMessage>, usize), String>> {
        Box::pin(async move { Ok(self.take(session, &filter, limit, mark_read)) })
    }

    fn mark_read<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.mark(ids);
            Ok(())
        })
    }
}

/// `send_message` for one session.
pub struct SendMessageTool {
    bus: Arc<dyn MessageBus>,
    session: String,
}

/// `receive_messages` for one session.
pub struct ReceiveMessagesTool {
    bus: Arc<dyn MessageBus>,
    session: String,
}

/// Both tools for `session` over `bus`.
pub fn tools(bus: Arc<dyn MessageBus>, session: &str) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(SendMessageTool { bus: Arc::clone(&bus), session: session.to_owned() }),
        Arc::new(ReceiveMessagesTool { bus, session: session.to_owned() }),
    ]
}

fn error(message: String, details: Value) -> ToolResult {
    ToolResult { details: Some(details), ..ToolResult::error(format!("Error: {message}")) }
}

impl SendMessageTool {
    async fn run(&self, args: &JsonObject, ctx: &ToolContext) -> ToolResult {
        let failed = |e: String| error(e.clone(), json!({"success": false, "messageId": "", "error": e}));
        let target = match args.get("targetSessionId").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(t) => t,
            None => return failed("targetSessionId is required (the session to send to)".into()),
        };
        let message_type = match args.get("messageType").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(t) => t,
            None => {
                return failed("messageType is required (e.g. \"task\", \"query\", \"notification\")".into())
            }
        };
        let Some(payload) = args.get("payload").cloned() else {
            return failed("payload is required (the message content)".into());
        };
        let wait = args.get("waitForReply").and_then(Value::as_bool).unwrap_or(false);
        let timeout = match args.get("timeout") {
            None | Some(Value::Null) => DEFAULT_REPLY_TIMEOUT,
            Some(v) => match v.as_f64() {
                Some(ms) if ms >= 0.0 => Duration::from_millis(ms as u64),
                _ => return failed(format!("timeout must be a number of milliseconds, got {v}")),
            },
        };
        let id = match self.bus.send(&self.session, target, message_type, payload, None).await {
            Ok(id) => id,
            Err(e) => return failed(e),
        };
        if !wait {
            return ToolResult {
                details: Some(json!({"success": true, "messageId": id})),
                ..ToolResult::text(format!("Message sent successfully (id: {id})"))
            };
        }
        // As the TypeScript tool does: look for a reply every 500 ms until the timeout.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let filter = ReceiveFilter {
                from_session_id: Some(target.to_owned()),
                unread_only: true,
                ..Default::default()
            };
            if let Ok((messages, _)) = self.bus.receive(&self.session, filter, MAX_PER_SESSION, false).await {
                if let Some(reply) = messages.into_iter().find(|m| m.reply_to.as_deref() == Some(id.as_str()))
                {
                    let _ = self.bus.mark_read(std::slice::from_ref(&reply.id)).await;
                    return ToolResult {
                        details: Some(json!({"success": true, "messageId": id,
                            "reply": {"messageId": reply.id, "payload": reply.payload}})),
                        ..ToolResult::text(format!(
                            "Message sent and reply received (reply id: {})",
                            reply.id
                        ))
                    };
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::select! {
                _ = ctx.cancel.cancelled() => return failed(format!("interrupted while waiting for a reply to {id}")),
                _ = tokio::time::sleep((deadline - now).min(Duration::from_millis(500))) => {}
            }
        }
        let ms = timeout.as_millis();
        ToolResult {
            details: Some(
                json!({"success": true, "messageId": id, "error": format!("Timeout waiting for reply after {ms}ms")}),
            ),
            ..ToolResult::text(format!("Message sent (id: {id}) but timed out waiting for reply"))
        }
    }
}

impl Tool for SendMessageTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAMES[0],
            "Send a message to another agent session. Can optionally wait for a reply.",
            json!({
                "type": "object",
                "properties": {
                    "targetSessionId": {"type": "string", "description": "Session ID to send the message to"},
                    "messageType": {"type": "string", "description": "Type of message for routing (e.g., \"task\", \"query\", \"notification\")"},
                    "payload": {"type": "object", "description": "Message content/data"},
                    "waitForReply": {"type": "boolean", "description": "Whether to wait for a reply message"},
                    "timeout": {"type": "number", "description": "Timeout in milliseconds when waiting for reply (default: 30000)"}
                },
                "required": ["targetSessionId", "messageType", "payload"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(self.run(arguments, ctx))
    }
}

impl ReceiveMessagesTool {
    async fn run(&self, args: &JsonObject) -> ToolResult {
        let failed = |e: String| error(e, json!({"messages": [], "unreadCount": 0}));
        let string = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(v) => match v.as_f64() {
                Some(n) if n >= 1.0 => n as usize,
                _ => return failed(format!("limit must be a positive number, got {v}")),
            },
        };
        let mark = args.get("markAsRead").and_then(Value::as_bool).unwrap_or(true);
        let filter = ReceiveFilter {
            message_type: string("type"),
            from_session_id: string("fromSessionId"),
            unread_only: true,
        };
        let (messages, unread) = match self.bus.receive(&self.session, filter, limit, mark).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let list: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut v = m.to_json();
                v.as_object_mut().map(|o| o.remove("toSessionId"));
                v
            })
            .collect();
        let details = json!({"messages": list, "unreadCount": unread});
        if messages.is_empty() {
            return ToolResult {
                details: Some(details),
                ..ToolResult::text(format!("No messages found. Total unread: {unread}"))
            };
        }
        let lines: Vec<String> = messages
            .iter()
            .map(|m| {
                let payload: String = m.payload.to_string().chars().take(100).collect();
                format!("- [{}] from {}: {payload}", m.message_type, m.from_session_id)
            })
            .collect();
        ToolResult {
            details: Some(details),
            ..ToolResult::text(format!(
                "Found {} messages ({unread} unread total):\n{}",
                messages.len(),
                lines.join("\n")
            ))
        }
    }
}

impl Tool for ReceiveMessagesTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAMES[1],
            "Check for messages sent to this session from other agents. Can filter by type or sender.",
            json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string", "description": "Filter by message type"},
                    "fromSessionId": {"type": "string", "description": "Filter by sender session ID"},
                    "limit": {"type": "number", "description": "Maximum messages to return (default: 20)"},
                    "markAsRead": {"type": "boolean", "description": "Whether to mark returned messages as read (default: true)"}
                },
                "required": []
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(self.run(arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_bus_keeps_newest_first_filters_and_marks_read() {
        let bus = MemoryBus::new();
        bus.post("a", "b", "task.created", json!({"n": 1}), None);
        bus.post("c", "b", "task.updated", json!({"n": 2}), None);
        bus.post("a", "z", "other", json!({}), None);
        let all = ReceiveFilter::default();
        let (m, unread) = bus.take("b", &all, 10, false);
        assert_eq!((m.len(), unread), (2, 2));
        assert_eq!(m[0].payload, json!({"n": 2}));
        let from_a =
            ReceiveFilter { from_session_id: Some("a".into()), unread_only: true, ..Default::default() };
        assert_eq!(bus.take("b", &from_a, 10, true).0.len(), 1);
        let unread_only = ReceiveFilter { unread_only: true, ..Default::default() };
        let (m, unread) = bus.take("b", &unread_only, 10, false);
        assert_eq!((m.len(), unread), (1, 1));
        assert_eq!(bus.take("nobody", &all, 10, false), (Vec::new(), 0));
        for i in 0..MAX_PER_SESSION + 5 {
            bus.post("a", "full", "t", json!(i), None);
        }
        let (m, _) = bus.take("full", &all, usize::MAX, false);
        assert_eq!(m.len(), MAX_PER_SESSION);
        assert_eq!(m[0].payload, json!(MAX_PER_SESSION + 4));
    }

    #[tokio::test]
    async fn send_and_receive_between_two_sessions() {
        let bus: Arc<dyn MessageBus> = Arc::new(MemoryBus::new());
        let a = tools(Arc::clone(&bus), "sess_a");
        let b = tools(Arc::clone(&bus), "sess_b");
        let ctx = ToolContext::new(".");
        let sent = a[0]
            .execute(
                &args(
                    json!({"targetSessionId": "sess_b", "messageType": "query", "payload": {"q": "status?"}}),
                ),
                &ctx,
            )
            .await;
        assert!(!sent.failed(), "{}", sent.text_content());
        let id = sent.details.unwrap()["messageId"].as_str().unwrap().to_owned();
        let got = b[1].execute(&JsonObject::new(), &ctx).await;
        assert_eq!(
            got.text_content(),
            "Found 1 messages (1 unread total):\n- [query] from sess_a: {\"q\":\"status?\"}"
        );
        let details = got.details.unwrap();
        assert_eq!(details["messages"][0]["id"], id.as_str());
        assert_eq!(details["messages"][0]["fromSessionId"], "sess_a");
        let again = b[1].execute(&JsonObject::new(), &ctx).await;
        assert_eq!(again.text_content(), "No messages found. Total unread: 0");
        let bad = a[0].execute(&args(json!({"messageType": "q", "payload": {}})), &ctx).await;
        assert!(bad.failed() && bad.text_content().contains("targetSessionId is required"));
        let bad = b[1].execute(&args(json!({"limit": 0})), &ctx).await;
        assert!(bad.failed() && bad.text_content().contains("limit"));
    }

    #[tokio::test]
    async fn waiting_for_a_reply_returns_it() {
        let bus = Arc::new(MemoryBus::new());
        let dyn_bus: Arc<dyn MessageBus> = bus.clone();
        let a = tools(dyn_bus, "sess_a");
        let replier = {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                loop {
                    let (m, _) = bus.take("sess_b", &ReceiveFilter::default(), 1, true);
                    if let Some(m) = m.first() {
                        bus.post("sess_b", "sess_a", "answer", json!({"ok": true}), Some(m.id.clone()));
                        return;
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        let r = a[0]
            .execute(&args(json!({"targetSessionId": "sess_b", "messageType": "q", "payload": {}, "waitForReply": true})), &ToolContext::new("."))
            .await;
        replier.await.unwrap();
        assert!(r.text_content().starts_with("Message sent and reply received"), "{}", r.text_content());
        assert_eq!(r.details.unwrap()["reply"]["payload"], json!({"ok": true}));
    }
}

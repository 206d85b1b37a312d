//! The server side of the interactive tools: the message bus sessions share, the
//! `communication.*` subscriptions, and the `agent.ui_render_*` frames of `RenderAppUI`.
//!
//! Owns: [`UiServices`] (in [`ServerState`]: one [`MemoryBus`] for every session, as the
//! TypeScript server keeps messages in memory, and the subscriptions that push
//! `communication.message`), [`interactive`] (what a run's interactive tools get: the
//! canvas store of the data dir and a bus that refuses unknown target sessions), and
//! [`UiRenders`] (per run: the TypeScript server's `UIRenderHandler` — `ui_render_start`
//! when a `RenderAppUI` call's streamed arguments show its `canvasId` or when it starts,
//! `ui_render_chunk {canvasId, chunk, accumulated}` per streamed fragment after that, and at
//! its end `ui_render_complete {canvasId, ui, state}`, `ui_render_retry {canvasId, attempt,
//! errors}` or `ui_render_error {canvasId, error}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::frames::Event;
use super::ServerState;
use crate::agent::AgentEvent;
use crate::core::stream::StreamEvent;
use crate::tools::interactive::Interactive;
use crate::tools::messaging::{BusMessage, MemoryBus, MessageBus, ReceiveFilter};
use crate::tools::render_ui::NAME as RENDER;

/// A `communication.subscribe`: which session's messages, of which types.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The target session watched.
    pub session_id: String,
    /// `*`, `prefix.*` or an exact type.
    pub pattern: String,
}

impl Subscription {
    /// Whether `message` is one this subscription wants.
    pub fn matches(&self, message: &BusMessage) -> bool {
        message.to_session_id == self.session_id
            && match self.pattern.strip_suffix('*') {
                Some(prefix) => message.message_type.starts_with(prefix),
                None => message.message_type == self.pattern,
            }
    }
}

/// Shared by every connection (see the module doc).
#[derive(Debug, Default)]
pub struct UiServices {
    /// Messages between sessions.
    pub bus: MemoryBus,
    subscriptions: Mutex<HashMap<String, Subscription>>,
}

impl UiServices {
    fn subs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a subscription; its id.
    pub fn subscribe(&self, subscription: Subscription) -> String {
        let id = format!("sub_{}", crate::core::ids::short_hex());
        self.subs().insert(id.clone(), subscription);
        id
    }

    /// Removes a subscription; whether there was one.
    pub fn unsubscribe(&self, id: &str) -> bool {
        self.subs().remove(id).is_some()
    }

    /// How many subscriptions there are.
    pub fn subscription_count(&self) -> usize {
        self.subs().len()
    }

    /// Whether a subscription wants `message`.
    pub fn wanted(&self, message: &BusMessage) -> bool {
        self.subs().values().any(|s| s.matches(message))
    }
}

/// Sends `message` (already on the bus) to the clients that subscribed to it, as
/// `communication.message` of the target session.
pub fn announce(state: &ServerState, message: &BusMessage) {
    if state.ui.wanted(message) {
        state.publish(&Event::new("communication.message", Some(&message.to_session_id), message.to_json()));
    }
}

/// Posts a message from `from` to `to` after checking that `to` is a session of this
/// server's store; the message, or why it was refused.
pub async fn post(
    state: &ServerState,
    from: &str,
    to: &str,
    message_type: &str,
    payload: Value,
    reply_to: Option<String>,
) -> Result<BusMessage, String> {
    let id = to.to_owned();
    match state.store.run(move |s| s.session(&id)).await {
        Ok(_) => {}
        Err(crate::events::StoreError::SessionNotFound(_)) => {
            return Err(format!("no session {to}: targetSessionId must name an existing session"))
        }
        Err(e) => return Err(e.to_string()),
    }
    let message = state.ui.bus.post(from, to, message_type, payload, reply_to);
    announce(state, &message);
    Ok(message)
}

/// The bus a run's tools use.
struct ServerBus {
    state: Weak<ServerState>,
}

const GONE: &str = "the server is shutting down";

impl MessageBus for ServerBus {
    fn send<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        message_type: &'a str,
        payload: Value,
        reply_to: Option<String>,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let state = self.state.upgrade().ok_or(GONE)?;
            post(&state, from, to, message_type, payload, reply_to).await.map(|m| m.id)
        })
    }

    fn receive<'a>(
        &'a self,
        session: &'a str,
        filter: ReceiveFilter,
        limit: usize,
        mark_read: bool,
    ) -> BoxFuture<'a, Result<(Vec<BusMessage>, usize), String>> {
        Box::pin(async move {
            let state = self.state.upgrade().ok_or(GONE)?;
            Ok(state.ui.bus.take(session, &filter, limit, mark_read))
        })
    }

    fn mark_read<'a>(&'a self, ids: &'a [String]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let state = self.state.upgrade().ok_or(GONE)?;
            state.ui.bus.mark(ids);
            Ok(())
        })
    }
}

/// The interactive tools' services for a run of this server.
pub fn interactive(state: &Arc<ServerState>) -> Interactive {
    Interactive {
        canvases: crate::platform::canvas::CanvasStore::new(&state.paths.data_dir),
        messages: Arc::new(ServerBus { state: Arc::downgrade(state) }),
    }
}

/// One `RenderAppUI` call being streamed.
#[derive(Debug, Default)]
struct Render {
    canvas_id: Option<String>,
    accumulated: String,
    started: bool,
}

/// The `agent.ui_render_*` frames of one run (see the module doc).
#[derive(Debug, Default)]
pub struct UiRenders {
    /// By tool call id.
    active: HashMap<String, Render>,
}

/// The value of `"canvasId": "..."` in partial JSON text, once it is complete.
fn canvas_id_in(json: &str) -> Option<String> {
    let at = json.find("\"canvasId\"")?;
    let rest = json[at + "\"canvasId\"".len()..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned()).filter(|s| !s.is_empty() && !s.contains('\\'))
}

impl UiRenders {
    /// The frames `event` of a run of `session` adds (none for most events).
    pub fn frames(&mut self, session: &str, event: &AgentEvent<'_>) -> Vec<Event> {
        let ev = |t: &str, data: Value| Event::new(t, Some(session), data);
        let mut out = Vec::new();
        match event {
            AgentEvent::Stream(StreamEvent::ToolCallStart { tool_call_id, name }) if name == RENDER => {
                self.active.insert(tool_call_id.clone(), Render::default());
            }
            AgentEvent::Stream(StreamEvent::ToolCallDelta { tool_call_id, arguments_delta }) => {
                let Some(render) = self.active.get_mut(tool_call_id) else { return out };
                render.accumulated.push_str(arguments_delta);
                if render.canvas_id.is_none() {
                    render.canvas_id = canvas_id_in(&render.accumulated);
                    if let Some(id) = &render.canvas_id {
                        out.push(ev(
                            "agent.ui_render_start",
                            json!({"canvasId": id, "toolCallId": tool_call_id}),
                        ));
                        render.started = true;
                    }
                }
                if let Some(id) = &render.canvas_id {
                    out.push(ev(
                        "agent.ui_render_chunk",
                        json!({"canvasId": id, "chunk": arguments_delta, "accumulated": render.accumulated}),
                    ));
                }
            }
            AgentEvent::ToolStart { id, name, arguments } if *name == RENDER => {
                let render = self.active.entry((*id).to_owned()).or_default();
                let canvas = arguments.get("canvasId").and_then(Value::as_str);
                // Without a canvasId the tool makes one: the start then comes with the end.
                if let (false, Some(canvas)) = (render.started, canvas) {
                    let mut data = json!({"canvasId": canvas, "toolCallId": id});
                    if let Some(title) = arguments.get("title").filter(|t| t.is_string()) {
                        data["title"] = title.clone();
                    }
                    out.push(ev("agent.ui_render_start", data));
                    render.started = true;
                    render.canvas_id = Some(canvas.to_owned());
                }
            }
            AgentEvent::ToolEnd { id, name, result, .. } if *name == RENDER => {
                let render = self.active.remove(*id).unwrap_or_default();
                let details = result.details.as_ref();
                let detail = |k: &str| details.and_then(|d| d.get(k));
                let canvas =
                    detail("canvasId").and_then(Value::as_str).map(str::to_owned).or(render.canvas_id);
                let Some(canvas) = canvas else { return out };
                let text = result.text_content();
                if detail("needsRetry").and_then(Value::as_bool) == Some(true) {
                    let attempt = detail("attempt").cloned().unwrap_or(json!(1));
                    out.push(ev(
                        "agent.ui_render_retry",
                        json!({"canvasId": canvas, "attempt": attempt, "errors": text}),
                    ));
                } else if result.failed() {
                    out.push(ev("agent.ui_render_error", json!({"canvasId": canvas, "error": text})));
                } else if let Some(ui) = detail("ui").filter(|u| u.is_object()) {
                    if !render.started {
                        let mut data = json!({"canvasId": canvas, "toolCallId": id});
                        if let Some(title) = detail("title").filter(|t| t.is_string()) {
                            data["title"] = title.clone();
                        }
                        out.push(ev("agent.ui_render_start", data));
                    }
                    let mut data = json!({"canvasId": canvas, "ui": ui});
                    if let Some(state) = detail("state").filter(|s| s.is_object()) {
                        data["state"] = state.clone();
                    }
                    out.push(ev("agent.ui_render_complete", data));
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tools::ToolResult;

    #[test]
    fn the_canvas_id_is_found_in_partial_json() {
        assert_eq!(canvas_id_in(r#"{"canvasId""#), None);
        assert_eq!(canvas_id_in(r#"{"canvasId" : "ab"#), None);
        assert_eq!(canvas_id_in(r#"{"title":"x","canvasId": "abc-1","#).as_deref(), Some("abc-1"));
    }

    #[test]
    fn a_streamed_render_starts_once_then_chunks_then_completes() {
        let mut r = UiRenders::default();
        let s = StreamEvent::ToolCallStart { tool_call_id: "t1".into(), name: RENDER.into() };
        assert!(r.frames("s", &AgentEvent::Stream(&s)).is_empty());
        let mut types = Vec::new();
        for part in [r#"{"canv"#, r#"asId": "c1", "ui""#, r#": {"$tag": "Text"}}"#] {
            let d = StreamEvent::ToolCallDelta { tool_call_id: "t1".into(), arguments_delta: part.into() };
            for f in r.frames("s", &AgentEvent::Stream(&d)) {
                types.push(f.event_type.clone());
                if f.event_type == "agent.ui_render_chunk" {
                    assert_eq!(f.data["chunk"], part);
                }
            }
        }
        assert_eq!(types, ["agent.ui_render_start", "agent.ui_render_chunk", "agent.ui_render_chunk"]);
        let args = json!({"canvasId": "c1", "ui": {"$tag": "Text"}});
        assert!(r
            .frames("s", &AgentEvent::ToolStart { id: "t1", name: RENDER, arguments: &args })
            .is_empty());
        let result = ToolResult {
            details: Some(json!({"canvasId": "c1", "ui": {"$tag": "Text"}, "state": null})),
            ..ToolResult::text("ok")
        };
        let end =
            r.frames("s", &AgentEvent::ToolEnd { id: "t1", name: RENDER, result: &result, duration_ms: 1 });
        assert_eq!(end.len(), 1);
        assert_eq!(end[0].event_type, "agent.ui_render_complete");
        assert_eq!(end[0].data, json!({"canvasId": "c1", "ui": {"$tag": "Text"}}));
    }

    #[test]
    fn subscriptions_match_by_session_and_pattern() {
        let m = BusMessage {
            id: "m".into(),
            from_session_id: "a".into(),
            to_session_id: "b".into(),
            message_type: "task.created".into(),
            payload: json!({}),
            timestamp: String::new(),
            reply_to: None,
            read: false,
        };
        let sub = |s: &str, p: &str| Subscription { session_id: s.into(), pattern: p.into() };
        assert!(
            sub("b", "*").matches(&m)
                && sub("b", "task.*").matches(&m)
                && sub("b", "task.created").matches(&m)
        );
        assert!(
            !sub("a", "*").matches(&m) && !sub("b", "other.*").matches(&m) && !sub("b", "task").matches(&m)
        );
    }
}

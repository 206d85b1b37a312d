//! Canonical model -> iOS wire shape. The only place where internal values become the
//! TypeScript server's frames: session list entries, model entries, and the `agent.*`
//! events of a run.
//!
//! Numbers the iOS app decodes as `Int` (durations, turns, token counts) are always sent
//! as JSON integers: one float there makes the app drop the whole event.

use serde_json::{json, Map, Value};

use super::frames::Event;
use crate::agent::AgentEvent;
use crate::core::stream::StreamEvent;
use crate::events::{SessionEvent, SessionRow};
use crate::llm::models::ModelInfo;

/// A `session.list` entry (and the data of `session.created` / `session.updated`).
pub fn session_info(row: &SessionRow, running: bool, previews: (Option<String>, Option<String>)) -> Value {
    let mut v = json!({
        "sessionId": row.id,
        "workingDirectory": row.working_directory,
        "model": row.latest_model,
        "title": row.title,
        "messageCount": row.message_count,
        "inputTokens": row.total_input_tokens,
        "outputTokens": row.total_output_tokens,
        "lastTurnInputTokens": row.last_turn_input_tokens,
        "cacheReadTokens": row.total_cache_read_tokens,
        "cacheCreationTokens": row.total_cache_creation_tokens,
        "cost": row.total_cost,
        "createdAt": row.created_at,
        "lastActivity": row.last_activity_at,
        "isActive": row.archived_at.is_none() || running,
        "parentSessionId": row.parent_session_id,
    });
    let obj = v.as_object_mut().expect("an object");
    if let Some(p) = previews.0 {
        obj.insert("lastUserPrompt".into(), Value::String(p));
    }
    if let Some(a) = previews.1 {
        obj.insert("lastAssistantResponse".into(), Value::String(a));
    }
    // Optional fields are left out rather than sent as null.
    obj.retain(|_, v| !v.is_null());
    v
}

/// A `model.list` entry.
pub fn model_info(m: &ModelInfo) -> Value {
    let mut v = json!({
        "id": m.id,
        "name": m.name,
        "provider": m.provider.as_str(),
        "contextWindow": m.context_window,
        "maxOutputTokens": m.max_output,
        "supportsThinking": m.supports_thinking,
        "supportsImages": m.supports_images,
        "supportsReasoning": m.supports_reasoning_effort,
    });
    if m.supports_reasoning_effort {
        v["reasoningLevels"] = json!(m.reasoning_levels);
        if let Some(level) = m.default_reasoning_level {
            v["defaultReasoningLevel"] = json!(level);
        }
    }
    v
}

/// The `settings.get` result: the whole settings tree (what the iOS app's nested decoder
/// reads) with the TypeScript server's flat keys beside it (what its older decoder reads):
/// `defaultModel` (`server.defaultModel`), `defaultWorkspace` (when set),
/// `maxConcurrentSessions`, `compaction` (`context.compactor`, with `preserveRecentCount`
/// named `preserveRecentTurns`), `memory` (`ledger`, `autoInject`) and `rules`. The flat
/// `tools.web` is the tree's own `tools.web`.
pub fn settings_view(tree: &Value) -> Value {
    let at = |path: &str| path.split('.').try_fold(tree, |v, k| v.get(k)).cloned().unwrap_or(Value::Null);
    let or = |path: &str, fallback: Value| match at(path) {
        Value::Null => fallback,
        v => v,
    };
    let mut view = match tree {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    view.insert("defaultModel".into(), at("server.defaultModel"));
    if let Value::String(dir) = at("server.defaultWorkspace") {
        view.insert("defaultWorkspace".into(), Value::String(dir));
    }
    view.insert("maxConcurrentSessions".into(), at("server.maxConcurrentSessions"));
    view.insert(
        "compaction".into(),
        json!({
            "preserveRecentTurns": at("context.compactor.preserveRecentCount"),
            "forceAlways": or("context.compactor.forceAlways", json!(false)),
            "triggerTokenThreshold": or("context.compactor.triggerTokenThreshold", json!(0.7)),
            "alertZoneThreshold": or("context.compactor.alertZoneThreshold", json!(0.5)),
            "defaultTurnFallback": or("context.compactor.defaultTurnFallback", json!(8)),
            "alertTurnFallback": or("context.compactor.alertTurnFallback", json!(5)),
        }),
    );
    view.insert(
        "memory".into(),
        json!({
            "ledger": {"enabled": or("context.memory.ledger.enabled", json!(true))},
            "autoInject": {
                "enabled": or("context.memory.autoInject.enabled", json!(false)),
                "count": or("context.memory.autoInject.count", json!(5)),
            },
        }),
    );
    view.insert(
        "rules".into(),
        json!({"discoverStandaloneFiles": or("context.rules.discoverStandaloneFiles", json!(true))}),
    );
    Value::Object(view)
}

/// Turns one [`AgentEvent`] of a run into the frames the TypeScript server pushes for it.
///
/// A run's persisted events are not broadcast: the TypeScript server sends `event.new` only
/// for `events.append` and `message.delete` (its `EventController.onEventCreated`); clients
/// read persisted events with `events.getHistory` / `events.getSince`. `stream.turn_start`
/// and `stream.turn_end` become `agent.turn_start` / `agent.turn_end`, an automatic
/// compaction `agent.compaction_started` and `agent.compaction`; stream events become
/// `agent.text_delta`, `agent.thinking_*` and `agent.tool_generating`; tool starts, live
/// output chunks and ends become `agent.tool_start`, `agent.tool_output {toolCallId,
/// output}` and `agent.tool_end`. Every frame is an orchestrator `agent_event` (its data
/// carries the `timestamp`, see [`Event::agent`]), and [`RunAdapter::watermark`] says up to
/// which persisted event the session was when it was made.
#[derive(Debug)]
pub struct RunAdapter {
    session: String,
    turn_started: Option<std::time::Instant>,
    /// The sequence of the last persisted event of the run seen so far.
    watermark: Option<i64>,
    /// `RenderAppUI`'s `agent.ui_render_*` frames (see [`super::ui`]).
    ui: super::ui::UiRenders,
}

impl RunAdapter {
    /// An adapter for a run of `session`.
    pub fn new(session: &str) -> Self {
        Self { session: session.to_owned(), turn_started: None, watermark: None, ui: Default::default() }
    }

    fn event(&self, event_type: &str, data: Value) -> Event {
        Event::agent(event_type, Some(&self.session), data)
    }

    /// The sequence of the last event of the session the run persisted (`None` before the
    /// first): the frames made so far announce the session up to it.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// The frames for `event`, in order.
    pub fn frames(&mut self, event: &AgentEvent<'_>) -> Vec<Event> {
        if let AgentEvent::Persisted(e) = event {
            self.watermark = Some(self.watermark.map_or(e.sequence, |w| w.max(e.sequence)));
        }
        let mut frames = self.core_frames(event);
        frames.extend(self.ui.frames(&self.session, event).into_iter().map(|f| {
            let mut f = f;
            if let Value::Object(data) = &mut f.data {
                data.insert("timestamp".into(), Value::String(f.timestamp.clone()));
            }
            f
        }));
        frames
    }

    fn core_frames(&mut self, event: &AgentEvent<'_>) -> Vec<Event> {
        match event {
            AgentEvent::Stream(stream) => self.stream(stream).into_iter().collect(),
            AgentEvent::ToolStart { id, name, arguments } => vec![self.event(
                "agent.tool_start",
                json!({ "toolCallId": id, "toolName": name, "arguments": arguments }),
            )],
            AgentEvent::ToolOutput { id, chunk } => {
                vec![self.event("agent.tool_output", json!({ "toolCallId": id, "output": chunk }))]
            }
            AgentEvent::ToolEnd { id, name, result, duration_ms } => {
                // `tool-event-handler.ts`: toolCallId, toolName, success, output (ok) or error
                // (failed), duration, details.
                let text = result.text_content();
                let mut data = json!({ "toolCallId": id, "toolName": name, "success": !result.failed() });
                data[if result.failed() { "error" } else { "output" }] = Value::String(text);
                data["duration"] = json!(duration_ms);
                if let Some(details @ Value::Object(_)) = &result.details {
                    data["details"] = details.clone();
                }
                vec![self.event("agent.tool_end", data)]
            }
            AgentEvent::CompactionStarted { reason, tokens_before } => vec![self.event(
                "agent.compaction_started",
                json!({ "reason": reason, "tokensBefore": tokens_before }),
            )],
            AgentEvent::Persisted(e) => self.persisted(e),
        }
    }

    fn stream(&self, event: &StreamEvent) -> Option<Event> {
        Some(match event {
            StreamEvent::TextDelta { delta } => self.event("agent.text_delta", json!({ "delta": delta })),
            StreamEvent::ThinkingStart => self.event("agent.thinking_start", json!({})),
            StreamEvent::ThinkingDelta { delta } => {
                self.event("agent.thinking_delta", json!({ "delta": delta }))
            }
            StreamEvent::ThinkingEnd { thinking, signature } => {
                self.event("agent.thinking_end", json!({ "thinking": thinking, "signature": signature }))
            }
            StreamEvent::ToolCallStart { tool_call_id, name } => {
                self.event("agent.tool_generating", json!({ "toolCallId": tool_call_id, "toolName": name }))
            }
            _ => return None,
        })
    }

    fn persisted(&mut self, e: &SessionEvent) -> Vec<Event> {
        match e.event_type.as_str() {
            "stream.turn_start" => {
                self.turn_started = Some(std::time::Instant::now());
                vec![self.event("agent.turn_start", json!({ "turn": e.payload["turn"] }))]
            }
            "stream.turn_end" => {
                // `turn-event-handler.ts`: turn, duration, tokenUsage, tokenRecord, cost.
                let mut data = Map::new();
                data.insert("turn".into(), e.payload["turn"].clone());
                if let Some(started) = self.turn_started.take() {
                    data.insert("duration".into(), json!(started.elapsed().as_millis() as u64));
                }
                for key in ["tokenUsage", "tokenRecord", "cost"] {
                    if let Some(v) = e.payload.get(key).filter(|v| !v.is_null()) {
                        data.insert(key.into(), v.clone());
                    }
                }
                vec![self.event("agent.turn_end", Value::Object(data))]
            }
            "compact.boundary" => vec![self.event("agent.compaction", compaction_data(&e.payload))],
            _ => Vec::new(),
        }
    }
}

/// The `agent.compaction` data of an automatic compaction, from its persisted
/// `compact.boundary` payload: `{tokensBefore, tokensAfter, compressionRatio, reason,
/// summary}` (`compaction-event-handler.ts`). A manual one (`context.compact`) sends
/// `{tokensBefore, tokensAfter, reason: "manual", summary}` instead (`server.ts`).
pub fn compaction_data(boundary: &Value) -> Value {
    let mut data = json!({
        "tokensBefore": boundary["originalTokens"],
        "tokensAfter": boundary["compactedTokens"],
        "compressionRatio": boundary["compressionRatio"],
        "reason": boundary.get("reason").cloned().unwrap_or_else(|| json!("auto")),
    });
    if let Some(v) = boundary.get("summary").filter(|v| !v.is_null()) {
        data["summary"] = v.clone();
    }
    data
}

/// A context snapshot (`context.getSnapshot`) as the iOS app decodes it: the TypeScript
/// `breakdown` (`systemPrompt`, `tools`, `rules`, `messages`, and `memory`, `skillContext`,
/// `skillRemoval` as [`crate::context::manager::Breakdown`] counts them) plus the keys newer
/// app versions require (`capabilities`: the tools' tokens again; `environment`,
/// `skillIndex`, `jobResults` as 0: tron has no such parts).
pub fn context_snapshot(mut snapshot: Value) -> Value {
    if let Some(b) = snapshot.get_mut("breakdown").and_then(Value::as_object_mut) {
        let tools = b.get("tools").cloned().unwrap_or(json!(0));
        b.entry("capabilities").or_insert(tools);
        for key in ["environment", "memory", "skillIndex", "skillContext", "skillRemoval", "jobResults"] {
            b.entry(key).or_insert(json!(0));
        }
    }
    snapshot
}

/// The frames of a parent's subagent event (the TypeScript server's `agent.subagent_*`
/// events, and the children's own frames); `runs` keeps one [`RunAdapter`] per child.
/// `agent.subagent_status` and the forwarded `turn_start` are sent for a committed
/// `subagent.status_update`, after its `event.new`.
pub fn subagent_frames(
    parent: &str,
    event: &crate::agent::subagents::SubagentEvent<'_>,
    runs: &mut std::collections::HashMap<String, RunAdapter>,
) -> Vec<Event> {
    use crate::agent::subagents::SubagentEvent as S;
    let on_parent = |kind: &str, data: Value| Event::agent(kind, Some(parent), data);
    match event {
        S::Persisted { session, event } => {
            // A child's persisted events are not broadcast (see [`RunAdapter`]); its turn
            // start is.
            let mut out = Vec::new();
            // A child's turn start, once committed in the parent's log: the TypeScript
            // server's `agent.subagent_status`, then the forwarded `turn_start` (persist
            // before publish; the child's model call waits for this record).
            if event.event_type.as_str() == "subagent.status_update" {
                let p = &event.payload;
                let child = p["subagentSessionId"].as_str().unwrap_or_default();
                out.push(Event::agent(
                    "agent.subagent_status",
                    Some(session),
                    json!({
                        "subagentSessionId": child,
                        "status": p["status"],
                        "currentTurn": p["currentTurn"],
                    }),
                ));
                out.push(forwarded(session, child, "turn_start", json!({ "turn": p["currentTurn"] })));
            }
            out
        }
        S::Spawned { child, tool_call_id, task, model, working_directory } => {
            // `spawn-handler.ts`: subagentSessionId, toolCallId (when the tool made it),
            // task, model, workingDirectory.
            let mut data = json!({ "subagentSessionId": child });
            if let Some(id) = tool_call_id {
                data["toolCallId"] = json!(id);
            }
            data["task"] = json!(task);
            data["model"] = json!(model);
            data["workingDirectory"] = json!(working_directory);
            vec![on_parent("agent.subagent_spawned", data)]
        }
        S::Run { child, event } => {
            let mut out =
                runs.entry((*child).to_owned()).or_insert_with(|| RunAdapter::new(child)).frames(event);
            let forward = |kind: &str, data: Value| forwarded(parent, child, kind, data);
            match event {
                AgentEvent::Stream(StreamEvent::TextDelta { delta }) => {
                    out.push(forward("text_delta", json!({ "delta": delta })))
                }
                AgentEvent::ToolStart { id, name, arguments } => out.push(forward(
                    "tool_start",
                    json!({ "toolCallId": id, "toolName": name, "arguments": arguments }),
                )),
                AgentEvent::ToolEnd { id, name, result, duration_ms } => out.push(forward(
                    "tool_end",
                    json!({ "toolCallId": id, "toolName": name, "success": !result.failed(),
                            "result": result.text_content(), "duration": duration_ms }),
                )),
                AgentEvent::Persisted(e) if e.event_type.as_str() == "stream.turn_end" => {
                    out.push(forward("turn_end", json!({ "turn": e.payload["turn"] })))
                }
                _ => {}
            }
            out
        }
        S::Completed { child, payload } => {
            runs.remove(*child);
            // `spawn-handler.ts` @c6131e6: the keys in its order, `tokenUsage` (the persisted
            // `totalTokenUsage`) after `duration`.
            let mut data = Map::new();
            for key in [
                "subagentSessionId",
                "resultSummary",
                "fullOutput",
                "totalTurns",
                "duration",
                "tokenUsage",
                "model",
                "stopReason",
                "truncated",
                "completionType",
                "warning",
            ] {
                let from = if key == "tokenUsage" { "totalTokenUsage" } else { key };
                if let Some(v) = payload.get(from) {
                    data.insert(key.into(), v.clone());
                }
            }
            vec![
                on_parent("agent.subagent_completed", Value::Object(data)),
                Event::agent("agent.complete", Some(child), json!({ "success": true })),
                Event::agent("agent.ready", Some(child), json!({})),
            ]
        }
        S::Failed { child, payload } => {
            runs.remove(*child);
            let data = json!({
                "subagentSessionId": child,
                "error": payload["error"],
                "duration": payload["duration"],
                "completionType": payload["completionType"],
            });
            vec![
                on_parent("agent.subagent_failed", data),
                Event::agent(
                    "agent.complete",
                    Some(child),
                    json!({ "success": false, "error": payload["error"] }),
                ),
                Event::agent("agent.ready", Some(child), json!({})),
            ]
        }
        S::ResultAvailable { payload } => {
            vec![on_parent("agent.subagent_result_available", (*payload).clone())]
        }
    }
}

/// A child's step forwarded to its parent's clients: `agent.subagent_event
/// {subagentSessionId, event: {type, data, timestamp}}`.
fn forwarded(parent: &str, child: &str, kind: &str, data: Value) -> Event {
    Event::agent(
        "agent.subagent_event",
        Some(parent),
        json!({
            "subagentSessionId": child,
            "event": { "type": kind, "data": data, "timestamp": crate::events::now_iso() },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tools::ToolResult;

    #[test]
    fn tool_ends_carry_output_or_error_and_integer_durations() {
        let mut a = RunAdapter::new("sess_1");
        let ok = ToolResult::text("hi").with_details(json!({"exitCode": 0}));
        let frames = a.frames(&AgentEvent::ToolEnd { id: "t1", name: "Bash", result: &ok, duration_ms: 12 });
        let v: Value = serde_json::from_str(&frames[0].to_json()).unwrap();
        assert_eq!(v["type"], "agent.tool_end");
        assert_eq!(v["sessionId"], "sess_1");
        assert_eq!(v["data"]["output"], "hi");
        assert_eq!(v["data"]["duration"], 12);
        assert!(v["data"]["duration"].is_u64());
        assert_eq!(v["data"]["details"]["exitCode"], 0);
        let bad = ToolResult::error("boom");
        let frames = a.frames(&AgentEvent::ToolEnd { id: "t1", name: "Bash", result: &bad, duration_ms: 1 });
        assert_eq!(frames[0].data["success"], false);
        assert_eq!(frames[0].data["error"], "boom");
        assert!(frames[0].data.get("output").is_none());
    }

    #[test]
    fn tool_output_chunks_carry_the_call_id_and_the_text() {
        let mut a = RunAdapter::new("s");
        let frames = a.frames(&AgentEvent::ToolOutput { id: "t1", chunk: "a\n" });
        let v: Value = serde_json::from_str(&frames[0].to_json()).unwrap();
        assert_eq!(v["type"], "agent.tool_output");
        assert_eq!(v["sessionId"], "s");
        assert_eq!(v["data"], json!({"toolCallId": "t1", "output": "a\n", "timestamp": v["timestamp"]}));
    }

    #[test]
    fn deltas_map_to_agent_events_and_the_rest_is_not_sent() {
        let a = RunAdapter::new("s");
        let f = a.stream(&StreamEvent::TextDelta { delta: "x".into() }).unwrap();
        assert_eq!(
            (f.event_type.as_str(), &f.data),
            ("agent.text_delta", &json!({"delta": "x", "timestamp": f.timestamp}))
        );
        assert!(a.stream(&StreamEvent::Start).is_none());
    }

    fn persisted(sequence: i64, kind: &str, payload: Value) -> SessionEvent {
        let mut e: SessionEvent = serde_json::from_value(json!({
            "id": format!("evt_{sequence}"), "parentId": null, "sessionId": "s", "workspaceId": "ws_1",
            "timestamp": "2026-01-01T00:00:00.000Z", "type": kind, "sequence": sequence, "payload": {}
        }))
        .unwrap();
        e.payload = payload;
        e
    }

    /// Keys in order, as the TypeScript handlers build them.
    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn persisted_events_are_not_broadcast_and_raise_the_watermark() {
        let mut a = RunAdapter::new("s");
        assert_eq!(a.watermark(), None);
        for (seq, kind) in
            [(3, "message.user"), (5, "message.assistant"), (6, "tool.call"), (7, "tool.result")]
        {
            assert!(a.frames(&AgentEvent::Persisted(&persisted(seq, kind, json!({})))).is_empty(), "{kind}");
        }
        assert_eq!(a.watermark(), Some(7));
        let start = a.frames(&AgentEvent::Persisted(&persisted(8, "stream.turn_start", json!({"turn": 2}))));
        assert_eq!((start[0].event_type.as_str(), &start[0].data["turn"]), ("agent.turn_start", &json!(2)));
        let end = json!({"turn": 2, "tokenUsage": {"inputTokens": 1}, "tokenRecord": {}, "cost": 0.5, "runId": "r"});
        let end = a.frames(&AgentEvent::Persisted(&persisted(9, "stream.turn_end", end)));
        assert_eq!(end[0].event_type, "agent.turn_end");
        assert_eq!(
            keys(&end[0].data),
            ["turn", "duration", "tokenUsage", "tokenRecord", "cost", "timestamp"]
        );
        assert_eq!(a.watermark(), Some(9));
    }

    #[test]
    fn an_automatic_compaction_sends_started_then_the_typescript_data() {
        let mut a = RunAdapter::new("s");
        let started =
            a.frames(&AgentEvent::CompactionStarted { reason: "threshold_exceeded", tokens_before: 42 });
        assert_eq!(started[0].event_type, "agent.compaction_started");
        assert_eq!(keys(&started[0].data), ["reason", "tokensBefore", "timestamp"]);
        let boundary = json!({"originalTokens": 100, "compactedTokens": 10, "compressionRatio": 0.1,
                              "reason": "threshold_exceeded", "summary": "S", "runId": "r"});
        let done = a.frames(&AgentEvent::Persisted(&persisted(4, "compact.boundary", boundary)));
        assert_eq!(done.len(), 1, "no event.new");
        assert_eq!(done[0].event_type, "agent.compaction");
        assert_eq!(
            done[0].data,
            json!({"tokensBefore": 100, "tokensAfter": 10, "compressionRatio": 0.1,
                   "reason": "threshold_exceeded", "summary": "S", "timestamp": done[0].timestamp})
        );
    }

    #[test]
    fn tool_end_keys_follow_the_typescript_order() {
        let mut a = RunAdapter::new("s");
        let ok = ToolResult::text("hi").with_details(json!({"exitCode": 0}));
        let f = a.frames(&AgentEvent::ToolEnd { id: "t1", name: "Bash", result: &ok, duration_ms: 3 });
        assert_eq!(
            keys(&f[0].data),
            ["toolCallId", "toolName", "success", "output", "duration", "details", "timestamp"]
        );
        let bad = ToolResult::error("boom");
        let f = a.frames(&AgentEvent::ToolEnd { id: "t1", name: "Bash", result: &bad, duration_ms: 3 });
        assert_eq!(keys(&f[0].data), ["toolCallId", "toolName", "success", "error", "duration", "timestamp"]);
    }
}

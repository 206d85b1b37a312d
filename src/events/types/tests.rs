//! Round-trip tests: JSON in the shape the TypeScript server persists -> `SessionEvent` ->
//! typed view -> JSON again, for every known type; plus unknown fields and unknown types.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;

/// One representative payload per known type, as the TypeScript server writes it.
#[rustfmt::skip]
fn fixtures() -> Vec<(&'static str, Value)> {
    let usage = json!({"inputTokens": 1200, "outputTokens": 340, "cacheReadTokens": 800,
        "cacheCreationTokens": 0});
    vec![
        ("session.start", json!({"workingDirectory": "/Users/me/proj", "model": "claude-sonnet-4-5",
            "provider": "anthropic", "title": "Fix the build", "tags": ["ci"],
            "forkedFrom": {"sessionId": "sess_0123456789ab", "eventId": "evt_1"}})),
        ("session.end", json!({"reason": "completed", "summary": "done", "totalTokenUsage": usage,
            "duration": 65000})),
        ("session.fork", json!({"sourceSessionId": "sess_0123456789ab",
            "sourceEventId": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "name": "try B"})),
        ("message.user", json!({"content": "Run the tests", "skills": [{"name": "rust", "source": "global"}],
            "spells": [{"name": "commit", "source": "project"}]})),
        ("message.assistant", json!({"content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Running them."},
            {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "cargo test"}}],
            "tokenUsage": usage,
            "tokenRecord": {"source": {"provider": "anthropic", "rawInputTokens": 1200},
                "computed": {"contextWindowTokens": 2000, "newInputTokens": 1200}, "meta": {"turn": 1}},
            "turn": 1, "model": "claude-sonnet-4-5", "stopReason": "tool_use", "latency": 2345,
            "hasThinking": true, "runId": "run_abc"})),
        ("message.system", json!({"content": "Context was compacted.", "source": "compaction"})),
        ("tool.call", json!({"toolCallId": "toolu_01", "name": "Bash",
            "arguments": {"command": "cargo test", "timeout": 120000}, "turn": 1, "runId": "run_abc"})),
        ("tool.result", json!({"toolCallId": "toolu_01", "content": "test result: ok", "isError": false,
            "duration": 4100, "truncated": true, "blobId": "blob_9f8e7d", "runId": "run_abc"})),
        ("stream.text_delta", json!({"delta": "Hel", "turn": 1, "blockIndex": 0})),
        ("stream.thinking_delta", json!({"delta": "consider", "turn": 1})),
        ("stream.turn_start", json!({"turn": 2, "runId": "run_abc"})),
        ("stream.turn_end", json!({"turn": 2, "tokenUsage": usage,
            "tokenRecord": {"computed": {"contextWindowTokens": 2000}}, "cost": 0.012345, "runId": "run_abc"})),
        ("config.model_switch", json!({"previousModel": "claude-sonnet-4-5", "newModel": "gpt-5.1-codex",
            "reason": "user"})),
        ("config.prompt_update", json!({"previousHash": "aa11", "newHash": "bb22", "contentBlobId": "blob_1"})),
        ("config.reasoning_level", json!({"previousLevel": "medium", "newLevel": "xhigh"})),
        ("message.deleted", json!({"targetEventId": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "targetType": "message.user", "targetTurn": 3, "reason": "user_request"})),
        ("notification.interrupted", json!({"timestamp": "2026-01-02T03:04:05.678Z", "turn": 2})),
        ("notification.subagent_result", json!({"parentSessionId": "sess_0123456789ab",
            "subagentSessionId": "sess_ba9876543210", "task": "Find flaky tests",
            "resultSummary": "Two found", "success": true, "totalTurns": 4, "duration": 91000,
            "tokenUsage": usage, "completedAt": "2026-01-02T03:05:00.000Z", "warning": "truncated"})),
        ("compact.boundary", json!({"originalTokens": 150000, "compactedTokens": 30000,
            "compressionRatio": 0.8, "reason": "auto", "summary": "We fixed X.", "runId": "run_abc"})),
        ("compact.summary", json!({"summary": "We fixed X.", "keyDecisions": ["use serde"],
            "filesModified": ["src/lib.rs"], "boundaryEventId": "evt_b"})),
        ("context.cleared", json!({"tokensBefore": 100000, "tokensAfter": 5000, "reason": "manual"})),
        ("skill.added", json!({"skillName": "rust", "source": "global", "addedVia": "mention"})),
        ("skill.removed", json!({"skillName": "rust", "removedVia": "manual"})),
        ("rules.loaded", json!({"files": [{"path": "/Users/me/proj/AGENTS.md", "relativePath": "AGENTS.md",
            "level": "project", "depth": 0, "sizeBytes": 2048},
            {"path": "/Users/me/.tron/AGENTS.md", "relativePath": "/Users/me/.tron/AGENTS.md",
            "level": "global", "depth": -1, "sizeBytes": 100}],
            "totalFiles": 2, "mergedTokens": 537, "dynamicRulesCount": 1})),
        ("rules.indexed", json!({"totalRules": 2, "globalRules": 1, "scopedRules": 1,
            "files": [{"relativePath": "src/CLAUDE.md", "isGlobal": false, "scopeDir": "src", "sizeBytes": 300}]})),
        ("metadata.update", json!({"key": "color", "previousValue": null, "newValue": {"r": 1}})),
        ("metadata.tag", json!({"action": "add", "tag": "urgent"})),
        ("file.read", json!({"path": "src/main.rs", "lines": {"start": 1, "end": 40}})),
        ("file.write", json!({"path": "src/new.rs", "size": 512, "contentHash": "sha256:abc"})),
        ("file.edit", json!({"path": "src/main.rs", "oldString": "a", "newString": "b", "diff": "-a\n+b"})),
        ("worktree.acquired", json!({"path": "/tmp/wt/sess_1", "branch": "session/sess_1",
            "baseCommit": "abc123", "isolated": true,
            "forkedFrom": {"sessionId": "sess_0123456789ab", "commit": "def456"}})),
        ("worktree.commit", json!({"commitHash": "abc124", "message": "wip", "filesChanged": ["a.rs"],
            "insertions": 3, "deletions": 1})),
        ("worktree.released", json!({"finalCommit": "abc124", "deleted": true, "branchPreserved": false})),
        ("worktree.merged", json!({"sourceBranch": "session/sess_1", "targetBranch": "main",
            "mergeCommit": "abc200", "strategy": "squash"})),
        ("error.agent", json!({"error": "boom", "code": "Error", "recoverable": false})),
        ("error.tool", json!({"toolName": "Bash", "toolCallId": "toolu_01", "error": "spawn failed",
            "code": "ENOENT"})),
        ("error.provider", json!({"provider": "anthropic", "error": "overloaded", "code": "529",
            "retryable": true, "retryAfter": 30})),
        ("subagent.spawned", json!({"subagentSessionId": "sess_ba9876543210", "spawnType": "subsession",
            "task": "Find flaky tests", "model": "claude-haiku-4-5", "tools": ["Read", "Grep"],
            "skills": ["rust"], "workingDirectory": "/Users/me/proj", "maxTurns": 20})),
        ("subagent.status_update", json!({"subagentSessionId": "sess_ba9876543210", "status": "running",
            "currentTurn": 2, "activity": "Reading tests", "tokenUsage": usage})),
        ("subagent.completed", json!({"subagentSessionId": "sess_ba9876543210", "resultSummary": "Two found",
            "totalTurns": 4, "totalTokenUsage": usage, "duration": 91000,
            "filesModified": [], "finalOutput": "Two flaky tests: a, b"})),
        ("subagent.failed", json!({"subagentSessionId": "sess_ba9876543210", "error": "timeout",
            "code": "TIMEOUT", "recoverable": true, "partialResult": "one found", "failedAtTurn": 3,
            "duration": 300000})),
        ("todo.write", json!({"todos": [{"id": "todo_1", "content": "Run tests", "activeForm": "Running tests",
            "status": "completed", "source": "agent", "createdAt": "2026-01-02T03:04:05.678Z",
            "completedAt": "2026-01-02T03:06:00.000Z", "metadata": {"priority": "high"}},
            {"id": "todo_2", "content": "Fix", "activeForm": "Fixing", "status": "pending",
            "source": "user", "createdAt": "2026-01-02T03:04:05.678Z"}], "trigger": "tool"})),
        ("task.created", json!({"taskId": "task_1", "title": "Ship it", "status": "todo", "projectId": null})),
        ("task.updated", json!({"taskId": "task_1", "title": "Ship it", "status": "done",
            "changedFields": ["status"]})),
        ("task.deleted", json!({"taskId": "task_1", "title": "Ship it"})),
        ("project.created", json!({"projectId": "proj_1", "title": "Launch", "status": "active",
            "areaId": "area_1"})),
        ("project.updated", json!({"projectId": "proj_1", "title": "Launch", "status": "paused"})),
        ("project.deleted", json!({"projectId": "proj_1", "title": "Launch"})),
        ("area.created", json!({"areaId": "area_1", "title": "Work", "status": "active"})),
        ("area.updated", json!({"areaId": "area_1", "title": "Work", "status": "archived",
            "changedFields": ["status"]})),
        ("area.deleted", json!({"areaId": "area_1", "title": "Work"})),
        ("turn.failed", json!({"turn": 3, "error": "rate limited", "code": "PRATE",
            "category": "rate_limit", "recoverable": true, "partialContent": "I was"})),
        ("hook.triggered", json!({"hookNames": ["lint"], "hookEvent": "PreToolUse", "toolName": "Bash",
            "toolCallId": "toolu_01", "timestamp": "2026-01-02T03:04:05.678Z", "runId": "run_abc"})),
        ("hook.completed", json!({"hookNames": ["lint"], "hookEvent": "PreToolUse", "result": "block",
            "duration": 12, "reason": "dangerous", "toolName": "Bash", "toolCallId": "toolu_01",
            "timestamp": "2026-01-02T03:04:05.678Z", "runId": "run_abc"})),
        ("hook.background_started", json!({"hookNames": ["notify"], "hookEvent": "SessionEnd",
            "executionId": "exec_1", "timestamp": "2026-01-02T03:04:05.678Z"})),
        ("hook.background_completed", json!({"hookNames": ["notify"], "hookEvent": "SessionEnd",
            "executionId": "exec_1", "result": "error", "duration": 40, "error": "exit 1",
            "timestamp": "2026-01-02T03:04:05.678Z"})),
        ("memory.ledger", json!({"eventRange": {"firstEventId": "evt_a", "lastEventId": "evt_z"},
            "turnRange": {"firstTurn": 1, "lastTurn": 3}, "title": "WebSocket reconnection fix",
            "entryType": "bugfix", "status": "completed", "tags": ["websocket"],
            "input": "Fix dropped connections", "actions": ["Added backoff"],
            "files": [{"path": "src/ws.rs", "op": "M", "why": "backoff"}],
            "decisions": [{"choice": "native ws", "reason": "simpler"}], "lessons": ["test reconnects"],
            "thinkingInsights": [], "tokenCost": {"input": 5000, "output": 800},
            "model": "claude-haiku-4-5", "workingDirectory": "/Users/me/proj"})),
        ("memory.loaded", json!({"count": 3, "tokens": 420, "workspaceId": ""})),
        ("plan.mode_entered", json!({"skillName": "plan", "blockedTools": ["Write", "Edit", "Bash"]})),
        ("plan.mode_exited", json!({"reason": "approved", "planPath": "/Users/me/.tron/plans/p.md"})),
        ("plan.created", json!({"planPath": "/Users/me/.tron/plans/p.md", "title": "Add auth",
            "contentHash": "sha256:e3b0", "tokens": 1500})),
    ]
}

/// A whole event as stored/broadcast, around `payload`.
fn event_json(event_type: &str, payload: Value) -> Value {
    json!({
        "id": "0194a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "parentId": "0194a1b2-c3d4-7e5f-8a9b-000000000001",
        "sessionId": "sess_0123456789ab",
        "workspaceId": "ws_0123456789ab",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "type": event_type,
        "sequence": 7,
        "payload": payload,
    })
}

#[test]
fn every_known_type_round_trips() {
    for (ty, payload) in fixtures() {
        let original = event_json(ty, payload.clone());
        let event: SessionEvent = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(event.event_type, EventType::parse(ty), "{ty}");
        assert!(event.event_type.is_known(), "{ty} should be known");
        assert_eq!(event.payload, payload, "{ty}: payload kept verbatim");

        let typed = event.typed().unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(typed.event_type(), event.event_type, "{ty}");
        assert!(!matches!(typed, EventPayload::Unknown { .. }), "{ty}");
        assert_eq!(typed.to_value(), payload, "{ty}: typed view round-trips");

        // The envelope re-serializes to the same JSON.
        assert_eq!(serde_json::to_value(&event).unwrap(), original, "{ty}: envelope");

        // The typed view's own serde shape is {"type", "payload"}.
        let tagged = serde_json::to_value(&typed).unwrap();
        assert_eq!(tagged, json!({"type": ty, "payload": payload}), "{ty}: tagged shape");
        let back: EventPayload = serde_json::from_value(tagged).unwrap();
        assert_eq!(back, typed, "{ty}: tagged round trip");

        let (parts_type, parts_payload) = typed.into_parts();
        assert_eq!(parts_type.as_str(), ty);
        assert_eq!(parts_payload, payload);
    }
}

#[test]
fn fixtures_cover_every_known_type() {
    let fixture_types: BTreeSet<&str> = fixtures().iter().map(|(t, _)| *t).collect();
    let known: BTreeSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(fixture_types, known);
    assert_eq!(known.len(), EventType::ALL.len(), "no duplicate type strings");
    assert_eq!(fixtures().len(), EventType::ALL.len());
}

#[test]
fn parse_and_as_str_agree_for_all_known_types() {
    for t in EventType::ALL {
        let s = t.as_str();
        assert_eq!(EventType::parse(s), *t);
        assert_eq!(EventType::parse(s).as_str(), s);
        assert_eq!(t.to_string(), s);
        assert_eq!(s.parse::<EventType>().unwrap(), *t);
        assert_eq!(serde_json::to_value(t).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<EventType>(json!(s)).unwrap(), *t);
    }
    // Every type of the TypeScript union in base.ts @ 0b37067 is known.
    for s in [
        "session.start",
        "session.end",
        "session.fork",
        "message.user",
        "message.assistant",
        "message.system",
        "message.deleted",
        "tool.call",
        "tool.result",
        "stream.text_delta",
        "stream.thinking_delta",
        "stream.turn_start",
        "stream.turn_end",
        "config.model_switch",
        "config.prompt_update",
        "config.reasoning_level",
        "notification.interrupted",
        "notification.subagent_result",
        "compact.boundary",
        "compact.summary",
        "context.cleared",
        "skill.added",
        "skill.removed",
        "rules.loaded",
        "metadata.update",
        "metadata.tag",
        "file.read",
        "file.write",
        "file.edit",
        "worktree.acquired",
        "worktree.commit",
        "worktree.released",
        "worktree.merged",
        "error.agent",
        "error.tool",
        "error.provider",
        "subagent.spawned",
        "subagent.status_update",
        "subagent.completed",
        "subagent.failed",
        "todo.write",
        "turn.failed",
        "hook.triggered",
        "hook.completed",
        "hook.background_started",
        "hook.background_completed",
        "memory.ledger",
    ] {
        assert!(EventType::parse(s).is_known(), "{s}");
    }
}

#[test]
fn unknown_event_type_round_trips_verbatim() {
    let payload = json!({"whatever": [1, 2, {"deep": null}], "n": 1.5});
    let original = event_json("future.thing", payload.clone());
    let event: SessionEvent = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(event.event_type, EventType::Unknown("future.thing".into()));
    assert_eq!(event.event_type.as_str(), "future.thing");
    assert!(!event.event_type.is_known());
    let typed = event.typed().unwrap();
    assert_eq!(typed, EventPayload::Unknown { event_type: "future.thing".into(), payload: payload.clone() });
    assert_eq!(typed.event_type(), EventType::Unknown("future.thing".into()));
    assert_eq!(typed.to_value(), payload);
    assert_eq!(serde_json::to_value(&event).unwrap(), original);
    let tagged = serde_json::to_value(&typed).unwrap();
    assert_eq!(tagged, json!({"type": "future.thing", "payload": payload}));
    assert_eq!(serde_json::from_value::<EventPayload>(tagged).unwrap(), typed);
}

#[test]
fn unknown_payload_fields_survive_including_nested_ones() {
    let payload = json!({
        "content": [{"type": "text", "text": "hi", "citations": []}],
        "tokenUsage": {"inputTokens": 1, "outputTokens": 2, "cacheCreation5mTokens": 3,
            "reasoningTokens": 4},
        "turn": 1, "model": "m", "stopReason": "end_turn",
        "futureField": {"a": [1, 2]}, "anotherOne": "x",
    });
    let event: SessionEvent =
        serde_json::from_value(event_json("message.assistant", payload.clone())).unwrap();
    let EventPayload::MessageAssistant(p) = event.typed().unwrap() else { panic!("wrong variant") };
    assert_eq!(p.extra.get("futureField"), Some(&json!({"a": [1, 2]})));
    assert_eq!(p.extra.get("anotherOne"), Some(&json!("x")));
    let usage = p.token_usage.as_ref().unwrap();
    assert_eq!(usage.cache_creation5m_tokens, Some(3));
    assert_eq!(usage.extra.get("reasoningTokens"), Some(&json!(4)));
    assert_eq!(EventPayload::MessageAssistant(p).to_value(), payload);

    let todo = json!({"todos": [{"id": "1", "content": "c", "activeForm": "a", "status": "pending",
        "source": "agent", "createdAt": "t", "dueAt": "tomorrow"}], "trigger": "tool", "v": 2});
    let typed = EventPayload::from_parts(&EventType::TodoWrite, todo.clone()).unwrap();
    assert_eq!(typed.to_value(), todo);
}

#[test]
fn message_user_content_is_a_string_or_blocks() {
    let text = EventPayload::from_parts(&EventType::MessageUser, json!({"content": "hello"})).unwrap();
    let EventPayload::MessageUser(p) = &text else { panic!() };
    assert_eq!(p.text(), Some("hello"));
    assert_eq!(p.turn, None);
    assert_eq!(text.to_value(), json!({"content": "hello"}));

    let blocks = json!({"content": [{"type": "text", "text": "see"},
        {"type": "image", "data": "iVBOR", "mimeType": "image/png"},
        {"type": "document", "data": "JVBE", "mimeType": "application/pdf", "fileName": "a.pdf"}]});
    let typed = EventPayload::from_parts(&EventType::MessageUser, blocks.clone()).unwrap();
    let EventPayload::MessageUser(p) = &typed else { panic!() };
    assert_eq!(p.text(), None);
    assert_eq!(typed.to_value(), blocks);

    // Older shape with turn/imageCount, and the tool-result carrier without turn.
    let old = json!({"content": "hi", "turn": 2, "imageCount": 1});
    assert_eq!(EventPayload::from_parts(&EventType::MessageUser, old.clone()).unwrap().to_value(), old);
    let results = json!({"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok",
        "is_error": false}]});
    assert_eq!(
        EventPayload::from_parts(&EventType::MessageUser, results.clone()).unwrap().to_value(),
        results
    );
}

#[test]
fn older_and_sparser_shapes_still_type_check() {
    // compact.boundary of the original design (range) and compact.summary without boundary id.
    let with_range = json!({"range": {"from": "evt_a", "to": "evt_b"}, "originalTokens": 10,
        "compactedTokens": 5});
    let typed = EventPayload::from_parts(&EventType::CompactBoundary, with_range.clone()).unwrap();
    assert_eq!(typed.to_value(), with_range);
    let summary = json!({"summary": "s"});
    let typed = EventPayload::from_parts(&EventType::CompactSummary, summary.clone()).unwrap();
    assert_eq!(typed.to_value(), summary);
    // Interrupted assistant message without usage, latency or thinking flag.
    let interrupted = json!({"content": [{"type": "text", "text": "Work"}], "turn": 1, "model": "m",
        "stopReason": "interrupted", "interrupted": true});
    let typed = EventPayload::from_parts(&EventType::MessageAssistant, interrupted.clone()).unwrap();
    assert_eq!(typed.to_value(), interrupted);
    // tool.result without duration; session.start with spread metadata.
    let result = json!({"toolCallId": "t", "content": "", "isError": true, "truncated": false});
    assert_eq!(EventPayload::from_parts(&EventType::ToolResult, result.clone()).unwrap().to_value(), result);
    let start = json!({"workingDirectory": "/w", "model": "m", "spawnedBy": "sess_x"});
    let typed = EventPayload::from_parts(&EventType::SessionStart, start.clone()).unwrap();
    let EventPayload::SessionStart(p) = &typed else { panic!() };
    assert_eq!(p.extra.get("spawnedBy"), Some(&json!("sess_x")));
    assert_eq!(typed.to_value(), start);
}

#[test]
fn explicit_nulls_and_exact_numbers_are_kept() {
    let p = json!({"turn": 1, "tokenUsage": {"inputTokens": 0, "outputTokens": 0}, "tokenRecord": null,
        "cost": 0});
    assert_eq!(EventPayload::from_parts(&EventType::StreamTurnEnd, p.clone()).unwrap().to_value(), p);
    let p = json!({"turn": 1, "tokenUsage": {"inputTokens": 1, "outputTokens": 1}, "cost": 0.000123});
    assert_eq!(EventPayload::from_parts(&EventType::StreamTurnEnd, p.clone()).unwrap().to_value(), p);
    let p = json!({"key": "k", "newValue": null});
    assert_eq!(EventPayload::from_parts(&EventType::MetadataUpdate, p.clone()).unwrap().to_value(), p);
    let p = json!({"provider": "openai", "error": "e", "retryable": true, "retryAfter": 1.5});
    assert_eq!(EventPayload::from_parts(&EventType::ErrorProvider, p.clone()).unwrap().to_value(), p);
}

#[test]
fn malformed_known_payload_is_an_error_but_the_event_still_loads() {
    let original = event_json("tool.call", json!({"name": "Bash"}));
    let event: SessionEvent = serde_json::from_value(original.clone()).unwrap();
    assert!(event.typed().is_err());
    assert_eq!(serde_json::to_value(&event).unwrap(), original);
    assert!(serde_json::from_value::<EventPayload>(json!({"type": "tool.call", "payload": {}})).is_err());
}

#[test]
fn envelope_base_fields_match_the_typescript_shape() {
    let mut root = event_json("session.start", json!({"workingDirectory": "/w", "model": "m"}));
    root["parentId"] = Value::Null;
    root["sequence"] = json!(0);
    let event: SessionEvent = serde_json::from_value(root.clone()).unwrap();
    assert_eq!(event.parent_id, None);
    assert_eq!(event.checksum, None);
    let text = serde_json::to_string(&event).unwrap();
    assert!(text.contains("\"parentId\":null"), "root keeps an explicit null parent: {text}");
    assert!(!text.contains("checksum"));
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, Value>>(&text).unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["id", "parentId", "sessionId", "workspaceId", "timestamp", "type", "sequence", "payload"]
    );

    let mut with_checksum = root.clone();
    with_checksum["checksum"] = json!("9f86d081");
    let event: SessionEvent = serde_json::from_value(with_checksum.clone()).unwrap();
    assert_eq!(event.checksum.as_deref(), Some("9f86d081"));
    assert_eq!(serde_json::to_value(&event).unwrap(), with_checksum);

    // Older event ids (`evt_<hex>`) are accepted as they are.
    let mut old_id = root;
    old_id["id"] = json!("evt_0123456789ab");
    let event: SessionEvent = serde_json::from_value(old_id.clone()).unwrap();
    assert_eq!(event.id.as_str(), "evt_0123456789ab");
    assert_eq!(serde_json::to_value(&event).unwrap(), old_id);
}

#[test]
fn building_an_event_from_a_typed_payload() {
    let payload: EventPayload = ToolCallPayload {
        tool_call_id: "toolu_9".into(),
        name: "Read".into(),
        arguments: json!({"path": "a.rs"}),
        turn: 1,
        run_id: Some("run_1".into()),
        extra: Default::default(),
    }
    .into();
    let (event_type, payload_json) = payload.clone().into_parts();
    let event = SessionEvent {
        id: crate::core::EventId::new(),
        parent_id: None,
        session_id: crate::core::SessionId::new(),
        workspace_id: crate::core::WorkspaceId::new(),
        timestamp: now_timestamp(),
        event_type,
        sequence: 0,
        checksum: None,
        payload: payload_json,
    };
    assert_eq!(event.event_type, EventType::ToolCall);
    assert_eq!(
        event.payload,
        json!({"toolCallId": "toolu_9", "name": "Read", "arguments": {"path": "a.rs"}, "turn": 1,
            "runId": "run_1"})
    );
    assert_eq!(event.typed().unwrap(), payload);
}

#[test]
fn timestamps_have_the_typescript_format() {
    let ts = now_timestamp();
    assert_eq!(ts.len(), "2026-01-02T03:04:05.678Z".len(), "{ts}");
    assert!(ts.ends_with('Z'));
    assert_eq!(&ts[10..11], "T");
    assert_eq!(&ts[19..20], ".");
    assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok());
}

#[test]
fn is_message_covers_exactly_the_three_message_types() {
    let messages: Vec<&str> = EventType::ALL.iter().filter(|t| t.is_message()).map(|t| t.as_str()).collect();
    assert_eq!(messages, ["message.user", "message.assistant", "message.system"]);
    assert!(!EventType::MessageDeleted.is_message());
    assert!(!EventType::parse("message.other").is_message());
}

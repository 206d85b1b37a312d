use serde_json::json;

use super::*;

fn item(id: &str, t: &str, payload: Value) -> ChainItem {
    ChainItem::new(id, t, &payload)
}

fn roles(r: &Reconstructed) -> Vec<String> {
    r.messages().map(|m| m.role().to_owned()).collect()
}

fn as_json(r: &Reconstructed) -> Vec<Value> {
    r.messages().map(|m| serde_json::to_value(m).unwrap()).collect()
}

#[test]
fn tool_results_follow_the_assistant_that_asked() {
    let chain = [
        item("e0", "session.start", json!({"systemPrompt": "be brief"})),
        item(
            "e1",
            "message.user",
            json!({"content": "list files", "tokenUsage": {"inputTokens": 5, "outputTokens": 0}}),
        ),
        item(
            "e2",
            "tool.call",
            json!({"toolCallId": "c1", "name": "Bash", "arguments": {"command": "ls -la"}}),
        ),
        item(
            "e3",
            "message.assistant",
            json!({"turn": 1, "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "tool_use", "id": "c1", "name": "Bash", "input": {"_truncated": true}}],
            "tokenUsage": {"inputTokens": 10, "outputTokens": 3, "cacheReadTokens": 2}}),
        ),
        item("e4", "tool.result", json!({"toolCallId": "c1", "content": "a\nb", "isError": false})),
        item(
            "e5",
            "message.assistant",
            json!({"turn": 2, "content": [{"type": "text", "text": "two files"}]}),
        ),
    ];
    // tool.result arrives after the assistant in the log; it is flushed before the next one.
    let r = reconstruct(&chain);
    assert_eq!(roles(&r), ["user", "assistant", "toolResult", "assistant"]);
    let msgs = as_json(&r);
    assert_eq!(msgs[1]["content"][0]["type"], "thinking");
    assert_eq!(msgs[1]["content"][0]["signature"], "sig");
    assert_eq!(msgs[1]["content"][1]["input"], json!({"command": "ls -la"}));
    assert_eq!(
        msgs[2],
        json!({"role": "toolResult", "toolCallId": "c1", "content": "a\nb", "isError": false})
    );
    assert_eq!(
        r.token_usage,
        TokenTotals { input_tokens: 15, output_tokens: 3, cache_read_tokens: 2, cache_creation_tokens: 0 }
    );
    assert_eq!(r.turn_count, 2);
    assert_eq!(r.system_prompt.as_deref(), Some("be brief"));
    assert_eq!(r.messages_with_event_ids[2].event_ids, vec![None]);
}

#[test]
fn consecutive_user_messages_merge_into_text_blocks() {
    let chain = [
        item("u1", "message.user", json!({"content": "a"})),
        item("u2", "message.user", json!({"content": [{"type": "text", "text": "b"}]})),
    ];
    let r = reconstruct(&chain);
    assert_eq!(
        as_json(&r),
        vec![
            json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
        ]
    );
    assert_eq!(
        r.messages_with_event_ids[0].event_ids,
        vec![Some(EventId::from_raw("u1")), Some(EventId::from_raw("u2"))]
    );
}

#[test]
fn compaction_replaces_history_with_summary_and_ack() {
    let chain = [
        item("u1", "message.user", json!({"content": "old"})),
        item("a1", "message.assistant", json!({"content": [{"type": "text", "text": "old reply"}]})),
        item("b", "compact.boundary", json!({"originalTokens": 100, "compactedTokens": 10})),
        item("s", "compact.summary", json!({"summary": "we talked"})),
        item("u2", "message.user", json!({"content": "new"})),
    ];
    let r = reconstruct(&chain);
    let msgs = as_json(&r);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["content"], format!("{COMPACTION_SUMMARY_PREFIX}\n\nwe talked"));
    assert_eq!(msgs[1]["content"][0]["text"], COMPACTION_ACK_TEXT);
    assert_eq!(msgs[2]["content"], "new");
}

#[test]
fn deleted_and_cleared_messages_disappear() {
    let chain = [
        item("u1", "message.user", json!({"content": "secret"})),
        item("a1", "message.assistant", json!({"content": [{"type": "text", "text": "ok"}]})),
        item("d", "message.deleted", json!({"targetEventId": "u1", "targetType": "message.user"})),
    ];
    assert_eq!(roles(&reconstruct(&chain)), ["assistant"]);
    let chain = [
        item("u1", "message.user", json!({"content": "x"})),
        item("c", "context.cleared", json!({})),
        item("u2", "message.user", json!({"content": "y"})),
    ];
    assert_eq!(as_json(&reconstruct(&chain)), vec![json!({"role": "user", "content": "y"})]);
}

#[test]
fn a_user_message_drops_pending_tool_results() {
    let chain = [
        item("a1", "message.assistant", json!({"content": [{"type": "text", "text": "no tools"}]})),
        item("r", "tool.result", json!({"toolCallId": "c9", "content": "orphan"})),
        item("u1", "message.user", json!({"content": "next"})),
    ];
    assert_eq!(roles(&reconstruct(&chain)), ["assistant", "user"]);
}

#[test]
fn reasoning_level_and_prompt_update_come_from_config_events() {
    let chain = [
        item("r1", "config.reasoning_level", json!({"newLevel": "high"})),
        item("p", "config.prompt_update", json!({"contentBlobId": "blob_1", "newHash": "abc"})),
    ];
    let r = reconstruct(&chain);
    assert_eq!(r.reasoning_level.as_deref(), Some("high"));
    assert_eq!(r.system_prompt.as_deref(), Some("[Updated prompt - hash: abc]"));
}

//! Tests of the request side: body conversion (golden JSON), cache breakpoints, thinking,
//! headers, and configuration from the environment.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::core::content::{ContentBlock, MessageContent};
use crate::core::messages::{Message, UserMessage};
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn tool_use(id: &str, name: &str, args: Value) -> ContentBlock {
    ToolCall::new(id, name, obj(args)).to_block()
}

fn bash_tool() -> ToolDefinition {
    ToolDefinition {
        name: "Bash".into(),
        description: "Run a command".into(),
        parameters: obj(json!({"type": "object", "properties": {"command": {"type": "string"}},
            "required": ["command"]})),
    }
}

/// A conversation with text, signed and unsigned thinking, tool calls (one with an OpenAI
/// id), consecutive tool results and an image.
fn conversation() -> Vec<Message> {
    vec![
        Message::user("List the files"),
        Message::assistant(vec![
            ContentBlock::thinking("I should run ls", Some("sig-1".into())),
            ContentBlock::text("Running it"),
            tool_use("toolu_01", "Bash", json!({"command": "ls"})),
            tool_use("call_abc", "Bash", json!({"command": "pwd"})),
        ]),
        Message::tool_result("toolu_01", "a.txt\nb.txt", false),
        Message::tool_result("call_abc", "/work", false),
        Message::assistant(vec![
            ContentBlock::thinking("display only", None),
            ContentBlock::text("Two files."),
        ]),
        Message::User(UserMessage {
            content: MessageContent::Blocks(vec![
                ContentBlock::text("What is this?"),
                ContentBlock::image("iVBORw0KGgo=", "image/png"),
            ]),
            ..Default::default()
        }),
    ]
}

fn request(model: &str) -> Request {
    Request {
        model: model.into(),
        system: Some("You are Tron.".into()),
        messages: conversation(),
        tools: vec![bash_tool()],
        max_tokens: 8192,
        thinking_budget: Some(2048),
    }
}

fn api_key_provider(base: &str) -> AnthropicProvider {
    AnthropicProvider::new(base, AnthropicAuth::ApiKey("sk-test".into()))
}

#[test]
fn golden_request_body_api_key() {
    let body = api_key_provider(DEFAULT_BASE_URL).request_body(&request("claude-sonnet-4-5-20250929"));
    let expected = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 8192,
        "system": "You are Tron.",
        "messages": [
            {"role": "user", "content": "List the files"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should run ls", "signature": "sig-1"},
                {"type": "text", "text": "Running it"},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_remap_0", "name": "Bash", "input": {"command": "pwd"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "a.txt\nb.txt", "is_error": false},
                {"type": "tool_result", "tool_use_id": "toolu_remap_0", "content": "/work", "is_error": false}
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": "Two files."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]}
        ],
        "tools": [{"name": "Bash", "description": "Run a command", "input_schema":
            {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "stream": true
    });
    assert_eq!(body, expected);
    // Key order is part of the golden form.
    assert_eq!(body.to_string(), expected.to_string());
}

#[test]
fn golden_request_body_oauth_with_cache_breakpoints() {
    let provider =
        AnthropicProvider::new(DEFAULT_BASE_URL, AnthropicAuth::OAuth { access_token: "tok".into() });
    let mut req = request("claude-opus-4-6");
    req.messages.truncate(4); // ends with the merged tool results
    let body = provider.request_body(&req);
    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": OAUTH_SYSTEM_PROMPT_PREFIX},
            {"type": "text", "text": "You are Tron.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ])
    );
    assert_eq!(body["tools"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    // The first user message (a string) carries no breakpoint; the last block of the last
    // user message does.
    assert_eq!(messages[0]["content"], "List the files");
    let last = messages[2]["content"].as_array().unwrap();
    assert!(last[0].get("cache_control").is_none());
    assert_eq!(last[1]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(breakpoints(&body), 3, "system, last tool, last user message");

    // A string user message stays a string and carries no breakpoint (as in TypeScript);
    // without a system prompt the prefix block alone carries a 5-minute breakpoint.
    let req = Request {
        model: "claude-opus-4-6".into(),
        messages: vec![Message::user("hi")],
        ..Default::default()
    };
    let body = provider.request_body(&req);
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": OAUTH_SYSTEM_PROMPT_PREFIX, "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(breakpoints(&body), 1);
    assert_eq!(body["max_tokens"], 128_000, "max_tokens 0 falls back to the registry's max_output");
    assert!(body.get("tools").is_none() && body.get("thinking").is_none());

    // Caching can be switched off; API keys get it only on request.
    let body = provider.clone().with_prompt_caching(false).request_body(&req);
    assert!(!body.to_string().contains("cache_control"));
    let mut req = request("claude-sonnet-4-5");
    req.system = None;
    let body = api_key_provider(DEFAULT_BASE_URL).with_prompt_caching(true).request_body(&req);
    assert_eq!(body["system"], Value::Null, "no system prompt, no prefix for API keys");
    assert_eq!(body["messages"][4]["content"][1]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(breakpoints(&body), 2, "last tool and last user message");
    req.system = Some("S".into());
    let body = api_key_provider(DEFAULT_BASE_URL).with_prompt_caching(true).request_body(&req);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]),
        "API keys with caching on get the system prompt as one block, without the prefix"
    );
}

/// Where `cache_control` markers sit in `value`, as JSON pointers.
fn breakpoint_paths(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "cache_control" {
                    out.push(at.to_owned());
                } else {
                    breakpoint_paths(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                breakpoint_paths(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn breakpoints(body: &Value) -> usize {
    let mut paths = Vec::new();
    breakpoint_paths(body, "", &mut paths);
    paths.len()
}

fn oauth_provider() -> AnthropicProvider {
    AnthropicProvider::new(DEFAULT_BASE_URL, AnthropicAuth::OAuth { access_token: "tok".into() })
}

/// `turns` rounds of: user prompt (a string), assistant tool call, tool result of `size`
/// characters; then a final user prompt.
fn long_history(turns: usize, size: usize) -> Vec<Message> {
    let mut messages = Vec::new();
    for i in 0..turns {
        messages.push(Message::user(format!("step {i}")));
        messages.push(Message::assistant(vec![tool_use(
            &format!("toolu_{i}"),
            "Bash",
            json!({"command": "ls"}),
        )]));
        messages.push(Message::tool_result(format!("toolu_{i}"), "x".repeat(size), false));
    }
    messages.push(Message::user("and now?"));
    messages
}

#[test]
fn oauth_breakpoints_sit_on_last_tool_system_and_last_block_list_user_message() {
    let mut req = request("claude-sonnet-4-5");
    req.tools = vec![bash_tool(), ToolDefinition { name: "Read".into(), ..Default::default() }];
    // The conversation ends with a block-list user message: its last block is marked.
    let body = oauth_provider().request_body(&req);
    let mut paths = Vec::new();
    breakpoint_paths(&body, "", &mut paths);
    assert_eq!(paths, ["/system/1", "/messages/4/content/1", "/tools/1"]);
    assert_eq!(body["tools"][1]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(body["system"][1]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert!(body["system"][0].get("cache_control").is_none(), "the prefix block is not marked");
    assert_eq!(body["messages"][4]["content"][1]["cache_control"], json!({"type": "ephemeral"}));

    // A new plain-string prompt is skipped: the nearest earlier block-list user message
    // carries the marker.
    req.messages.push(Message::assistant(vec![ContentBlock::text("A PNG.")]));
    req.messages.push(Message::user("Thanks"));
    let body = oauth_provider().request_body(&req);
    let mut paths = Vec::new();
    breakpoint_paths(&body, "", &mut paths);
    assert_eq!(paths, ["/system/1", "/messages/4/content/1", "/tools/1"]);
    assert_eq!(body["messages"][6]["content"], "Thanks");
}

#[test]
fn long_histories_never_carry_more_than_four_breakpoints() {
    let mut messages = long_history(40, 10);
    // Markers persisted in the history (a verbatim redacted_thinking block) are dropped.
    messages.insert(
        1,
        Message::assistant(vec![ContentBlock::Unknown(obj(json!({"type": "redacted_thinking",
            "data": "opaque", "cache_control": {"type": "ephemeral"}})))]),
    );
    messages.push(Message::assistant(vec![tool_use("toolu_last", "Bash", json!({}))]));
    messages.push(Message::tool_result("toolu_last", "done", false));
    let req = Request {
        model: "claude-opus-4-6".into(),
        system: Some("S".into()),
        messages,
        tools: vec![bash_tool()],
        ..Default::default()
    };
    let body = oauth_provider().request_body(&req);
    let mut paths = Vec::new();
    breakpoint_paths(&body, "", &mut paths);
    let last = body["messages"].as_array().unwrap().len() - 1;
    assert_eq!(paths, ["/system/1".to_owned(), format!("/messages/{last}/content/0"), "/tools/0".into()]);
    assert!(paths.len() <= MAX_CACHE_BREAKPOINTS);
    assert_eq!(body["messages"][1]["content"], json!([{"type": "redacted_thinking", "data": "opaque"}]));

    // Without caching no marker survives either.
    let body = oauth_provider().with_prompt_caching(false).request_body(&req);
    assert_eq!(breakpoints(&body), 0);
}

#[test]
fn pruning_replaces_large_string_tool_results_outside_the_last_three_turns() {
    let big = "y".repeat(PRUNE_THRESHOLD_CHARS + 1);
    let at_threshold = "z".repeat(PRUNE_THRESHOLD_CHARS);
    // 1025 emoji are 2050 UTF-16 code units: JavaScript's length decides.
    let emoji = "\u{1F600}".repeat(1025);
    let mut messages = convert_messages(&long_history(6, 10));
    // Turn 0's result: big; turn 1's: exactly at the threshold; turn 2's: emoji; turn 3
    // (inside the last three turns): big.
    messages[2]["content"][0]["content"] = big.clone().into();
    messages[5]["content"][0]["content"] = at_threshold.clone().into();
    messages[8]["content"][0]["content"] = emoji.into();
    messages[11]["content"][0]["content"] = big.clone().into();
    // A block-list content is never pruned.
    messages[2]["content"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": big}]}));
    let before = messages.clone();

    let mut pruned = before.clone();
    prune_tool_results_for_recache(&mut pruned, RECENT_TURNS_KEPT);
    assert_eq!(pruned[2]["content"][0]["content"], "[pruned 2049 chars for cache efficiency]");
    assert_eq!(pruned[2]["content"][0]["tool_use_id"], "toolu_0", "the rest of the block stays");
    assert_eq!(pruned[2]["content"][1], before[2]["content"][1]);
    assert_eq!(pruned[5], before[5], "not longer than the threshold");
    assert_eq!(pruned[8]["content"][0]["content"], "[pruned 2050 chars for cache efficiency]");
    assert_eq!(pruned[11..], before[11..], "the last three turns are kept");
    assert_eq!(pruned[..2], before[..2]);

    // Nothing to prune with no more assistant turns than are kept.
    let mut few = before[..9].to_vec();
    prune_tool_results_for_recache(&mut few, RECENT_TURNS_KEPT);
    assert_eq!(few, before[..9]);
    let mut none: Vec<Value> = Vec::new();
    prune_tool_results_for_recache(&mut none, RECENT_TURNS_KEPT);
    assert!(none.is_empty());
}

#[test]
fn a_cold_cache_prunes_old_tool_results_in_the_request() {
    let req = Request {
        model: "claude-opus-4-6".into(),
        messages: long_history(5, PRUNE_THRESHOLD_CHARS + 100),
        tools: vec![bash_tool()],
        ..Default::default()
    };
    let provider = oauth_provider();
    let placeholder = json!(format!("[pruned {} chars for cache efficiency]", PRUNE_THRESHOLD_CHARS + 100));
    let results = |body: &Value| -> Vec<Value> {
        (0..5).map(|turn| body["messages"][turn * 3 + 2]["content"][0]["content"].clone()).collect()
    };

    // First request: nothing cached yet, nothing pruned.
    assert!(provider.last_call().is_none() && !provider.cache_is_cold());
    assert!(results(&provider.request_body(&req)).iter().all(|c| *c != placeholder));

    // Within the TTL: warm, nothing pruned.
    provider.set_last_call(Some(Instant::now()));
    assert!(!provider.cache_is_cold());
    assert!(results(&provider.request_body(&req)).iter().all(|c| *c != placeholder));

    // Past the TTL: turns 0 and 1 (before the last three assistant turns) are pruned.
    let idle = Instant::now().checked_sub(CACHE_TTL + Duration::from_secs(1)).expect("clock too young");
    provider.set_last_call(Some(idle));
    assert!(provider.cache_is_cold());
    let body = provider.request_body(&req);
    let results = results(&body);
    assert_eq!(results[..2], [placeholder.clone(), placeholder.clone()]);
    assert!(results[2..].iter().all(|c| *c != placeholder));
    assert!(breakpoints(&body) <= MAX_CACHE_BREAKPOINTS);

    // Clones share the clock; without caching there is no pruning.
    assert!(provider.clone().cache_is_cold());
    let off = provider.clone().with_prompt_caching(false);
    assert!(!off.cache_is_cold());
    let api = api_key_provider(DEFAULT_BASE_URL);
    api.set_last_call(Some(idle));
    assert!(!api.cache_is_cold(), "API keys do not cache, so never prune");
}

#[test]
fn thinking_budget_is_clamped_and_skipped_for_models_without_thinking() {
    let p = api_key_provider(DEFAULT_BASE_URL);
    let mut req = Request { model: "claude-sonnet-4-5".into(), max_tokens: 4000, ..Default::default() };
    req.thinking_budget = Some(100);
    assert_eq!(p.request_body(&req)["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    req.thinking_budget = Some(50_000);
    assert_eq!(p.request_body(&req)["thinking"], json!({"type": "enabled", "budget_tokens": 3999}));
    req.model = "claude-3-haiku-20240307".into();
    assert!(p.request_body(&req).get("thinking").is_none());
    req.model = "claude-future-9".into();
    assert_eq!(p.request_body(&req)["thinking"]["type"], "enabled", "unknown models get what was asked");
}

#[test]
fn conversion_edge_cases() {
    let messages = vec![
        Message::user(""),
        Message::Unknown(obj(json!({"role": "system", "content": "x"}))),
        Message::tool_result("", "orphan", false),
        Message::assistant(vec![
            ContentBlock::text(""),
            ContentBlock::Unknown(obj(json!({"type": "redacted_thinking", "data": "opaque"}))),
            ContentBlock::Unknown(obj(json!({"type": "mystery"}))),
        ]),
        Message::assistant(vec![ContentBlock::thinking("unsigned", None)]),
        Message::User(UserMessage {
            content: MessageContent::Blocks(vec![
                ContentBlock::Unknown(obj(json!({"type": "tool_result", "toolCallId": 5}))),
                serde_json::from_value(json!({"type": "tool_result", "tool_use_id": "toolu_9",
                    "content": [{"type": "text", "text": "out"}, {"type": "image", "data": "eA==", "mimeType": "image/jpeg"}],
                    "is_error": true}))
                .unwrap(),
                serde_json::from_value(json!({"type": "document", "data": "JVBE", "mimeType": "application/pdf"}))
                    .unwrap(),
            ]),
            ..Default::default()
        }),
    ];
    assert_eq!(
        Value::Array(convert_messages(&messages)),
        json!([
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": [
                    {"type": "text", "text": "out"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "eA=="}}
                ], "is_error": true},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
            ]}
        ])
    );
    assert_eq!(
        Value::Array(convert_tools(&[ToolDefinition { name: "Now".into(), ..Default::default() }])),
        json!([{"name": "Now", "description": "", "input_schema": {"type": "object", "properties": {}}}])
    );
}

#[test]
fn headers_for_api_keys_and_oauth() {
    let h = api_key_provider(DEFAULT_BASE_URL).request_headers("claude-opus-4-6").unwrap();
    assert_eq!(h["x-api-key"], "sk-test");
    assert_eq!(h["anthropic-version"], API_VERSION);
    assert_eq!(h["content-type"], "application/json");
    assert!(h.get("authorization").is_none() && h.get("anthropic-beta").is_none());

    let oauth = AnthropicProvider::new(DEFAULT_BASE_URL, AnthropicAuth::OAuth { access_token: "tok".into() });
    let h = oauth.request_headers("claude-opus-4-6").unwrap();
    assert_eq!(h["authorization"], "Bearer tok");
    assert_eq!(h["anthropic-beta"], "oauth-2025-04-20");
    assert_eq!(h["anthropic-dangerous-direct-browser-access"], "true");
    assert!(h.get("x-api-key").is_none());
    for model in ["claude-sonnet-4-5", "claude-opus-4-5-20251101", "claude-unknown"] {
        let h = oauth.request_headers(model).unwrap();
        assert_eq!(
            h["anthropic-beta"],
            "oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
        );
    }
    let bad = AnthropicProvider::new(DEFAULT_BASE_URL, AnthropicAuth::ApiKey("a\nb".into()));
    assert!(matches!(bad.request_headers("m"), Err(LlmError::NoCredentials { .. })));
    assert_eq!(format!("{:?}", oauth.auth()), "OAuth { access_token: <redacted> }");
}

#[test]
fn configuration_from_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let p = AnthropicProvider::from_lookup(env(&[
        ("ANTHROPIC_API_KEY", "sk-1"),
        ("CLAUDE_CODE_OAUTH_TOKEN", "tok"),
        ("ANTHROPIC_BASE_URL", "http://proxy/"),
    ]))
    .unwrap();
    assert_eq!(p.auth(), &AnthropicAuth::ApiKey("sk-1".into()));
    assert_eq!(p.base_url(), "http://proxy");
    assert_eq!(p.messages_url(), "http://proxy/v1/messages");
    assert!(!p.prompt_caching());

    let p = AnthropicProvider::from_lookup(env(&[
        ("ANTHROPIC_API_KEY", " "),
        ("CLAUDE_CODE_OAUTH_TOKEN", "tok"),
        ("TRON_ANTHROPIC_BASE_URL", "http://mine"),
        ("ANTHROPIC_BASE_URL", "http://other"),
    ]))
    .unwrap();
    assert_eq!(p.auth(), &AnthropicAuth::OAuth { access_token: "tok".into() });
    assert_eq!(p.base_url(), "http://mine");
    assert!(p.is_oauth() && p.prompt_caching());

    let p = AnthropicProvider::from_lookup(env(&[("ANTHROPIC_API_KEY", "k")])).unwrap();
    assert_eq!(p.base_url(), DEFAULT_BASE_URL);

    let err = AnthropicProvider::from_lookup(env(&[])).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LlmError::NoCredentials { provider: "anthropic", .. }));
    for needle in ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "tron auth login anthropic"] {
        assert!(text.contains(needle), "{text}");
    }
}

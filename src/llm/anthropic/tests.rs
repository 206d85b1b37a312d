//! Tests of the request side: body conversion (golden JSON), cache breakpoints, thinking,
//! headers, and configuration from the environment.

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
    let breakpoints = body.to_string().matches("cache_control").count();
    assert!(breakpoints <= 4, "{breakpoints} breakpoints");

    // A string user message turns into a text block to carry the breakpoint; without a
    // system prompt the prefix block carries the system breakpoint.
    let req = Request {
        model: "claude-opus-4-6".into(),
        messages: vec![Message::user("hi")],
        ..Default::default()
    };
    let body = provider.request_body(&req);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}])
    );
    assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(body["max_tokens"], 128_000, "max_tokens 0 falls back to the registry's max_output");
    assert!(body.get("tools").is_none() && body.get("thinking").is_none());

    // Caching can be switched off; API keys get it only on request.
    let body = provider.clone().with_prompt_caching(false).request_body(&req);
    assert!(!body.to_string().contains("cache_control"));
    let body = api_key_provider(DEFAULT_BASE_URL).with_prompt_caching(true).request_body(&req);
    assert_eq!(body["system"], Value::Null, "no system prompt, no prefix for API keys");
    assert!(body["messages"][0]["content"][0].get("cache_control").is_some());
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

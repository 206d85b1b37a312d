//! Tests of the OpenAI providers against the scripted mock server (real HTTP, no network).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::*;
use crate::core::content::ContentBlock;
use crate::core::messages::{Message, ProviderType, StopReason};
use crate::core::retry::Jitter;
use crate::core::retry::RetryPolicy;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;
use crate::llm::provider::{LlmError, Provider, Request};
use crate::testing::{MockLlm, Script, ScriptedResponse, Step};

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn fast_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(max_retries, Duration::from_millis(1), Duration::from_millis(5))
        .with_jitter(Jitter::None)
}

fn read_tool() -> ToolDefinition {
    ToolDefinition {
        name: "Read".into(),
        description: "Read a file".into(),
        parameters: obj(json!({"type": "object", "properties": {"path": {"type": "string"}},
            "required": ["path"]})),
    }
}

fn request(messages: Vec<Message>) -> Request {
    Request {
        model: "gpt-4.1".into(),
        system: Some("You are Tron.".into()),
        messages,
        tools: vec![read_tool()],
        max_tokens: 4096,
        thinking_budget: None,
    }
}

async fn run(provider: &dyn Provider, request: Request) -> Vec<Result<StreamEvent, LlmError>> {
    tokio::time::timeout(Duration::from_secs(20), provider.stream(request).collect::<Vec<_>>())
        .await
        .expect("stream did not finish")
}

fn ok_events(items: Vec<Result<StreamEvent, LlmError>>) -> Vec<StreamEvent> {
    items.into_iter().map(|i| i.expect("stream item failed")).collect()
}

fn chat(mock: &MockLlm) -> OpenAiChatProvider {
    OpenAiChatProvider::new(mock.base_url(), "sk-test").with_retry_policy(fast_policy(3))
}

fn done(events: &[StreamEvent]) -> (&crate::core::messages::AssistantMessage, &StopReason) {
    match events.last() {
        Some(StreamEvent::Done { message, stop_reason }) => (message, stop_reason),
        other => panic!("last event is not done: {other:?}"),
    }
}

#[tokio::test]
async fn chat_text_stream_and_usage() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "Hello there friend".into() },
        Step::Usage { input_tokens: 10, output_tokens: 5, cache_read_tokens: 30, cache_creation_tokens: 0 },
    ])]))
    .await
    .unwrap();
    let events = ok_events(run(&chat(&mock), request(vec![Message::user("hi")])).await);
    assert_eq!(
        events[..6],
        [
            StreamEvent::Start,
            StreamEvent::TextStart,
            StreamEvent::TextDelta { delta: "Hello ".into() },
            StreamEvent::TextDelta { delta: "there ".into() },
            StreamEvent::TextDelta { delta: "friend".into() },
            StreamEvent::TextEnd { text: "Hello there friend".into(), signature: None },
        ]
    );
    assert_eq!(events.len(), 7);
    let (message, stop) = done(&events);
    assert_eq!(*stop, StopReason::EndTurn);
    assert_eq!(message.content, vec![ContentBlock::text("Hello there friend")]);
    let usage = message.usage.as_ref().unwrap();
    assert_eq!(usage.input_tokens, 40, "prompt tokens include cached ones");
    assert_eq!(usage.output_tokens, 5);
    assert_eq!(usage.cache_read_tokens, Some(30));
    assert_eq!(usage.provider_type, Some(ProviderType::OpenAi));

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
}

#[tokio::test]
async fn chat_tool_call_with_fragmented_arguments() {
    let input = json!({"path": "/tmp/some/long/file.txt", "limit": 10});
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "Reading".into() },
        Step::ToolCall { id: "call_1".into(), name: "Read".into(), input: input.clone() },
        Step::ToolCall { id: "call_2".into(), name: "Read".into(), input: json!({}) },
    ])]))
    .await
    .unwrap();
    let events = ok_events(run(&chat(&mock), request(vec![Message::user("read it")])).await);
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { tool_call_id, arguments_delta } if tool_call_id == "call_1" => {
                Some(arguments_delta.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(deltas.len() > 1, "arguments arrive in fragments: {deltas:?}");
    assert_eq!(serde_json::from_str::<Value>(&deltas.concat()).unwrap(), input);
    let kinds: Vec<&str> = events.iter().map(StreamEvent::kind).collect();
    let first_call = kinds.iter().position(|k| *k == "toolcall_start").unwrap();
    assert!(kinds[..first_call].contains(&"text_end"), "text closes before tool calls: {kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "toolcall_end").count(), 2);

    let (message, stop) = done(&events);
    assert_eq!(*stop, StopReason::ToolUse);
    assert_eq!(
        message.content,
        vec![
            ContentBlock::text("Reading"),
            ToolCall::new("call_1", "Read", obj(input)).to_block(),
            ToolCall::new("call_2", "Read", JsonObject::new()).to_block(),
        ]
    );
}

#[tokio::test]
async fn chat_max_tokens_stop_reason() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "cut".into() },
        Step::Stop { reason: "max_tokens".into() },
    ])]))
    .await
    .unwrap();
    let events = ok_events(run(&chat(&mock), request(vec![Message::user("hi")])).await);
    assert_eq!(*done(&events).1, StopReason::MaxTokens);
}

#[tokio::test]
async fn chat_retries_429_then_succeeds() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::openai_error(429, "rate_limit_exceeded", "Rate limit reached", None),
        ScriptedResponse::text("ok"),
    ]))
    .await
    .unwrap();
    let events = ok_events(run(&chat(&mock), request(vec![Message::user("hi")])).await);
    match &events[0] {
        StreamEvent::Retry { attempt, max_retries, error, .. } => {
            assert_eq!((*attempt, *max_retries), (1, 3));
            assert!(error.message.contains("Rate limit reached"), "{}", error.message);
        }
        other => panic!("expected a retry event, got {other:?}"),
    }
    assert_eq!(events[1], StreamEvent::Start);
    assert_eq!(done(&events).0.content, vec![ContentBlock::text("ok")]);
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(mock.requests()[0].body, mock.requests()[1].body);
}

#[tokio::test]
async fn chat_400_is_not_retried() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::openai_error(400, "invalid_request_error", "bad tools", None),
        ScriptedResponse::text("never"),
    ]))
    .await
    .unwrap();
    let items = run(&chat(&mock), request(vec![Message::user("hi")])).await;
    assert_eq!(items.len(), 1);
    match &items[0] {
        Err(LlmError::Http { status: 400, message, .. }) => {
            assert!(message.contains("bad tools"), "{message}")
        }
        other => panic!("expected an HTTP 400 error, got {other:?}"),
    }
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn chat_error_after_output_ends_the_stream() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "partial".into() },
        Step::Error { error_type: "server_error".into(), message: "boom".into() },
    ])]))
    .await
    .unwrap();
    let items = run(&chat(&mock), request(vec![Message::user("hi")])).await;
    match items.last() {
        Some(Err(LlmError::Stream { kind, message, .. })) => {
            assert_eq!(kind, "server_error");
            assert!(message.contains("boom"));
        }
        other => panic!("expected a stream error, got {other:?}"),
    }
    assert_eq!(mock.requests().len(), 1, "nothing is retried once output began");
}

#[tokio::test]
async fn chat_cut_connection_is_an_error() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "partial answer".into() },
        Step::Cut,
    ])]))
    .await
    .unwrap();
    let items = run(&chat(&mock), request(vec![Message::user("hi")])).await;
    assert!(matches!(items.last(), Some(Err(LlmError::Stream { .. }))), "{items:?}");
}

fn tool_conversation() -> Vec<Message> {
    vec![
        Message::user("Read a.txt"),
        Message::assistant(vec![
            ContentBlock::thinking("hidden", Some("sig".into())),
            ContentBlock::text("Reading it"),
            ToolCall::new("call_1", "Read", obj(json!({"path": "a.txt"}))).to_block(),
        ]),
        Message::tool_result("call_1", "hello", false),
    ]
}

#[tokio::test]
async fn chat_golden_request_body() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("Done.")])).await.unwrap();
    ok_events(run(&chat(&mock), request(tool_conversation())).await);
    let body = mock.requests()[0].body.clone();
    let expected = json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are Tron."},
            {"role": "user", "content": "Read a.txt"},
            {"role": "assistant", "content": "Reading it", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{\"path\":\"a.txt\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "hello"}
        ],
        "tools": [{"type": "function", "function": {"name": "Read", "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}],
        "max_completion_tokens": 4096,
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    assert_eq!(body, expected);
    let provider = OpenAiChatProvider::new(DEFAULT_BASE_URL, "k");
    assert_eq!(provider.request_body(&request(tool_conversation())).to_string(), expected.to_string());
}

#[test]
fn chat_user_blocks_and_tool_only_assistant() {
    use crate::core::content::MessageContent;
    use crate::core::messages::UserMessage;
    let messages = vec![
        Message::assistant(vec![ToolCall::new("call_9", "Ls", JsonObject::new()).to_block()]),
        Message::User(UserMessage {
            content: MessageContent::Blocks(vec![
                ContentBlock::text("What is this?"),
                ContentBlock::image("iVBORw0KGgo=", "image/png"),
            ]),
            ..Default::default()
        }),
        Message::assistant(vec![ContentBlock::thinking("only thinking", None)]),
    ];
    assert_eq!(
        chat::convert_messages(&messages),
        vec![
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "Ls", "arguments": "{}"}}]}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}),
        ]
    );
}

#[test]
fn chat_from_lookup() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let err = OpenAiChatProvider::from_lookup(vars(&[("OPENAI_API_KEY", " ")])).unwrap_err();
    match err {
        LlmError::NoCredentials { provider, hint } => {
            assert_eq!(provider, "openai");
            assert!(hint.contains("OPENAI_API_KEY"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    let p = OpenAiChatProvider::from_lookup(vars(&[("OPENAI_API_KEY", "sk")])).unwrap();
    assert_eq!(p.base_url(), DEFAULT_BASE_URL);
    assert_eq!(p.completions_url(), "https://api.openai.com/v1/chat/completions");
    let p = OpenAiChatProvider::from_lookup(vars(&[
        ("OPENAI_API_KEY", "sk"),
        ("OPENAI_BASE_URL", "http://b/v1"),
        ("TRON_OPENAI_BASE_URL", "http://a/"),
    ]))
    .unwrap();
    assert_eq!(p.completions_url(), "http://a/v1/chat/completions");
    let p = OpenAiChatProvider::from_lookup(vars(&[
        ("OPENAI_API_KEY", "sk"),
        ("OPENAI_BASE_URL", "http://b/v1"),
    ]))
    .unwrap();
    assert_eq!(p.completions_url(), "http://b/v1/chat/completions");
    assert!(!format!("{p:?}").contains("\"sk\""));
}

fn codex(mock: &MockLlm) -> OpenAiResponsesProvider {
    OpenAiResponsesProvider::new(format!("{}/backend-api", mock.base_url()), "tok-123", "acct-9")
        .with_retry_policy(fast_policy(3))
}

fn codex_request(messages: Vec<Message>) -> Request {
    Request { model: "gpt-5.3-codex".into(), ..request(messages) }
}

#[tokio::test]
async fn responses_reasoning_text_and_usage() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Thinking { text: "Think hard".into(), signature: "gAAAA-enc".into() },
        Step::Text { text: "Hello there".into() },
        Step::Usage { input_tokens: 3, output_tokens: 9, cache_read_tokens: 4, cache_creation_tokens: 0 },
    ])]))
    .await
    .unwrap();
    let provider = codex(&mock).with_reasoning_effort("high");
    let events = ok_events(run(&provider, codex_request(vec![Message::user("hi")])).await);
    assert_eq!(
        events[..9],
        [
            StreamEvent::Start,
            StreamEvent::ThinkingStart,
            StreamEvent::ThinkingDelta { delta: "Think ".into() },
            StreamEvent::ThinkingDelta { delta: "hard".into() },
            StreamEvent::ThinkingEnd { thinking: "Think hard".into(), signature: Some("gAAAA-enc".into()) },
            StreamEvent::TextStart,
            StreamEvent::TextDelta { delta: "Hello ".into() },
            StreamEvent::TextDelta { delta: "there".into() },
            StreamEvent::TextEnd { text: "Hello there".into(), signature: None },
        ]
    );
    assert_eq!(events.len(), 10);
    let (message, stop) = done(&events);
    assert_eq!(*stop, StopReason::EndTurn);
    assert_eq!(
        message.content,
        vec![
            ContentBlock::thinking("Think hard", Some("gAAAA-enc".into())),
            ContentBlock::text("Hello there")
        ]
    );
    let usage = message.usage.as_ref().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens, usage.cache_read_tokens), (7, 9, Some(4)));
    assert_eq!(usage.provider_type, Some(ProviderType::OpenAiCodex));

    let req = &mock.requests()[0];
    assert_eq!(req.path, "/backend-api/codex/responses");
    assert_eq!(req.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(req.header("chatgpt-account-id"), Some("acct-9"));
    assert_eq!(req.header("openai-beta"), Some("responses=experimental"));
    assert_eq!(req.header("originator"), Some("codex_cli_rs"));
    assert_eq!(req.body["reasoning"], json!({"effort": "high", "summary": "detailed"}));
}

#[tokio::test]
async fn responses_tool_call_matched_by_item_id() {
    let input = json!({"path": "/tmp/some/long/file.txt", "limit": 10});
    let mock = MockLlm::start(Script::new([ScriptedResponse::tool_call("call_abc", "Read", input.clone())]))
        .await
        .unwrap();
    let events = ok_events(run(&codex(&mock), codex_request(vec![Message::user("read")])).await);
    assert_eq!(
        events[1],
        StreamEvent::ToolCallStart { tool_call_id: "call_abc".into(), name: "Read".into() }
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallDelta { tool_call_id, arguments_delta } if tool_call_id == "call_abc" => {
                Some(arguments_delta.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(deltas.len(), 3);
    assert_eq!(serde_json::from_str::<Value>(&deltas.concat()).unwrap(), input);
    let (message, stop) = done(&events);
    assert_eq!(*stop, StopReason::ToolUse);
    assert_eq!(message.content, vec![ToolCall::new("call_abc", "Read", obj(input)).to_block()]);
}

#[tokio::test]
async fn responses_incomplete_is_max_tokens_and_errors() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([
            Step::Text { text: "cut".into() },
            Step::Stop { reason: "max_tokens".into() },
        ]),
        ScriptedResponse::openai_error(429, "rate_limit_exceeded", "slow down", None),
        ScriptedResponse::text("ok"),
        ScriptedResponse::openai_error(401, "invalid_request_error", "bad token", None),
    ]))
    .await
    .unwrap();
    let provider = codex(&mock);
    let events = ok_events(run(&provider, codex_request(vec![Message::user("hi")])).await);
    assert_eq!(*done(&events).1, StopReason::MaxTokens);
    let events = ok_events(run(&provider, codex_request(vec![Message::user("hi")])).await);
    assert_eq!(events[0].kind(), "retry");
    assert_eq!(done(&events).0.content, vec![ContentBlock::text("ok")]);
    let items = run(&provider, codex_request(vec![Message::user("hi")])).await;
    assert!(matches!(items[..], [Err(LlmError::Http { status: 401, .. })]), "{items:?}");
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn responses_stream_error_event() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "partial".into() },
        Step::Error { error_type: "server_error".into(), message: "oops".into() },
    ])]))
    .await
    .unwrap();
    let items = run(&codex(&mock), codex_request(vec![Message::user("hi")])).await;
    match items.last() {
        Some(Err(LlmError::Stream { kind, message, .. })) => {
            assert_eq!(kind, "server_error");
            assert!(message.contains("oops"), "{message}");
        }
        other => panic!("expected a stream error, got {other:?}"),
    }
}

#[tokio::test]
async fn responses_golden_request_body() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("Done.")])).await.unwrap();
    let mut messages = tool_conversation();
    // A reasoning item from an earlier Codex answer is sent back with its encrypted content.
    if let Message::Assistant(a) = &mut messages[1] {
        a.usage = Some(crate::core::messages::TokenUsage {
            provider_type: Some(ProviderType::OpenAiCodex),
            ..Default::default()
        });
    }
    ok_events(run(&codex(&mock), codex_request(messages)).await);
    let expected = json!({
        "model": "gpt-5.3-codex",
        "instructions": "You are Tron.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Read a.txt"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hidden"}], "encrypted_content": "sig"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Reading it"}]},
            {"type": "function_call", "call_id": "call_1", "name": "Read", "arguments": "{\"path\":\"a.txt\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "hello"}
        ],
        "tools": [{"type": "function", "name": "Read", "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}],
        "reasoning": {"effort": "medium", "summary": "detailed"},
        "include": ["reasoning.encrypted_content"],
        "store": false,
        "stream": true
    });
    let body = &mock.requests()[0].body;
    assert_eq!(body, &expected);
    assert_eq!(body.to_string(), expected.to_string());
    // Thinking from another provider is never sent back.
    let input = responses::convert_input(&tool_conversation());
    assert!(input.iter().all(|i| i["type"] != "reasoning"), "{input:?}");
}

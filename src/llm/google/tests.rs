//! Tests of the Gemini provider: request body (golden JSON), thinking configuration,
//! configuration from the environment, and streaming against the scripted mock server (and
//! a tiny local responder for what the mock cannot express: safety blocks).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::core::content::{ContentBlock, MessageContent};
use crate::core::errors::ErrorCategory;
use crate::core::messages::{AssistantMessage, Message, StopReason, UserMessage};
use crate::core::retry::Jitter;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;
use crate::testing::{MockLlm, Script, ScriptedResponse, Step};

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn read_tool() -> ToolDefinition {
    ToolDefinition {
        name: "Read".into(),
        description: "Read a file".into(),
        parameters: obj(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "opts": {"type": "object", "additionalProperties": false,
                         "properties": {"limit": {"type": "integer"}}},
                "tags": {"type": "array", "items": {"anyOf": [{"type": "string", "additionalProperties": true}]}}
            },
            "required": ["path"],
            "additionalProperties": false
        })),
    }
}

fn signed_call(id: &str, name: &str, args: Value, sig: Option<&str>) -> ContentBlock {
    let mut call = ToolCall::new(id, name, obj(args));
    call.thought_signature = sig.map(str::to_owned);
    call.to_block()
}

fn conversation() -> Vec<Message> {
    vec![
        Message::user("Read a.rs"),
        Message::assistant(vec![
            ContentBlock::thinking("I should read it", None),
            ContentBlock::text("Reading"),
            signed_call("call_x_0", "Read", json!({"path": "a.rs"}), Some("c2ln")),
            signed_call("toolu_01", "Read", json!({"path": "b.rs"}), None),
        ]),
        Message::tool_result("call_x_0", "fn main() {}", false),
        Message::tool_result("toolu_01", "mod b;", true),
        Message::User(UserMessage {
            content: MessageContent::Blocks(vec![
                ContentBlock::text("And this?"),
                ContentBlock::image("iVBORw0KGgo=", "image/png"),
            ]),
            ..Default::default()
        }),
    ]
}

fn request(model: &str, thinking_budget: Option<u64>) -> Request {
    Request {
        model: model.into(),
        system: Some("You are Tron.".into()),
        messages: conversation(),
        tools: vec![read_tool()],
        max_tokens: 4096,
        thinking_budget,
    }
}

fn provider(base: &str) -> GoogleProvider {
    GoogleProvider::new(base, "gm-key").with_retry_policy(fast_policy(3))
}

fn fast_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(max_retries, Duration::from_millis(1), Duration::from_millis(5))
        .with_jitter(Jitter::None)
}

#[test]
fn golden_request_body() {
    let body = provider(DEFAULT_BASE_URL).request_body(&request("gemini-2.5-pro", Some(2048)));
    let safety: Vec<Value> = [
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    ]
    .iter()
    .map(|c| json!({"category": c, "threshold": "OFF"}))
    .collect();
    let expected = json!({
        "contents": [
            {"role": "user", "parts": [{"text": "Read a.rs"}]},
            {"role": "model", "parts": [
                {"text": "Reading"},
                {"functionCall": {"name": "Read", "args": {"path": "a.rs"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "Read", "args": {"path": "b.rs"}},
                 "thoughtSignature": "skip_thought_signature_validator"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Read", "response": {"result": "fn main() {}", "tool_call_id": "call_x_0"}}},
                {"functionResponse": {"name": "Read", "response": {"result": "mod b;", "tool_call_id": "toolu_01"}}}
            ]},
            {"role": "user", "parts": [
                {"text": "And this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
            ]}
        ],
        "systemInstruction": {"parts": [{"text": "You are Tron."}]},
        "tools": [{"functionDeclarations": [{"name": "Read", "description": "Read a file", "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "opts": {"type": "object", "properties": {"limit": {"type": "integer"}}},
                "tags": {"type": "array", "items": {"anyOf": [{"type": "string"}]}}
            },
            "required": ["path"]
        }}]}],
        "generationConfig": {"maxOutputTokens": 4096,
                             "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true}},
        "safetySettings": safety
    });
    assert_eq!(body, expected);
    assert_eq!(body.to_string(), expected.to_string());
}

#[test]
fn thinking_config_by_model() {
    let config = |model: &str, budget: Option<u64>| {
        let mut r = request(model, budget);
        r.max_tokens = 0;
        provider(DEFAULT_BASE_URL).request_body(&r)["generationConfig"].clone()
    };
    assert_eq!(
        config("gemini-3-pro-preview", None),
        json!({"maxOutputTokens": 65536, "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": true}})
    );
    assert_eq!(config("gemini-3-flash-preview", Some(1024))["thinkingConfig"]["thinkingLevel"], "LOW");
    assert_eq!(config("gemini-2.5-flash", None).get("thinkingConfig"), None);
    assert_eq!(config("gemini-2.5-flash-lite", Some(4096)).get("thinkingConfig"), None);
    assert_eq!(config("gemini-unknown", None)["maxOutputTokens"], FALLBACK_MAX_TOKENS);
}

#[test]
fn configuration_from_the_environment() {
    let from = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        GoogleProvider::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    };
    let err = from(&[("GEMINI_API_KEY", "  ")]).unwrap_err();
    assert!(matches!(err, LlmError::NoCredentials { provider: "google", .. }), "{err:?}");
    assert!(err.to_string().contains("GEMINI_API_KEY") && err.to_string().contains("GOOGLE_API_KEY"));
    let p = from(&[("GOOGLE_API_KEY", "g")]).unwrap();
    assert_eq!(p.base_url(), DEFAULT_BASE_URL);
    assert_eq!(p.request_headers().unwrap()["x-goog-api-key"], "g");
    let p =
        from(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", "m"), ("TRON_GOOGLE_BASE_URL", "http://h:1/")])
            .unwrap();
    assert_eq!(p.request_headers().unwrap()["x-goog-api-key"], "m");
    assert_eq!(
        p.stream_url("google/gemini-2.5-pro"),
        "http://h:1/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert!(!format!("{p:?}").contains("\"m\""));
}

async fn run(provider: &GoogleProvider, request: Request) -> Vec<Result<StreamEvent, LlmError>> {
    tokio::time::timeout(Duration::from_secs(20), provider.stream(request).collect::<Vec<_>>())
        .await
        .expect("stream did not finish")
}

fn simple_request(model: &str) -> Request {
    Request {
        model: model.into(),
        messages: vec![Message::user("hi")],
        max_tokens: 100,
        ..Default::default()
    }
}

fn kinds(items: &[Result<StreamEvent, LlmError>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(e) => e.kind().to_owned(),
            Err(e) => format!("Err({e})"),
        })
        .collect()
}

fn done_message(items: &[Result<StreamEvent, LlmError>]) -> (&AssistantMessage, &StopReason) {
    match items.last() {
        Some(Ok(StreamEvent::Done { message, stop_reason })) => (&**message, stop_reason),
        other => panic!("last item is not done: {other:?}"),
    }
}

fn usage(input: u64, output: u64, cache_read: u64) -> Step {
    Step::Usage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_creation_tokens: 0,
    }
}

#[tokio::test]
async fn streams_text_with_usage() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "Hi there".into() },
        usage(4, 2, 0),
    ])]))
    .await
    .unwrap();
    let items = run(&provider(&mock.base_url()), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items), ["start", "text_start", "text_delta", "text_delta", "text_end", "done"]);
    assert_eq!(
        items[4].as_ref().unwrap(),
        &StreamEvent::TextEnd { text: "Hi there".into(), signature: None }
    );
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::EndTurn);
    assert_eq!(
        serde_json::to_value(message).unwrap(),
        json!({"content": [{"type": "text", "text": "Hi there"}],
               "usage": {"inputTokens": 4, "outputTokens": 2, "providerType": "google"},
               "stopReason": "end_turn"})
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
    assert_eq!(requests[0].header("x-goog-api-key"), Some("gm-key"));
    assert_eq!(requests[0].body["contents"], json!([{"role": "user", "parts": [{"text": "hi"}]}]));
}

#[tokio::test]
async fn thinking_tool_call_and_signature_round_trip() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([
            Step::Thinking { text: "Plan it".into(), signature: "c2ln".into() },
            Step::ToolCall { id: "ignored".into(), name: "Read".into(), input: json!({"path": "a.rs"}) },
            usage(1, 3, 10),
        ]),
        ScriptedResponse::text("Done"),
    ]))
    .await
    .unwrap();
    let p = provider(&mock.base_url());
    let mut req = simple_request("gemini-3-pro-preview");
    req.tools = vec![read_tool()];
    let items = run(&p, req.clone()).await;
    assert_eq!(
        kinds(&items),
        [
            "start",
            "thinking_start",
            "thinking_delta",
            "thinking_delta",
            "thinking_end",
            "toolcall_start",
            "toolcall_delta",
            "toolcall_end",
            "done"
        ]
    );
    assert_eq!(
        items[4].as_ref().unwrap(),
        &StreamEvent::ThinkingEnd { thinking: "Plan it".into(), signature: None }
    );
    let Ok(StreamEvent::ToolCallStart { tool_call_id: id, name }) = &items[5] else {
        panic!("{:?}", items[5])
    };
    assert_eq!(name, "Read");
    assert!(id.starts_with("call_") && id.ends_with("_0") && id.len() == "call_".len() + 8 + 2, "{id}");
    assert_eq!(
        items[6].as_ref().unwrap(),
        &StreamEvent::ToolCallDelta {
            tool_call_id: id.clone(),
            arguments_delta: r#"{"path":"a.rs"}"#.into()
        }
    );
    let Ok(StreamEvent::ToolCallEnd { tool_call }) = &items[7] else { panic!("{:?}", items[7]) };
    assert_eq!(tool_call.thought_signature.as_deref(), Some("c2ln"));
    assert_eq!(tool_call.arguments, obj(json!({"path": "a.rs"})));
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::ToolUse);
    let usage = message.usage.as_ref().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens, usage.cache_read_tokens), (11, 3, Some(10)));
    assert_eq!(message.content.len(), 2);

    // The next turn replays the call with its signature and answers it by name.
    req.messages.push(Message::Assistant(message.clone()));
    req.messages.push(Message::tool_result(id.clone(), "fn main() {}", false));
    let items = run(&p, req).await;
    assert_eq!(done_message(&items).0.content, vec![ContentBlock::text("Done")]);
    let body = &mock.requests()[1].body;
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "Read", "args": {"path": "a.rs"}}, "thoughtSignature": "c2ln"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Read", "response": {"result": "fn main() {}", "tool_call_id": id}}}
            ]}
        ])
    );
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "HIGH", "includeThoughts": true})
    );
}

#[tokio::test]
async fn a_lone_signature_signs_the_thinking_and_is_replayed() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([
            Step::Thinking { text: "Hmm".into(), signature: "sig".into() },
            Step::Stop { reason: "max_tokens".into() },
        ]),
        ScriptedResponse::text("ok"),
    ]))
    .await
    .unwrap();
    let p = provider(&mock.base_url());
    let mut req = simple_request("gemini-2.5-flash");
    let items = run(&p, req.clone()).await;
    assert_eq!(kinds(&items), ["start", "thinking_start", "thinking_delta", "thinking_end", "done"]);
    assert_eq!(
        items[3].as_ref().unwrap(),
        &StreamEvent::ThinkingEnd { thinking: "Hmm".into(), signature: Some("sig".into()) }
    );
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::MaxTokens);
    req.messages.push(Message::Assistant(message.clone()));
    req.messages.push(Message::user("go on"));
    run(&p, req).await;
    assert_eq!(
        mock.requests()[1].body["contents"][1],
        json!({"role": "model", "parts": [{"text": "", "thoughtSignature": "sig"}]})
    );
}

#[tokio::test]
async fn a_signature_on_text_is_kept_and_replayed() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([
            Step::Thinking { text: "Hmm".into(), signature: "tsig".into() },
            Step::Text { text: "Answer".into() },
        ]),
        ScriptedResponse::text("ok"),
    ]))
    .await
    .unwrap();
    let p = provider(&mock.base_url());
    let mut req = simple_request("gemini-2.5-flash");
    let items = run(&p, req.clone()).await;
    assert!(items
        .iter()
        .any(|i| matches!(i, Ok(StreamEvent::TextEnd { text, signature: Some(s) }) if text == "Answer" && s == "tsig")));
    req.messages.push(Message::Assistant(done_message(&items).0.clone()));
    req.messages.push(Message::user("go on"));
    run(&p, req).await;
    assert_eq!(
        mock.requests()[1].body["contents"][1],
        json!({"role": "model", "parts": [{"text": "Answer", "thoughtSignature": "tsig"}]})
    );
}

#[tokio::test]
async fn retries_a_429_then_succeeds() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", None),
        ScriptedResponse::text("ok"),
    ]))
    .await
    .unwrap();
    let items = run(&provider(&mock.base_url()), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items), ["retry", "start", "text_start", "text_delta", "text_end", "done"]);
    let Ok(StreamEvent::Retry { attempt, max_retries, error, .. }) = &items[0] else { panic!() };
    assert_eq!((*attempt, *max_retries), (1, 3));
    assert_eq!(error.category, ErrorCategory::RateLimit);
    assert!(error.message.contains("RESOURCE_EXHAUSTED: Quota exceeded"), "{}", error.message);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn an_in_stream_unavailable_error_before_output_is_retried() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([Step::Error {
            error_type: "UNAVAILABLE".into(),
            message: "overloaded".into(),
        }]),
        ScriptedResponse::text("ok"),
    ]))
    .await
    .unwrap();
    let items = run(&provider(&mock.base_url()), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items)[..2], ["retry", "start"]);
    done_message(&items);
}

#[tokio::test]
async fn an_error_after_output_ends_the_stream_unretried() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::stream([
            Step::Text { text: "a".into() },
            Step::Error { error_type: "UNAVAILABLE".into(), message: "overloaded".into() },
        ]),
        ScriptedResponse::text("never"),
    ]))
    .await
    .unwrap();
    let items = run(&provider(&mock.base_url()), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items)[..3], ["start", "text_start", "text_delta"]);
    let Some(Err(LlmError::Stream { kind, message, .. })) = items.last() else { panic!("{items:?}") };
    assert_eq!((kind.as_str(), message.as_str()), ("overloaded_error", "UNAVAILABLE: overloaded"));
    assert_eq!(mock.remaining(), 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload", None),
        ScriptedResponse::text("never"),
    ]))
    .await
    .unwrap();
    let items = run(&provider(&mock.base_url()), simple_request("gemini-2.5-pro")).await;
    assert_eq!(items.len(), 1);
    let Err(err) = &items[0] else { panic!("{:?}", items[0]) };
    assert!(
        matches!(err, LlmError::Http { status: 400, message, .. } if message == "INVALID_ARGUMENT: Invalid JSON payload"),
        "{err:?}"
    );
    assert_eq!(mock.remaining(), 1);
}

/// Serves one canned HTTP response to one connection.
async fn respond_once(response: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
    });
    url
}

fn sse_response(frames: &[Value]) -> String {
    let body: String = frames.iter().map(|f| format!("data: {f}\r\n\r\n")).collect();
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}")
}

#[tokio::test]
async fn a_safety_block_is_reported_then_fails_the_stream() {
    let frames = [
        json!({"candidates": [{"content": {"parts": [{"text": "Sure"}], "role": "model"}, "index": 0}]}),
        json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"},
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]}],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}),
    ];
    let url = respond_once(sse_response(&frames)).await;
    let items = run(&provider(&url), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items)[..5], ["start", "text_start", "text_delta", "text_end", "safety_block"]);
    let Ok(StreamEvent::SafetyBlock { blocked_categories, error }) = &items[4] else { panic!() };
    assert_eq!(blocked_categories, &["HARM_CATEGORY_DANGEROUS_CONTENT"]);
    assert!(error.message.contains("SAFETY"), "{}", error.message);
    assert_eq!(items.len(), 6);
    let Err(LlmError::Stream { kind, message, .. }) = &items[5] else { panic!("{:?}", items[5]) };
    assert_eq!(kind, SAFETY_KIND);
    assert!(message.contains("HARM_CATEGORY_DANGEROUS_CONTENT"), "{message}");
}

#[tokio::test]
async fn a_blocked_prompt_is_a_safety_block() {
    let frames = [json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                          "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}})];
    let url = respond_once(sse_response(&frames)).await;
    let items = run(&provider(&url), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items)[..2], ["start", "safety_block"]);
    assert!(matches!(&items[2], Err(LlmError::Stream { kind, .. }) if kind == SAFETY_KIND), "{items:?}");
    assert!(!LlmError::Stream { provider: PROVIDER, kind: SAFETY_KIND.into(), message: String::new() }
        .is_retryable());
}

#[tokio::test]
async fn a_stream_without_finish_reason_gets_a_done() {
    let frames = [json!({"candidates": [{"content": {"parts": [
        {"functionCall": {"name": "Read", "args": {"path": "x"}}}], "role": "model"}}]})];
    let url = respond_once(sse_response(&frames)).await;
    let items = run(&provider(&url), simple_request("gemini-2.5-pro")).await;
    assert_eq!(kinds(&items), ["start", "toolcall_start", "toolcall_delta", "toolcall_end", "done"]);
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::ToolUse);
    let ContentBlock::ToolUse(call) = &message.content[0] else { panic!() };
    assert_eq!(call.thought_signature, None);
}

#[tokio::test]
async fn thoughts_tokens_count_as_output() {
    let frames = [json!({"candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"},
        "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 120, "cachedContentTokenCount": 100,
            "candidatesTokenCount": 7, "thoughtsTokenCount": 30, "totalTokenCount": 157}})];
    let url = respond_once(sse_response(&frames)).await;
    let items = run(&provider(&url), simple_request("gemini-2.5-pro")).await;
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::EndTurn);
    assert_eq!(
        serde_json::to_value(message.usage.as_ref().unwrap()).unwrap(),
        json!({"inputTokens": 120, "outputTokens": 37, "cacheReadTokens": 100, "providerType": "google"})
    );
}

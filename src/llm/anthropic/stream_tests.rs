//! Tests of the streaming path against a tiny local HTTP/1.1 responder (the real reqwest
//! path, no network): SSE decoding, retries before output, errors after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::core::errors::ErrorCategory;
use crate::core::messages::{AssistantMessage, Message, ProviderType, StopReason};
use crate::core::retry::Jitter;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolCall, ToolDefinition};
use crate::core::wire::JsonObject;

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn api_key_provider(base: &str) -> AnthropicProvider {
    AnthropicProvider::new(base, AnthropicAuth::ApiKey("sk-test".into()))
}

/// A local HTTP/1.1 server answering each connection with the next canned response, then
/// closing it. Records each raw request.
struct Responder {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Responder {
    async fn start(responses: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            for response in responses {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let request = read_request(&mut socket).await;
                seen.lock().unwrap().push(request);
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
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
    String::from_utf8_lossy(&buf).into_owned()
}

/// An SSE body from `(event, data)` pairs.
fn sse_body(events: &[(&str, Value)]) -> String {
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

fn sse_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n{body}"
    )
}

fn http_response(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

fn message_start(input: u64) -> (&'static str, Value) {
    (
        "message_start",
        json!({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": 1, "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 0}}}}),
    )
}

fn block_start(index: u64, block: Value) -> (&'static str, Value) {
    ("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": block}))
}

fn delta(index: u64, delta: Value) -> (&'static str, Value) {
    ("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

fn block_stop(index: u64) -> (&'static str, Value) {
    ("content_block_stop", json!({"type": "content_block_stop", "index": index}))
}

fn message_end(stop_reason: &str, output: u64) -> Vec<(&'static str, Value)> {
    vec![
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

fn text_events(text_parts: &[&str]) -> Vec<(&'static str, Value)> {
    let mut events = vec![message_start(12), ("ping", json!({"type": "ping"}))];
    events.push(block_start(0, json!({"type": "text", "text": ""})));
    for part in text_parts {
        events.push(delta(0, json!({"type": "text_delta", "text": part})));
    }
    events.push(block_stop(0));
    events.extend(message_end("end_turn", 7));
    events
}

fn fast_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(max_retries, Duration::from_millis(1), Duration::from_millis(5))
        .with_jitter(Jitter::None)
}

async fn run(provider: &AnthropicProvider, request: Request) -> Vec<Result<StreamEvent, LlmError>> {
    tokio::time::timeout(Duration::from_secs(20), provider.stream(request).collect::<Vec<_>>())
        .await
        .expect("stream did not finish")
}

fn simple_request() -> Request {
    Request {
        model: "claude-sonnet-4-5-20250929".into(),
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

#[tokio::test]
async fn streams_text() {
    let server = Responder::start(vec![sse_response(&sse_body(&text_events(&["Hel", "lo"])))]).await;
    let provider = api_key_provider(&server.url).with_retry_policy(fast_policy(2));
    let items = run(&provider, simple_request()).await;
    assert_eq!(kinds(&items), ["start", "text_start", "text_delta", "text_delta", "text_end", "done"]);
    assert_eq!(items[2].as_ref().unwrap(), &StreamEvent::TextDelta { delta: "Hel".into() });
    assert_eq!(items[4].as_ref().unwrap(), &StreamEvent::TextEnd { text: "Hello".into(), signature: None });
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::EndTurn);
    assert_eq!(message.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(
        serde_json::to_value(message).unwrap(),
        json!({"content": [{"type": "text", "text": "Hello"}],
            "usage": {"inputTokens": 12, "outputTokens": 7, "cacheReadTokens": 100, "cacheCreationTokens": 20,
                "providerType": "anthropic", "cacheCreation5mTokens": 20},
            "stopReason": "end_turn"})
    );
    assert_eq!(message.usage.as_ref().unwrap().provider_type, Some(ProviderType::Anthropic));

    // The request as the server saw it.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let raw = requests[0].to_lowercase();
    assert!(raw.starts_with("post /v1/messages http/1.1"), "{raw}");
    assert!(raw.contains("x-api-key: sk-test") && raw.contains("anthropic-version: 2023-06-01"), "{raw}");
    let body: Value =
        serde_json::from_str(&requests[0][requests[0].find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[tokio::test]
async fn streams_thinking_with_signature() {
    let mut events = vec![message_start(5)];
    events.push(block_start(0, json!({"type": "thinking", "thinking": ""})));
    events.push(delta(0, json!({"type": "thinking_delta", "thinking": "Let me "})));
    events.push(delta(0, json!({"type": "thinking_delta", "thinking": "think."})));
    events.push(delta(0, json!({"type": "signature_delta", "signature": "EqQB"})));
    events.push(delta(0, json!({"type": "signature_delta", "signature": "Zz=="})));
    events.push(block_stop(0));
    events.push(block_start(1, json!({"type": "redacted_thinking", "data": "opaque"})));
    events.push(block_stop(1));
    events.push(block_start(2, json!({"type": "text", "text": ""})));
    events.push(delta(2, json!({"type": "text_delta", "text": "Answer"})));
    events.push(delta(2, json!({"type": "citations_delta", "citation": {}})));
    events.push(block_stop(2));
    events.extend(message_end("end_turn", 30));
    let server = Responder::start(vec![sse_response(&sse_body(&events))]).await;
    let items = run(&api_key_provider(&server.url), simple_request()).await;
    assert_eq!(
        kinds(&items),
        [
            "start",
            "thinking_start",
            "thinking_delta",
            "thinking_delta",
            "thinking_end",
            "text_start",
            "text_delta",
            "text_end",
            "done"
        ]
    );
    assert_eq!(
        items[4].as_ref().unwrap(),
        &StreamEvent::ThinkingEnd { thinking: "Let me think.".into(), signature: Some("EqQBZz==".into()) }
    );
    let (message, _) = done_message(&items);
    assert_eq!(
        serde_json::to_value(&message.content).unwrap(),
        json!([
            {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBZz=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Answer"}
        ])
    );
}

#[tokio::test]
async fn streams_a_tool_call_split_into_fragments() {
    let mut events = vec![message_start(5)];
    events.push(block_start(0, json!({"type": "text", "text": ""})));
    events.push(delta(0, json!({"type": "text_delta", "text": "Listing"})));
    events.push(block_stop(0));
    events.push(block_start(1, json!({"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {}})));
    for part in ["", "{\"comm", "and\": \"ls", " -la\"", "}"] {
        events.push(delta(1, json!({"type": "input_json_delta", "partial_json": part})));
    }
    events.push(block_stop(1));
    events.push(block_start(2, json!({"type": "tool_use", "id": "toolu_01B", "name": "Now", "input": {}})));
    events.push(block_stop(2));
    events.extend(message_end("tool_use", 40));
    let server = Responder::start(vec![sse_response(&sse_body(&events))]).await;
    let items = run(&api_key_provider(&server.url), simple_request()).await;
    assert_eq!(
        kinds(&items),
        [
            "start",
            "text_start",
            "text_delta",
            "text_end",
            "toolcall_start",
            "toolcall_delta",
            "toolcall_delta",
            "toolcall_delta",
            "toolcall_delta",
            "toolcall_delta",
            "toolcall_end",
            "toolcall_start",
            "toolcall_end",
            "done"
        ]
    );
    assert_eq!(
        items[4].as_ref().unwrap(),
        &StreamEvent::ToolCallStart { tool_call_id: "toolu_01A".into(), name: "Bash".into() }
    );
    assert_eq!(
        items[6].as_ref().unwrap(),
        &StreamEvent::ToolCallDelta { tool_call_id: "toolu_01A".into(), arguments_delta: "{\"comm".into() }
    );
    let Ok(StreamEvent::ToolCallEnd { tool_call }) = &items[10] else { panic!("{:?}", items[10]) };
    assert_eq!(tool_call, &ToolCall::new("toolu_01A", "Bash", obj(json!({"command": "ls -la"}))));
    let Ok(StreamEvent::ToolCallEnd { tool_call }) = &items[12] else { panic!("{:?}", items[12]) };
    assert!(tool_call.arguments.is_empty(), "no fragments: empty arguments");
    let (message, stop) = done_message(&items);
    assert_eq!(*stop, StopReason::ToolUse);
    assert_eq!(message.tool_uses().count(), 2);
    assert_eq!(
        message.content[1].to_value(),
        json!({"type": "tool_use", "id": "toolu_01A", "name": "Bash", "arguments": {"command": "ls -la"}})
    );
}

#[tokio::test]
async fn invalid_tool_arguments_are_a_protocol_error() {
    let mut events = vec![message_start(5)];
    events.push(block_start(0, json!({"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}})));
    events.push(delta(0, json!({"type": "input_json_delta", "partial_json": "{\"command\": "})));
    events.push(block_stop(0));
    events.extend(message_end("tool_use", 3));
    let server = Responder::start(vec![sse_response(&sse_body(&events))]).await;
    let items = run(&api_key_provider(&server.url), simple_request()).await;
    assert_eq!(kinds(&items)[..3], ["start", "toolcall_start", "toolcall_delta"]);
    assert_eq!(items.len(), 4);
    let Err(err @ LlmError::Protocol { .. }) = &items[3] else { panic!("{:?}", items[3]) };
    assert!(err.to_string().contains("toolu_1"), "{err}");
}

#[tokio::test]
async fn retries_a_429_honouring_retry_after() {
    let rate_limited = http_response(
        "429 Too Many Requests",
        "retry-after: 1\r\n",
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
    );
    let server = Responder::start(vec![rate_limited, sse_response(&sse_body(&text_events(&["ok"])))]).await;
    let provider = api_key_provider(&server.url).with_retry_policy(fast_policy(3));
    let started = std::time::Instant::now();
    let items = run(&provider, simple_request()).await;
    assert!(started.elapsed() >= Duration::from_millis(950), "retry-after was not honoured");
    assert_eq!(kinds(&items), ["retry", "start", "text_start", "text_delta", "text_end", "done"]);
    let Ok(StreamEvent::Retry { attempt, max_retries, delay_ms, error }) = &items[0] else { panic!() };
    assert_eq!((*attempt, *max_retries), (1, 3));
    assert!(*delay_ms >= 1000, "{delay_ms}");
    assert_eq!(error.category, ErrorCategory::RateLimit);
    assert!(error.message.contains("per-minute rate limit"), "{}", error.message);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_400_is_not_retried_and_names_the_message() {
    let bad = http_response(
        "400 Bad Request",
        "",
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 999999 > 64000, which is the maximum allowed"}}"#,
    );
    let server = Responder::start(vec![bad, sse_response(&sse_body(&text_events(&["never"])))]).await;
    let provider = api_key_provider(&server.url).with_retry_policy(fast_policy(3));
    let items = run(&provider, simple_request()).await;
    assert_eq!(items.len(), 1);
    let Err(err) = &items[0] else { panic!("{:?}", items[0]) };
    assert!(
        matches!(err, LlmError::Http { status: 400, retry_after: None, message, .. }
            if message == "invalid_request_error: max_tokens: 999999 > 64000, which is the maximum allowed"),
        "{err:?}"
    );
    assert!(err.to_string().contains("anthropic answered 400"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retries_exhausted_return_the_last_error() {
    let overloaded = || {
        http_response(
            "529 Overloaded",
            "",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    };
    let server = Responder::start(vec![overloaded(), overloaded(), overloaded()]).await;
    let items = run(&api_key_provider(&server.url).with_retry_policy(fast_policy(2)), simple_request()).await;
    assert_eq!(kinds(&items)[..2], ["retry", "retry"]);
    assert!(matches!(&items[2], Err(LlmError::Http { status: 529, .. })), "{:?}", items[2]);
    assert_eq!(items.len(), 3);
    let Ok(StreamEvent::Retry { error, .. }) = &items[0] else { panic!() };
    assert_eq!(error.category, ErrorCategory::Server);
}

#[tokio::test]
async fn a_malformed_event_is_a_protocol_error() {
    let body = format!(
        "{}event: content_block_delta\ndata: {{\"type\": \"content_block_delta\", \"delta\": {{\"type\": \"text_delta\"\n\n",
        sse_body(&[message_start(1), block_start(0, json!({"type": "text", "text": ""}))])
    );
    let server = Responder::start(vec![sse_response(&body)]).await;
    let items = run(&api_key_provider(&server.url), simple_request()).await;
    assert_eq!(kinds(&items)[..2], ["start", "text_start"]);
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[2], Err(LlmError::Protocol { .. })), "{:?}", items[2]);

    // A delta without a block, and a well-formed JSON event of the wrong shape.
    for bad in [
        delta(0, json!({"type": "text_delta", "text": "x"})),
        ("content_block_start", json!({"type": "content_block_start", "content_block": "text"})),
    ] {
        let server = Responder::start(vec![sse_response(&sse_body(&[message_start(1), bad]))]).await;
        let items = run(&api_key_provider(&server.url), simple_request()).await;
        assert_eq!(kinds(&items)[0], "start");
        assert!(matches!(items.last(), Some(Err(LlmError::Protocol { .. }))), "{items:?}");
    }
}

#[tokio::test]
async fn an_in_stream_overloaded_error_ends_the_stream_unretried() {
    let mut events = vec![message_start(1), block_start(0, json!({"type": "text", "text": ""}))];
    events.push(delta(0, json!({"type": "text_delta", "text": "partial"})));
    events.push((
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let server = Responder::start(vec![sse_response(&sse_body(&events)), sse_response("")]).await;
    let items = run(&api_key_provider(&server.url).with_retry_policy(fast_policy(3)), simple_request()).await;
    assert_eq!(kinds(&items)[..3], ["start", "text_start", "text_delta"]);
    assert_eq!(items.len(), 4);
    let Err(err) = &items[3] else { panic!() };
    assert!(
        matches!(err, LlmError::Stream { kind, message, .. } if kind == "overloaded_error" && message == "overloaded_error: Overloaded"),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1, "nothing is retried once output began");
}

#[tokio::test]
async fn an_overloaded_error_before_any_output_is_retried() {
    let overloaded = sse_body(&[(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )]);
    let server =
        Responder::start(vec![sse_response(&overloaded), sse_response(&sse_body(&text_events(&["fine"])))])
            .await;
    let items = run(&api_key_provider(&server.url).with_retry_policy(fast_policy(3)), simple_request()).await;
    assert_eq!(kinds(&items), ["retry", "start", "text_start", "text_delta", "text_end", "done"]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_stream_cut_short_is_an_error() {
    let events = vec![message_start(1), block_start(0, json!({"type": "text", "text": ""}))];
    let server = Responder::start(vec![sse_response(&sse_body(&events))]).await;
    let items = run(&api_key_provider(&server.url), simple_request()).await;
    assert_eq!(kinds(&items)[..2], ["start", "text_start"]);
    assert!(
        matches!(items.last(), Some(Err(LlmError::Stream { kind, .. })) if kind == "connection_error"),
        "{items:?}"
    );
}

#[tokio::test]
async fn connection_refused_names_the_url() {
    // A port that was free a moment ago: nothing listens on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = api_key_provider(&url).with_retry_policy(fast_policy(1));
    let items = run(&provider, simple_request()).await;
    assert_eq!(kinds(&items)[0], "retry", "connection errors are retried");
    let Ok(StreamEvent::Retry { error, .. }) = &items[0] else { panic!() };
    assert_eq!(error.category, ErrorCategory::Network);
    assert_eq!(items.len(), 2);
    let Err(err) = &items[1] else { panic!("{:?}", items[1]) };
    assert!(matches!(err, LlmError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("{url}/v1/messages")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn oauth_requests_send_bearer_beta_and_prefix() {
    let server = Responder::start(vec![sse_response(&sse_body(&text_events(&["hi"])))]).await;
    let provider = AnthropicProvider::new(&server.url, AnthropicAuth::OAuth { access_token: "oat-1".into() });
    let mut req = simple_request();
    req.model = "claude-opus-4-6".into();
    let items = run(&provider, req).await;
    assert_eq!(kinds(&items).last().unwrap(), "done");
    let raw = server.requests()[0].clone();
    let lower = raw.to_lowercase();
    assert!(lower.contains("authorization: bearer oat-1"), "{raw}");
    assert!(lower.contains("anthropic-beta: oauth-2025-04-20\r\n"), "{raw}");
    assert!(!lower.contains("x-api-key"), "{raw}");
    assert!(raw.contains(OAUTH_SYSTEM_PROMPT_PREFIX), "{raw}");
}

#[tokio::test]
async fn a_2xx_answer_that_is_not_an_event_stream_is_a_protocol_error() {
    let page = http_response("200 OK", "", r#"{"id":"msg_1","type":"message","content":[]}"#);
    let server = Responder::start(vec![page]).await;
    let items = run(&api_key_provider(&server.url).with_retry_policy(fast_policy(2)), simple_request()).await;
    assert_eq!(items.len(), 1);
    let Err(err @ LlmError::Protocol { .. }) = &items[0] else { panic!("{items:?}") };
    assert!(err.to_string().contains("application/json") && err.to_string().contains("msg_1"), "{err}");
}

/// The body of a raw recorded request.
fn request_json(raw: &str) -> Value {
    serde_json::from_str(&raw[raw.find("\r\n\r\n").unwrap() + 4..]).unwrap()
}

#[tokio::test]
async fn oauth_caching_end_to_end_breakpoints_clock_and_cold_pruning() {
    let answer = sse_response(&sse_body(&text_events(&["ok"])));
    let server = Responder::start(vec![answer.clone(), answer]).await;
    let provider = AnthropicProvider::new(&server.url, AnthropicAuth::OAuth { access_token: "oat".into() })
        .with_retry_policy(fast_policy(0));
    // Five tool-call turns with large results, then a new prompt.
    let big = "r".repeat(PRUNE_THRESHOLD_CHARS + 1);
    let mut messages = Vec::new();
    for i in 0..5 {
        let id = format!("toolu_{i}");
        messages.push(Message::user(format!("step {i}")));
        messages.push(Message::assistant(vec![ToolCall::new(
            id.as_str(),
            "Bash",
            obj(json!({"command": "ls"})),
        )
        .to_block()]));
        messages.push(Message::tool_result(&id, &big, false));
    }
    messages.push(Message::user("and now?"));
    let req = Request {
        model: "claude-opus-4-6".into(),
        system: Some("You are Tron.".into()),
        messages,
        tools: vec![ToolDefinition { name: "Bash".into(), ..Default::default() }],
        max_tokens: 100,
        ..Default::default()
    };

    assert!(provider.last_call().is_none());
    let items = run(&provider, req.clone()).await;
    assert_eq!(kinds(&items).last().unwrap(), "done");
    assert!(provider.last_call().is_some(), "the answer's end starts the cache clock");

    // As the server saw it: three breakpoints, nothing pruned (the cache was never warm).
    let first = request_json(&server.requests()[0]);
    assert_eq!(first["system"][0]["text"], OAUTH_SYSTEM_PROMPT_PREFIX);
    assert_eq!(first["system"][1]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(first["tools"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert_eq!(first["messages"][14]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(first["messages"][15]["content"], "and now?");
    assert_eq!(first.to_string().matches("cache_control").count(), 3);
    assert_eq!(first["messages"][2]["content"][0]["content"], big.as_str());

    // An idle gap longer than the TTL: the next request prunes turns 0 and 1.
    let idle = std::time::Instant::now().checked_sub(CACHE_TTL + Duration::from_secs(5)).unwrap();
    provider.set_last_call(Some(idle));
    let items = run(&provider, req).await;
    assert_eq!(kinds(&items).last().unwrap(), "done");
    assert!(provider.last_call().unwrap() > idle);
    let second = request_json(&server.requests()[1]);
    let pruned = format!("[pruned {} chars for cache efficiency]", PRUNE_THRESHOLD_CHARS + 1);
    for (turn, expect_pruned) in [(0, true), (1, true), (2, false), (3, false), (4, false)] {
        let content = &second["messages"][turn * 3 + 2]["content"][0]["content"];
        assert_eq!(*content == pruned.as_str(), expect_pruned, "turn {turn}: {content}");
    }
    assert_eq!(second.to_string().matches("cache_control").count(), 3);
}

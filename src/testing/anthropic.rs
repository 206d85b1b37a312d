//! Anthropic Messages streaming format (`POST /v1/messages` with `"stream": true`).
//!
//! A scripted stream renders as these SSE frames (`event: NAME\ndata: JSON\n\n`, the JSON's
//! `type` repeating the event name):
//!
//! 1. `message_start`: `{"type":"message_start","message":{"id":"msg_mock_NNNN",
//!    "type":"message","role":"assistant","model":<request model>,"content":[],
//!    "stop_reason":null,"stop_sequence":null,"usage":{"input_tokens",
//!    "cache_creation_input_tokens","cache_read_input_tokens","output_tokens"}}}`, where
//!    `output_tokens` is 1 (0 when the script's usage says 0 output tokens), as the real API
//!    sends before any output.
//! 2. Per content step, at `index` 0, 1, ...:
//!    - `content_block_start` with `content_block` `{"type":"text","text":""}`,
//!      `{"type":"thinking","thinking":""}` or `{"type":"tool_use","id","name","input":{}}`;
//!    - `content_block_delta`s with `delta` `{"type":"text_delta","text"}` (one per word),
//!      `{"type":"thinking_delta","thinking"}` (one per word) then
//!      `{"type":"signature_delta","signature"}`, or `{"type":"input_json_delta",
//!      "partial_json"}` (first an empty fragment, as the real API sends, then the compact
//!      input JSON in up to three pieces);
//!    - `content_block_stop` `{"type":"content_block_stop","index"}`.
//!
//!    `ping` `{"type":"ping"}` follows the first `content_block_start` (or `message_start`
//!    when the stream has no content).
//! 3. `message_delta`: `{"type":"message_delta","delta":{"stop_reason","stop_sequence":null},
//!    "usage":{"output_tokens"}}`, then `message_stop` `{"type":"message_stop"}`.
//!
//! [`Step::Error`] sends `event: error` with `{"type":"error","error":{"type","message"}}`;
//! [`Step::DelayMs`] and [`Step::Cut`] pause or drop the connection where they stand;
//! [`Step::Malformed`] sends its bytes verbatim there and [`Step::Pace`] paces every later
//! frame (see [`Step`]).
//! HTTP errors use the same `{"type":"error","error":{...}}` body.

use serde_json::{json, Value};

use super::mock_llm::{default_stop, split_even, split_words, Call, Emit, ErrorKind, Step, Usage};

/// Anthropic's error body: `{"type":"error","error":{"type":error_type,"message":message}}`.
pub fn error_body(error_type: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type, "message": message}})
}

/// The body of an error the mock server itself answers.
pub(crate) fn server_error(kind: ErrorKind, message: &str) -> Value {
    let error_type = match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::Script => "api_error",
    };
    error_body(error_type, message)
}

/// Checks a request body as the Messages API would, for the fields a streaming call needs.
pub(crate) fn validate(call: &Call<'_>) -> Result<(), String> {
    let Some(obj) = call.body.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    for field in ["model", "max_tokens", "messages"] {
        if !obj.contains_key(field) {
            return Err(format!("{field}: Field required"));
        }
    }
    if !obj["model"].is_string() {
        return Err("model: Input should be a valid string".into());
    }
    if !obj["max_tokens"].is_u64() {
        return Err("max_tokens: Input should be a valid integer".into());
    }
    if !obj["messages"].is_array() {
        return Err("messages: Input should be a valid list".into());
    }
    if obj.get("stream") != Some(&Value::Bool(true)) {
        return Err("the mock LLM only serves streaming requests: set \"stream\": true".into());
    }
    Ok(())
}

/// Renders a scripted stream (the request's `model` is echoed).
pub(crate) fn render(steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
    let model = call.body_model().unwrap_or("mock-model");
    let usage = Usage::of(steps);
    let (input, output, cache_read, cache_creation) =
        (usage.input, usage.output, usage.cache_read, usage.cache_creation);
    let is_content =
        |s: &Step| matches!(s, Step::Thinking { .. } | Step::Text { .. } | Step::ToolCall { .. });
    let response_number = call.response_number;

    let mut out = vec![Emit::event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": format!("msg_mock_{response_number:04}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": input,
                "cache_creation_input_tokens": cache_creation,
                "cache_read_input_tokens": cache_read,
                "output_tokens": output.min(1)
            }
        }}),
    )];
    let mut pinged = false;
    if !steps.iter().any(is_content) {
        out.push(ping());
        pinged = true;
    }

    let mut index = 0usize;
    let mut ended = false;
    for step in steps {
        match step {
            Step::Thinking { text, signature } => {
                block_start(&mut out, index, json!({"type": "thinking", "thinking": ""}), &mut pinged);
                for piece in split_words(text) {
                    out.push(delta(index, json!({"type": "thinking_delta", "thinking": piece})));
                }
                if !signature.is_empty() {
                    out.push(delta(index, json!({"type": "signature_delta", "signature": signature})));
                }
                out.push(block_stop(index));
                index += 1;
            }
            Step::Text { text } => {
                block_start(&mut out, index, json!({"type": "text", "text": ""}), &mut pinged);
                for piece in split_words(text) {
                    out.push(delta(index, json!({"type": "text_delta", "text": piece})));
                }
                out.push(block_stop(index));
                index += 1;
            }
            Step::ToolCall { id, name, input } => {
                block_start(
                    &mut out,
                    index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    &mut pinged,
                );
                let input_json = input.to_string();
                out.push(delta(index, json!({"type": "input_json_delta", "partial_json": ""})));
                for piece in split_even(&input_json, 3) {
                    out.push(delta(index, json!({"type": "input_json_delta", "partial_json": piece})));
                }
                out.push(block_stop(index));
                index += 1;
            }
            Step::Usage { .. } => {}
            Step::Stop { reason } => {
                finish(&mut out, reason, output);
                ended = true;
            }
            Step::Error { error_type, message } => {
                out.push(Emit::event("error", &error_body(error_type, message)));
                ended = true;
            }
            Step::DelayMs { ms } => out.push(Emit::Delay(*ms)),
            Step::Pace { ms } => out.push(Emit::Pace(*ms)),
            Step::Malformed { data } => out.push(Emit::Data(data.clone())),
            Step::Cut => {
                out.push(Emit::Cut);
                return out;
            }
        }
    }
    if !ended {
        finish(&mut out, default_stop(steps), output);
    }
    out
}

fn ping() -> Emit {
    Emit::event("ping", &json!({"type": "ping"}))
}

fn block_start(out: &mut Vec<Emit>, index: usize, block: Value, pinged: &mut bool) {
    out.push(Emit::event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": block}),
    ));
    if !*pinged {
        out.push(ping());
        *pinged = true;
    }
}

fn delta(index: usize, delta: Value) -> Emit {
    Emit::event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

fn block_stop(index: usize) -> Emit {
    Emit::event("content_block_stop", &json!({"type": "content_block_stop", "index": index}))
}

fn finish(out: &mut Vec<Emit>, stop_reason: &str, output_tokens: u64) {
    out.push(Emit::event(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}}),
    ));
    out.push(Emit::event("message_stop", &json!({"type": "message_stop"})));
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::mock_llm::{Call, MockLlm, Script, ScriptedResponse, Step};
    use super::super::parse_sse;

    fn request() -> Value {
        json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 1024, "stream": true,
               "messages": [{"role": "user", "content": "Hello"}]})
    }

    /// Serves `response` once and returns the raw body of the answer.
    async fn raw_stream(response: ScriptedResponse) -> String {
        let mock = MockLlm::start(Script::new([response])).await.unwrap();
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/messages", mock.base_url()))
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(&request())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["content-type"], "text/event-stream; charset=utf-8");
        answer.text().await.unwrap()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[tokio::test]
    async fn text_response_exact_bytes() {
        let text = raw_stream(ScriptedResponse::stream([
            Step::Text { text: "Hello world!".into() },
            Step::Usage {
                input_tokens: 25,
                output_tokens: 15,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ]))
        .await;
        let expected = [
            r#"event: message_start"#,
            r#"data: {"type":"message_start","message":{"id":"msg_mock_0001","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}"#,
            "",
            r#"event: content_block_start"#,
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            "",
            r#"event: ping"#,
            r#"data: {"type":"ping"}"#,
            "",
            r#"event: content_block_delta"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}"#,
            "",
            r#"event: content_block_delta"#,
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world!"}}"#,
            "",
            r#"event: content_block_stop"#,
            r#"data: {"type":"content_block_stop","index":0}"#,
            "",
            r#"event: message_delta"#,
            r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            "",
            r#"event: message_stop"#,
            r#"data: {"type":"message_stop"}"#,
            "",
            "",
        ]
        .join("\n");
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn thinking_then_text() {
        let events = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Thinking { text: "Let me think.".into(), signature: "SIG123".into() },
                Step::Text { text: "Hi there".into() },
            ]))
            .await,
        );
        assert_eq!(
            names(&events),
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        let data: Vec<&Value> = events.iter().map(|(_, v)| v).collect();
        assert_eq!(
            data[1],
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
        );
        assert_eq!(
            data[3],
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let "}})
        );
        assert_eq!(data[4]["delta"], json!({"type": "thinking_delta", "thinking": "me "}));
        assert_eq!(data[5]["delta"], json!({"type": "thinking_delta", "thinking": "think."}));
        assert_eq!(
            data[6],
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "SIG123"}})
        );
        assert_eq!(data[7], &json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(
            data[8],
            &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(
            data[9],
            &json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi "}})
        );
        assert_eq!(data[10]["delta"]["text"], "there");
        assert_eq!(data[11], &json!({"type": "content_block_stop", "index": 1}));
        assert_eq!(data[12]["delta"]["stop_reason"], "end_turn");
        for (name, value) in &events {
            assert_eq!(value["type"], name.as_str(), "the data's type repeats the event name");
        }
    }

    #[tokio::test]
    async fn tool_call_input_fragments_concatenate_to_the_json() {
        let input = json!({"command": "ls -la \"/tmp/ü\"", "timeout": 5000, "nested": {"a": [1, 2, 3]}});
        let events = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Text { text: "Running it.".into() },
                Step::ToolCall { id: "toolu_01ABC".into(), name: "Bash".into(), input: input.clone() },
                Step::Usage {
                    input_tokens: 849,
                    output_tokens: 47,
                    cache_read_tokens: 10,
                    cache_creation_tokens: 20,
                },
            ]))
            .await,
        );
        let (_, start) = &events[0];
        assert_eq!(
            start["message"]["usage"],
            json!({"input_tokens": 849, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 10, "output_tokens": 1})
        );
        let tool_start = events
            .iter()
            .find(|(name, v)| name == "content_block_start" && v["content_block"]["type"] == "tool_use")
            .map(|(_, v)| v)
            .unwrap();
        assert_eq!(
            tool_start,
            &json!({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "tool_use", "id": "toolu_01ABC", "name": "Bash", "input": {}}})
        );
        let fragments: Vec<&str> = events
            .iter()
            .filter(|(_, v)| v["delta"]["type"] == "input_json_delta")
            .inspect(|(_, v)| assert_eq!(v["index"], 1))
            .map(|(_, v)| v["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(fragments.len(), 4, "{fragments:?}");
        assert_eq!(fragments[0], "", "the real API opens with an empty fragment");
        assert!(fragments[1..].iter().all(|f| !f.is_empty()));
        let joined = fragments.concat();
        assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), input);
        assert!(serde_json::from_str::<Value>(fragments[1]).is_err(), "a fragment alone is not JSON");

        let tail: Vec<_> = events[events.len() - 3..].iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        assert_eq!(
            tail,
            [
                ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
                (
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                           "usage": {"output_tokens": 47}})
                ),
                ("message_stop", json!({"type": "message_stop"})),
            ]
        );
    }

    #[tokio::test]
    async fn http_429_with_retry_after() {
        let mock = MockLlm::start(Script::new([
            ScriptedResponse::anthropic_error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                Some(7),
            ),
            ScriptedResponse::HttpError { status: 529, body: json!({"weird": true}), retry_after: None },
            ScriptedResponse::text("after"),
        ]))
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/v1/messages", mock.base_url());

        let first = client.post(&url).json(&request()).send().await.unwrap();
        assert_eq!(first.status(), 429);
        assert_eq!(first.headers()["retry-after"], "7");
        assert_eq!(first.headers()["content-type"], "application/json");
        assert_eq!(
            first.json::<Value>().await.unwrap(),
            json!({"type": "error", "error": {"type": "rate_limit_error",
                   "message": "Number of requests has exceeded your rate limit"}})
        );

        let second = client.post(&url).json(&request()).send().await.unwrap();
        assert_eq!(second.status().as_u16(), 529);
        assert!(second.headers().get("retry-after").is_none());
        assert_eq!(second.json::<Value>().await.unwrap(), json!({"weird": true}), "bodies are sent verbatim");

        let third = client.post(&url).json(&request()).send().await.unwrap();
        let events = parse_sse(&third.text().await.unwrap());
        assert_eq!(events[0].1["message"]["id"], "msg_mock_0003");
    }

    #[tokio::test]
    async fn in_stream_error_ends_the_stream() {
        let events = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Text { text: "Hi".into() },
                Step::Error { error_type: "overloaded_error".into(), message: "Overloaded".into() },
            ]))
            .await,
        );
        assert_eq!(
            names(&events),
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "error"
            ]
        );
        assert_eq!(
            events[5].1,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }

    #[tokio::test]
    async fn explicit_stop_reason_and_empty_stream() {
        let events = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::ToolCall { id: "toolu_1".into(), name: "Read".into(), input: json!({}) },
                Step::Stop { reason: "max_tokens".into() },
            ]))
            .await,
        );
        let fragments: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, v)| &v["delta"]["partial_json"])
            .collect();
        assert_eq!(fragments, [&json!(""), &json!("{"), &json!("}")]);
        let delta = &events[events.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
        assert_eq!(delta["usage"]["output_tokens"], 0);
        assert_eq!(events[0].1["message"]["usage"]["output_tokens"], 0);

        let empty = parse_sse(&raw_stream(ScriptedResponse::stream([])).await);
        assert_eq!(names(&empty), ["message_start", "ping", "message_delta", "message_stop"]);
        assert_eq!(empty[2].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn validation_matches_the_required_fields() {
        let check = |body: &Value| {
            super::validate(&Call { path: "/v1/messages", query: "", body, response_number: 0 })
        };
        assert!(check(&request()).is_ok());
        let mut missing = request();
        missing.as_object_mut().unwrap().remove("max_tokens");
        assert_eq!(check(&missing).unwrap_err(), "max_tokens: Field required");
        assert!(check(&json!("text")).is_err());
    }

    #[test]
    fn malformed_and_pace_render_where_they_stand() {
        super::super::mock_llm::check_fault_rendering(super::render, "/v1/messages", &request());
    }
}

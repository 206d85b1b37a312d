//! OpenAI Chat Completions streaming format (`POST /v1/chat/completions` with
//! `"stream": true`).
//!
//! A scripted stream renders as unnamed SSE frames (`data: JSON\n\n`), each a
//! `chat.completion.chunk`:
//! `{"id":"chatcmpl-mock-NNNN","object":"chat.completion.chunk","created":1700000000,
//! "model":<request model>,"system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{..},
//! "logprobs":null,"finish_reason":null}]}` (plus `"usage":null` when the request set
//! `stream_options.include_usage`).
//!
//! 1. A first chunk with `delta` `{"role":"assistant","content":""}`.
//! 2. [`Step::Text`]: one chunk per word, `delta` `{"content":piece}`.
//!    [`Step::ToolCall`] (the `k`-th of the stream): `delta` `{"tool_calls":[{"index":k,"id",
//!    "type":"function","function":{"name","arguments":""}}]}`, then the compact input JSON in
//!    up to three chunks `{"tool_calls":[{"index":k,"function":{"arguments":piece}}]}`.
//!    [`Step::Thinking`] sends nothing: Chat Completions streams no reasoning.
//! 3. A chunk with `delta` `{}` and `finish_reason` (`end_turn` → `stop`, `tool_use` →
//!    `tool_calls`, `max_tokens` → `length`, anything else as written); then, when the request
//!    asked for usage, a chunk with `"choices":[]` and `usage` `{"prompt_tokens",
//!    "completion_tokens","total_tokens","prompt_tokens_details":{"cached_tokens"},
//!    "completion_tokens_details":{"reasoning_tokens":0}}` (prompt tokens count cached ones);
//!    finally `data: [DONE]`.
//!
//! [`Step::Error`] sends `data: {"error":{"message","type","param":null,"code":null}}` (and no
//! `[DONE]`). [`Step::DelayMs`], [`Step::Cut`], [`Step::Malformed`] (its bytes verbatim) and
//! [`Step::Pace`] act where they stand, as in every format (see [`Step`]). HTTP errors use the
//! same `{"error":{...}}` body; this module also answers the server's own errors for the
//! Responses routes.

use serde_json::{json, Value};

use super::mock_llm::{default_stop, split_even, split_words, Call, Emit, ErrorKind, Step, Usage};

/// The `created` timestamp of every mock chunk (fixed, so streams are reproducible).
pub(crate) const CREATED: u64 = 1_700_000_000;

/// OpenAI's error body: `{"error":{"message","type","param":null,"code":null}}`.
pub fn error_body(error_type: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": error_type, "param": null, "code": null}})
}

/// The body of an error the mock server itself answers.
pub(crate) fn server_error(kind: ErrorKind, message: &str) -> Value {
    let error_type = match kind {
        ErrorKind::InvalidRequest | ErrorKind::NotFound => "invalid_request_error",
        ErrorKind::Script => "server_error",
    };
    error_body(error_type, message)
}

/// Checks a request body as Chat Completions would, for the fields a streaming call needs.
pub(crate) fn validate(call: &Call<'_>) -> Result<(), String> {
    let Some(obj) = call.body.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    if !obj.get("model").is_some_and(Value::is_string) {
        return Err("you must provide a model parameter".into());
    }
    if !obj.get("messages").is_some_and(Value::is_array) {
        return Err("Missing required parameter: 'messages'.".into());
    }
    if obj.get("stream") != Some(&Value::Bool(true)) {
        return Err("the mock LLM only serves streaming requests: set \"stream\": true".into());
    }
    Ok(())
}

/// Renders a scripted stream.
pub(crate) fn render(steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
    let model = call.body_model().unwrap_or("mock-model");
    let id = format!("chatcmpl-mock-{:04}", call.response_number);
    let include_usage = call.body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    let usage = Usage::of(steps);
    let chunk = |delta: Value, finish_reason: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        Emit::data(&c)
    };
    let finish = |out: &mut Vec<Emit>, reason: &str| {
        let reason = match reason {
            "end_turn" => "stop",
            "tool_use" => "tool_calls",
            "max_tokens" => "length",
            other => other,
        };
        out.push(chunk(json!({}), json!(reason)));
        if include_usage {
            let prompt = usage.prompt_total();
            out.push(Emit::data(&json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": "fp_mock",
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": usage.output,
                    "total_tokens": prompt + usage.output,
                    "prompt_tokens_details": {"cached_tokens": usage.cache_read},
                    "completion_tokens_details": {"reasoning_tokens": 0}
                }
            })));
        }
        out.push(Emit::Data("data: [DONE]\n\n".into()));
    };

    let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    let mut tool_index = 0usize;
    let mut ended = false;
    for step in steps {
        match step {
            Step::Thinking { .. } | Step::Usage { .. } => {}
            Step::Text { text } => {
                for piece in split_words(text) {
                    out.push(chunk(json!({"content": piece}), Value::Null));
                }
            }
            Step::ToolCall { id, name, input } => {
                out.push(chunk(
                    json!({"tool_calls": [{"index": tool_index, "id": id, "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                for piece in split_even(&input.to_string(), 3) {
                    out.push(chunk(
                        json!({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]}),
                        Value::Null,
                    ));
                }
                tool_index += 1;
            }
            Step::Stop { reason } => {
                finish(&mut out, reason);
                ended = true;
            }
            Step::Error { error_type, message } => {
                out.push(Emit::data(&error_body(error_type, message)));
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
        finish(&mut out, default_stop(steps));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::mock_llm::{MockLlm, Script, ScriptedResponse, Step};
    use super::super::parse_sse;

    async fn raw_stream(response: ScriptedResponse, body: Value) -> String {
        let mock = MockLlm::start(Script::new([response])).await.unwrap();
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", mock.base_url()))
            .bearer_auth("sk-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.text().await.unwrap()
    }

    fn request(include_usage: bool) -> Value {
        let mut body =
            json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    #[tokio::test]
    async fn text_response_exact_bytes() {
        let text = raw_stream(ScriptedResponse::text("Hi there"), request(false)).await;
        let chunk = |delta: &str, finish: &str| {
            format!(
                "data: {{\"id\":\"chatcmpl-mock-0001\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
                 \"model\":\"gpt-test\",\"system_fingerprint\":\"fp_mock\",\"choices\":[{{\"index\":0,\"delta\":{delta},\
                 \"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let expected = [
            chunk(r#"{"role":"assistant","content":""}"#, "null"),
            chunk(r#"{"content":"Hi "}"#, "null"),
            chunk(r#"{"content":"there"}"#, "null"),
            chunk("{}", r#""stop""#),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn tool_calls_and_usage() {
        let input = json!({"path": "/tmp/a.txt", "limit": 10});
        let text = raw_stream(
            ScriptedResponse::stream([
                Step::Thinking { text: "hidden".into(), signature: "s".into() },
                Step::ToolCall { id: "call_1".into(), name: "Read".into(), input: input.clone() },
                Step::ToolCall { id: "call_2".into(), name: "Ls".into(), input: json!({}) },
                Step::Usage {
                    input_tokens: 5,
                    output_tokens: 7,
                    cache_read_tokens: 100,
                    cache_creation_tokens: 0,
                },
            ]),
            request(true),
        )
        .await;
        assert!(!text.contains("hidden"));
        let frames = parse_sse(&text);
        assert_eq!(frames.last().unwrap().1, json!("[DONE]"));
        let chunks: Vec<&Value> = frames[..frames.len() - 1].iter().map(|(_, v)| v).collect();
        assert!(chunks.iter().all(|c| c.get("usage").is_some()), "include_usage puts usage on every chunk");

        let first_call = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            first_call,
            &json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "Read", "arguments": ""}})
        );
        let args = |index: u64| -> String {
            chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object())
                .filter(|t| t["index"] == index)
                .map(|t| t["function"]["arguments"].as_str().unwrap())
                .collect()
        };
        assert_eq!(serde_json::from_str::<Value>(&args(0)).unwrap(), input);
        assert_eq!(args(1), "{}");

        let finish = chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        let last = chunks[chunks.len() - 1];
        assert_eq!(last["choices"], json!([]));
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 105, "completion_tokens": 7, "total_tokens": 112,
                   "prompt_tokens_details": {"cached_tokens": 100},
                   "completion_tokens_details": {"reasoning_tokens": 0}})
        );
    }

    #[tokio::test]
    async fn errors_in_stream_and_over_http() {
        let text = raw_stream(
            ScriptedResponse::stream([
                Step::Text { text: "a".into() },
                Step::Error { error_type: "server_error".into(), message: "boom".into() },
            ]),
            request(false),
        )
        .await;
        let frames = parse_sse(&text);
        assert_eq!(
            frames.last().unwrap().1,
            json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}})
        );
        assert!(!text.contains("[DONE]"));

        let mock = MockLlm::start(Script::new([ScriptedResponse::openai_error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached",
            Some(2),
        )]))
        .await
        .unwrap();
        let url = format!("{}/v1/chat/completions", mock.base_url());
        let answer = reqwest::Client::new().post(&url).json(&request(false)).send().await.unwrap();
        assert_eq!(answer.status(), 429);
        assert_eq!(answer.headers()["retry-after"], "2");
        assert_eq!(answer.json::<Value>().await.unwrap()["error"]["type"], "rate_limit_exceeded");
        let exhausted = reqwest::Client::new().post(&url).json(&request(false)).send().await.unwrap();
        assert_eq!(exhausted.status(), 500);
        assert_eq!(exhausted.json::<Value>().await.unwrap()["error"]["type"], "server_error");
    }

    #[test]
    fn malformed_and_pace_render_where_they_stand() {
        super::super::mock_llm::check_fault_rendering(super::render, "/v1/chat/completions", &request(true));
    }
}

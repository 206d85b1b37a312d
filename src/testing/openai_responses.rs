//! OpenAI Responses streaming format (`POST /v1/responses`, also served at
//! `/codex/responses` and `/backend-api/codex/responses` for the ChatGPT Codex backend).
//!
//! A scripted stream renders as named SSE frames (`event: NAME\ndata: JSON\n\n`) whose JSON
//! starts `{"type":NAME,"sequence_number":N,...}`, `N` counting from 0. There is no `[DONE]`.
//!
//! 1. `response.created` then `response.in_progress`, each with `response`
//!    `{"id":"resp_mock_NNNN","object":"response","created_at":1700000000,"status":"in_progress",
//!    "error":null,"incomplete_details":null,"model":<request model>,"output":[],"usage":null}`.
//! 2. Per content step, an output item at `output_index` 0, 1, ...:
//!    - [`Step::Thinking`]: `response.output_item.added` (`item` `{"id":"rs_…","type":"reasoning",
//!      "summary":[]}`), then (for non-empty text) `response.reasoning_summary_part.added`,
//!      one `response.reasoning_summary_text.delta` per word, `…_text.done`, `…_part.done`
//!      (all with `item_id`, `output_index`, `summary_index` 0), then
//!      `response.output_item.done` whose item holds the summary and, when the signature is not
//!      empty, `encrypted_content` (the Responses analogue of a thinking signature).
//!    - [`Step::Text`]: `output_item.added` (`{"id":"msg_…","type":"message",
//!      "status":"in_progress","content":[],"role":"assistant"}`), `response.content_part.added`
//!      (`part` `{"type":"output_text","annotations":[],"text":""}`), one
//!      `response.output_text.delta` per word, `response.output_text.done`,
//!      `response.content_part.done`, `output_item.done` (status `completed`).
//!    - [`Step::ToolCall`]: `output_item.added` (`{"id":"fc_…","type":"function_call",
//!      "status":"in_progress","arguments":"","call_id":<step id>,"name"}`), the compact input
//!      JSON in up to three `response.function_call_arguments.delta` (`item_id`,
//!      `output_index`, `delta`), `response.function_call_arguments.done` (`arguments`),
//!      `output_item.done`. The delta events carry `item_id`, not `call_id`.
//! 3. `response.completed` with the response `status` `completed`, every finished item in
//!    `output`, and `usage` `{"input_tokens","input_tokens_details":{"cached_tokens"},
//!    "output_tokens","output_tokens_details":{"reasoning_tokens":0},"total_tokens"}` (input
//!    counts cached tokens). A `max_tokens` stop reason sends `response.incomplete` instead
//!    (status `incomplete`, `incomplete_details` `{"reason":"max_output_tokens"}`).
//!
//! [`Step::Error`] sends `event: error` `{"type":"error","sequence_number","code","message",
//! "param":null}` (its `sequence_number` counts on). [`Step::DelayMs`], [`Step::Cut`],
//! [`Step::Malformed`] (its bytes verbatim, not counted in `sequence_number`) and
//! [`Step::Pace`] act where they stand (see [`Step`]). HTTP errors use OpenAI's
//! `{"error":{...}}` body
//! ([`super::openai_chat::error_body`]).

use serde_json::{json, Map, Value};

use super::mock_llm::{default_stop, split_even, split_words, Call, Emit, Step, Usage};
use super::openai_chat::CREATED;

/// Checks a request body as the Responses API would, for the fields a streaming call needs.
pub(crate) fn validate(call: &Call<'_>) -> Result<(), String> {
    let Some(obj) = call.body.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    if !obj.get("model").is_some_and(Value::is_string) {
        return Err("Missing required parameter: 'model'.".into());
    }
    if !obj.get("input").is_some_and(|v| v.is_array() || v.is_string()) {
        return Err("Missing required parameter: 'input'.".into());
    }
    if obj.get("stream") != Some(&Value::Bool(true)) {
        return Err("the mock LLM only serves streaming requests: set \"stream\": true".into());
    }
    Ok(())
}

/// Builds the events of one stream, numbering them.
struct Events {
    out: Vec<Emit>,
    sequence: u64,
}

impl Events {
    /// Pushes `event: name` with `{"type":name,"sequence_number":n, ...fields}`.
    fn push(&mut self, name: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".into(), name.into());
        data.insert("sequence_number".into(), self.sequence.into());
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        self.sequence += 1;
        self.out.push(Emit::event(name, &Value::Object(data)));
    }
}

/// Renders a scripted stream.
pub(crate) fn render(steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
    let n = call.response_number;
    let usage = Usage::of(steps);
    let response = |status: &str, output: &[Value], usage: Value| {
        json!({
            "id": format!("resp_mock_{n:04}"),
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": call.body_model().unwrap_or("mock-model"),
            "output": output,
            "usage": usage
        })
    };

    let mut ev = Events { out: Vec::new(), sequence: 0 };
    ev.push("response.created", json!({"response": response("in_progress", &[], Value::Null)}));
    ev.push("response.in_progress", json!({"response": response("in_progress", &[], Value::Null)}));

    let mut output: Vec<Value> = Vec::new();
    let mut ended = false;
    for step in steps {
        let index = output.len();
        match step {
            Step::Thinking { text, signature } => {
                let id = format!("rs_mock_{n:04}_{index}");
                ev.push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": {"id": id, "type": "reasoning", "summary": []}}),
                );
                let at = json!({"item_id": id, "output_index": index, "summary_index": 0});
                let with = |extra: Value| merge(&at, extra);
                let mut summary = Vec::new();
                if !text.is_empty() {
                    let part = |t: &str| json!({"type": "summary_text", "text": t});
                    ev.push("response.reasoning_summary_part.added", with(json!({"part": part("")})));
                    for piece in split_words(text) {
                        ev.push("response.reasoning_summary_text.delta", with(json!({"delta": piece})));
                    }
                    ev.push("response.reasoning_summary_text.done", with(json!({"text": text})));
                    ev.push("response.reasoning_summary_part.done", with(json!({"part": part(text)})));
                    summary.push(part(text));
                }
                let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
                if !signature.is_empty() {
                    item["encrypted_content"] = json!(signature);
                }
                ev.push("response.output_item.done", json!({"output_index": index, "item": item}));
                output.push(item);
            }
            Step::Text { text } => {
                let id = format!("msg_mock_{n:04}_{index}");
                let item = |status: &str, content: Value| json!({"id": id, "type": "message", "status": status, "content": content, "role": "assistant"});
                let part = |t: &str| json!({"type": "output_text", "annotations": [], "text": t});
                ev.push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item("in_progress", json!([]))}),
                );
                let at = json!({"item_id": id, "output_index": index, "content_index": 0});
                ev.push("response.content_part.added", merge(&at, json!({"part": part("")})));
                for piece in split_words(text) {
                    ev.push("response.output_text.delta", merge(&at, json!({"delta": piece})));
                }
                ev.push("response.output_text.done", merge(&at, json!({"text": text})));
                ev.push("response.content_part.done", merge(&at, json!({"part": part(text)})));
                let done = item("completed", json!([part(text)]));
                ev.push("response.output_item.done", json!({"output_index": index, "item": done}));
                output.push(done);
            }
            Step::ToolCall { id: call_id, name, input } => {
                let id = format!("fc_mock_{n:04}_{index}");
                let arguments = input.to_string();
                let item = |status: &str, arguments: &str| {
                    json!({"id": id, "type": "function_call", "status": status, "arguments": arguments,
                           "call_id": call_id, "name": name})
                };
                ev.push(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item("in_progress", "")}),
                );
                let at = json!({"item_id": id, "output_index": index});
                for piece in split_even(&arguments, 3) {
                    ev.push("response.function_call_arguments.delta", merge(&at, json!({"delta": piece})));
                }
                ev.push("response.function_call_arguments.done", merge(&at, json!({"arguments": arguments})));
                let done = item("completed", &arguments);
                ev.push("response.output_item.done", json!({"output_index": index, "item": done}));
                output.push(done);
            }
            Step::Usage { .. } => {}
            Step::Stop { reason } => {
                finish(&mut ev, reason, &output, usage, &response);
                ended = true;
            }
            Step::Error { error_type, message } => {
                ev.push("error", json!({"code": error_type, "message": message, "param": null}));
                ended = true;
            }
            Step::DelayMs { ms } => ev.out.push(Emit::Delay(*ms)),
            Step::Pace { ms } => ev.out.push(Emit::Pace(*ms)),
            Step::Malformed { data } => ev.out.push(Emit::Data(data.clone())),
            Step::Cut => {
                ev.out.push(Emit::Cut);
                return ev.out;
            }
        }
    }
    if !ended {
        finish(&mut ev, default_stop(steps), &output, usage, &response);
    }
    ev.out
}

fn finish(
    ev: &mut Events,
    reason: &str,
    output: &[Value],
    usage: Usage,
    response: &dyn Fn(&str, &[Value], Value) -> Value,
) {
    let input = usage.prompt_total();
    let usage = json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + usage.output
    });
    if reason == "max_tokens" {
        let mut r = response("incomplete", output, usage);
        r["incomplete_details"] = json!({"reason": "max_output_tokens"});
        ev.push("response.incomplete", json!({"response": r}));
    } else {
        ev.push("response.completed", json!({"response": response("completed", output, usage)}));
    }
}

/// `base`'s fields followed by `extra`'s.
fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::mock_llm::{MockLlm, Script, ScriptedResponse, Step};
    use super::super::parse_sse;

    fn request() -> Value {
        json!({"model": "gpt-5-codex", "stream": true, "store": false, "instructions": "be brief",
               "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]})
    }

    async fn events(path: &str, response: ScriptedResponse) -> Vec<(String, Value)> {
        let mock = MockLlm::start(Script::new([response])).await.unwrap();
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", mock.base_url()))
            .json(&request())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let events = parse_sse(&answer.text().await.unwrap());
        for (i, (name, data)) in events.iter().enumerate() {
            assert_eq!(data["type"], name.as_str());
            assert_eq!(data["sequence_number"], i as u64);
        }
        events
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[tokio::test]
    async fn reasoning_then_text() {
        let events = events(
            "/v1/responses",
            ScriptedResponse::stream([
                Step::Thinking { text: "Think hard".into(), signature: "gAAAA-enc".into() },
                Step::Text { text: "Hello there".into() },
                Step::Usage {
                    input_tokens: 3,
                    output_tokens: 9,
                    cache_read_tokens: 4,
                    cache_creation_tokens: 0,
                },
            ]),
        )
        .await;
        assert_eq!(
            names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(
            events[0].1,
            json!({"type": "response.created", "sequence_number": 0, "response": {
                "id": "resp_mock_0001", "object": "response", "created_at": 1_700_000_000u64,
                "status": "in_progress", "error": null, "incomplete_details": null,
                "model": "gpt-5-codex", "output": [], "usage": null}})
        );
        assert_eq!(
            events[4].1,
            json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4,
                   "item_id": "rs_mock_0001_0", "output_index": 0, "summary_index": 0, "delta": "Think "})
        );
        let reasoning = json!({"id": "rs_mock_0001_0", "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Think hard"}], "encrypted_content": "gAAAA-enc"});
        assert_eq!(events[8].1["item"], reasoning);
        assert_eq!(
            events[11].1,
            json!({"type": "response.output_text.delta", "sequence_number": 11,
                   "item_id": "msg_mock_0001_1", "output_index": 1, "content_index": 0, "delta": "Hello "})
        );
        let message = json!({"id": "msg_mock_0001_1", "type": "message", "status": "completed",
            "content": [{"type": "output_text", "annotations": [], "text": "Hello there"}], "role": "assistant"});
        assert_eq!(events[15].1["item"], message);
        let done = &events[16].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"], json!([reasoning, message]));
        assert_eq!(
            done["usage"],
            json!({"input_tokens": 7, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 9,
                   "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 16})
        );
    }

    #[tokio::test]
    async fn function_call_on_the_codex_route() {
        let input = json!({"command": ["bash", "-lc", "ls"], "workdir": "/tmp"});
        let events =
            events("/codex/responses", ScriptedResponse::tool_call("call_abc", "shell", input.clone())).await;
        let (_, added) = &events[2];
        assert_eq!(
            added["item"],
            json!({"id": "fc_mock_0001_0", "type": "function_call", "status": "in_progress",
                   "arguments": "", "call_id": "call_abc", "name": "shell"})
        );
        let deltas: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.delta")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(deltas.len(), 3);
        assert!(deltas.iter().all(|d| d["item_id"] == "fc_mock_0001_0" && d.get("call_id").is_none()));
        let joined: String = deltas.iter().map(|d| d["delta"].as_str().unwrap()).collect();
        assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), input);
        let (name, done) = &events[events.len() - 3];
        assert_eq!(
            (name.as_str(), &done["arguments"]),
            ("response.function_call_arguments.done", &json!(joined))
        );
        assert_eq!(events.last().unwrap().1["response"]["output"][0]["arguments"], json!(joined));
    }

    #[tokio::test]
    async fn max_tokens_is_incomplete_and_errors_are_events() {
        let events1 = events(
            "/v1/responses",
            ScriptedResponse::stream([
                Step::Text { text: "cut".into() },
                Step::Stop { reason: "max_tokens".into() },
            ]),
        )
        .await;
        let (name, last) = events1.last().unwrap();
        assert_eq!(name, "response.incomplete");
        assert_eq!(last["response"]["status"], "incomplete");
        assert_eq!(last["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));

        let events2 = events(
            "/backend-api/codex/responses",
            ScriptedResponse::stream([Step::Error {
                error_type: "server_error".into(),
                message: "oops".into(),
            }]),
        )
        .await;
        assert_eq!(names(&events2), ["response.created", "response.in_progress", "error"]);
        assert_eq!(
            events2[2].1,
            json!({"type": "error", "sequence_number": 2, "code": "server_error", "message": "oops", "param": null})
        );
    }

    #[test]
    fn malformed_and_pace_render_where_they_stand() {
        super::super::mock_llm::check_fault_rendering(super::render, "/v1/responses", &request());
    }
}

//! Google Gemini streaming format
//! (`POST /v1beta/models/{model}:streamGenerateContent?alt=sse`, also under `/v1/`).
//!
//! A scripted stream renders as unnamed SSE frames ending in a blank CRLF line
//! (`data: JSON\r\n\r\n`), each a whole `GenerateContentResponse`:
//! `{"candidates":[{"content":{"parts":[part],"role":"model"},"index":0}],
//! "usageMetadata":{"promptTokenCount":P,"totalTokenCount":P},"modelVersion":<model from the
//! path>,"responseId":"mock_resp_NNNN"}`, one part per frame:
//!
//! - [`Step::Thinking`]: one `{"text":piece,"thought":true}` per word. Its signature rides, as
//!   `thoughtSignature`, on the next non-thought part (the first text piece or the function
//!   call), or on a lone `{"text":"","thoughtSignature"}` part at the end.
//! - [`Step::Text`]: one `{"text":piece}` per word.
//! - [`Step::ToolCall`]: one `{"functionCall":{"name","args"}}` (Gemini streams no tool call
//!   ids or argument fragments; the step's id is not sent).
//!
//! The last frame carries `finishReason` after `content` (`end_turn` and `tool_use` → `STOP`,
//! `max_tokens` → `MAX_TOKENS`, anything else as written) and the full usage
//! `{"promptTokenCount","candidatesTokenCount","totalTokenCount"}` plus
//! `cachedContentTokenCount` when tokens were read from the cache. It is the last content
//! frame when the stream ended right after content, else an extra `{"text":""}` frame. There
//! is no `[DONE]`.
//!
//! [`Step::Error`] sends `data: {"error":{"code","message","status":<error_type>}}`.
//! [`Step::DelayMs`], [`Step::Cut`], [`Step::Malformed`] (its bytes verbatim, CRLF or not as
//! written) and [`Step::Pace`] act where they stand (see [`Step`]), after the held-back part
//! before them was sent. HTTP errors use the same `{"error":{...}}` body.
//!
//! The Code Assist API (`POST /v1internal:streamGenerateContent?alt=sse`, what a Google
//! sign-in uses) takes `{model, project, request: <the Gemini body>}` and answers the same
//! frames each wrapped as `{"response": ...}` (`modelVersion` is the body's `model`; error
//! frames stay unwrapped). `POST /v1internal:loadCodeAssist` answers
//! `{"cloudaicompanionProject": "mock-project"}` ([`MOCK_PROJECT`]) without taking a scripted
//! response.

use serde_json::{json, Value};

use super::mock_llm::{default_stop, split_words, Call, Emit, ErrorKind, Step, Usage};

/// Google's error body: `{"error":{"code":code,"message":message,"status":status}}`, e.g.
/// `error_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded")`.
pub fn error_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

/// The body of an error the mock server itself answers.
pub(crate) fn server_error(kind: ErrorKind, message: &str) -> Value {
    let status = match kind {
        ErrorKind::InvalidRequest => "INVALID_ARGUMENT",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::Script => "INTERNAL",
    };
    error_body(kind.status().as_u16(), status, message)
}

/// The Code Assist streaming path.
pub(crate) const CODE_ASSIST_STREAM_PATH: &str = "/v1internal:streamGenerateContent";

/// The Code Assist project discovery path.
pub(crate) const LOAD_CODE_ASSIST_PATH: &str = "/v1internal:loadCodeAssist";

/// The project the mock's `loadCodeAssist` names.
pub const MOCK_PROJECT: &str = "mock-project";

/// What `POST /v1internal:loadCodeAssist` answers.
pub(crate) fn load_code_assist_answer() -> Value {
    json!({"cloudaicompanionProject": MOCK_PROJECT})
}

/// Checks a Code Assist request: `?alt=sse`, a `model`, a `project` and a `request` holding
/// a valid Gemini body.
pub(crate) fn validate_code_assist(call: &Call<'_>) -> Result<(), String> {
    if !call.query.split('&').any(|kv| kv == "alt=sse") {
        return Err("the mock LLM only serves server-sent events: add ?alt=sse".into());
    }
    let Some(obj) = call.body.as_object() else {
        return Err("Invalid JSON payload received.".into());
    };
    for key in ["model", "project"] {
        if obj.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("* {key}: {key} is not specified"));
        }
    }
    let Some(inner) = obj.get("request").filter(|r| r.is_object()) else {
        return Err("* request: request is not specified".into());
    };
    if !inner.get("contents").is_some_and(Value::is_array) {
        return Err("* request.contents: contents is not specified".into());
    }
    Ok(())
}

/// Renders a scripted stream for the Code Assist route: the Gemini frames, each wrapped as
/// `{"response": ...}`.
pub(crate) fn render_code_assist(steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
    render_as(steps, call, call.body_model().unwrap_or("mock-model"), true)
}

/// The model of a `/v1beta/models/{model}:streamGenerateContent` path (or `/v1/...`).
pub(crate) fn model_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1beta/models/").or_else(|| path.strip_prefix("/v1/models/"))?;
    let model = rest.strip_suffix(":streamGenerateContent")?;
    (!model.is_empty() && !model.contains('/')).then_some(model)
}

/// Checks a request as the Gemini API would, for what a streaming call needs.
pub(crate) fn validate(call: &Call<'_>) -> Result<(), String> {
    if !call.query.split('&').any(|kv| kv == "alt=sse") {
        return Err("the mock LLM only serves server-sent events: add ?alt=sse".into());
    }
    let Some(obj) = call.body.as_object() else {
        return Err("Invalid JSON payload received.".into());
    };
    if !obj.get("contents").is_some_and(Value::is_array) {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    }
    Ok(())
}

/// The HTTP-like code Google pairs with a status name.
fn code_of(status: &str) -> u16 {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => 400,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}

fn frame(data: &Value) -> Emit {
    Emit::Data(format!("data: {data}\r\n\r\n"))
}

/// Renders a scripted stream.
pub(crate) fn render(steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
    render_as(steps, call, model_of(call.path).unwrap_or("mock-model"), false)
}

/// Renders a scripted stream naming `model`; `wrap` puts each response in `{"response": ...}`.
fn render_as(steps: &[Step], call: &Call<'_>, model: &str, wrap: bool) -> Vec<Emit> {
    let usage = Usage::of(steps);
    let prompt = usage.prompt_total();
    let chunk = |part: Value, finish: Option<&str>| {
        let mut candidate = json!({"content": {"parts": [part], "role": "model"}});
        let usage_metadata = match finish {
            Some(reason) => {
                candidate["finishReason"] = json!(reason);
                let mut u = json!({"promptTokenCount": prompt, "candidatesTokenCount": usage.output,
                                   "totalTokenCount": prompt + usage.output});
                if usage.cache_read > 0 {
                    u["cachedContentTokenCount"] = json!(usage.cache_read);
                }
                u
            }
            None => json!({"promptTokenCount": prompt, "totalTokenCount": prompt}),
        };
        candidate["index"] = json!(0);
        let response = json!({
            "candidates": [candidate],
            "usageMetadata": usage_metadata,
            "modelVersion": model,
            "responseId": format!("mock_resp_{:04}", call.response_number)
        });
        frame(&if wrap { json!({"response": response}) } else { response })
    };

    let mut f = Frames { chunk, out: Vec::new(), pending: None, signature: None };
    let mut ended = false;
    for step in steps {
        match step {
            Step::Thinking { text, signature } => {
                for piece in split_words(text) {
                    f.part(json!({"text": piece, "thought": true}), true);
                }
                if !signature.is_empty() {
                    f.signature = Some(signature.clone());
                }
            }
            Step::Text { text } => {
                for piece in split_words(text) {
                    f.part(json!({"text": piece}), false);
                }
            }
            Step::ToolCall { name, input, .. } => {
                f.part(json!({"functionCall": {"name": name, "args": input}}), false);
            }
            Step::Usage { .. } => {}
            Step::Stop { reason } => {
                f.finish(reason);
                ended = true;
            }
            Step::Error { error_type, message } => {
                f.flush();
                f.out.push(frame(&error_body(code_of(error_type), error_type, message)));
                ended = true;
            }
            Step::DelayMs { ms } => {
                f.flush();
                f.out.push(Emit::Delay(*ms));
            }
            Step::Pace { ms } => {
                f.flush();
                f.out.push(Emit::Pace(*ms));
            }
            Step::Malformed { data } => {
                f.flush();
                f.out.push(Emit::Data(data.clone()));
            }
            Step::Cut => {
                f.flush();
                f.out.push(Emit::Cut);
                return f.out;
            }
        }
    }
    if ended {
        f.flush();
    } else {
        f.finish(default_stop(steps));
    }
    f.out
}

/// The frames of one stream, one part each.
struct Frames<C> {
    /// Renders a part (with the finish reason for the last frame) as a frame.
    chunk: C,
    out: Vec<Emit>,
    /// The last part, held back so the finish reason can ride on it.
    pending: Option<Value>,
    /// A thinking signature waiting for the next non-thought part.
    signature: Option<String>,
}

impl<C: Fn(Value, Option<&str>) -> Emit> Frames<C> {
    fn flush(&mut self) {
        if let Some(part) = self.pending.take() {
            self.out.push((self.chunk)(part, None));
        }
    }

    fn part(&mut self, mut part: Value, thought: bool) {
        self.flush();
        if !thought {
            if let Some(sig) = self.signature.take() {
                part["thoughtSignature"] = json!(sig);
            }
        }
        self.pending = Some(part);
    }

    fn finish(&mut self, reason: &str) {
        if let Some(sig) = self.signature.take() {
            self.flush();
            self.pending = Some(json!({"text": "", "thoughtSignature": sig}));
        }
        let reason = match reason {
            "end_turn" | "tool_use" => "STOP",
            "max_tokens" => "MAX_TOKENS",
            other => other,
        };
        let part = self.pending.take().unwrap_or_else(|| json!({"text": ""}));
        self.out.push((self.chunk)(part, Some(reason)));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::mock_llm::{MockLlm, Script, ScriptedResponse, Step};
    use super::super::parse_sse;

    const PATH: &str = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";

    fn request() -> Value {
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "generationConfig": {"maxOutputTokens": 64}})
    }

    async fn raw_stream(response: ScriptedResponse) -> String {
        let mock = MockLlm::start(Script::new([response])).await.unwrap();
        let answer = reqwest::Client::new()
            .post(format!("{}{PATH}", mock.base_url()))
            .header("x-goog-api-key", "key")
            .json(&request())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.text().await.unwrap()
    }

    fn parts(frames: &[(String, Value)]) -> Vec<Value> {
        frames.iter().map(|(_, v)| v["candidates"][0]["content"]["parts"][0].clone()).collect()
    }

    #[tokio::test]
    async fn text_response_exact_bytes() {
        let text = raw_stream(ScriptedResponse::stream([
            Step::Text { text: "Hi there".into() },
            Step::Usage { input_tokens: 4, output_tokens: 2, cache_read_tokens: 0, cache_creation_tokens: 0 },
        ]))
        .await;
        let expected = concat!(
            r#"data: {"candidates":[{"content":{"parts":[{"text":"Hi "}],"role":"model"},"index":0}],"#,
            r#""usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"modelVersion":"gemini-2.5-pro","#,
            r#""responseId":"mock_resp_0001"}"#,
            "\r\n\r\n",
            r#"data: {"candidates":[{"content":{"parts":[{"text":"there"}],"role":"model"},"finishReason":"STOP","index":0}],"#,
            r#""usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"#,
            r#""modelVersion":"gemini-2.5-pro","responseId":"mock_resp_0001"}"#,
            "\r\n\r\n",
        );
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn code_assist_routes_wrap_frames_and_discovery_takes_nothing() {
        let mock = MockLlm::start(Script::new([ScriptedResponse::text("Hi there")])).await.unwrap();
        let client = reqwest::Client::new();
        let load = client
            .post(format!("{}{}", mock.base_url(), super::LOAD_CODE_ASSIST_PATH))
            .json(&json!({"metadata": {"pluginType": "GEMINI"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(load.status(), 200);
        assert_eq!(load.json::<Value>().await.unwrap(), json!({"cloudaicompanionProject": "mock-project"}));
        assert_eq!(mock.remaining(), 1);
        let url = format!("{}{}?alt=sse", mock.base_url(), super::CODE_ASSIST_STREAM_PATH);
        // Flat (unwrapped) bodies are refused without taking the scripted response.
        let flat = client.post(&url).json(&request()).send().await.unwrap();
        assert_eq!(flat.status(), 400);
        assert_eq!(mock.remaining(), 1);
        let body = json!({"model": "gemini-2.5-flash", "project": "mock-project", "request": request()});
        let text = client.post(&url).json(&body).send().await.unwrap().text().await.unwrap();
        let frames = parse_sse(&text);
        assert_eq!(frames.len(), 2);
        for (_, f) in &frames {
            assert_eq!(f.as_object().unwrap().len(), 1, "{f}");
            assert_eq!(f["response"]["modelVersion"], "gemini-2.5-flash");
        }
        assert_eq!(frames[0].1["response"]["candidates"][0]["content"]["parts"][0]["text"], "Hi ");
        assert_eq!(frames[1].1["response"]["candidates"][0]["finishReason"], "STOP");
        let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            [
                "/v1internal:loadCodeAssist",
                "/v1internal:streamGenerateContent?alt=sse",
                "/v1internal:streamGenerateContent?alt=sse"
            ]
        );
    }

    #[tokio::test]
    async fn thoughts_signature_and_function_call() {
        let frames = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Thinking { text: "Plan it".into(), signature: "c2ln".into() },
                Step::ToolCall { id: "ignored".into(), name: "Read".into(), input: json!({"path": "a.rs"}) },
                Step::Usage {
                    input_tokens: 1,
                    output_tokens: 3,
                    cache_read_tokens: 10,
                    cache_creation_tokens: 0,
                },
            ]))
            .await,
        );
        assert_eq!(
            parts(&frames),
            [
                json!({"text": "Plan ", "thought": true}),
                json!({"text": "it", "thought": true}),
                json!({"functionCall": {"name": "Read", "args": {"path": "a.rs"}}, "thoughtSignature": "c2ln"}),
            ]
        );
        let last = &frames[2].1;
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            last["usageMetadata"],
            json!({"promptTokenCount": 11, "candidatesTokenCount": 3, "totalTokenCount": 14,
                   "cachedContentTokenCount": 10})
        );
    }

    #[tokio::test]
    async fn lone_signature_errors_and_validation() {
        let frames = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Thinking { text: "".into(), signature: "sig".into() },
                Step::Stop { reason: "max_tokens".into() },
            ]))
            .await,
        );
        assert_eq!(parts(&frames), [json!({"text": "", "thoughtSignature": "sig"})]);
        assert_eq!(frames[0].1["candidates"][0]["finishReason"], "MAX_TOKENS");

        let frames = parse_sse(
            &raw_stream(ScriptedResponse::stream([
                Step::Text { text: "a".into() },
                Step::Error { error_type: "UNAVAILABLE".into(), message: "overloaded".into() },
            ]))
            .await,
        );
        assert_eq!(frames.len(), 2);
        assert!(frames[0].1["candidates"][0].get("finishReason").is_none());
        assert_eq!(
            frames[1].1,
            json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
        );

        let mock = MockLlm::start(Script::new([ScriptedResponse::google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            Some(30),
        )]))
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let no_sse = client
            .post(format!("{}/v1beta/models/gemini-2.5-pro:streamGenerateContent", mock.base_url()))
            .json(&request())
            .send()
            .await
            .unwrap();
        assert_eq!(no_sse.status(), 400);
        assert_eq!(no_sse.json::<Value>().await.unwrap()["error"]["status"], "INVALID_ARGUMENT");
        let limited =
            client.post(format!("{}{PATH}", mock.base_url())).json(&request()).send().await.unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "30");
        assert_eq!(
            limited.json::<Value>().await.unwrap(),
            json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
        );
        assert_eq!(mock.requests()[1].path, PATH);
    }

    #[test]
    fn model_paths() {
        assert_eq!(
            super::model_of("/v1beta/models/gemini-3-pro-preview:streamGenerateContent"),
            Some("gemini-3-pro-preview")
        );
        assert_eq!(super::model_of("/v1/models/g:streamGenerateContent"), Some("g"));
        assert_eq!(super::model_of("/v1beta/models/g:generateContent"), None);
        assert_eq!(super::model_of("/v1beta/models/:streamGenerateContent"), None);
    }

    #[test]
    fn malformed_and_pace_render_where_they_stand() {
        super::super::mock_llm::check_fault_rendering(
            super::render,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            &request(),
        );
    }
}

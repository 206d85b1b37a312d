//! The scripted mock LLM server.
//!
//! [`MockLlm::start`] binds `127.0.0.1:0` and serves a [`Script`]: each request to a provider
//! route takes the next [`ScriptedResponse`] and answers it in that route's format. Every
//! request (including ones to unknown routes and rejected ones) is recorded and can be read
//! back with [`MockLlm::requests`].
//!
//! Routes (each renders the same [`Step`]s in its provider's format):
//! - `POST /v1/messages`: Anthropic Messages ([`super::anthropic`]).
//! - `POST /v1/chat/completions`: OpenAI Chat Completions ([`super::openai_chat`]).
//! - `POST /v1/responses`, `/codex/responses`, `/backend-api/codex/responses`: OpenAI
//!   Responses ([`super::openai_responses`]).
//! - `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` (or `/v1/models/...`):
//!   Google Gemini ([`super::google`]).
//! - `POST /v1internal:streamGenerateContent?alt=sse`: Google Code Assist (a Google sign-in):
//!   the Gemini frames wrapped in `{"response": ...}` ([`super::google`]).
//! - `POST /v1internal:loadCodeAssist`: answers `{"cloudaicompanionProject": "mock-project"}`
//!   and takes nothing from the script (the request is recorded).
//! - anything else: `404` with an Anthropic-shaped `not_found_error` body; no response is
//!   taken from the script.
//!
//! The scripted responses are shared by all routes, in order. A test whose answers depend
//! on the request (concurrent callers such as subagents, ids known only at run time) can
//! also give a [`Responder`] ([`MockLlm::start_with_responder`]): it is asked first, and the
//! script serves the requests it leaves (`None`). A [`ScriptedResponse::Verbatim`] (a provider's answer kept by the recorder proxy) is sent
//! as it was recorded, and only on the route it was recorded from.
//!
//! Faults a script can inject, the same way on every route: an HTTP error status with a body
//! and `retry-after` ([`ScriptedResponse::HttpError`]); in a stream, an in-stream error event
//! ([`Step::Error`]), a pause ([`Step::DelayMs`]), a slow stream ([`Step::Pace`]: a pause
//! before every later frame), raw bytes sent verbatim such as a frame that is not JSON
//! ([`Step::Malformed`]), and a connection dropped mid-body ([`Step::Cut`]).
//!
//! For latency measurements (benches/serve.rs), every chunk a stream sends is also recorded
//! with the instant it was handed to the HTTP layer; read them back with
//! [`MockLlm::emissions`].
//!
//! When the script is exhausted a provider route answers `500` with a body saying so (it never
//! hangs). A request the provider itself would reject (not JSON, not streaming, missing a
//! required field) answers `400` in the provider's error shape and takes nothing from the
//! script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use super::{anthropic, google, openai_chat, openai_responses};

/// Largest request body accepted (requests carry images and long histories).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A running mock LLM server. Dropping it stops the server: it accepts no more connections,
/// and a stream paused in a [`Step::DelayMs`] (or between [`Step::Pace`]d frames) ends there
/// as if the connection were cut.
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl MockLlm {
    /// Starts on `127.0.0.1:0` serving `script` (responses served in order, one per request).
    ///
    /// Must be called inside a Tokio runtime; the server runs as a task on it.
    pub async fn start(script: Script) -> std::io::Result<MockLlm> {
        MockLlm::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script).await
    }

    /// Starts like [`MockLlm::start`], asking `responder` first for each provider request
    /// (see [`Responder`]).
    pub async fn start_with_responder(script: Script, responder: Responder) -> std::io::Result<MockLlm> {
        Self::serve(SocketAddr::from(([127, 0, 0, 1], 0)), script, Some(responder)).await
    }

    /// Starts on `addr` (port 0: any free port) serving `script`; for a server under test
    /// that must be configured with the mock's URL before the mock starts
    /// (`tron replay --target URL --mock-llm ADDR`).
    ///
    /// Must be called inside a Tokio runtime; the server runs as a task on it.
    pub async fn start_on(addr: SocketAddr, script: Script) -> std::io::Result<MockLlm> {
        Self::serve(addr, script, None).await
    }

    async fn serve(
        addr: SocketAddr,
        script: Script,
        responder: Option<Responder>,
    ) -> std::io::Result<MockLlm> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(ServerState {
                total: script.responses.len(),
                responses: script.responses.into(),
                requests: Vec::new(),
            }),
            emissions: Mutex::default(),
            shutdown: shutdown_rx.clone(),
            responder,
        });
        let router = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let mut signal = shutdown_rx;
        tokio::spawn(async move {
            let stop = async move {
                let _ = signal.wait_for(|stopped| *stopped).await;
            };
            // `serve` only returns once `stop` completes; accept errors are retried inside.
            let _ = axum::serve(listener, router).with_graceful_shutdown(stop).await;
        });
        Ok(MockLlm { addr, shared, shutdown })
    }

    /// The server's base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Every stream chunk sent so far, in the order they were sent (all streams interleaved).
    ///
    /// Test and bench support: each chunk is recorded the moment it is handed to the HTTP
    /// layer (after its [`Step::Pace`] / [`Step::DelayMs`] pause), so a client of the mock
    /// can measure how long after that it saw the chunk's effect.
    pub fn emissions(&self) -> Vec<Emission> {
        self.shared.emissions.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Replaces the responses not served yet with `script`'s (the requests recorded so far
    /// are kept), so one running mock can serve one script after another.
    pub fn load(&self, script: Script) {
        let mut state = self.shared.lock();
        state.total = script.responses.len();
        state.responses = script.responses.into();
    }

    /// How many scripted responses have not been served yet.
    pub fn remaining(&self) -> usize {
        self.shared.lock().responses.len()
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl std::fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockLlm").field("addr", &self.addr).field("remaining", &self.remaining()).finish()
    }
}

/// The responses a [`MockLlm`] serves, in order, one per provider request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Script {
    /// The responses, first served first.
    pub responses: Vec<ScriptedResponse>,
}

impl Script {
    /// A script of these responses.
    pub fn new(responses: impl IntoIterator<Item = ScriptedResponse>) -> Self {
        Self { responses: responses.into_iter().collect() }
    }
}

/// One scripted answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptedResponse {
    /// A `200` server-sent-event stream made of these steps, rendered in the format of the
    /// route that was called.
    Stream {
        /// What the stream contains, in order.
        steps: Vec<Step>,
    },
    /// An HTTP error status with a JSON body, sent verbatim.
    HttpError {
        /// The HTTP status (e.g. 429, 529).
        status: u16,
        /// The JSON body (see [`ScriptedResponse::anthropic_error`] for Anthropic's shape).
        body: Value,
        /// Seconds for a `retry-after` header, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// A provider's answer played back byte for byte, as the recorder proxy keeps it
    /// (`tron replay record --provider-proxy`): a `200` with `content_type`, then each of
    /// `chunks` sent as one chunk (the recorder keeps one server-sent event per chunk, so the
    /// provider's delta boundaries replay as they came), then the end of the body, or a
    /// dropped connection when `cut`. Nothing is rendered or added, so it replays any
    /// provider's format; a [`Step::Pace`] cannot be applied to it (the chunks are sent at
    /// once). It is played only on the route it was recorded from (`route`: the request path
    /// without the query); a request to any other route answers `500` naming both, since
    /// that provider's client could not read it.
    Verbatim {
        /// The request path the answer was given to, e.g. `/v1/messages`.
        route: String,
        /// The answer's `content-type` (default `text/event-stream`).
        #[serde(default = "event_stream")]
        content_type: String,
        /// The body, in order: one server-sent event (with its blank line) per chunk.
        chunks: Vec<String>,
        /// Whether the provider's body broke off instead of ending.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cut: bool,
    },
}

impl ScriptedResponse {
    /// A stream of these steps.
    pub fn stream(steps: impl IntoIterator<Item = Step>) -> Self {
        Self::Stream { steps: steps.into_iter().collect() }
    }

    /// A stream holding one text block (stop reason `end_turn`).
    pub fn text(text: impl Into<String>) -> Self {
        Self::stream([Step::Text { text: text.into() }])
    }

    /// A stream holding one tool call (stop reason `tool_use`).
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self::stream([Step::ToolCall { id: id.into(), name: name.into(), input }])
    }

    /// An HTTP error with Anthropic's body `{"type":"error","error":{"type","message"}}`,
    /// e.g. `anthropic_error(429, "rate_limit_error", "Rate limited", Some(2))`.
    pub fn anthropic_error(status: u16, error_type: &str, message: &str, retry_after: Option<u64>) -> Self {
        Self::HttpError { status, body: anthropic::error_body(error_type, message), retry_after }
    }

    /// An HTTP error with OpenAI's body `{"error":{"message","type","param":null,"code":null}}`,
    /// e.g. `openai_error(429, "rate_limit_exceeded", "Rate limit reached", Some(2))`.
    pub fn openai_error(status: u16, error_type: &str, message: &str, retry_after: Option<u64>) -> Self {
        Self::HttpError { status, body: openai_chat::error_body(error_type, message), retry_after }
    }

    /// An HTTP error with Google's body `{"error":{"code":status,"message","status"}}`,
    /// e.g. `google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", None)`.
    pub fn google_error(status: u16, grpc_status: &str, message: &str, retry_after: Option<u64>) -> Self {
        Self::HttpError { status, body: google::error_body(status, grpc_status, message), retry_after }
    }
}

fn event_stream() -> String {
    "text/event-stream".to_owned()
}

/// Whether a request to `path` with `method` takes the next scripted response (a provider
/// route, see the module docs); the others (`/v1internal:loadCodeAssist`, unknown routes)
/// are answered without touching the script.
pub fn takes_scripted_response(method: &str, path: &str) -> bool {
    Method::from_bytes(method.as_bytes()).is_ok_and(|m| Format::route(&m, path).is_some())
}

/// One step of a scripted stream. Content steps each render as one complete content block;
/// the other steps shape the message around them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// A thinking block: the text as several thinking deltas, then the signature (if not
    /// empty) as one signature delta.
    Thinking {
        /// The thinking text.
        text: String,
        /// The block's signature.
        signature: String,
    },
    /// A text block, split into several deltas (one per word, whitespace kept).
    Text {
        /// The block's text.
        text: String,
    },
    /// A tool call; its input is streamed as JSON text fragments.
    ToolCall {
        /// The tool call id (e.g. `toolu_01`).
        id: String,
        /// The tool name.
        name: String,
        /// The tool input (an object in practice).
        input: Value,
    },
    /// Token counts reported for the message. May appear anywhere (the last one wins);
    /// without one every count is 0.
    Usage {
        /// Input tokens (not counting cached ones, as Anthropic reports them).
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Tokens read from the prompt cache.
        #[serde(default)]
        cache_read_tokens: u64,
        /// Tokens written to the prompt cache.
        #[serde(default)]
        cache_creation_tokens: u64,
    },
    /// Ends the message here with this stop reason. Without a `Stop`, a stream that did not
    /// error or cut ends after its last step with `tool_use` when it held a tool call,
    /// otherwise `end_turn`.
    Stop {
        /// The provider's stop reason, sent as written (e.g. `max_tokens`).
        reason: String,
    },
    /// An in-stream error event. The message is not ended afterwards unless a later `Stop`
    /// says so, so a trailing `Error` ends the stream the way a provider failure does.
    Error {
        /// The provider's error type (e.g. `overloaded_error`).
        error_type: String,
        /// The error message.
        message: String,
    },
    /// Pauses before the next event (for abort and timeout tests).
    DelayMs {
        /// How long to pause, in milliseconds.
        ms: u64,
    },
    /// Drops the connection here: the body ends without its terminating chunk, so the client
    /// sees a transport error mid-stream. Later steps are ignored.
    Cut,
    /// Sends `data` verbatim as one chunk, the same in every format (no framing is added), for
    /// malformed-stream tests: e.g. `"data: {not json\n\n"` (a frame whose data is not JSON)
    /// or `"event: x\n"` (half a frame). The stream then goes on with the later steps and
    /// ends as usual, so a client that skipped the bad bytes would still see a whole message.
    Malformed {
        /// The raw bytes, as text.
        data: String,
    },
    /// Paces the rest of the stream: from here on, every chunk sent (each SSE frame, each
    /// [`Step::Malformed`]) is preceded by a pause of `ms` milliseconds, the end-of-message
    /// frames included. A later `Pace` replaces it (`ms: 0` turns pacing off); a
    /// [`Step::DelayMs`] adds its pause on top. Frames before it are not delayed.
    Pace {
        /// The pause before each following chunk, in milliseconds.
        ms: u64,
    },
}

/// Answers a provider request from what it holds (its body, path, headers), or `None` to
/// leave it to the script. Called once per valid provider request, before the request is
/// recorded and outside the mock's lock; concurrent requests may call it concurrently.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Option<ScriptedResponse> + Send + Sync>;

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path and query string, e.g. `/v1/messages`.
    pub path: String,
    /// The headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `null` when empty, a JSON string of the raw text when not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One stream chunk the mock sent (see [`MockLlm::emissions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emission {
    /// Which scripted response it belongs to, 1-based in the order they were served.
    pub response: usize,
    /// Its position among the chunks of that response, 0-based.
    pub index: usize,
    /// When it was handed to the HTTP layer to be written.
    pub at: Instant,
    /// The bytes sent (a whole SSE frame, or a [`Step::Malformed`] chunk).
    pub data: String,
}

/// What a rendered stream does, in order. Formats render [`Step`]s into these.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Emit {
    /// Bytes sent as one chunk (a whole SSE frame in practice).
    Data(String),
    /// A pause.
    Delay(u64),
    /// Pause this long before every later [`Emit::Data`] (0: no more pacing).
    Pace(u64),
    /// Drop the connection.
    Cut,
}

impl Emit {
    /// One named SSE frame, `event: NAME\ndata: JSON\n\n`.
    pub(crate) fn event(name: &str, data: &Value) -> Emit {
        Emit::Data(format!("event: {name}\ndata: {data}\n\n"))
    }

    /// One unnamed SSE frame, `data: JSON\n\n`.
    pub(crate) fn data(data: &Value) -> Emit {
        Emit::Data(format!("data: {data}\n\n"))
    }
}

/// One provider request as a format sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The URL path, e.g. `/v1/messages`.
    pub path: &'a str,
    /// The query string without `?`, empty when none.
    pub query: &'a str,
    /// The parsed request body.
    pub body: &'a Value,
    /// Which scripted response answers it, 1-based (0 while validating).
    pub response_number: usize,
}

impl Call<'_> {
    /// The body's `model` string, if any.
    pub(crate) fn body_model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }
}

/// The token counts of a scripted stream: its last [`Step::Usage`], or all zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Input tokens not read from or written to the cache.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache.
    pub cache_creation: u64,
}

impl Usage {
    /// The last usage step of `steps`, or zeros.
    pub(crate) fn of(steps: &[Step]) -> Usage {
        steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Usage { input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens } => {
                    Some(Usage {
                        input: *input_tokens,
                        output: *output_tokens,
                        cache_read: *cache_read_tokens,
                        cache_creation: *cache_creation_tokens,
                    })
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// All input tokens, cached or not (what OpenAI and Google report as the prompt size).
    pub(crate) fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_creation
    }
}

/// The stop reason of a stream without a [`Step::Stop`]: `tool_use` when it holds a tool
/// call, otherwise `end_turn`.
pub(crate) fn default_stop(steps: &[Step]) -> &'static str {
    if steps.iter().any(|s| matches!(s, Step::ToolCall { .. })) {
        "tool_use"
    } else {
        "end_turn"
    }
}

/// The wire formats the server speaks, one per provider API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Chat Completions.
    OpenAiChat,
    /// OpenAI Responses (also the ChatGPT Codex backend).
    OpenAiResponses,
    /// Google Gemini `streamGenerateContent`.
    Google,
    /// Google Code Assist `v1internal:streamGenerateContent` (wrapped Gemini).
    GoogleCodeAssist,
}

impl Format {
    fn route(method: &Method, path: &str) -> Option<Format> {
        if method != Method::POST {
            return None;
        }
        match path {
            "/v1/messages" => Some(Format::Anthropic),
            "/v1/chat/completions" => Some(Format::OpenAiChat),
            "/v1/responses" | "/codex/responses" | "/backend-api/codex/responses" => {
                Some(Format::OpenAiResponses)
            }
            google::CODE_ASSIST_STREAM_PATH => Some(Format::GoogleCodeAssist),
            _ if google::model_of(path).is_some() => Some(Format::Google),
            _ => None,
        }
    }

    /// Checks the request as the provider would; `Err` is the message of a 400.
    fn validate(self, call: &Call<'_>) -> Result<(), String> {
        match self {
            Format::Anthropic => anthropic::validate(call),
            Format::OpenAiChat => openai_chat::validate(call),
            Format::OpenAiResponses => openai_responses::validate(call),
            Format::Google => google::validate(call),
            Format::GoogleCodeAssist => google::validate_code_assist(call),
        }
    }

    /// The body of an error the server itself answers, in the provider's error shape.
    fn error(self, kind: ErrorKind, message: &str) -> Value {
        match self {
            Format::Anthropic => anthropic::server_error(kind, message),
            Format::OpenAiChat | Format::OpenAiResponses => openai_chat::server_error(kind, message),
            Format::Google | Format::GoogleCodeAssist => google::server_error(kind, message),
        }
    }

    fn render(self, steps: &[Step], call: &Call<'_>) -> Vec<Emit> {
        match self {
            Format::Anthropic => anthropic::render(steps, call),
            Format::OpenAiChat => openai_chat::render(steps, call),
            Format::OpenAiResponses => openai_responses::render(steps, call),
            Format::Google => google::render(steps, call),
            Format::GoogleCodeAssist => google::render_code_assist(steps, call),
        }
    }
}

/// The errors the server itself answers (formats map them onto their error types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// 400: the provider would reject the request.
    InvalidRequest,
    /// 404: no such route.
    NotFound,
    /// 500: the script cannot answer (exhausted, or a [`ScriptedResponse::Verbatim`] recorded
    /// on another route).
    Script,
}

impl ErrorKind {
    /// The HTTP status answered.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Script => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

struct Shared {
    state: Mutex<ServerState>,
    emissions: Mutex<Vec<Emission>>,
    shutdown: watch::Receiver<bool>,
    responder: Option<Responder>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        // A panicking test thread must not hide the recorded requests from the others.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct ServerState {
    total: usize,
    responses: VecDeque<ScriptedResponse>,
    requests: Vec<RecordedRequest>,
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect(),
        body: match &bytes {
            Ok(b) => parse_body(b),
            Err(_) => Value::Null,
        },
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let body_json = recorded.body.clone();
    let format = Format::route(&parts.method, path);
    let checked = match (&bytes, format) {
        (Err(e), Some(f)) => Err((f, format!("cannot read the request body: {e}"))),
        (Ok(_), Some(f)) => {
            f.validate(&Call { path, query, body: &body_json, response_number: 0 }).map_err(|m| (f, m))
        }
        (_, None) => Ok(()),
    };

    let answerable = format.is_some() && checked.is_ok();
    let answered = match &shared.responder {
        Some(responder) if answerable => responder(&recorded),
        _ => None,
    };
    let (request_number, next, served, total) = {
        let mut state = shared.lock();
        state.requests.push(recorded);
        let next = match answered {
            Some(answer) => {
                // Counted as served, so every answer gets its own response number.
                state.total += 1;
                Some(answer)
            }
            None if answerable => state.responses.pop_front(),
            None => None,
        };
        (state.requests.len(), next, state.total - state.responses.len(), state.total)
    };
    let request_id = format!("req_mock_{request_number:04}");
    let server_error = |format: Format, kind: ErrorKind, message: &str| {
        json_response(kind.status(), &request_id, format.error(kind, message), None)
    };

    if parts.method == Method::POST && path == google::LOAD_CODE_ASSIST_PATH {
        return json_response(StatusCode::OK, &request_id, google::load_code_assist_answer(), None);
    }
    let Some(format) = format else {
        let message = format!("mock LLM: no route for {} {path}", parts.method);
        return server_error(Format::Anthropic, ErrorKind::NotFound, &message);
    };
    if let Err((f, message)) = checked {
        return server_error(f, ErrorKind::InvalidRequest, &message);
    }
    let Some(next) = next else {
        let message = format!(
            "mock LLM script exhausted: request {request_number} ({} {path}) arrived but the script held only {total} response(s)",
            parts.method
        );
        return server_error(format, ErrorKind::Script, &message);
    };
    match next {
        ScriptedResponse::HttpError { status, body, retry_after } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, &request_id, body, retry_after)
        }
        ScriptedResponse::Stream { steps } => {
            let emits =
                format.render(&steps, &Call { path, query, body: &body_json, response_number: served });
            let mut response = Response::new(play(emits, Arc::clone(&shared), served));
            let headers = response.headers_mut();
            headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            insert_request_id(headers, &request_id);
            response
        }
        ScriptedResponse::Verbatim { route, content_type, chunks, cut } => {
            if route != path {
                let message = format!(
                    "mock LLM: scripted response {served} was recorded from {route} but request {request_number} came to {path}"
                );
                return server_error(format, ErrorKind::Script, &message);
            }
            let mut emits: Vec<Emit> = chunks.into_iter().map(Emit::Data).collect();
            if cut {
                emits.push(Emit::Cut);
            }
            let mut response = Response::new(play(emits, Arc::clone(&shared), served));
            let headers = response.headers_mut();
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("text/event-stream"));
            headers.insert(header::CONTENT_TYPE, content_type);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            insert_request_id(headers, &request_id);
            response
        }
    }
}

/// Parses a request body: `null` when empty, the JSON value, or the raw text as a string.
fn parse_body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn json_response(status: StatusCode, request_id: &str, body: Value, retry_after: Option<u64>) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    insert_request_id(headers, request_id);
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn insert_request_id(headers: &mut axum::http::HeaderMap, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", v);
    }
}

/// Plays rendered emits as a streaming body. A cut, or the server shutting down during a
/// pause, ends the body with an error, which drops the connection mid-stream. An
/// [`Emit::Pace`] makes every later chunk wait that long first.
fn play(emits: Vec<Emit>, shared: Arc<Shared>, response: usize) -> Body {
    let shutdown = shared.shutdown.clone();
    let player = Player { emits: emits.into_iter(), shutdown, pace: 0, shared, response, sent: 0 };
    let stream = futures_util::stream::unfold(player, |mut player| async move {
        let item = player.next().await?;
        Some((item, player))
    });
    Body::from_stream(stream)
}

/// The state of one stream being played.
struct Player {
    emits: std::vec::IntoIter<Emit>,
    shutdown: watch::Receiver<bool>,
    /// The pause before each chunk, in milliseconds.
    pace: u64,
    /// Where emissions are recorded.
    shared: Arc<Shared>,
    /// The 1-based number of the scripted response being played.
    response: usize,
    /// How many chunks were sent so far.
    sent: usize,
}

impl Player {
    /// The next chunk, an error that drops the connection, or `None` at the end.
    async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        loop {
            match self.emits.next()? {
                Emit::Data(text) => {
                    if self.pace > 0 && !self.sleep(self.pace).await {
                        return Some(Err(self.stop("mock LLM stopped")));
                    }
                    let emission = Emission {
                        response: self.response,
                        index: self.sent,
                        at: Instant::now(),
                        data: text,
                    };
                    self.sent += 1;
                    let bytes = Bytes::from(emission.data.clone());
                    self.shared.emissions.lock().unwrap_or_else(|p| p.into_inner()).push(emission);
                    return Some(Ok(bytes));
                }
                Emit::Delay(ms) => {
                    if !self.sleep(ms).await {
                        return Some(Err(self.stop("mock LLM stopped")));
                    }
                }
                Emit::Pace(ms) => self.pace = ms,
                Emit::Cut => {
                    // Let the server flush what was sent so far: a body error drops the
                    // connection at once, buffered bytes included.
                    tokio::task::yield_now().await;
                    return Some(Err(self.stop("mock LLM: scripted cut")));
                }
            }
        }
    }

    /// Sleeps `ms`; false when the server stopped meanwhile.
    async fn sleep(&mut self, ms: u64) -> bool {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => true,
            _ = self.shutdown.wait_for(|stopped| *stopped) => false,
        }
    }

    /// Ends the stream: nothing is played after the returned error.
    fn stop(&mut self, message: &str) -> std::io::Error {
        self.emits = Vec::new().into_iter();
        cut(message)
    }
}

fn cut(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, message.to_owned())
}

/// Checks how a format renders the fault steps, for each format's tests: with
/// `[Text "a", Pace 7, Malformed BAD, Text "b"]`, the text `a` is sent before the pace, the
/// malformed bytes come verbatim right after it, the text `b` after them, and nothing else
/// paces or delays the stream.
#[cfg(test)]
pub(crate) fn check_fault_rendering(render: fn(&[Step], &Call<'_>) -> Vec<Emit>, path: &str, body: &Value) {
    const BAD: &str = "data: {not json\n\n";
    let steps = [
        Step::Text { text: "a".into() },
        Step::Pace { ms: 7 },
        Step::Malformed { data: BAD.into() },
        Step::Text { text: "b".into() },
    ];
    let emits = render(&steps, &Call { path, query: "alt=sse", body, response_number: 1 });
    let at = emits.iter().position(|e| *e == Emit::Pace(7)).expect("the pace is rendered");
    assert_eq!(emits[at + 1], Emit::Data(BAD.into()), "the malformed bytes follow verbatim");
    let text = |emits: &[Emit]| -> String {
        emits.iter().filter_map(|e| if let Emit::Data(d) = e { Some(d.as_str()) } else { None }).collect()
    };
    let (before, after) = (text(&emits[..at]), text(&emits[at + 2..]));
    assert!(before.contains(r#""a""#) && !before.contains(r#""b""#), "{before}");
    assert!(after.contains(r#""b""#), "{after}");
    assert!(!before.contains("not json") && !after.contains("not json"));
    let timing = emits.iter().filter(|e| matches!(e, Emit::Pace(_) | Emit::Delay(_) | Emit::Cut)).count();
    assert_eq!(timing, 1, "{emits:?}");

    let cut = render(
        &[Step::Malformed { data: "event: half".into() }, Step::Cut],
        &Call { path, query: "alt=sse", body, response_number: 1 },
    );
    assert_eq!(cut[cut.len() - 2..], [Emit::Data("event: half".into()), Emit::Cut], "{cut:?}");
}

/// Splits text into word-sized deltas: a piece ends after each run of whitespace, so the
/// pieces concatenate back to `text`. Empty text gives no pieces.
pub(crate) fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if prev_space && !space {
            pieces.push(&text[start..i]);
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits text into at most `parts` pieces of about equal length, on character boundaries;
/// the pieces concatenate back to `text`. Empty text gives no pieces.
pub(crate) fn split_even(text: &str, parts: usize) -> Vec<&str> {
    let parts = parts.max(1);
    let mut pieces = Vec::new();
    let mut start = 0;
    for k in 1..=parts {
        let mut end = text.len() * k / parts;
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if end > start {
            pieces.push(&text[start..end]);
            start = end;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn post(mock: &MockLlm, path: &str, body: &Value) -> reqwest::Response {
        reqwest::Client::new().post(format!("{}{path}", mock.base_url())).json(body).send().await.unwrap()
    }

    fn anthropic_request() -> Value {
        json!({"model": "claude-test", "max_tokens": 64, "stream": true,
               "messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn word_split_keeps_every_character() {
        assert_eq!(split_words("Hello, world! How are you?"), ["Hello, ", "world! ", "How ", "are ", "you?"]);
        assert_eq!(split_words("  lead\n\ntrail "), ["  ", "lead\n\n", "trail "]);
        assert_eq!(split_words("héllo wörld"), ["héllo ", "wörld"]);
        assert!(split_words("").is_empty());
    }

    #[test]
    fn even_split_keeps_every_character() {
        assert_eq!(split_even("abcdefghi", 3), ["abc", "def", "ghi"]);
        assert_eq!(split_even("ab", 3), ["a", "b"]);
        assert_eq!(split_even("éé", 3).concat(), "éé");
        assert!(split_even("", 3).is_empty());
    }

    #[test]
    fn script_json_shape() {
        let script = Script::new([
            ScriptedResponse::stream([
                Step::Thinking { text: "hm".into(), signature: "sig".into() },
                Step::Text { text: "hi".into() },
                Step::ToolCall { id: "toolu_1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
                Step::Usage {
                    input_tokens: 1,
                    output_tokens: 2,
                    cache_read_tokens: 3,
                    cache_creation_tokens: 4,
                },
                Step::Stop { reason: "tool_use".into() },
                Step::Error { error_type: "overloaded_error".into(), message: "Overloaded".into() },
                Step::DelayMs { ms: 5 },
                Step::Pace { ms: 2 },
                Step::Malformed { data: "data: {oops\n\n".into() },
                Step::Cut,
            ]),
            ScriptedResponse::anthropic_error(429, "rate_limit_error", "slow down", Some(3)),
            ScriptedResponse::Verbatim {
                route: "/v1/messages".into(),
                content_type: "text/event-stream".into(),
                chunks: vec!["event: ping\ndata: {}\n\n".into()],
                cut: false,
            },
        ]);
        let v = serde_json::to_value(&script).unwrap();
        assert_eq!(
            v,
            json!({"responses": [
                {"kind": "stream", "steps": [
                    {"step": "thinking", "text": "hm", "signature": "sig"},
                    {"step": "text", "text": "hi"},
                    {"step": "tool_call", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                    {"step": "usage", "input_tokens": 1, "output_tokens": 2, "cache_read_tokens": 3, "cache_creation_tokens": 4},
                    {"step": "stop", "reason": "tool_use"},
                    {"step": "error", "error_type": "overloaded_error", "message": "Overloaded"},
                    {"step": "delay_ms", "ms": 5},
                    {"step": "pace", "ms": 2},
                    {"step": "malformed", "data": "data: {oops\n\n"},
                    {"step": "cut"}
                ]},
                {"kind": "http_error", "status": 429, "retry_after": 3,
                 "body": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}},
                {"kind": "verbatim", "route": "/v1/messages", "content_type": "text/event-stream",
                 "chunks": ["event: ping\ndata: {}\n\n"]}
            ]})
        );
        assert_eq!(serde_json::from_value::<Script>(v).unwrap(), script);
        let cut: ScriptedResponse =
            serde_json::from_value(json!({"kind": "verbatim", "route": "/r", "chunks": [], "cut": true}))
                .unwrap();
        assert_eq!(
            cut,
            ScriptedResponse::Verbatim {
                route: "/r".into(),
                content_type: "text/event-stream".into(),
                chunks: vec![],
                cut: true
            }
        );
        let usage: Step =
            serde_json::from_value(json!({"step": "usage", "input_tokens": 1, "output_tokens": 2})).unwrap();
        assert_eq!(
            usage,
            Step::Usage { input_tokens: 1, output_tokens: 2, cache_read_tokens: 0, cache_creation_tokens: 0 }
        );
    }

    #[tokio::test]
    async fn requests_are_recorded_with_headers_and_parsed_body() {
        let mock = MockLlm::start(Script::new([ScriptedResponse::text("ok")])).await.unwrap();
        let response = reqwest::Client::new()
            .post(format!("{}/v1/messages", mock.base_url()))
            .header("x-api-key", "sk-test")
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic_request())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["request-id"], "req_mock_0001");
        response.text().await.unwrap();

        let requests = mock.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/messages"));
        assert_eq!(r.header("x-api-key"), Some("sk-test"));
        assert_eq!(r.header("Anthropic-Version"), Some("2023-06-01"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
        assert_eq!(r.body, anthropic_request());
        assert_eq!(mock.remaining(), 0);
    }

    #[tokio::test]
    async fn exhausted_script_answers_500_naming_it() {
        let mock = MockLlm::start(Script::new([ScriptedResponse::text("only one")])).await.unwrap();
        assert_eq!(post(&mock, "/v1/messages", &anthropic_request()).await.status(), 200);
        let response = post(&mock, "/v1/messages", &anthropic_request()).await;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "api_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("script exhausted") && message.contains("request 2"), "{message}");
        assert_eq!(mock.requests().len(), 2);

        let empty = MockLlm::start(Script::default()).await.unwrap();
        assert_eq!(post(&empty, "/v1/messages", &anthropic_request()).await.status(), 500);
    }

    #[tokio::test]
    async fn one_script_serves_every_route_in_order() {
        let mock =
            MockLlm::start(Script::new([ScriptedResponse::text("first"), ScriptedResponse::text("second")]))
                .await
                .unwrap();
        let gemini = reqwest::Client::new()
            .post(format!("{}/v1beta/models/gemini-x:streamGenerateContent?alt=sse", mock.base_url()))
            .json(&json!({"contents": []}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(gemini.contains(r#"{"text":"first"}"#), "{gemini}");
        let anthropic = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        assert!(
            anthropic.contains(r#""text":"second""#) && anthropic.contains("msg_mock_0002"),
            "{anthropic}"
        );
        let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/v1beta/models/gemini-x:streamGenerateContent?alt=sse", "/v1/messages"]);
    }

    #[tokio::test]
    async fn unknown_routes_404_and_take_nothing_from_the_script() {
        let mock = MockLlm::start(Script::new([ScriptedResponse::text("kept")])).await.unwrap();
        let response = post(&mock, "/v1/nope?x=1", &json!({})).await;
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "not_found_error");
        let get = reqwest::get(format!("{}/v1/messages", mock.base_url())).await.unwrap();
        assert_eq!(get.status(), 404);
        assert_eq!(mock.remaining(), 1);
        let requests = mock.requests();
        assert_eq!(requests[0].path, "/v1/nope?x=1");
        assert_eq!((requests[1].method.as_str(), &requests[1].body), ("GET", &Value::Null));
    }

    #[tokio::test]
    async fn invalid_requests_400_and_take_nothing_from_the_script() {
        let mock = MockLlm::start(Script::new([ScriptedResponse::text("kept")])).await.unwrap();
        let mut not_streaming = anthropic_request();
        not_streaming["stream"] = json!(false);
        let response = post(&mock, "/v1/messages", &not_streaming).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");

        let raw = reqwest::Client::new()
            .post(format!("{}/v1/messages", mock.base_url()))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
        assert_eq!(mock.requests()[1].body, json!("not json"));
        assert_eq!(mock.remaining(), 1);
    }

    fn openai_request() -> Value {
        json!({"model": "gpt-test", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
    }

    #[tokio::test]
    async fn verbatim_answers_replay_their_chunks_only_on_their_route() {
        let chunks: Vec<String> = [
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo wör\"}}]}\n\n",
            "data: [DONE]\n\n",
        ]
        .map(String::from)
        .into();
        let verbatim = |route: &str, cut: bool| ScriptedResponse::Verbatim {
            route: route.into(),
            content_type: "text/event-stream; charset=utf-8".into(),
            chunks: chunks.clone(),
            cut,
        };
        let mock = MockLlm::start(Script::new([
            verbatim("/v1/chat/completions", false),
            verbatim("/v1/chat/completions", false),
            verbatim("/v1/chat/completions", true),
        ]))
        .await
        .unwrap();
        let response = post(&mock, "/v1/chat/completions", &openai_request()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream; charset=utf-8");
        let got: Vec<String> = timed_chunks(response).await.into_iter().map(|(_, c)| c).collect();
        assert_eq!(got.concat(), chunks.concat(), "nothing added, nothing rendered");
        let emitted: Vec<String> = mock.emissions().into_iter().map(|e| e.data).collect();
        assert_eq!(emitted, chunks, "one chunk per recorded event");

        // Another provider's route cannot read it: a 500 naming both routes.
        let response = post(&mock, "/v1/messages", &anthropic_request()).await;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("/v1/chat/completions") && message.contains("/v1/messages"), "{message}");

        // A recorded break replays as a dropped connection after the chunks.
        let mut response = post(&mock, "/v1/chat/completions", &openai_request()).await;
        let mut body = Vec::new();
        let ended = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        assert!(ended.is_err(), "cut: the body does not end cleanly");
        assert_eq!(String::from_utf8(body).unwrap(), chunks.concat());
    }

    #[tokio::test]
    async fn a_running_mock_loads_another_script() {
        let mock = MockLlm::start(Script::default()).await.unwrap();
        assert_eq!(post(&mock, "/v1/messages", &anthropic_request()).await.status(), 500);
        mock.load(Script::new([ScriptedResponse::text("second script")]));
        assert_eq!(mock.remaining(), 1);
        let text = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        assert!(text.contains("script"), "{text}");
        assert_eq!(mock.remaining(), 0);
        assert_eq!(mock.requests().len(), 2, "requests are kept across scripts");
        assert!(takes_scripted_response("POST", "/v1/messages"));
        assert!(takes_scripted_response("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent"));
        assert!(!takes_scripted_response("POST", "/v1internal:loadCodeAssist"));
        assert!(!takes_scripted_response("GET", "/v1/messages"));
        assert!(!takes_scripted_response("POST", "/elsewhere"));
    }

    #[tokio::test]
    async fn cut_drops_the_connection_mid_stream() {
        let script =
            Script::new([ScriptedResponse::stream([Step::Text { text: "partial".into() }, Step::Cut])]);
        let mock = MockLlm::start(script).await.unwrap();
        let response = post(&mock, "/v1/messages", &anthropic_request()).await;
        assert_eq!(response.status(), 200);
        let mut body = Vec::new();
        let mut response = response;
        let err = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => panic!("stream ended cleanly after {:?}", String::from_utf8_lossy(&body)),
                Err(e) => break e,
            }
        };
        assert!(err.is_body() || err.is_decode() || err.is_request(), "{err:?}");
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("\"text\":\"partial\""), "{text}");
        assert!(!text.contains("message_stop"), "{text}");
    }

    #[tokio::test]
    async fn delays_pause_between_events() {
        let script = Script::new([ScriptedResponse::stream([
            Step::Text { text: "a".into() },
            Step::DelayMs { ms: 150 },
            Step::Text { text: "b".into() },
        ])]);
        let mock = MockLlm::start(script).await.unwrap();
        let started = std::time::Instant::now();
        let text = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{text}");
    }

    /// Reads a response body chunk by chunk, with the time each chunk arrived.
    async fn timed_chunks(mut response: reqwest::Response) -> Vec<(Duration, String)> {
        let started = std::time::Instant::now();
        let mut chunks = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            chunks.push((started.elapsed(), String::from_utf8(chunk.to_vec()).unwrap()));
        }
        chunks
    }

    #[tokio::test]
    async fn pace_delays_every_later_frame() {
        let script = Script::new([ScriptedResponse::stream([
            Step::Text { text: "fast ".into() },
            Step::Pace { ms: 40 },
            Step::Text { text: "slow one".into() },
        ])]);
        let mock = MockLlm::start(script).await.unwrap();
        let started = std::time::Instant::now();
        let response = post(&mock, "/v1/messages", &anthropic_request()).await;
        let chunks = timed_chunks(response).await;
        let body: String = chunks.iter().map(|(_, c)| c.as_str()).collect();
        let events = super::super::parse_sse(&body);
        // After the pace: content_block_start, 2 deltas, content_block_stop, message_delta,
        // message_stop, each 40 ms apart.
        let paced = events.iter().skip_while(|(_, v)| v["type"] != "content_block_stop").skip(1).count();
        assert_eq!(paced, 6, "{body}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(40 * 6), "{elapsed:?}");
        assert!(body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{body}");
    }

    #[tokio::test]
    async fn every_chunk_sent_is_recorded_with_its_instant() {
        let script = Script::new([
            ScriptedResponse::text("one"),
            ScriptedResponse::stream([Step::Pace { ms: 5 }, Step::Text { text: "two three".into() }]),
        ]);
        let mock = MockLlm::start(script).await.unwrap();
        let first = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        let second = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        let emissions = mock.emissions();
        for (number, body) in [(1, first), (2, second)] {
            let mine: Vec<&Emission> = emissions.iter().filter(|e| e.response == number).collect();
            assert_eq!(mine.iter().map(|e| e.index).collect::<Vec<_>>(), (0..mine.len()).collect::<Vec<_>>());
            assert_eq!(mine.iter().map(|e| e.data.as_str()).collect::<String>(), body);
            assert!(mine.windows(2).all(|w| w[0].at <= w[1].at));
        }
        let paced: Vec<&Emission> = emissions.iter().filter(|e| e.response == 2).collect();
        assert!(
            paced.last().unwrap().at - paced[0].at >= Duration::from_millis(5 * (paced.len() as u64 - 1))
        );
    }

    #[tokio::test]
    async fn malformed_bytes_are_sent_verbatim_and_the_stream_goes_on() {
        let script = Script::new([ScriptedResponse::stream([
            Step::Malformed { data: "data: {not json\n\n".into() },
            Step::Text { text: "after".into() },
        ])]);
        let mock = MockLlm::start(script).await.unwrap();
        let body = post(&mock, "/v1/messages", &anthropic_request()).await.text().await.unwrap();
        let (start, rest) = body.split_at(body.find("data: {not json\n\n").unwrap());
        assert!(start.starts_with("event: message_start\n") && start.ends_with("\n\n"), "{start}");
        let rest = &rest["data: {not json\n\n".len()..];
        assert!(rest.starts_with("event: content_block_start\n"), "{rest}");
        assert!(rest.contains(r#""text":"after""#) && rest.ends_with("{\"type\":\"message_stop\"}\n\n"));
    }

    #[tokio::test]
    async fn dropping_the_server_ends_a_paused_stream() {
        let script = Script::new([ScriptedResponse::stream([
            Step::Text { text: "a".into() },
            Step::DelayMs { ms: 60_000 },
            Step::Text { text: "b".into() },
        ])]);
        let mock = MockLlm::start(script).await.unwrap();
        let mut response = post(&mock, "/v1/messages", &anthropic_request()).await;
        assert!(response.chunk().await.unwrap().is_some());
        drop(mock);
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match response.chunk().await {
                    Ok(Some(_)) => continue,
                    other => break other.is_err(),
                }
            }
        })
        .await
        .expect("stream still open after the server was dropped");
        assert!(ended, "a stopped server must not end the stream cleanly");
    }
}

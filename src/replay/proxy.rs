//! The recorder proxy (`tron replay record`) and the shadow mirror (`tron replay shadow`).
//!
//! - [`record`]: a transparent WebSocket proxy. Clients connect to it instead of the server;
//!   every frame goes through unchanged both ways and is appended to a recording
//!   (`recordings/NAME.jsonl`, the format of [`super::format`]). With `provider_proxy`, an HTTP
//!   reverse proxy for the model provider is started too: point the server's
//!   `TRON_ANTHROPIC_BASE_URL` (tron) or `ANTHROPIC_BASE_URL` (the TypeScript server) at the
//!   URL it prints, and each provider answer becomes a [`ScriptedResponse`] in the header's
//!   script, so the recording replays on the mock LLM.
//! - [`shadow`]: the client talks to a primary server as usual; each client frame is also sent
//!   to a secondary server (with the ids the primary minted rewritten to the secondary's), the
//!   secondary's answers are dropped, and both answer streams are normalised and compared
//!   ([`super::diff::compare`]) after each quiet moment. Every difference is logged to stderr
//!   as a unified diff.
//!
//! Limits:
//! - Each client connection's lines name it (`"conn"`: the first is `main`, then `conn2`,
//!   ...). The replayer runs connections one after another (a reconnect), so record one
//!   client at a time for a recording that replays cleanly.
//! - Ping and pong control frames are answered by each hop, not forwarded or recorded.
//! - Provider answers are parsed into [`Step`]s for Anthropic's Messages stream (text,
//!   thinking with its signature, tool_use, usage, stop reason, in-stream errors). Any other
//!   streamed body (OpenAI, Google, or an Anthropic block type the mock cannot render) is
//!   stored as one [`Step::Malformed`] holding the body verbatim; the mock then appends its
//!   own end-of-message frames after it. Error statuses become
//!   [`ScriptedResponse::HttpError`] with the body and `retry-after`.
//! - The provider base URL comes from `TRON_REPLAY_PROVIDER_URL`, else
//!   `TRON_ANTHROPIC_BASE_URL`, else `ANTHROPIC_BASE_URL`, else `https://api.anthropic.com`
//!   (read when the proxy starts, so set the server's variable only in the server's shell).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::normalize::{learn_ids, substitute};
use super::ReplayError;
use crate::testing::{ScriptedResponse, Step};

/// How long both answer streams must stay quiet before the shadow mirror compares them.
const QUIET: Duration = Duration::from_millis(600);

/// Largest provider request body forwarded.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Client to server.
    Send,
    /// Server to client.
    Recv,
}

impl Way {
    fn as_str(self) -> &'static str {
        match self {
            Way::Send => "send",
            Way::Recv => "recv",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn proxy_error(context: &str, e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Proxy(format!("{context}: {e}"))
}

/// The text of a data frame (a binary frame as its UTF-8 text), `None` for control frames.
fn frame_text(msg: &Message) -> Option<String> {
    match msg {
        Message::Text(t) => Some(t.as_str().to_owned()),
        Message::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// A frame's text as JSON when it is an object or array; otherwise `None` (sent verbatim).
fn frame_json(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text).ok().filter(|v| v.is_object() || v.is_array())
}

/// What [`record`] has seen so far.
struct Recorder {
    upstream: String,
    listen: SocketAddr,
    out: PathBuf,
    started: Instant,
    lines: Mutex<Vec<Value>>,
    script: Mutex<Vec<ScriptedResponse>>,
    /// Client connections accepted so far (the first is `main`, later ones `conn2`, ...).
    connections: std::sync::atomic::AtomicUsize,
}

impl Recorder {
    /// Appends one frame of client connection `conn` (`main`: the line names none).
    fn push(&self, conn: &str, way: Way, text: &str) {
        let t_ms = self.started.elapsed().as_millis() as u64;
        let mut line = match frame_json(text) {
            Some(frame) => json!({ "dir": way.as_str(), "t_ms": t_ms, "frame": frame }),
            None => json!({ "dir": way.as_str(), "t_ms": t_ms, "frame": text, "raw": true }),
        };
        if conn != "main" {
            line["conn"] = json!(conn);
        }
        lock(&self.lines).push(line);
    }

    fn header(&self) -> Value {
        let script = lock(&self.script).clone();
        json!({
            "tronRecording": 1,
            "recordedAgainst": self.upstream,
            "description": format!("recorded by `tron replay record` listening on ws://{}/ws", self.listen),
            "script": { "responses": script },
            "settings": {},
        })
    }

    /// Rewrites the recording: to a temp file next to it, then renamed over it.
    fn save(&self) -> Result<(), ReplayError> {
        let mut text = self.header().to_string();
        text.push('\n');
        for line in lock(&self.lines).iter() {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        write_atomically(&self.out, &text)
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ReplayError> {
    crate::settings::files::write_atomic(path, text.as_bytes(), None)
        .map_err(|source| ReplayError::File { path: path.to_owned(), source })
}

/// Runs the recorder proxy until Ctrl-C: WebSocket clients connect to `ws://LISTEN/...`,
/// each is connected to `upstream` (its `Authorization` header and query string are passed
/// on), every data frame is forwarded unchanged both ways and appended to the recording at
/// `out` (header `recordedAgainst` = `upstream`; `t_ms` counted from the proxy's start). The
/// file is rewritten atomically when the proxy starts, after each connection closes, and on
/// Ctrl-C.
///
/// With `provider_proxy`, also serves an HTTP reverse proxy for the provider (its URL is
/// printed on stderr) whose answers become the header's script; see the module docs.
pub async fn record(
    listen: SocketAddr,
    upstream: String,
    out: PathBuf,
    provider_proxy: bool,
) -> Result<(), ReplayError> {
    let listener = TcpListener::bind(listen).await?;
    let listen = listener.local_addr()?;
    let rec = Arc::new(Recorder {
        upstream,
        listen,
        out,
        started: Instant::now(),
        lines: Mutex::default(),
        script: Mutex::default(),
        connections: Default::default(),
    });
    rec.save()?;
    eprintln!("recording ws://{listen}/ws -> {} into {}", rec.upstream, rec.out.display());
    if provider_proxy {
        let url = start_provider_proxy(Arc::clone(&rec)).await?;
        eprintln!(
            "provider proxy on {url} -> {}: start the server with TRON_ANTHROPIC_BASE_URL={url} (tron) or ANTHROPIC_BASE_URL={url}",
            provider_base()
        );
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                rec.save()?;
                eprintln!("saved {}", rec.out.display());
                return Ok(());
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        continue;
                    }
                };
                let rec = Arc::clone(&rec);
                tokio::spawn(async move {
                    if let Err(e) = record_connection(&rec, stream).await {
                        eprintln!("connection from {peer}: {e}");
                    }
                    if let Err(e) = rec.save() {
                        eprintln!("cannot save the recording: {e}");
                    }
                });
            }
        }
    }
}

/// What the client's upgrade request carried that the upstream connection reuses.
#[derive(Debug, Default, Clone)]
struct Upgrade {
    authorization: Option<HeaderValue>,
    query: Option<String>,
}

// The error type of the handshake callback is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn accept_client(stream: TcpStream) -> Result<(WebSocketStream<TcpStream>, Upgrade), ReplayError> {
    let mut upgrade = Upgrade::default();
    let seen = &mut upgrade;
    let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        seen.authorization = req.headers().get(header::AUTHORIZATION).cloned();
        seen.query = req.uri().query().map(str::to_owned);
        Ok(resp)
    })
    .await
    .map_err(|e| proxy_error("client handshake", e))?;
    Ok((ws, upgrade))
}

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect_upstream(url: &str, upgrade: &Upgrade) -> Result<Upstream, ReplayError> {
    let ws_error =
        |e: &dyn std::fmt::Display| ReplayError::WebSocket { url: url.to_owned(), message: e.to_string() };
    let full = match (&upgrade.query, url.contains('?')) {
        (Some(q), false) => format!("{url}?{q}"),
        _ => url.to_owned(),
    };
    let mut request = full.as_str().into_client_request().map_err(|e| ws_error(&e))?;
    if let Some(auth) = &upgrade.authorization {
        request.headers_mut().insert(header::AUTHORIZATION, auth.clone());
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| ws_error(&e))?;
    Ok(ws)
}

async fn record_connection(rec: &Recorder, stream: TcpStream) -> Result<(), ReplayError> {
    let (client, upgrade) = accept_client(stream).await?;
    let upstream = connect_upstream(&rec.upstream, &upgrade).await?;
    let conn = match rec.connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
        0 => "main".to_owned(),
        n => format!("conn{}", n + 1),
    };
    let (c_tx, c_rx) = client.split();
    let (u_tx, u_rx) = upstream.split();
    tokio::select! {
        r = pump(rec, &conn, Way::Send, c_rx, u_tx) => r,
        r = pump(rec, &conn, Way::Recv, u_rx, c_tx) => r,
    }
}

/// Forwards frames one way (`Send`: client to upstream, `Recv`: upstream to client) until
/// either side closes, appending each data frame to the recording as connection `conn`.
async fn pump<R, W>(rec: &Recorder, conn: &str, way: Way, mut from: R, mut to: W) -> Result<(), ReplayError>
where
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let (source, sink) = match way {
        Way::Send => ("client", "upstream"),
        Way::Recv => ("upstream", "client"),
    };
    while let Some(msg) = from.next().await {
        let msg = msg.map_err(|e| proxy_error(source, e))?;
        if let Message::Close(frame) = msg {
            let _ = to.send(Message::Close(frame)).await;
            break;
        }
        if let Some(text) = frame_text(&msg) {
            rec.push(conn, way, &text);
            to.send(msg).await.map_err(|e| proxy_error(sink, e))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The provider proxy

/// The real provider base URL the provider proxy forwards to (see the module docs).
fn provider_base() -> String {
    ["TRON_REPLAY_PROVIDER_URL", "TRON_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "https://api.anthropic.com".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

struct ProviderProxy {
    client: reqwest::Client,
    base: String,
    rec: Arc<Recorder>,
}

/// Starts the provider proxy on `127.0.0.1:0`; returns its base URL.
async fn start_provider_proxy(rec: Arc<Recorder>) -> Result<String, ReplayError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let base = provider_base();
    if base == url {
        return Err(ReplayError::Proxy(format!("the provider proxy would forward to itself ({url})")));
    }
    let client = reqwest::Client::builder().build().map_err(|e| proxy_error("http client", e))?;
    let state = Arc::new(ProviderProxy { client, base, rec });
    let router = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("provider proxy stopped: {e}");
        }
    });
    Ok(url)
}

fn plain(status: StatusCode, message: String) -> axum::response::Response {
    let mut r = axum::response::Response::new(Body::from(message));
    *r.status_mut() = status;
    r
}

/// Forwards one request to the provider and streams the answer back while keeping it; when
/// the body has ended it is added to the script.
async fn forward(
    State(p): State<Arc<ProviderProxy>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut request = p.client.request(parts.method.clone(), format!("{}{path}", p.base));
    for (name, value) in &parts.headers {
        // The body is parsed, so ask for it uncompressed; reqwest sets host and length.
        if name == header::HOST || name == header::CONTENT_LENGTH || name == header::ACCEPT_ENCODING {
            continue;
        }
        request = request.header(name, value);
    }
    let resp = match request.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("provider proxy: {e}")),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let retry_after =
        headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let rec = Arc::clone(&p.rec);
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    kept.extend_from_slice(&c);
                    let _ = tx.send(Ok(c)).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            }
        }
        let scripted = scripted_response(status.as_u16(), retry_after, &String::from_utf8_lossy(&kept));
        lock(&rec.script).push(scripted);
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut out = axum::response::Response::new(Body::from_stream(body));
    *out.status_mut() = status;
    copy_headers(&headers, out.headers_mut());
    out
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        to.append(name, value.clone());
    }
}

/// The [`ScriptedResponse`] that reproduces one provider answer: an HTTP error for a status
/// that is not 2xx; otherwise the steps of an Anthropic stream, or (any other body) one
/// [`Step::Malformed`] holding it verbatim.
pub fn scripted_response(status: u16, retry_after: Option<u64>, body: &str) -> ScriptedResponse {
    if !(200..300).contains(&status) {
        let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        return ScriptedResponse::HttpError { status, body, retry_after };
    }
    let steps =
        anthropic_sse_to_steps(body).unwrap_or_else(|| vec![Step::Malformed { data: body.to_owned() }]);
    ScriptedResponse::Stream { steps }
}

/// One content block being streamed.
enum Block {
    Text(String),
    Thinking { text: String, signature: String },
    Tool { id: String, name: String, json: String },
}

/// Parses an Anthropic Messages event stream into the [`Step`]s that make the mock send the
/// same message: one step per text / thinking / tool_use block (in order), the usage, the
/// stop reason when it is not the one the mock would infer, and in-stream errors. `None` when
/// the body is not such a stream or holds a block the mock cannot render.
pub fn anthropic_sse_to_steps(body: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut blocks: HashMap<u64, Block> = HashMap::new();
    let (mut input, mut output, mut cache_read, mut cache_creation) = (0, 0, 0, 0);
    let mut saw_usage = false;
    let mut stop: Option<String> = None;
    let mut saw_message = false;
    let mut has_tool = false;
    let body = body.replace("\r\n", "\n");
    for event in body.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&data.join("\n")).ok()?;
        let index = v["index"].as_u64().unwrap_or(0);
        match v["type"].as_str()? {
            "message_start" => {
                saw_message = true;
                let u = &v["message"]["usage"];
                if u.is_object() {
                    saw_usage = true;
                    input = u["input_tokens"].as_u64().unwrap_or(0);
                    output = u["output_tokens"].as_u64().unwrap_or(0);
                    cache_read = u["cache_read_input_tokens"].as_u64().unwrap_or(0);
                    cache_creation = u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                }
            }
            "content_block_start" => {
                let cb = &v["content_block"];
                let block = match cb["type"].as_str()? {
                    "text" => Block::Text(cb["text"].as_str().unwrap_or_default().to_owned()),
                    "thinking" => Block::Thinking {
                        text: cb["thinking"].as_str().unwrap_or_default().to_owned(),
                        signature: cb["signature"].as_str().unwrap_or_default().to_owned(),
                    },
                    "tool_use" => {
                        has_tool = true;
                        Block::Tool {
                            id: cb["id"].as_str()?.to_owned(),
                            name: cb["name"].as_str()?.to_owned(),
                            json: String::new(),
                        }
                    }
                    _ => return None,
                };
                blocks.insert(index, block);
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match (blocks.get_mut(&index)?, d["type"].as_str()?) {
                    (Block::Text(t), "text_delta") => t.push_str(d["text"].as_str()?),
                    (Block::Thinking { text, .. }, "thinking_delta") => {
                        text.push_str(d["thinking"].as_str()?)
                    }
                    (Block::Thinking { signature, .. }, "signature_delta") => {
                        signature.push_str(d["signature"].as_str()?)
                    }
                    (Block::Tool { json, .. }, "input_json_delta") => {
                        json.push_str(d["partial_json"].as_str()?)
                    }
                    _ => return None,
                }
            }
            "content_block_stop" => {
                steps.push(match blocks.remove(&index)? {
                    Block::Text(text) => Step::Text { text },
                    Block::Thinking { text, signature } => Step::Thinking { text, signature },
                    Block::Tool { id, name, json } => {
                        let input = if json.trim().is_empty() {
                            json!({})
                        } else {
                            serde_json::from_str(&json).ok()?
                        };
                        Step::ToolCall { id, name, input }
                    }
                });
            }
            "message_delta" => {
                if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                    stop = Some(reason.to_owned());
                }
                let u = &v["usage"];
                if u.is_object() {
                    saw_usage = true;
                    output = u["output_tokens"].as_u64().unwrap_or(output);
                    input = u["input_tokens"].as_u64().unwrap_or(input);
                    cache_read = u["cache_read_input_tokens"].as_u64().unwrap_or(cache_read);
                    cache_creation = u["cache_creation_input_tokens"].as_u64().unwrap_or(cache_creation);
                }
            }
            "error" => steps.push(Step::Error {
                error_type: v["error"]["type"].as_str().unwrap_or("api_error").to_owned(),
                message: v["error"]["message"].as_str().unwrap_or_default().to_owned(),
            }),
            "message_stop" | "ping" => {}
            _ => return None,
        }
    }
    if !saw_message && steps.is_empty() {
        return None;
    }
    if saw_usage {
        steps.push(Step::Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_creation_tokens: cache_creation,
        });
    }
    let inferred = if has_tool { "tool_use" } else { "end_turn" };
    if let Some(reason) = stop.filter(|r| r != inferred) {
        steps.push(Step::Stop { reason });
    }
    Some(steps)
}

// ---------------------------------------------------------------------------------------
// The shadow mirror

/// Runs the shadow mirror until Ctrl-C, logging each difference to stderr (see
/// [`shadow_with`]).
pub async fn shadow(listen: SocketAddr, primary: String, secondary: String) -> Result<(), ReplayError> {
    let report: Report = Arc::new(|text: &str| eprintln!("{text}"));
    shadow_with(listen, primary, secondary, report).await
}

/// Where the shadow mirror sends each difference it finds (one unified diff per call).
pub type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// The shadow mirror with its differences sent to `report`; runs until Ctrl-C.
///
/// Each client connecting to `ws://LISTEN/...` is connected to both servers. Client frames go
/// to both (to the secondary with the primary's ids replaced by the secondary's, learnt by
/// pairing the two answers to the same request id); only the primary's answers reach the
/// client. Whenever both answer streams have been quiet for a moment (and when the
/// connection closes), what each server sent since the last comparison is compared with
/// [`super::diff::compare`] (ids, times and durations normalised, per session) and any
/// difference reported, primary as `-` and secondary as `+`.
pub async fn shadow_with(
    listen: SocketAddr,
    primary: String,
    secondary: String,
    report: Report,
) -> Result<(), ReplayError> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("shadowing ws://{}/ws: primary {primary}, secondary {secondary}", listener.local_addr()?);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut connections = 0u64;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e}");
                        continue;
                    }
                };
                connections += 1;
                let (primary, secondary, report) = (primary.clone(), secondary.clone(), Arc::clone(&report));
                let n = connections;
                tokio::spawn(async move {
                    if let Err(e) = mirror_connection(n, stream, &primary, &secondary, &report).await {
                        eprintln!("shadow connection {n} from {peer}: {e}");
                    }
                });
            }
        }
    }
}

/// The two answer streams of one mirrored connection.
#[derive(Default)]
struct Mirror {
    primary: Vec<Value>,
    secondary: Vec<Value>,
    /// Primary id -> secondary id.
    ids: HashMap<String, String>,
    /// Responses by request id, waiting for the other side's.
    primary_answers: HashMap<String, Value>,
    secondary_answers: HashMap<String, Value>,
    last_frame: Option<Instant>,
}

impl Mirror {
    fn add(&mut self, from_primary: bool, text: &str) {
        let frame = frame_json(text).unwrap_or_else(|| Value::String(text.to_owned()));
        if let Some(id) = frame.get("id").and_then(Value::as_str).map(str::to_owned) {
            let (mine, theirs) = if from_primary {
                (&mut self.primary_answers, &mut self.secondary_answers)
            } else {
                (&mut self.secondary_answers, &mut self.primary_answers)
            };
            match theirs.remove(&id) {
                Some(other) => {
                    let (p, s) = if from_primary { (&frame, &other) } else { (&other, &frame) };
                    learn_ids(p, s, &mut self.ids);
                }
                None => {
                    mine.insert(id, frame.clone());
                }
            }
        }
        if from_primary {
            self.primary.push(frame);
        } else {
            self.secondary.push(frame);
        }
        self.last_frame = Some(Instant::now());
    }

    /// Compares what arrived since the last call; the diff text when they differ.
    fn compare(&mut self, connection: u64) -> Option<String> {
        if self.primary.is_empty() && self.secondary.is_empty() {
            return None;
        }
        let (p, s) = (std::mem::take(&mut self.primary), std::mem::take(&mut self.secondary));
        let c = super::diff::compare(&p, &s);
        if c.ok {
            return None;
        }
        let mut text = format!(
            "shadow: connection {connection}: the secondary answered differently (- primary, + secondary)\n"
        );
        for d in &c.differences {
            text.push_str(d);
            text.push('\n');
        }
        text.push_str(&c.diff);
        Some(text)
    }
}

async fn mirror_connection(
    n: u64,
    stream: TcpStream,
    primary: &str,
    secondary: &str,
    report: &Report,
) -> Result<(), ReplayError> {
    let (client, upgrade) = accept_client(stream).await?;
    let (p, s) =
        tokio::try_join!(connect_upstream(primary, &upgrade), connect_upstream(secondary, &upgrade))?;
    let mirror = Mutex::new(Mirror::default());
    let (mut c_tx, mut c_rx) = client.split();
    let (mut p_tx, mut p_rx) = p.split();
    let (mut s_tx, mut s_rx) = s.split();
    let from_client = async {
        while let Some(msg) = c_rx.next().await {
            let msg = msg.map_err(|e| proxy_error("client", e))?;
            if let Message::Close(frame) = msg {
                let _ = p_tx.send(Message::Close(frame.clone())).await;
                let _ = s_tx.send(Message::Close(frame)).await;
                break;
            }
            let Some(text) = frame_text(&msg) else { continue };
            let mirrored = match frame_json(&text) {
                Some(v) => Message::text(substitute(&v, &lock(&mirror).ids).to_string()),
                None => Message::text(text),
            };
            p_tx.send(msg).await.map_err(|e| proxy_error("primary", e))?;
            if let Err(e) = s_tx.send(mirrored).await {
                eprintln!("shadow connection {n}: cannot send to the secondary: {e}");
            }
        }
        Ok::<(), ReplayError>(())
    };
    let from_primary = async {
        while let Some(msg) = p_rx.next().await {
            let msg = msg.map_err(|e| proxy_error("primary", e))?;
            if let Message::Close(frame) = msg {
                let _ = c_tx.send(Message::Close(frame)).await;
                break;
            }
            if let Some(text) = frame_text(&msg) {
                lock(&mirror).add(true, &text);
                c_tx.send(msg).await.map_err(|e| proxy_error("client", e))?;
            }
        }
        Ok::<(), ReplayError>(())
    };
    let from_secondary = async {
        while let Some(msg) = s_rx.next().await {
            match msg {
                Ok(msg) => {
                    if let Some(text) = frame_text(&msg) {
                        lock(&mirror).add(false, &text);
                    }
                }
                Err(e) => {
                    eprintln!("shadow connection {n}: the secondary failed: {e}");
                    break;
                }
            }
        }
        // The client's session goes on with the primary alone.
        std::future::pending::<()>().await
    };
    let comparer = async {
        loop {
            tokio::time::sleep(QUIET / 4).await;
            let mut m = lock(&mirror);
            if m.last_frame.is_some_and(|t| t.elapsed() >= QUIET) {
                m.last_frame = None;
                if let Some(text) = m.compare(n) {
                    drop(m);
                    report(&text);
                }
            }
        }
    };
    let result = tokio::select! {
        r = from_client => r,
        r = from_primary => r,
        _ = from_secondary => Ok(()),
        _ = comparer => Ok(()),
    };
    // What the secondary still sends after the close is not waited for.
    let last = lock(&mirror).compare(n);
    if let Some(text) = last {
        report(&text);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":4}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}\n\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\",\"input\":{}}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\":\"}}\n\n\
data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"ls\\\"}\"}}\n\n\
data: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":7}}\n\n\
data: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_streams_become_steps() {
        let steps = anthropic_sse_to_steps(SSE).unwrap();
        assert_eq!(
            steps,
            vec![
                Step::Text { text: "Hi there".into() },
                Step::ToolCall { id: "toolu_1".into(), name: "Bash".into(), input: json!({"command": "ls"}) },
                Step::Usage {
                    input_tokens: 10,
                    output_tokens: 7,
                    cache_read_tokens: 4,
                    cache_creation_tokens: 0
                },
                Step::Stop { reason: "max_tokens".into() },
            ]
        );
    }

    #[test]
    fn other_bodies_are_kept_verbatim_and_errors_keep_their_status() {
        let body = "data: {\"choices\":[]}\n\n";
        assert_eq!(
            scripted_response(200, None, body),
            ScriptedResponse::Stream { steps: vec![Step::Malformed { data: body.into() }] }
        );
        assert_eq!(
            scripted_response(429, Some(3), "{\"error\":{}}"),
            ScriptedResponse::HttpError { status: 429, body: json!({"error": {}}), retry_after: Some(3) }
        );
        assert!(anthropic_sse_to_steps("not a stream").is_none());
    }

    #[test]
    fn lines_keep_json_frames_and_mark_the_rest_raw() {
        let rec = Recorder {
            upstream: "ws://x/ws".into(),
            listen: "127.0.0.1:1".parse().unwrap(),
            out: PathBuf::from("unused"),
            started: Instant::now(),
            lines: Mutex::default(),
            script: Mutex::default(),
            connections: Default::default(),
        };
        rec.push("main", Way::Send, "{not json");
        rec.push("main", Way::Recv, "{\"id\":\"1\"}");
        rec.push("conn2", Way::Recv, "{\"id\":\"2\"}");
        let lines = lock(&rec.lines).clone();
        assert!(lines[0].get("conn").is_none());
        assert_eq!(lines[2]["conn"], "conn2");
        assert_eq!(lines[0]["raw"], true);
        assert_eq!(lines[0]["frame"], "{not json");
        assert_eq!(lines[1]["frame"], json!({"id": "1"}));
        assert!(lines[1].get("raw").is_none());
        assert_eq!(rec.header()["recordedAgainst"], "ws://x/ws");
    }

    #[test]
    fn the_mirror_learns_the_secondarys_ids_from_paired_answers() {
        let mut m = Mirror::default();
        m.add(true, r#"{"id":"1","success":true,"result":{"sessionId":"sess_aaaaaa111111"}}"#);
        m.add(false, r#"{"id":"1","success":true,"result":{"sessionId":"sess_bbbbbb222222"}}"#);
        assert_eq!(m.ids.get("sess_aaaaaa111111").map(String::as_str), Some("sess_bbbbbb222222"));
        assert!(m.compare(1).is_none(), "the same answer up to ids");
        m.add(true, r#"{"id":"2","success":true,"result":{"model":"a"}}"#);
        m.add(false, r#"{"id":"2","success":true,"result":{"model":"b"}}"#);
        let diff = m.compare(1).unwrap();
        assert!(diff.contains("\"b\""), "{diff}");
    }
}

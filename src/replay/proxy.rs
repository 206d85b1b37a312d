//! The recorder proxy (`tron replay record`) and the shadow mirror (`tron replay shadow`).
//!
//! - [`record`]: a transparent WebSocket proxy. Clients connect to it instead of the server;
//!   every frame goes through unchanged both ways and is appended to a recording
//!   (`recordings/NAME.jsonl`, the format of [`super::format`]; `t_ms` counts from the moment
//!   the first client connection was accepted). With `provider_proxy`, an HTTP reverse proxy
//!   for the model provider is started too: point the server's `TRON_ANTHROPIC_BASE_URL`
//!   (tron; or `TRON_OPENAI_BASE_URL` / `TRON_GOOGLE_BASE_URL`) or `ANTHROPIC_BASE_URL` (the
//!   TypeScript server) at the URL it prints, and each provider answer becomes one entry of
//!   the header's script ([`ProviderAnswer::scripted`]), so the recording replays offline on
//!   the mock LLM. The settings the server ran with can be copied into the header
//!   ([`RecordOptions::settings`]) so the replay runs with them too.
//! - [`shadow`]: the client talks to a primary server as usual; each client frame is also sent
//!   to a secondary server (with the ids the primary minted rewritten to the secondary's), the
//!   secondary's answers are dropped, and both answer streams are normalised and compared
//!   ([`super::diff::compare`]) at each point where both servers have settled: every request
//!   answered and every run an `agent.prompt` started ended with `agent.ready` (and once more
//!   when the connection closes). Every difference is reported (stderr for the CLI) with the
//!   paths that differ and a unified diff.
//!
//! Provider answers (see [`ProviderAnswer`]):
//! - A `2xx` answer is kept verbatim, as a [`ScriptedResponse::Verbatim`]: the body split into
//!   one chunk per server-sent event, so the provider's own delta boundaries (e.g. `"Hel"`,
//!   `"lo wor"`, `"ld"`) replay exactly, whatever the provider (Anthropic, OpenAI, Google;
//!   nothing is parsed). A body that broke off is marked `cut`.
//! - Any other status becomes a [`ScriptedResponse::HttpError`] with the body and
//!   `retry-after`; a provider that could not be reached, a `502` holding the error.
//! - Entries are numbered when their request *arrives*, so concurrent calls (a subagent
//!   beside its parent, the memory ledger) keep the order in which the server asked; the
//!   mock answers in arrival order too.
//! - Only requests the mock LLM takes a scripted response for are scripted
//!   ([`crate::testing::mock_llm::takes_scripted_response`]); others (e.g. Google's
//!   `loadCodeAssist`) are forwarded and noted on stderr.
//!
//! Limits:
//! - Each client connection's lines name it (`"conn"`: the first is `main`, then `conn2`,
//!   ...). The replayer runs connections one after another (a reconnect), so record one
//!   client at a time for a recording that replays cleanly.
//! - Ping and pong control frames are answered by each hop, not forwarded or recorded.
//! - A verbatim answer replays at full speed: a recording whose client acted while the
//!   provider was still streaming (an abort mid-stream) needs a hand-written script with a
//!   [`crate::testing::Step::DelayMs`].
//! - The provider base URL comes from `TRON_REPLAY_PROVIDER_URL`, else
//!   `TRON_ANTHROPIC_BASE_URL`, else `ANTHROPIC_BASE_URL`, else `https://api.anthropic.com`
//!   (read when the proxy starts, so set the server's variable only in the server's shell).
//!   Every provider request goes there, so one recording session records one provider (set
//!   `TRON_REPLAY_PROVIDER_URL=https://api.openai.com` for an OpenAI model, and so on).
//! - The shadow mirror compares at settled points, not on silence: frames a server sends
//!   after its `agent.ready` (or unprompted) fall into the next comparison, so a server that
//!   sends them at another point than the other shows as a difference there; a run that never
//!   ends on one side defers the comparison to the connection's close. When the client
//!   closes, the secondary gets up to 10 s to finish what it was asked before the last
//!   comparison.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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

use super::normalize::Received;
use super::normalize::{id_kind, learn_ids, replace_tokens, substitute};
use super::ReplayError;
use crate::testing::mock_llm::takes_scripted_response;
use crate::testing::ScriptedResponse;

/// How long the shadow mirror holds a client frame back for the secondary's answer that
/// mints an id the frame names (see [`Mirror::waits_for_pairing`]).
const PAIRING_WAIT_MS: u64 = 10_000;

/// How long the shadow mirror lets the secondary finish what it was asked after the client
/// closed, before the last comparison.
const SETTLE_WAIT_MS: u64 = 10_000;

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

/// What [`record`] records, and where.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Where the proxy listens (port 0: any free port, printed on stderr).
    pub listen: SocketAddr,
    /// The server to forward to (`ws://HOST:PORT`).
    pub upstream: String,
    /// The recording to write.
    pub out: PathBuf,
    /// Also proxy the provider's HTTP traffic into the header's script.
    pub provider_proxy: bool,
    /// The settings the upstream server runs with (its `settings.json`), written to the
    /// header so an in-process replay runs with the same ones (e.g. the memory ledger on or
    /// off, which changes the model calls). An empty object when unknown.
    pub settings: Value,
}

/// What [`record`] has seen so far.
struct Recorder {
    upstream: String,
    listen: SocketAddr,
    out: PathBuf,
    settings: Value,
    /// When the first client connection was accepted: `t_ms` counts from here.
    origin: std::sync::OnceLock<Instant>,
    lines: Mutex<Vec<Value>>,
    /// One provider answer per scripted request, numbered in arrival order.
    script: Mutex<Vec<Arc<Mutex<ProviderAnswer>>>>,
    /// Client connections accepted so far (the first is `main`, later ones `conn2`, ...).
    connections: std::sync::atomic::AtomicUsize,
    /// Held while a snapshot is taken and written, so saves land in order.
    saving: Mutex<()>,
}

impl Recorder {
    fn new(options: &RecordOptions, listen: SocketAddr) -> Recorder {
        Recorder {
            upstream: options.upstream.clone(),
            listen,
            out: options.out.clone(),
            settings: options.settings.clone(),
            origin: std::sync::OnceLock::new(),
            lines: Mutex::default(),
            script: Mutex::default(),
            connections: Default::default(),
            saving: Mutex::default(),
        }
    }

    /// A client connection was accepted; the first one starts the clock (see `t_ms`).
    fn opened(&self) {
        self.origin.get_or_init(Instant::now);
    }

    /// Milliseconds since the first client connection was accepted.
    fn t_ms(&self) -> u64 {
        self.origin.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    /// Appends one frame of client connection `conn` (`main`: the line names none).
    fn push(&self, conn: &str, way: Way, text: &str) {
        let mut lines = lock(&self.lines);
        let t_ms = self.t_ms();
        let mut line = match frame_json(text) {
            Some(frame) => json!({ "dir": way.as_str(), "t_ms": t_ms, "frame": frame }),
            None => json!({ "dir": way.as_str(), "t_ms": t_ms, "frame": text, "raw": true }),
        };
        if conn != "main" {
            line["conn"] = json!(conn);
        }
        lines.push(line);
    }

    /// Takes the next script entry for a provider request that just arrived.
    fn reserve(&self, route: &str) -> Arc<Mutex<ProviderAnswer>> {
        let answer = Arc::new(Mutex::new(ProviderAnswer { route: route.to_owned(), ..Default::default() }));
        lock(&self.script).push(Arc::clone(&answer));
        answer
    }

    fn header(&self) -> Value {
        let script: Vec<ScriptedResponse> = lock(&self.script).iter().map(|a| lock(a).scripted()).collect();
        json!({
            "tronRecording": 1,
            "recordedAgainst": self.upstream,
            "description": format!("recorded by `tron replay record` listening on ws://{}/ws", self.listen),
            "script": { "responses": script },
            "settings": self.settings,
        })
    }

    /// Rewrites the recording: to a temp file next to it, then renamed over it.
    fn save(&self) -> Result<(), ReplayError> {
        let _saving = lock(&self.saving);
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

/// Reads the settings file a recording's header should carry: a JSON object.
pub fn read_settings(path: &Path) -> Result<Value, ReplayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ReplayError::File { path: path.to_owned(), source })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ReplayError::Proxy(format!("{}: settings must be a JSON object", path.display()))),
        Err(e) => Err(ReplayError::Proxy(format!("{}: settings are not JSON: {e}", path.display()))),
    }
}

/// Runs the recorder proxy until Ctrl-C: WebSocket clients connect to `ws://LISTEN/...`,
/// each is connected to the upstream server (its `Authorization` header and query string are
/// passed on), every data frame is forwarded unchanged both ways and appended to the
/// recording (header `recordedAgainst` = the upstream URL, `settings` =
/// [`RecordOptions::settings`]). The file is rewritten atomically when the proxy starts,
/// after each connection closes, after each provider answer ends, and on Ctrl-C.
///
/// With `provider_proxy`, also serves an HTTP reverse proxy for the provider (its URL is
/// printed on stderr) whose answers become the header's script; see the module docs.
pub async fn record(options: RecordOptions) -> Result<(), ReplayError> {
    let listener = TcpListener::bind(options.listen).await?;
    let listen = listener.local_addr()?;
    let rec = Arc::new(Recorder::new(&options, listen));
    rec.save()?;
    eprintln!("recording ws://{listen}/ws -> {} into {}", rec.upstream, rec.out.display());
    if options.provider_proxy {
        let url = start_provider_proxy(Arc::clone(&rec), provider_base()).await?;
        eprintln!(
            "provider proxy on {url} -> {}: start the server with TRON_ANTHROPIC_BASE_URL={url} (tron) or ANTHROPIC_BASE_URL={url}",
            provider_base()
        );
        if rec.settings.as_object().is_some_and(|m| m.is_empty()) {
            eprintln!(
                "note: no --settings given: the replay runs with default settings; pass the server's settings.json if it changes the model calls"
            );
        }
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
                rec.opened();
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
async fn start_provider_proxy(rec: Arc<Recorder>, base: String) -> Result<String, ReplayError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
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

/// Forwards one request to the provider and streams the answer back while keeping it in the
/// script entry taken when the request arrived (see the module docs).
async fn forward(
    State(p): State<Arc<ProviderProxy>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let route = parts.uri.path().to_owned();
    let answer = if takes_scripted_response(parts.method.as_str(), &route) {
        Some(p.rec.reserve(&route))
    } else {
        eprintln!(
            "provider proxy: {} {route} forwarded, not scripted (the mock LLM answers it itself)",
            parts.method
        );
        None
    };
    let failed = |status: StatusCode, message: String| {
        if let Some(a) = &answer {
            let mut a = lock(a);
            a.status = status.as_u16();
            a.content_type = "text/plain".into();
            a.body = message.clone().into_bytes();
            a.ended = true;
        }
        if let Err(e) = p.rec.save() {
            eprintln!("cannot save the recording: {e}");
        }
        plain(status, message)
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return failed(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
    };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut request = p.client.request(parts.method.clone(), format!("{}{path}", p.base));
    for (name, value) in &parts.headers {
        // The body is kept as text, so ask for it uncompressed; reqwest sets host and length.
        if name == header::HOST || name == header::CONTENT_LENGTH || name == header::ACCEPT_ENCODING {
            continue;
        }
        request = request.header(name, value);
    }
    let resp = match request.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => return failed(StatusCode::BAD_GATEWAY, format!("provider proxy: {e}")),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    if let Some(a) = &answer {
        let mut a = lock(a);
        a.status = status.as_u16();
        a.retry_after =
            headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        a.content_type =
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let rec = Arc::clone(&p.rec);
    tokio::spawn(async move {
        let mut stream = resp.bytes_stream();
        let mut ended = true;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    if let Some(a) = &answer {
                        lock(a).body.extend_from_slice(&c);
                    }
                    // The server may have gone; the answer is still kept whole.
                    let _ = tx.send(Ok(c)).await;
                }
                Err(e) => {
                    ended = false;
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            }
        }
        if let Some(a) = &answer {
            lock(a).ended = ended;
            if let Err(e) = rec.save() {
                eprintln!("cannot save the recording: {e}");
            }
        }
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

/// One provider answer as the provider proxy kept it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderAnswer {
    /// The request path (without the query), e.g. `/v1/messages`.
    pub route: String,
    /// The HTTP status; 0 while the provider has not answered.
    pub status: u16,
    /// The `retry-after` seconds, if any.
    pub retry_after: Option<u64>,
    /// The answer's `content-type`.
    pub content_type: String,
    /// The body bytes received so far.
    pub body: Vec<u8>,
    /// Whether the body ended cleanly (false while streaming or after a break).
    pub ended: bool,
}

impl ProviderAnswer {
    /// The scripted response that replays this answer: a `2xx` as a
    /// [`ScriptedResponse::Verbatim`] (one chunk per server-sent event, `cut` unless the body
    /// ended cleanly; a body that is not an event stream as one chunk), any other status as a
    /// [`ScriptedResponse::HttpError`] (a JSON body as JSON, else as a string). An answer
    /// still pending replays as a stream that breaks off at once.
    pub fn scripted(&self) -> ScriptedResponse {
        let text = String::from_utf8_lossy(&self.body).into_owned();
        if self.status != 0 && !(200..300).contains(&self.status) {
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return ScriptedResponse::HttpError { status: self.status, body, retry_after: self.retry_after };
        }
        let content_type = if self.content_type.is_empty() {
            "text/event-stream".to_owned()
        } else {
            self.content_type.clone()
        };
        let chunks = if content_type.starts_with("text/event-stream") {
            sse_chunks(&text)
        } else if text.is_empty() {
            Vec::new()
        } else {
            vec![text]
        };
        ScriptedResponse::Verbatim { route: self.route.clone(), content_type, chunks, cut: !self.ended }
    }
}

/// Splits a server-sent-event body after each blank line (`\n\n` or `\r\n\r\n`), each
/// chunk keeping its terminator; a trailing partial event is the last chunk.
pub fn sse_chunks(body: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let end = [rest.find("\n\n").map(|i| i + 2), rest.find("\r\n\r\n").map(|i| i + 4)]
            .into_iter()
            .flatten()
            .min();
        match end {
            Some(end) => {
                chunks.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
            None => {
                chunks.push(rest.to_owned());
                break;
            }
        }
    }
    chunks
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
/// client. Whenever both servers have settled after a request (every request answered, every
/// run an `agent.prompt` started ended with `agent.ready`), and when the connection closes,
/// what each server sent since the last comparison is compared with
/// [`super::diff::compare`] (ids, times and durations normalised, per session, responses
/// with their request's session) and any difference reported, primary as `-` and secondary
/// as `+`.
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

/// One server's answers on a mirrored connection since the last comparison, and where it is.
#[derive(Default)]
struct Side {
    frames: Vec<Received>,
    /// Requests sent and not answered yet: id -> the session the request named.
    pending: HashMap<String, Option<String>>,
    /// Sessions with a run going (acknowledged `agent.prompt`, no `agent.ready` yet).
    running: std::collections::HashSet<String>,
}

impl Side {
    /// Whether every request is answered and every run ended.
    fn settled(&self) -> bool {
        self.pending.is_empty() && self.running.is_empty()
    }

    /// Files an answer (`prompts`: the ids of the client's `agent.prompt` requests).
    fn add(&mut self, frame: Value, prompts: &std::collections::HashSet<String>) {
        let mut request_session = None;
        if frame.get("type").is_none() {
            if let Some(id) = frame.get("id").and_then(Value::as_str) {
                request_session = self.pending.remove(id).flatten();
                if prompts.contains(id) && frame["success"] == true {
                    if let Some(s) = &request_session {
                        self.running.insert(s.clone());
                    }
                }
            }
        } else if frame["type"] == "agent.ready" {
            if let Some(s) = frame["sessionId"].as_str() {
                self.running.remove(s);
            }
        }
        self.frames.push(Received { frame, conn: "main".to_owned(), request_session });
    }
}

/// The two answer streams of one mirrored connection.
#[derive(Default)]
struct Mirror {
    primary: Side,
    secondary: Side,
    /// Primary id -> secondary id.
    ids: HashMap<String, String>,
    /// Responses by request id, waiting for the other side's.
    primary_answers: HashMap<String, Value>,
    secondary_answers: HashMap<String, Value>,
    /// Ids of the client's `agent.prompt` requests.
    prompts: std::collections::HashSet<String>,
    /// Whether the client sent a request since the last comparison.
    asked: bool,
}

impl Mirror {
    /// A client frame: what the secondary gets (the primary's ids replaced), after noting
    /// the request it makes on both sides.
    fn sent(&mut self, text: &str) -> String {
        let Some(frame) = frame_json(text) else { return text.to_owned() };
        let mirrored = substitute(&frame, &self.ids);
        if let (Some(id), Some(method)) = (frame.get("id").and_then(Value::as_str), frame["method"].as_str())
        {
            let session = |f: &Value| f["params"]["sessionId"].as_str().map(str::to_owned);
            self.primary.pending.insert(id.to_owned(), session(&frame));
            self.secondary.pending.insert(id.to_owned(), session(&mirrored));
            if method == "agent.prompt" {
                self.prompts.insert(id.to_owned());
            }
            self.asked = true;
        }
        mirrored.to_string()
    }

    /// Whether `text` (a client frame) names an id the primary minted in an answer the
    /// secondary has not given yet: sent now, the secondary would get the primary's id.
    fn waits_for_pairing(&self, text: &str) -> bool {
        let mut waits = false;
        for answer in self.primary_answers.values() {
            ids_in(answer, &mut |id| waits |= text.contains(id));
        }
        waits
    }

    /// An answer from one server; the comparison's report when both have now settled.
    fn add(&mut self, from_primary: bool, text: &str, connection: u64) -> Option<String> {
        let frame = frame_json(text).unwrap_or_else(|| Value::String(text.to_owned()));
        if let (Some(id), None) = (frame.get("id").and_then(Value::as_str), frame.get("type")) {
            let (mine, theirs) = if from_primary {
                (&mut self.primary_answers, &mut self.secondary_answers)
            } else {
                (&mut self.secondary_answers, &mut self.primary_answers)
            };
            match theirs.remove(id) {
                Some(other) => {
                    let (p, s) = if from_primary { (&frame, &other) } else { (&other, &frame) };
                    learn_ids(p, s, &mut self.ids);
                }
                None => {
                    mine.insert(id.to_owned(), frame.clone());
                }
            }
        }
        let side = if from_primary { &mut self.primary } else { &mut self.secondary };
        side.add(frame, &self.prompts);
        if self.asked && self.primary.settled() && self.secondary.settled() {
            self.asked = false;
            return self.compare(connection);
        }
        None
    }

    /// Compares what arrived since the last call; the report when they differ.
    fn compare(&mut self, connection: u64) -> Option<String> {
        if self.primary.frames.is_empty() && self.secondary.frames.is_empty() {
            return None;
        }
        let p = std::mem::take(&mut self.primary.frames);
        let s = std::mem::take(&mut self.secondary.frames);
        let c = super::diff::compare(&p, &s);
        if c.ok {
            return None;
        }
        let mut text = format!(
            "shadow: connection {connection}: the secondary answered differently (- primary, + secondary)\n"
        );
        for d in &c.differences {
            text.push_str(&format!("differs: {d}\n"));
        }
        text.push_str(&c.diff);
        Some(text)
    }
}

/// Calls `f` with every id (rule 1) in the strings of `v`.
fn ids_in(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => {
            replace_tokens(s, |t| {
                if id_kind(t).is_some() {
                    f(t);
                }
                None
            });
        }
        Value::Array(items) => items.iter().for_each(|x| ids_in(x, f)),
        Value::Object(m) => m.values().for_each(|x| ids_in(x, f)),
        _ => {}
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
                // The secondary is closed once it has finished what it was asked (below).
                let _ = p_tx.send(Message::Close(frame)).await;
                break;
            }
            let Some(text) = frame_text(&msg) else { continue };
            // A frame naming an id the secondary has not minted yet waits (bounded) for the
            // secondary's answer, so its own id can be substituted.
            let mut waited = 0;
            while waited < PAIRING_WAIT_MS && lock(&mirror).waits_for_pairing(&text) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                waited += 10;
            }
            let mirrored = Message::text(lock(&mirror).sent(&text));
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
                let found = lock(&mirror).add(true, &text, n);
                if let Some(text) = found {
                    report(&text);
                }
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
                        let found = lock(&mirror).add(false, &text, n);
                        if let Some(text) = found {
                            report(&text);
                        }
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
    let result = tokio::select! {
        r = from_client => r,
        r = from_primary => r,
        _ = from_secondary => Ok(()),
    };
    // The secondary may lag the primary: let it finish what it was asked (bounded), so the
    // last comparison sees its whole answer, then close it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(SETTLE_WAIT_MS);
    while !lock(&mirror).secondary.settled() {
        match tokio::time::timeout_at(deadline, s_rx.next()).await {
            Ok(Some(Ok(msg))) => {
                if let Some(text) = frame_text(&msg) {
                    let found = lock(&mirror).add(false, &text, n);
                    if let Some(text) = found {
                        report(&text);
                    }
                }
            }
            _ => break,
        }
    }
    let _ = s_tx.send(Message::Close(None)).await;
    let last = lock(&mirror).compare(n);
    if let Some(text) = last {
        report(&text);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        let options = RecordOptions {
            listen: "127.0.0.1:1".parse().unwrap(),
            upstream: "ws://x/ws".into(),
            // Saves (after each provider answer) go to a temp file, never the working dir.
            out: std::env::temp_dir().join(format!("tron-proxy-{}.jsonl", uuid::Uuid::new_v4().simple())),
            provider_proxy: false,
            settings: json!({"context": {"memory": {"ledger": {"enabled": false}}}}),
        };
        Recorder::new(&options, options.listen)
    }

    #[test]
    fn answers_become_verbatim_chunks_one_per_event() {
        let body = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
                    event: content_block_delta\ndata: {\"delta\":{\"text\":\"Hel\"}}\n\n\
                    data: {\"delta\":{\"text\":\"lo wör\"}}\r\n\r\n\
                    data: [DONE]\n\ndata: half";
        let answer = ProviderAnswer {
            route: "/v1/messages".into(),
            status: 200,
            retry_after: None,
            content_type: "text/event-stream; charset=utf-8".into(),
            body: body.as_bytes().to_vec(),
            ended: true,
        };
        let ScriptedResponse::Verbatim { route, content_type, chunks, cut } = answer.scripted() else {
            panic!("not verbatim")
        };
        assert_eq!(
            (route.as_str(), content_type.as_str(), cut),
            ("/v1/messages", "text/event-stream; charset=utf-8", false)
        );
        assert_eq!(chunks.concat(), body, "nothing lost or added");
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert_eq!(chunks[2], "data: {\"delta\":{\"text\":\"lo wör\"}}\r\n\r\n");
        assert_eq!(chunks[4], "data: half");

        // A body that broke off replays as one that breaks off; one still pending, too.
        let broken = ProviderAnswer { ended: false, ..answer.clone() };
        assert!(matches!(broken.scripted(), ScriptedResponse::Verbatim { cut: true, .. }));
        let pending = ProviderAnswer { route: "/v1/messages".into(), ..Default::default() };
        assert_eq!(
            pending.scripted(),
            ScriptedResponse::Verbatim {
                route: "/v1/messages".into(),
                content_type: "text/event-stream".into(),
                chunks: vec![],
                cut: true
            }
        );
        // A body that is not an event stream is one chunk.
        let json_body =
            ProviderAnswer { content_type: "application/json".into(), body: b"{\"a\":1}".to_vec(), ..answer };
        assert!(
            matches!(json_body.scripted(), ScriptedResponse::Verbatim { chunks, .. } if chunks == ["{\"a\":1}"])
        );
    }

    #[test]
    fn error_statuses_keep_their_status_body_and_retry_after() {
        let error = |status, body: &str| ProviderAnswer {
            route: "/v1/chat/completions".into(),
            status,
            retry_after: Some(3),
            content_type: "application/json".into(),
            body: body.as_bytes().to_vec(),
            ended: true,
        };
        assert_eq!(
            error(429, "{\"error\":{}}").scripted(),
            ScriptedResponse::HttpError { status: 429, body: json!({"error": {}}), retry_after: Some(3) }
        );
        assert_eq!(
            error(502, "provider proxy: connection refused").scripted(),
            ScriptedResponse::HttpError {
                status: 502,
                body: json!("provider proxy: connection refused"),
                retry_after: Some(3)
            }
        );
    }

    #[test]
    fn sse_chunks_split_after_blank_lines() {
        assert_eq!(sse_chunks(""), Vec::<String>::new());
        assert_eq!(sse_chunks("a\n\nb\n\n"), ["a\n\n", "b\n\n"]);
        assert_eq!(sse_chunks("a\r\n\r\nb"), ["a\r\n\r\n", "b"]);
    }

    #[test]
    fn script_entries_are_numbered_when_requests_arrive() {
        let rec = recorder();
        let first = rec.reserve("/v1/messages");
        let second = rec.reserve("/v1/messages");
        // The second answer ends first; the script keeps the order the requests came in.
        *lock(&second) = ProviderAnswer {
            route: "/v1/messages".into(),
            status: 200,
            content_type: "text/event-stream".into(),
            body: b"data: second\n\n".to_vec(),
            ended: true,
            ..Default::default()
        };
        lock(&first).status = 200;
        lock(&first).body = b"data: first\n\n".to_vec();
        lock(&first).ended = true;
        let header = rec.header();
        let chunks: Vec<&Value> =
            header["script"]["responses"].as_array().unwrap().iter().map(|r| &r["chunks"][0]).collect();
        assert_eq!(chunks, [&json!("data: first\n\n"), &json!("data: second\n\n")]);
        assert_eq!(header["settings"]["context"]["memory"]["ledger"]["enabled"], false);
        let parsed = crate::replay::Recording::parse(&format!("{header}\n")).unwrap();
        assert_eq!(parsed.header.script.responses.len(), 2);
    }

    #[test]
    fn settings_files_must_be_json_objects() {
        let dir = std::env::temp_dir().join(format!("tron-proxy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.json");
        std::fs::write(&file, "{\"a\":1}").unwrap();
        assert_eq!(read_settings(&file).unwrap(), json!({"a": 1}));
        std::fs::write(&file, "[1]").unwrap();
        assert!(read_settings(&file).unwrap_err().to_string().contains("must be a JSON object"));
        std::fs::write(&file, "{oops").unwrap();
        assert!(read_settings(&file).unwrap_err().to_string().contains("settings are not JSON"));
        assert!(read_settings(&dir.join("missing.json")).unwrap_err().to_string().contains("missing.json"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn lines_keep_json_frames_and_mark_the_rest_raw() {
        let rec = recorder();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_provider_proxy_numbers_answers_by_arrival_and_scripts_only_provider_routes() {
        use crate::testing::{MockLlm, Script, Step};
        let slow = ScriptedResponse::stream([Step::DelayMs { ms: 300 }, Step::Text { text: "slow".into() }]);
        let mock = MockLlm::start(Script::new([slow, ScriptedResponse::text("fast")])).await.unwrap();
        let rec = Arc::new(recorder());
        let url = start_provider_proxy(Arc::clone(&rec), mock.base_url()).await.unwrap();
        let client = reqwest::Client::new();
        let post = |path: &str| {
            let body = json!({"model": "m", "max_tokens": 9, "stream": true, "messages": []});
            client.post(format!("{url}{path}")).json(&body).send()
        };
        // Not a scripted route: forwarded (the mock answers it itself), not in the script.
        let load = post("/v1internal:loadCodeAssist").await.unwrap();
        assert_eq!(load.status(), 200);
        // The first request arrives first but its answer ends last.
        let first = tokio::spawn(post("/v1/messages"));
        while mock.requests().len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let second = post("/v1/messages").await.unwrap().text().await.unwrap();
        assert!(second.contains("fast"), "{second}");
        let first = first.await.unwrap().unwrap().text().await.unwrap();
        assert!(first.contains("slow"), "{first}");
        let header = rec.header();
        let responses = header["script"]["responses"].as_array().unwrap();
        assert_eq!(responses.len(), 2, "{header}");
        let text = |i: usize| {
            responses[i]["chunks"].as_array().unwrap().iter().filter_map(Value::as_str).collect::<String>()
        };
        assert!(text(0).contains("\"slow\"") && text(1).contains("\"fast\""), "arrival order: {responses:?}");
        assert_eq!(responses[0]["route"], "/v1/messages");
        assert_eq!(text(0), first, "what the server got, byte for byte");
        let saved = crate::replay::Recording::load(&rec.out).unwrap();
        assert_eq!(saved.header.script.responses.len(), 2, "saved after each answer");
        std::fs::remove_file(&rec.out).unwrap();
    }

    #[test]
    fn t_ms_counts_from_the_first_connection() {
        let rec = recorder();
        assert!(rec.origin.get().is_none(), "the clock does not start with the proxy");
        rec.opened();
        let origin = *rec.origin.get().unwrap();
        rec.opened();
        assert_eq!(*rec.origin.get().unwrap(), origin, "later connections do not restart it");
        rec.push("main", Way::Recv, "{}");
        rec.push("conn2", Way::Recv, "{}");
        let upper = origin.elapsed().as_millis() as u64;
        let times: Vec<u64> = lock(&rec.lines).iter().map(|l| l["t_ms"].as_u64().unwrap()).collect();
        assert!(times[0] <= times[1] && times[1] <= upper, "{times:?} within {upper}");
    }

    #[test]
    fn the_mirror_compares_when_both_servers_settle() {
        let mut m = Mirror::default();
        assert!(m
            .add(true, r#"{"type":"system.connected","data":{"clientId":"client_aaaaaa111"}}"#, 1)
            .is_none());
        assert!(m
            .add(false, r#"{"type":"system.connected","data":{"clientId":"client_bbbbbb222"}}"#, 1)
            .is_none());
        m.sent(r#"{"id":"1","method":"session.create","params":{}}"#);
        assert!(m
            .add(true, r#"{"id":"1","success":true,"result":{"sessionId":"sess_aaaaaa111111"}}"#, 1)
            .is_none());
        let next = r#"{"id":"2","method":"agent.prompt","params":{"sessionId":"sess_aaaaaa111111"}}"#;
        assert!(m.waits_for_pairing(next), "the secondary has not minted its session yet");
        assert!(!m.waits_for_pairing(r#"{"id":"9","method":"system.ping"}"#));
        assert!(
            m.add(false, r#"{"id":"1","success":true,"result":{"sessionId":"sess_bbbbbb222222"}}"#, 1)
                .is_none(),
            "the same answer up to ids"
        );
        assert_eq!(m.ids.get("sess_aaaaaa111111").map(String::as_str), Some("sess_bbbbbb222222"));
        assert!(!m.waits_for_pairing(next));
        assert!(m.primary.frames.is_empty(), "compared and cleared");

        // A prompt: the secondary gets its own session id; nothing is compared until both
        // runs have ended, however long the provider pauses.
        let mirrored =
            m.sent(r#"{"id":"2","method":"agent.prompt","params":{"sessionId":"sess_aaaaaa111111"}}"#);
        assert!(mirrored.contains("sess_bbbbbb222222"), "{mirrored}");
        assert!(m.add(true, r#"{"id":"2","success":true,"result":{"acknowledged":true}}"#, 1).is_none());
        assert!(m.add(false, r#"{"id":"2","success":true,"result":{"acknowledged":true}}"#, 1).is_none());
        let delta = |s: &str, d: &str| {
            format!(r#"{{"type":"agent.text_delta","sessionId":"{s}","data":{{"delta":"{d}"}}}}"#)
        };
        let ready = |s: &str| format!(r#"{{"type":"agent.ready","sessionId":"{s}"}}"#);
        assert!(m.add(true, &delta("sess_aaaaaa111111", "Hello"), 1).is_none());
        assert!(m.add(true, &ready("sess_aaaaaa111111"), 1).is_none(), "the secondary is still running");
        assert!(m.add(false, &delta("sess_bbbbbb222222", "Howdy"), 1).is_none());
        let report = m.add(false, &ready("sess_bbbbbb222222"), 1).expect("both settled: compared");
        assert!(report.contains("differs: session <sess_1> frame 2 (event agent.text_delta): data.delta: \"Hello\" != \"Howdy\""), "{report}");
        assert!(m.compare(1).is_none(), "nothing left");
    }
}

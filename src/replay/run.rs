//! Replays one recording against a server and collects what it answers.
//!
//! The server is tron's own, started in process on `127.0.0.1:0` with a fresh temp data
//! dir, the header's settings, and every provider (Anthropic, OpenAI, Google) pointed at a
//! [`MockLlm`] playing the header's script with fake keys; or any running server (`--target
//! ws://HOST:PORT`). A running server gets neither the header's settings nor, by itself, its
//! script: start it with the recording's settings and point its providers at a mock LLM the
//! replay loads each recording's script into ([`ReplayOptions::mock_llm`], `tron replay
//! --target URL --mock-llm ADDR`; or `tron replay mock-llm RECORDING` for one recording).
//! Each recording should get a fresh server: sessions a previous one left are listed too.
//!
//! Sending rule: client frames are sent in recorded order. Before each one the replayer
//! waits (up to [`ReplayOptions::timeout`]) until the server has sent as many frames as the
//! recording had received before that line, so the responses and events it depends on have
//! arrived; every arriving frame is paired with its recorded counterpart (responses by
//! request `id`, events by type and occurrence) to learn which actual ids stand for the
//! recorded ones ([`learn_ids`]), and those are substituted into the frame before it is sent.
//! After the last send it waits for the recorded number of frames, then for a quiet period
//! ([`ReplayOptions::quiet`]) to catch extra ones. A wait that times out is noted (naming the
//! frame waited for) and the replay goes on; the comparison then shows what was missing, and
//! `--update` refuses to write such a transcript ([`Transcript::updated`]).
//!
//! `t_ms` of the transcript's lines counts milliseconds from when the client began opening
//! its first connection, across reconnects (the format's one meaning of `t_ms`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::diff::{compare, Comparison};
use super::format::{Dir, Header, Line, Recording};
use super::normalize::{learn_ids, received, substitute, substitute_text};
use super::ReplayError;
use crate::events::{EventStore, OpenMode, StoreHandle};
use crate::rpc::ServerState;
use crate::server::{self, ServerConfig};
use crate::settings::{EnvLookup, Paths, SettingsHandle, Sources};
use crate::testing::MockLlm;

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// A running server (`ws://HOST:PORT` or a full `ws://HOST:PORT/ws` URL); `None` starts
    /// tron's own server in process.
    pub target: Option<String>,
    /// How long to wait for the frames a send depends on.
    pub timeout: Duration,
    /// How long the server must stay silent at the end.
    pub quiet: Duration,
    /// With `target`: a mock LLM the target's providers point at; each recording's script
    /// is loaded into it ([`MockLlm::load`]) before the recording is replayed.
    pub mock_llm: Option<Arc<MockLlm>>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            target: None,
            timeout: Duration::from_secs(10),
            quiet: Duration::from_millis(200),
            mock_llm: None,
        }
    }
}

impl ReplayOptions {
    /// What produces the frames of a replay with these options: `tron VERSION` in process,
    /// or `the server at URL`.
    pub fn source(&self) -> String {
        match &self.target {
            Some(t) => format!("the server at {}", ws_url(t)),
            None => format!("tron {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What `--update` appends to a header's `recordedAgainst` (before the source).
pub const UPDATED_BY: &str = "; frames updated by ";

/// What happened in a replay: every frame sent (after id substitution) and received, in
/// order, as recording lines; plus notes on waits that timed out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// The frames, in the order they were sent or received.
    pub lines: Vec<Line>,
    /// Waits that timed out, a connection that closed early.
    pub notes: Vec<String>,
}

impl Transcript {
    /// The frames received, in order.
    pub fn received(&self) -> Vec<Value> {
        self.lines.iter().filter(|l| l.dir == Dir::Recv).map(|l| l.frame.clone()).collect()
    }

    /// `recording` with its lines replaced by this replay's (`--update`): send frames carry
    /// the ids this replay used, so the ids in later sends match the new recv frames. The
    /// header is kept except `recordedAgainst`, which gets `; frames updated by SOURCE`
    /// (replacing an earlier such suffix), so a header never claims frames it no longer holds
    /// came from elsewhere. `source` is [`ReplayOptions::source`].
    ///
    /// Refuses (and changes nothing) when the replay did not complete, i.e. has notes (a wait
    /// timed out, the connection closed early): its transcript lacks the recording's tail.
    pub fn updated(&self, recording: &Recording, source: &str) -> Result<Recording, ReplayError> {
        if !self.notes.is_empty() {
            return Err(ReplayError::Incomplete(self.notes.join("; ")));
        }
        let mut header = recording.header.clone();
        let kept = header.recorded_against.split(UPDATED_BY).next().unwrap_or_default().trim().to_owned();
        header.recorded_against =
            if kept.is_empty() { source.to_owned() } else { format!("{kept}{UPDATED_BY}{source}") };
        Ok(Recording { header, lines: self.lines.clone() })
    }
}

/// A replay and its comparison with the recording.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Recorded against replayed frames.
    pub comparison: Comparison,
    /// What the replay sent and received.
    pub transcript: Transcript,
}

/// Replays `recording` and compares what the server sent with what was recorded.
pub async fn check(recording: &Recording, options: &ReplayOptions) -> Result<Checked, ReplayError> {
    let transcript = replay(recording, options).await?;
    let comparison = compare(&received(&recording.lines), &received(&transcript.lines));
    Ok(Checked { comparison, transcript })
}

/// Replays `recording` (see the module doc for the sending rule).
pub async fn replay(recording: &Recording, options: &ReplayOptions) -> Result<Transcript, ReplayError> {
    match &options.target {
        Some(target) => {
            if let Some(mock) = &options.mock_llm {
                mock.load(recording.header.script.clone());
            }
            drive(&ws_url(target), recording, options).await
        }
        None => {
            let server = InProcess::start(&recording.header).await?;
            let result = drive(&format!("ws://{}/ws", server.addr), recording, options).await;
            server.shutdown().await;
            result
        }
    }
}

/// `ws://HOST:PORT` -> `ws://HOST:PORT/ws`; a URL with a path is kept.
fn ws_url(target: &str) -> String {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let base = if target.contains("://") { target.to_owned() } else { format!("ws://{target}") };
    if rest.contains('/') {
        base
    } else {
        format!("{base}/ws")
    }
}

/// What a frame is paired by: `response ID` or `event TYPE`.
fn pair_key(frame: &Value) -> String {
    match (frame["type"].as_str(), frame.get("id").filter(|id| !id.is_null())) {
        (None, Some(id)) => format!("response {id}"),
        (Some(t), _) => format!("event {t}"),
        (None, None) => "frame".to_owned(),
    }
}

/// One open client connection: the sending half and the task reading the other half into
/// the replay's channel.
struct Conn {
    name: String,
    sink: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
        Message,
    >,
    reader: tokio::task::JoinHandle<()>,
}

impl Conn {
    /// Connects; what the server sends arrives on the returned channel, which closes when
    /// the server closes the connection.
    async fn open(
        url: &str,
        name: &str,
        start: Instant,
        timeout: Duration,
    ) -> Result<(Conn, mpsc::UnboundedReceiver<(u64, Value)>), ReplayError> {
        let (tx, rx) = mpsc::unbounded_channel::<(u64, Value)>();
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| ReplayError::WebSocket { url: url.to_owned(), message: "connect timed out".into() })?
            .map_err(|e| ReplayError::WebSocket { url: url.to_owned(), message: e.to_string() })?;
        let (sink, mut stream) = ws.split();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let frame = match msg {
                    Message::Text(t) => {
                        serde_json::from_str(&t).unwrap_or_else(|_| Value::String(t.to_string()))
                    }
                    Message::Binary(b) => serde_json::from_slice(&b)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into_owned())),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if tx.send((start.elapsed().as_millis() as u64, frame)).is_err() {
                    break;
                }
            }
        });
        Ok((Conn { name: name.to_owned(), sink, reader }, rx))
    }

    async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = self.sink.close().await;
        // The server may still be sending; what it sends after the close is not received.
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.reader).await;
        self.reader.abort();
    }
}

async fn drive(url: &str, recording: &Recording, options: &ReplayOptions) -> Result<Transcript, ReplayError> {
    let start = Instant::now();
    let first = recording.lines.first().map_or("main", Line::conn);
    let (mut conn, rx) = Conn::open(url, first, start, options.timeout).await?;

    let recorded = recording.received();
    let mut by_key: HashMap<String, Vec<&Value>> = HashMap::new();
    for frame in &recorded {
        by_key.entry(pair_key(frame)).or_default().push(frame);
    }
    let mut state = State {
        rx,
        transcript: Transcript::default(),
        got: 0,
        ids: HashMap::new(),
        seen: HashMap::new(),
        closed: false,
        conn: first.to_owned(),
    };
    let mut expected = 0usize;
    for line in &recording.lines {
        if line.conn() != conn.name {
            // A reconnect: everything the old connection should get first, then a new one.
            let before = format!("before reconnecting as {:?}", line.conn());
            if !state.wait_for(expected, &recorded, &by_key, options.timeout, &before).await {
                break;
            }
            conn.close().await;
            let (next, rx) = Conn::open(url, line.conn(), start, options.timeout).await?;
            conn = next;
            state.rx = rx;
            state.closed = false;
            state.conn = line.conn().to_owned();
        }
        if line.dir == Dir::Recv {
            expected += 1;
            continue;
        }
        let before = format!("before sending {}", describe(&line.frame));
        if !state.wait_for(expected, &recorded, &by_key, options.timeout, &before).await {
            break;
        }
        let (frame, text) = if line.raw {
            let text = substitute_text(&line.text(), &state.ids);
            (Value::String(text.clone()), text)
        } else {
            let frame = substitute(&line.frame, &state.ids);
            let text = frame.to_string();
            (frame, text)
        };
        let t_ms = start.elapsed().as_millis() as u64;
        if let Err(e) = conn.sink.send(Message::Text(text.into())).await {
            state.transcript.notes.push(format!("could not send {}: {e}", describe(&line.frame)));
            break;
        }
        let mut sent = Line::new(Dir::Send, t_ms, frame);
        sent.raw = line.raw;
        sent.extra = line.extra.clone();
        state.transcript.lines.push(sent);
    }
    if state.wait_for(recorded.len(), &recorded, &by_key, options.timeout, "after the last send").await {
        // Quiet period: frames the recording did not have.
        while let Ok(Some((t, frame))) = tokio::time::timeout(options.quiet, state.rx.recv()).await {
            state.arrived(t, frame, &by_key);
        }
    }
    conn.close().await;
    Ok(state.transcript)
}

/// `event TYPE`, `request ID (METHOD)`, or the frame itself, shortened.
fn describe(frame: &Value) -> String {
    if let Some(t) = frame["type"].as_str() {
        return format!("event {t}");
    }
    match (frame.get("id").filter(|id| !id.is_null()), frame["method"].as_str()) {
        (Some(id), Some(m)) => format!("request {id} ({m})"),
        (Some(id), None) => format!("response {id}"),
        _ => {
            let s = frame.as_str().map_or_else(|| frame.to_string(), str::to_owned);
            let short: String = s.chars().take(60).collect();
            format!("frame {short:?}")
        }
    }
}

struct State {
    rx: mpsc::UnboundedReceiver<(u64, Value)>,
    transcript: Transcript,
    got: usize,
    ids: HashMap<String, String>,
    seen: HashMap<String, usize>,
    closed: bool,
    /// The connection frames arrive on now.
    conn: String,
}

impl State {
    /// Receives until `n` frames have arrived; false (with a note) on a timeout or a close.
    async fn wait_for(
        &mut self,
        n: usize,
        recorded: &[Value],
        by_key: &HashMap<String, Vec<&Value>>,
        timeout: Duration,
        why: &str,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.got < n && !self.closed {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((t, frame))) => self.arrived(t, frame, by_key),
                outcome => {
                    let waited = describe(&recorded[self.got]);
                    let what = match outcome {
                        Ok(_) => "the server closed the connection".to_owned(),
                        Err(_) => format!("timed out after {} ms", timeout.as_millis()),
                    };
                    self.transcript.notes.push(format!(
                        "{what} waiting for received frame {} of {} ({waited}) {why}",
                        self.got + 1,
                        recorded.len()
                    ));
                    self.closed = outcome.is_ok();
                    return !self.closed;
                }
            }
        }
        !self.closed
    }

    fn arrived(&mut self, t_ms: u64, frame: Value, by_key: &HashMap<String, Vec<&Value>>) {
        let key = pair_key(&frame);
        let k = self.seen.entry(key.clone()).or_insert(0);
        if let Some(recorded) = by_key.get(&key).and_then(|v| v.get(*k)) {
            learn_ids(recorded, &frame, &mut self.ids);
        }
        *k += 1;
        self.got += 1;
        let mut line = Line::new(Dir::Recv, t_ms, frame);
        if self.conn != "main" {
            line.extra.insert("conn".into(), Value::String(self.conn.clone()));
        }
        self.transcript.lines.push(line);
    }
}

/// tron's own server on `127.0.0.1:0` with a temp data dir and the mock LLM.
struct InProcess {
    addr: SocketAddr,
    _mock: MockLlm,
    dir: TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcess {
    async fn start(header: &Header) -> Result<InProcess, ReplayError> {
        let mock = MockLlm::start(header.script.clone()).await?;
        let dir = TempDir::new()?;
        let paths = Paths { data_dir: dir.0.clone(), event_db: dir.0.join("prod.db") };
        if header.settings.as_object().is_some_and(|m| !m.is_empty()) {
            std::fs::write(paths.settings_file(), header.settings.to_string())?;
        }
        let store = EventStore::open(&paths.event_db, OpenMode::Create)
            .map_err(|e| ReplayError::Server(e.to_string()))?;
        let base = mock.base_url();
        let env: HashMap<String, String> = [
            ("ANTHROPIC_API_KEY", "sk-ant-replay"),
            ("OPENAI_API_KEY", "sk-replay"),
            ("GEMINI_API_KEY", "gemini-replay"),
            ("TRON_ANTHROPIC_BASE_URL", &base),
            ("TRON_OPENAI_BASE_URL", &base),
            ("TRON_GOOGLE_BASE_URL", &base),
            ("TRON_RETRY_BASE_MS", "10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let env: EnvLookup = Arc::new(move |n: &str| env.get(n).cloned());
        let settings = SettingsHandle::load(Sources::new(paths.settings_file(), env.clone()))
            .map_err(|e| ReplayError::Server(e.to_string()))?;
        let state = ServerState::new(StoreHandle::spawn(store), paths, env, settings);
        let config = ServerConfig { addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() };
        let listening = server::bind(config, state).await.map_err(|e| ReplayError::Server(e.to_string()))?;
        let addr = listening.addr;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(listening.serve(async move {
            let _ = stopped.await;
        }));
        Ok(InProcess { addr, _mock: mock, dir, stop, done })
    }

    /// Stops the server gracefully (bounded), then removes the data dir.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.done).await;
        drop(self.dir);
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("tron-replay-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn target_urls() {
        assert_eq!(ws_url("ws://127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
        assert_eq!(ws_url("ws://h:1/ws"), "ws://h:1/ws");
        assert_eq!(ws_url("h:1"), "ws://h:1/ws");
    }

    #[test]
    fn describes_frames() {
        assert_eq!(describe(&json!({"id": "c1", "method": "system.ping"})), "request \"c1\" (system.ping)");
        assert_eq!(describe(&json!({"type": "agent.ready"})), "event agent.ready");
        assert_eq!(describe(&json!("{not json")), "frame \"{not json\"");
        assert_eq!(pair_key(&json!({"id": "c1", "success": true})), "response \"c1\"");
        assert_eq!(pair_key(&json!({"type": "x", "id": 1})), "event x");
    }

    fn recording(lines: Vec<Line>) -> Recording {
        Recording { header: Header::default(), lines }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replays_against_the_in_process_server_and_substitutes_ids() {
        let send = |id: &str, method: &str, params: Value| {
            Line::new(Dir::Send, 0, json!({"id": id, "method": method, "params": params}))
        };
        // First run: no recv frames recorded; the transcript becomes the recording.
        let draft = recording(vec![
            send("1", "system.ping", json!({})),
            send("2", "session.create", json!({"workingDirectory": "/"})),
        ]);
        let options = ReplayOptions { quiet: Duration::from_millis(300), ..Default::default() };
        let first = replay(&draft, &options).await.unwrap();
        assert!(first.notes.is_empty(), "{:?}", first.notes);
        let session =
            first.received().iter().find_map(|f| f["result"]["sessionId"].as_str().map(str::to_owned));
        let session = session.expect("session.create answered");
        let mut rec = first.updated(&draft, "tron test").unwrap();
        rec.lines.push(send("3", "agent.getState", json!({"sessionId": session})));
        let second = replay(&rec, &options).await.unwrap();
        let sent = second.lines.iter().rfind(|l| l.dir == Dir::Send).unwrap();
        let new_session = sent.frame["params"]["sessionId"].as_str().unwrap();
        assert_ne!(new_session, session, "a fresh server mints a new id, substituted into the send");
        let state = second.received().into_iter().find(|f| f["id"] == "3").unwrap();
        assert_eq!(state["success"], true, "{state}");
        let checked = check(&second.updated(&rec, "tron test").unwrap(), &options).await.unwrap();
        assert!(checked.comparison.ok, "{}", checked.comparison.diff);
    }

    #[test]
    fn updates_say_who_produced_the_frames_and_refuse_incomplete_replays() {
        let mut rec = recording(vec![Line::new(Dir::Recv, 0, json!({"type": "x"}))]);
        rec.header.recorded_against = "typescript@df15517 (hand-written)".into();
        let done = Transcript { lines: vec![Line::new(Dir::Recv, 3, json!({"type": "y"}))], notes: vec![] };
        let once = done.updated(&rec, "tron 0.1.0").unwrap();
        assert_eq!(
            once.header.recorded_against,
            "typescript@df15517 (hand-written); frames updated by tron 0.1.0"
        );
        assert_eq!(once.lines, done.lines);
        let twice = done.updated(&once, "tron 0.2.0").unwrap();
        assert_eq!(
            twice.header.recorded_against,
            "typescript@df15517 (hand-written); frames updated by tron 0.2.0"
        );
        rec.header.recorded_against.clear();
        assert_eq!(done.updated(&rec, "tron 0.1.0").unwrap().header.recorded_against, "tron 0.1.0");

        let cut_short = Transcript {
            notes: vec!["timed out after 10 ms waiting for received frame 2 of 2".into()],
            ..done
        };
        let e = cut_short.updated(&rec, "tron 0.1.0").unwrap_err();
        assert!(e.to_string().contains("not updated: the replay did not complete (timed out"), "{e}");
        assert_eq!(ReplayOptions::default().source(), format!("tron {}", env!("CARGO_PKG_VERSION")));
        let target = ReplayOptions { target: Some("ws://h:1".into()), ..Default::default() };
        assert_eq!(target.source(), "the server at ws://h:1/ws");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn t_ms_counts_from_the_first_connection_across_reconnects() {
        // Each connection: the greeting, a ping, its answer (the frames' content does not
        // matter here, only that the replayer waits for them).
        let conn = |name: &str, id: &str| {
            let mut lines = vec![
                Line::new(Dir::Recv, 0, json!({"type": "system.connected"})),
                Line::new(Dir::Send, 0, json!({"id": id, "method": "system.ping"})),
                Line::new(Dir::Recv, 0, json!({"id": id})),
            ];
            for l in lines.iter_mut().filter(|_| name != "main") {
                l.extra.insert("conn".into(), json!(name));
            }
            lines
        };
        let rec = recording([conn("main", "1"), conn("b", "2")].concat());
        let options = ReplayOptions { quiet: Duration::from_millis(300), ..Default::default() };
        let t = replay(&rec, &options).await.unwrap();
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        let times: Vec<u64> = t.lines.iter().map(|l| l.t_ms).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "never restarts: {times:?}");
        let conns: Vec<&str> = t.lines.iter().map(Line::conn).collect();
        let first_b = conns.iter().position(|c| *c == "b").expect("frames of the second connection");
        assert!(first_b > 0 && conns[..first_b].iter().all(|c| *c == "main"), "{conns:?}");
        assert_eq!(t.received().iter().filter(|f| f["type"] == "system.connected").count(), 2);
    }

    #[tokio::test]
    async fn an_unreachable_target_is_an_error() {
        let options = ReplayOptions { target: Some("ws://127.0.0.1:1".into()), ..Default::default() };
        let e = replay(&recording(vec![]), &options).await.unwrap_err();
        assert!(e.to_string().contains("ws://127.0.0.1:1/ws"), "{e}");
    }
}

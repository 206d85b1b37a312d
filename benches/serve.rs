//! Whole-process measurements of `tron serve` (run by scripts/bench.sh;
//! `cargo bench --bench serve`). Targets from the issue, on 2 cores:
//!
//! - (a) idle server RSS < 20 MiB;
//! - (b) 1,000 idle WebSocket connections < 100 MiB RSS (server process);
//! - (c) 100 concurrent sessions streaming from the mock LLM: added latency from the provider
//!   sending a delta to the client receiving its `agent.text_delta` frame, p99 < 5 ms, and no
//!   frame lost;
//! - (d) startup to accepting connections < 50 ms with a 100,000-event database.
//!
//! Every measure runs the real `tron` binary (`CARGO_BIN_EXE_tron`, built with the bench
//! profile: release settings plus line tables) as its own process. RSS is read from
//! `/proc/PID/status` (`VmRSS` now, `VmHWM` peak). Startup is the time from spawning
//! `tron serve --port 0 --db X` until its stdout line `listening on ws://...` has been read
//! AND a TCP connect to that address succeeded.
//!
//! For (c) the mock LLM ([`MockLlm`]) and the WebSocket clients run in this process; the
//! server is pointed at the mock with `TRON_ANTHROPIC_BASE_URL`. Each scripted response is a
//! paced stream of words unique to it (`r<response>w<word>`), one text delta per word. The
//! mock records the instant it hands each SSE frame to its HTTP layer
//! ([`MockLlm::emissions`]); each client records the instant each `agent.text_delta` frame
//! arrives. Latency is the difference, matched per delta by its unique text; the deltas a
//! session received must be exactly the ones the mock sent for its response, in order
//! (anything else counts as lost). The client side shares this process's 2 runtime threads
//! with the mock, so the figures include some client scheduling delay: they are an upper
//! bound of what the server adds.
//!
//! The 100k-event database is built once with the library into
//! target/bench-data/serve-100k.db (delete it to rebuild).

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tron::events::{EventStore, NewEvent, NewSession, OpenMode};
use tron::testing::mock_llm::Emission;
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

/// Idle connections opened for (b).
const IDLE_CONNECTIONS: usize = 1_000;
/// Concurrent streaming sessions for (c).
const SESSIONS: usize = 100;
/// Text deltas per streamed answer.
const WORDS: usize = 60;
/// Pause before each SSE frame of a streamed answer (a ~50 tokens/s model).
const PACE_MS: u64 = 20;
/// Server starts timed for (d).
const STARTS: usize = 20;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn main() {
    // `cargo test --benches` runs bench binaries without --bench; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut table: Vec<Row> = Vec::new();

    // (a) and (b): one server on a fresh database.
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = spawn_server(&dir.path().join("db/prod.db"), dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(300));
    let idle = Memory::of(server.id());
    table.push(Row::new("(a) idle server RSS", format!("{:.1} MiB", idle.rss), "< 20 MiB", idle.rss < 20.0));
    println!("serve/idle                 RSS {:.1} MiB  (peak {:.1} MiB)", idle.rss, idle.hwm);

    let conns = runtime.block_on(open_idle(addr, IDLE_CONNECTIONS));
    std::thread::sleep(Duration::from_millis(500));
    let busy = Memory::of(server.id());
    let per_conn = (busy.rss - idle.rss) * 1024.0 / IDLE_CONNECTIONS as f64;
    println!(
        "serve/{IDLE_CONNECTIONS}_idle_connections  RSS {:.1} MiB  (peak {:.1} MiB, {per_conn:.1} KiB per connection)",
        busy.rss, busy.hwm
    );
    table.push(Row::new(
        "(b) RSS with 1,000 idle WebSockets",
        format!("{:.1} MiB ({per_conn:.0} KiB/conn)", busy.rss),
        "< 100 MiB",
        busy.rss < 100.0,
    ));
    drop(conns);
    stop(&mut server);

    // (c): streaming through the server from the mock.
    let (row, stats) = runtime.block_on(streaming());
    table.extend(row);
    println!("{stats}");

    // (d): startup with a 100,000-event database.
    let db = cached_db("serve-100k.db", 200, 500);
    let (row, line) = startup(&db);
    println!("{line}");
    table.push(row);

    println!();
    println!("{:<38} {:<36} {:<12} verdict", "tron serve", "measured", "target");
    for r in &table {
        println!("{:<38} {:<36} {:<12} {}", r.name, r.value, r.target, if r.ok { "ok" } else { "MISSED" });
    }
}

struct Row {
    name: String,
    value: String,
    target: &'static str,
    ok: bool,
}

impl Row {
    fn new(name: &str, value: String, target: &'static str, ok: bool) -> Row {
        Row { name: name.to_owned(), value, target, ok }
    }
}

/// A process's resident memory, in MiB.
struct Memory {
    rss: f64,
    hwm: f64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/PID/status");
        let kib = |key: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        Memory { rss: kib("VmRSS:") / 1024.0, hwm: kib("VmHWM:") / 1024.0 }
    }
}

/// Starts `tron serve --port 0 --db DB` with its data in `data_dir`; returns it once it
/// printed its address and accepts TCP connections.
fn spawn_server(db: &Path, data_dir: &Path, env: &[(&str, String)]) -> (Child, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tron"));
    cmd.args(["serve", "--port", "0", "--db"])
        .arg(db)
        .env("TRON_DATA_DIR", data_dir)
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("TRON_EVENT_STORE_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawning tron serve");
    let addr = wait_listening(&mut child);
    (child, addr)
}

/// Reads the `listening on ws://ADDR/ws` line and connects once to ADDR.
fn wait_listening(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .split("listening on ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    std::net::TcpStream::connect(addr).expect("tron serve printed its address but refuses connections");
    addr
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.wait();
}

async fn connect(addr: SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("connecting");
    let hello = next_json(&mut ws).await.1;
    assert_eq!(hello["type"], "system.connected", "{hello}");
    ws
}

/// The next text or binary frame, with the instant it arrived.
async fn next_json(ws: &mut Ws) -> (Instant, Value) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no frame within 30 s")
            .expect("the server closed the connection")
            .expect("WebSocket error");
        let at = Instant::now();
        match msg {
            Message::Text(t) => return (at, serde_json::from_str(&t).unwrap()),
            Message::Binary(b) => return (at, serde_json::from_slice(&b).unwrap()),
            Message::Close(_) => panic!("closed by the server"),
            _ => {}
        }
    }
}

/// Sends a request and returns its result, keeping nothing of the events in between.
async fn call(ws: &mut Ws, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({ "id": id, "method": method, "params": params });
    ws.send(Message::Binary(frame.to_string().into_bytes().into())).await.unwrap();
    loop {
        let (_, v) = next_json(ws).await;
        if v["id"] == id {
            assert_eq!(v["success"], true, "{method} failed: {v}");
            return v["result"].clone();
        }
    }
}

/// Opens `n` connections (64 handshakes at a time), each greeted by the server.
async fn open_idle(addr: SocketAddr, n: usize) -> Vec<Ws> {
    futures_util::stream::iter(0..n).map(|_| connect(addr)).buffer_unordered(64).collect().await
}

/// One response streaming `WORDS` unique words, one text delta each, `PACE_MS` apart.
fn paced_answer(response: usize) -> ScriptedResponse {
    let text = (0..WORDS).map(|w| format!("r{response}w{w}")).collect::<Vec<_>>().join(" ");
    ScriptedResponse::stream([
        Step::Pace { ms: PACE_MS },
        Step::Text { text },
        Step::Usage {
            input_tokens: 100,
            output_tokens: WORDS as u64,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
        },
    ])
}

/// What one client saw of its run: each text delta with the instant it arrived, and
/// whether the run completed successfully.
struct Seen {
    deltas: Vec<(Instant, String)>,
    success: bool,
}

/// Creates a session, waits for `go`, prompts, and records the deltas until `agent.ready`.
async fn stream_one(mut ws: Ws, dir: String, go: Arc<tokio::sync::Barrier>) -> Seen {
    let session = call(&mut ws, "c1", "session.create", json!({ "workingDirectory": dir })).await
        ["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    go.wait().await;
    let frame =
        json!({ "id": "c2", "method": "agent.prompt", "params": { "sessionId": session, "prompt": "go" } });
    ws.send(Message::Binary(frame.to_string().into_bytes().into())).await.unwrap();
    let mut seen = Seen { deltas: Vec::with_capacity(WORDS), success: false };
    loop {
        let (at, v) = next_json(&mut ws).await;
        match v["type"].as_str() {
            Some("agent.text_delta") => {
                seen.deltas.push((at, v["data"]["delta"].as_str().unwrap().to_owned()))
            }
            Some("agent.complete") => seen.success = v["data"]["success"] == true,
            Some("agent.ready") => break,
            _ if v["id"] == "c2" => assert_eq!(v["success"], true, "agent.prompt failed: {v}"),
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// The text of an Anthropic `text_delta` SSE frame, if it is one.
fn delta_text(frame: &str) -> Option<String> {
    let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
    let v: Value = serde_json::from_str(data).ok()?;
    (v["delta"]["type"] == "text_delta").then(|| v["delta"]["text"].as_str().unwrap_or_default().to_owned())
}

/// Latency statistics of one streaming scenario.
struct Latency {
    sorted_us: Vec<f64>,
    lost: usize,
    sent: usize,
    failed_runs: usize,
}

impl Latency {
    fn pct(&self, p: f64) -> f64 {
        let n = self.sorted_us.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted_us[rank.clamp(1, n) - 1] / 1000.0
    }

    fn line(&self, name: &str) -> String {
        format!(
            "serve/{name:<24} delta->frame latency ms: min {:.2}  median {:.2}  p99 {:.2}  max {:.2}  ({} deltas, {} lost, {} failed runs)",
            self.pct(0.0),
            self.pct(50.0),
            self.pct(99.0),
            self.sorted_us.last().map_or(f64::NAN, |v| v / 1000.0),
            self.sent,
            self.lost,
            self.failed_runs
        )
    }
}

/// Runs `sessions` concurrent prompts through `addr`; matches each client's deltas with
/// the mock's emissions.
async fn stream_scenario(addr: SocketAddr, mock: &MockLlm, sessions: usize, dir: &str) -> Latency {
    let before = mock.emissions().len();
    let go = Arc::new(tokio::sync::Barrier::new(sessions));
    let mut tasks = Vec::new();
    for _ in 0..sessions {
        let ws = connect(addr).await;
        tasks.push(tokio::spawn(stream_one(ws, dir.to_owned(), Arc::clone(&go))));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(
            tokio::time::timeout(Duration::from_secs(60), t).await.expect("a run did not end").unwrap(),
        );
    }
    // Every text delta the mock sent in this scenario, per response, in order.
    let mut sent: std::collections::HashMap<usize, Vec<(Instant, String)>> = Default::default();
    for Emission { response, at, data, .. } in mock.emissions().into_iter().skip(before) {
        if let Some(text) = delta_text(&data) {
            sent.entry(response).or_default().push((at, text));
        }
    }
    let total_sent: usize = sent.values().map(Vec::len).sum();
    let mut latencies = Vec::with_capacity(total_sent);
    let mut received = 0;
    let mut failed_runs = 0;
    for s in &seen {
        failed_runs += usize::from(!s.success);
        // Which response this session was served: the `r<N>w` prefix of its words.
        let Some(response) = s
            .deltas
            .first()
            .and_then(|(_, t)| t.strip_prefix('r'))
            .and_then(|t| t.split('w').next())
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let Some(emitted) = sent.get(&response) else { continue };
        // Matched in order: a delta counts only where it is the next one the mock sent.
        let mut next = 0;
        for (at, text) in &s.deltas {
            if let Some(offset) = emitted[next..].iter().position(|(_, t)| t == text) {
                let (sent_at, _) = emitted[next + offset];
                latencies.push(at.saturating_duration_since(sent_at).as_secs_f64() * 1e6);
                next += offset + 1;
                received += 1;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    Latency { sorted_us: latencies, lost: total_sent - received, sent: total_sent, failed_runs }
}

async fn streaming() -> (Vec<Row>, String) {
    let responses = 1 + SESSIONS;
    let mock = MockLlm::start(Script::new((1..=responses).map(paced_answer))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env =
        [("ANTHROPIC_API_KEY", "sk-ant-bench".to_owned()), ("TRON_ANTHROPIC_BASE_URL", mock.base_url())];
    let db = dir.path().join("db/prod.db");
    let data = dir.path().to_owned();
    let (mut server, addr) =
        tokio::task::spawn_blocking(move || spawn_server(&db, &data, &env)).await.unwrap();
    let work = dir.path().to_str().unwrap().to_owned();
    let single = stream_scenario(addr, &mock, 1, &work).await;
    let many = stream_scenario(addr, &mock, SESSIONS, &work).await;
    let peak = Memory::of(server.id()).hwm;
    tokio::task::spawn_blocking(move || stop(&mut server)).await.unwrap();
    let stats = format!(
        "{}\n{}\nserve/streaming peak RSS {peak:.1} MiB",
        single.line("1_session"),
        many.line(&format!("{SESSIONS}_sessions"))
    );
    let rows = vec![
        Row::new(
            "(c) 1 session: delta latency p99",
            format!("{:.2} ms (median {:.2})", single.pct(99.0), single.pct(50.0)),
            "-",
            single.lost == 0 && single.failed_runs == 0,
        ),
        Row::new(
            "(c) 100 sessions: delta latency p99",
            format!("{:.2} ms (median {:.2}, max {:.2})", many.pct(99.0), many.pct(50.0), many.pct(100.0)),
            "< 5 ms",
            many.pct(99.0) < 5.0,
        ),
        Row::new(
            "(c) 100 sessions: frames lost",
            format!("{} of {} (failed runs {})", many.lost, many.sent, many.failed_runs),
            "0",
            many.lost == 0 && many.failed_runs == 0 && many.sent == SESSIONS * WORDS,
        ),
    ];
    (rows, stats)
}

/// Times `STARTS` starts of the server on `db`.
fn startup(db: &Path) -> (Row, String) {
    let data = tempfile::tempdir().unwrap();
    let mut times = Vec::with_capacity(STARTS);
    let mut rss = 0.0f64;
    for _ in 0..STARTS {
        let started = Instant::now();
        let (mut child, _) = spawn_server(db, data.path(), &[]);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        rss = rss.max(Memory::of(child.id()).rss);
        stop(&mut child);
    }
    times.sort_by(f64::total_cmp);
    let median = times[STARTS / 2];
    let line = format!(
        "serve/startup_100k_events      median {median:.1} ms  min {:.1} ms  max {:.1} ms  (RSS just after start {rss:.1} MiB)",
        times[0],
        times[STARTS - 1]
    );
    let row = Row::new(
        "(d) startup, 100k-event database",
        format!("{median:.1} ms median (max {:.1})", times[STARTS - 1]),
        "< 50 ms",
        median < 50.0,
    );
    (row, line)
}

fn bench_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A realistic mix of events: user prompts, assistant text with tool use, tool calls and
/// results.
fn event(rng: &mut fastrand::Rng, i: usize) -> NewEvent {
    let sentence = |rng: &mut fastrand::Rng, n: usize| {
        (0..n).map(|_| format!("w{}", rng.usize(..20_000))).collect::<Vec<_>>().join(" ")
    };
    match i % 4 {
        0 => NewEvent::raw("message.user", json!({"content": sentence(rng, 20)})),
        1 => NewEvent::raw(
            "message.assistant",
            json!({"content": [{"type": "text", "text": sentence(rng, 30)},
                               {"type": "tool_use", "id": format!("c{i}"), "name": "Bash", "input": {"command": "cargo test"}}],
                   "turn": i / 4 + 1, "stopReason": "tool_use",
                   "tokenUsage": {"inputTokens": 1000, "outputTokens": 50}}),
        ),
        2 => NewEvent::raw(
            "tool.call",
            json!({"toolCallId": format!("c{}", i - 1), "name": "Bash", "arguments": {"command": "cargo test"}, "turn": i / 4 + 1}),
        ),
        _ => NewEvent::raw(
            "tool.result",
            json!({"toolCallId": format!("c{}", i - 2), "content": sentence(rng, 40), "isError": false, "duration": 120}),
        ),
    }
}

/// A database with `sessions` sessions of `per_session` events, built once.
fn cached_db(name: &str, sessions: usize, per_session: usize) -> PathBuf {
    let path = bench_data().join(name);
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("building");
    let _ = std::fs::remove_file(&tmp);
    eprintln!("building {} ({} events) ...", path.display(), sessions * per_session);
    {
        let store = EventStore::open(&tmp, OpenMode::Create).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..sessions {
            let (row, _) = store
                .create_session(NewSession {
                    working_directory: "/bench/project".into(),
                    model: "claude-sonnet-4-5".into(),
                    ..Default::default()
                })
                .unwrap();
            let events: Vec<NewEvent> = (0..per_session).map(|i| event(&mut rng, i)).collect();
            store.append_batch(row.id.as_ref(), &events).unwrap();
        }
        store.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    std::fs::rename(&tmp, &path).unwrap();
    path
}

//! The recorder proxy and the shadow mirror of `tron replay`, against real tron servers
//! started in process (temp databases, the scripted mock LLM), driven by a real WebSocket
//! client.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::start;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tron::replay::proxy;
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

/// A free local port (the proxies take an address, not a listener).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to a proxy that may still be starting; returns the socket after the greeting.
async fn connect(addr: SocketAddr) -> Ws {
    for _ in 0..100 {
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
            let hello = recv(&mut ws).await;
            assert_eq!(hello["type"], "system.connected", "{hello}");
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy did not start on {addr}");
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("no frame within 20 s")
            .expect("the connection closed")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
            _ => {}
        }
    }
}

/// Sends a request as a binary frame (like the iOS app); returns the response and the
/// events that came before it.
async fn request(ws: &mut Ws, id: &str, method: &str, params: Value) -> (Value, Vec<Value>) {
    let frame = json!({ "id": id, "method": method, "params": params });
    ws.send(Message::Binary(frame.to_string().into_bytes().into())).await.unwrap();
    let mut events = Vec::new();
    loop {
        let v = recv(ws).await;
        if v["id"] == id {
            return (v, events);
        }
        events.push(v);
    }
}

async fn until(ws: &mut Ws, kind: &str) {
    while recv(ws).await["type"] != kind {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_through_the_proxy_keeps_every_frame_in_order() {
    let server = start(Script::default()).await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("rec").join("ping.jsonl");
    let listen = free_addr();
    let recorder = tokio::spawn(proxy::record(listen, server.url(), out.clone(), false));

    let mut ws = connect(listen).await;
    let mut received = vec![json!({"type": "system.connected"})];
    let (pong, events) = request(&mut ws, "1", "system.ping", json!({})).await;
    assert_eq!(pong["result"]["pong"], true);
    received.extend(events.into_iter().chain([pong]));
    let dir = out_dir.path().to_str().unwrap().to_owned();
    let (created, events) = request(&mut ws, "2", "session.create", json!({"workingDirectory": dir})).await;
    assert_eq!(created["success"], true, "{created}");
    received.extend(events.into_iter().chain([created]));
    ws.send(Message::Text("{not json".into())).await.unwrap();
    loop {
        let v = recv(&mut ws).await;
        received.push(v.clone());
        if v["type"] == "system.error" {
            assert_eq!(v["data"]["code"], "PARSE_ERROR");
            break;
        }
    }
    ws.close(None).await.unwrap();

    // The file is rewritten when the connection closes.
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        lines = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.iter().filter(|l| l["dir"] == "recv").count() >= received.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recorder.abort();
    let header = &lines[0];
    assert_eq!(header["tronRecording"], 1);
    assert_eq!(header["recordedAgainst"], server.url());
    assert_eq!(header["script"], json!({"responses": []}));
    let frames = &lines[1..];
    // What was sent, in order, as sent (the bad frame verbatim, marked raw).
    let sent: Vec<&Value> = frames.iter().filter(|l| l["dir"] == "send").collect();
    assert_eq!(sent.len(), 3, "{frames:#?}");
    assert_eq!(sent[0]["frame"], json!({"id": "1", "method": "system.ping", "params": {}}));
    assert_eq!(sent[1]["frame"]["method"], "session.create");
    assert_eq!((sent[2]["raw"].clone(), sent[2]["frame"].clone()), (json!(true), json!("{not json")));
    // What came back, in order, unchanged.
    let got: Vec<&Value> = frames.iter().filter(|l| l["dir"] == "recv").map(|l| &l["frame"]).collect();
    assert_eq!(got.len(), received.len(), "{frames:#?}");
    assert_eq!(got[0]["type"], "system.connected");
    assert_eq!(&got[1..], &received.iter().skip(1).collect::<Vec<_>>()[..]);
    // Each send comes after the answers the client had already read when it sent it.
    let position =
        |id: &str| frames.iter().position(|l| l["dir"] == "recv" && l["frame"]["id"] == id).unwrap();
    let send_at = |i: usize| frames.iter().position(|l| std::ptr::eq(l, sent[i])).unwrap();
    assert!(send_at(0) < position("1") && position("1") < send_at(1) && send_at(1) < position("2"));
    assert!(position("2") < send_at(2));
    let times: Vec<u64> = frames.iter().map(|l| l["t_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The library reads what the proxy wrote.
    let text = std::fs::read_to_string(&out).unwrap();
    let recording = tron::replay::Recording::parse(&text).unwrap();
    assert_eq!(recording.received().len(), received.len());
}

#[tokio::test]
async fn the_provider_parser_reads_back_what_the_mock_streams() {
    let steps = vec![
        Step::Thinking { text: "Let me see.".into(), signature: "sig".into() },
        Step::Text { text: "I will list the files.".into() },
        Step::ToolCall { id: "toolu_01".into(), name: "Bash".into(), input: json!({"command": "ls -la"}) },
        Step::Usage { input_tokens: 120, output_tokens: 30, cache_read_tokens: 5, cache_creation_tokens: 7 },
    ];
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream(steps.clone())])).await.unwrap();
    let body = reqwest::Client::new()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("content-type", "application/json")
        .body(
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(proxy::anthropic_sse_to_steps(&body), Some(steps));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_mirror_reports_only_real_differences() {
    let answer = |text: &str| {
        Script::new([ScriptedResponse::stream([
            Step::Text { text: text.into() },
            Step::Usage {
                input_tokens: 10,
                output_tokens: 2,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ])])
    };
    let primary = start(answer("Hello there!")).await;
    let secondary = start(answer("Goodbye now!")).await;
    let reports = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&reports);
    let report: proxy::Report = Arc::new(move |text: &str| sink.lock().unwrap().push(text.to_owned()));
    let listen = free_addr();
    let mirror = tokio::spawn(proxy::shadow_with(listen, primary.url(), secondary.url(), report));

    let mut ws = connect(listen).await;
    let (pong, _) = request(&mut ws, "1", "system.ping", json!({})).await;
    assert_eq!(pong["result"]["pong"], true);
    let dir = tempfile::tempdir().unwrap();
    let (created, _) =
        request(&mut ws, "2", "session.create", json!({"workingDirectory": dir.path().to_str().unwrap()}))
            .await;
    let session = created["result"]["sessionId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(reports.lock().unwrap().clone(), Vec::<String>::new(), "ping and create agree");

    // The prompt reaches the secondary's own session (its id rewritten); only the answers differ.
    let (ack, _) = request(&mut ws, "3", "agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
    assert_eq!(ack["result"]["acknowledged"], true);
    until(&mut ws, "agent.ready").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = reports.lock().unwrap().join("\n");
    assert!(got.contains("Goodbye") && got.contains("Hello"), "{got}");
    assert!(!got.contains("SESSION_NOT_FOUND"), "the secondary knew the session: {got}");
    mirror.abort();
}

/// The whole loop through the real binaries: `tron replay record --provider-proxy` in front of
/// a `tron serve` whose provider calls go through the proxy to the mock LLM; a client runs a
/// prompt; the recording (frames and the provider's answers as the script) then replays
/// offline with `tron replay` and passes.
#[test]
fn a_recording_with_the_provider_proxy_replays_offline() {
    use std::io::BufRead;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mock =
        rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("Recorded through the proxy.")])));
    let mock = mock.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("proxied.jsonl");
    let (listen, server) = (free_addr(), free_addr());
    let bin = assert_cmd::cargo::cargo_bin("tron");

    let mut recorder = std::process::Command::new(&bin)
        .args(["replay", "record", "--provider-proxy", "--listen", &listen.to_string()])
        .args(["--upstream", &format!("ws://{server}/ws"), "--out"])
        .arg(&out)
        .env("TRON_REPLAY_PROVIDER_URL", mock.base_url())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(recorder.stderr.take().unwrap());
    let provider_url = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the recorder stopped before its provider proxy");
        if let Some(rest) = line.strip_prefix("provider proxy on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let (mut serve, _) = common::spawn_serve(
        std::process::Command::new(&bin)
            .env("TRON_MEMORY_LEDGER", "false")
            .args(["serve", "--port", &server.port().to_string()])
            .env("TRON_DATA_DIR", dir.path())
            .env("HOME", dir.path())
            .env("ANTHROPIC_API_KEY", "sk-ant-proxied")
            .env("TRON_ANTHROPIC_BASE_URL", &provider_url)
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .stderr(std::process::Stdio::null()),
    );

    rt.block_on(async {
        let mut ws = connect(listen).await;
        let work = dir.path().to_str().unwrap();
        let params = json!({"workingDirectory": work, "model": "claude-sonnet-4-5"});
        let (created, _) = request(&mut ws, "c1", "session.create", params).await;
        let session = created["result"]["sessionId"].clone();
        request(&mut ws, "p1", "agent.prompt", json!({"sessionId": session, "prompt": "Say something"}))
            .await;
        until(&mut ws, "agent.ready").await;
        ws.close(None).await.unwrap();
    });
    // The recorder rewrites the file when the connection closes; SIGINT saves it once more.
    let has_ready = |text: &str| text.contains("\"agent.ready\"");
    for _ in 0..200 {
        if has_ready(&std::fs::read_to_string(&out).unwrap_or_default()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-INT", &recorder.id().to_string()]).status().unwrap();
    assert!(recorder.wait().unwrap().success());
    let _ = serve.kill();
    let _ = serve.wait();

    let text = std::fs::read_to_string(&out).unwrap();
    let recording = tron::replay::Recording::parse(&text).unwrap();
    assert_eq!(recording.header.script.responses.len(), 1, "the provider's answer is the script");
    assert!(text.contains("Recorded through the proxy."));
    let replayed = std::process::Command::new(&bin).args(["replay"]).arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert!(replayed.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&replayed.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}

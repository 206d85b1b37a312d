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
    let options = proxy::RecordOptions {
        listen,
        upstream: server.url(),
        out: out.clone(),
        provider_proxy: false,
        settings: json!({}),
    };
    let recorder = tokio::spawn(proxy::record(options));

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

    // The prompt reaches the secondary's own session (its id rewritten); only the answers differ.
    let (ack, _) = request(&mut ws, "3", "agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
    assert_eq!(ack["result"]["acknowledged"], true);
    until(&mut ws, "agent.ready").await;
    // The comparison happens once the secondary's run has ended too.
    for _ in 0..400 {
        if reports.lock().unwrap().iter().any(|r| r.contains("Goodbye")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = reports.lock().unwrap().join("\n");
    assert!(got.contains("Goodbye") && got.contains("Hello"), "{got}");
    assert!(!got.contains("SESSION_NOT_FOUND"), "the secondary knew the session: {got}");
    let differs: Vec<&str> = got.lines().filter(|l| l.starts_with("differs: ")).collect();
    assert!(!differs.is_empty(), "{got}");
    assert!(
        differs.iter().all(|d| !d.contains("(response \"1\")") && !d.contains("(response \"2\")")),
        "ping and create agree: {differs:?}"
    );
    assert!(differs.iter().any(|d| d.contains("data.delta")), "{differs:?}");
    mirror.abort();
}

/// `tron replay shadow` (the real binary) between two `tron serve`s whose providers answer
/// differently: its stderr names the field that differs.
#[test]
fn the_shadow_cli_logs_the_differing_field() {
    use std::io::BufRead;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let script = |text: &str| Script::new([ScriptedResponse::text(text)]);
    let mocks = rt.block_on(async {
        (
            MockLlm::start(script("Hello there!")).await.unwrap(),
            MockLlm::start(script("Hello world!")).await.unwrap(),
        )
    });
    let bin = assert_cmd::cargo::cargo_bin("tron");
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let serve = |mock: &MockLlm, dir: &std::path::Path| {
        common::spawn_serve(
            std::process::Command::new(&bin)
                .args(["serve", "--port", "0"])
                .env("TRON_DATA_DIR", dir)
                .env("HOME", dir)
                .env("TRON_MEMORY_LEDGER", "false")
                .env("ANTHROPIC_API_KEY", "sk-ant-shadow")
                .env("TRON_ANTHROPIC_BASE_URL", mock.base_url())
                .env_remove("ANTHROPIC_BASE_URL")
                .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
                .stderr(std::process::Stdio::null()),
        )
    };
    let (mut primary, p_addr) = serve(&mocks.0, dirs.0.path());
    let (mut secondary, s_addr) = serve(&mocks.1, dirs.1.path());
    let mut shadow = std::process::Command::new(&bin)
        .args(["replay", "shadow", "--listen", "127.0.0.1:0"])
        .args(["--primary", &format!("ws://{p_addr}/ws"), "--secondary", &format!("ws://{s_addr}/ws")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // stderr, line by line, as the mirror writes it.
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = shadow.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(60)).unwrap();
    let listen: SocketAddr = first
        .strip_prefix("shadowing ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{first:?}"))
        .parse()
        .unwrap();

    rt.block_on(async {
        let mut ws = connect(listen).await;
        let dir = dirs.0.path().to_str().unwrap();
        let (created, _) = request(&mut ws, "c1", "session.create", json!({"workingDirectory": dir})).await;
        let session = created["result"]["sessionId"].clone();
        let (ack, _) =
            request(&mut ws, "p1", "agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
        assert_eq!(ack["success"], true, "{ack}");
        until(&mut ws, "agent.ready").await;
    });
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.starts_with("differs: ")) {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => log.push(line),
            Err(e) => panic!("no difference logged ({e}): {log:#?}"),
        }
    }
    // The rest of the report follows at once.
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    for child in [&mut shadow, &mut primary, &mut secondary] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = log.join("\n");
    assert!(log.contains("shadow: connection 1: the secondary answered differently"), "{log}");
    assert!(
        log.contains("(event agent.text_delta): data.delta: \"there!\" != \"world!\""),
        "the differing field is named: {log}"
    );
    assert!(!log.contains("SESSION_NOT_FOUND"), "{log}");
}

/// A provider stand-in whose chunking is not the mock's: it answers each request with the
/// next Anthropic event stream of `bodies`, sent in 3-byte HTTP chunks (splitting events and
/// UTF-8 characters), its text deltas split at other places than words.
async fn chunky_provider(bodies: Vec<String>) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(std::collections::VecDeque::from(bodies)));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let bodies = Arc::clone(&bodies);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: headers, then content-length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 65536];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let body = bodies.lock().unwrap().pop_front().expect("more requests than answers");
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    socket.write_all(head.as_bytes()).await.unwrap();
                    for piece in body.as_bytes().chunks(3) {
                        socket.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.unwrap();
                        socket.write_all(piece).await.unwrap();
                        socket.write_all(b"\r\n").await.unwrap();
                        socket.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    socket.write_all(b"0\r\n\r\n").await.unwrap();
                }
            });
        }
    });
    addr
}

/// An Anthropic Messages event stream with one text block sent as `deltas`.
fn anthropic_stream(deltas: &[&str]) -> String {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_standin01", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
    );
    out += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    out += &event("ping", json!({"type": "ping"}));
    for d in deltas {
        out += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}),
        );
    }
    out += &event("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
    out += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 9}}),
    );
    out + &event("message_stop", json!({"type": "message_stop"}))
}

/// The whole loop through the real binaries, against a provider that chunks differently from
/// the mock LLM: `tron replay record --provider-proxy --settings` in front of a `tron serve`
/// whose provider calls go through the proxy to the stand-in; a client runs a prompt; the
/// recording (frames, the provider's answer verbatim as the script, the server's settings)
/// then replays offline with `tron replay` and passes, with the provider's delta boundaries.
/// The same recording with its script turned into the mock's own text step fails, naming the
/// delta: the boundaries are what made it pass.
#[test]
fn a_recording_with_the_provider_proxy_replays_offline() {
    use std::io::BufRead;
    const DELTAS: [&str; 4] = ["Hel", "lo wör", "ld! How", " are you?"];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let provider = rt.block_on(chunky_provider(vec![anthropic_stream(&DELTAS)]));
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"context": {"memory": {"ledger": {"enabled": false}}}});
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("settings.json"), settings.to_string()).unwrap();
    let out = dir.path().join("proxied.jsonl");
    let (listen, server) = (free_addr(), free_addr());
    let bin = assert_cmd::cargo::cargo_bin("tron");

    let mut recorder = std::process::Command::new(&bin)
        .args(["replay", "record", "--provider-proxy", "--listen", &listen.to_string()])
        .args(["--upstream", &format!("ws://{server}/ws"), "--settings"])
        .arg(data.join("settings.json"))
        .arg("--out")
        .arg(&out)
        .env("TRON_REPLAY_PROVIDER_URL", format!("http://{provider}"))
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
            .args(["serve", "--port", &server.port().to_string()])
            .env("TRON_DATA_DIR", &data)
            .env("HOME", &data)
            .env("ANTHROPIC_API_KEY", "sk-ant-proxied")
            .env("TRON_ANTHROPIC_BASE_URL", &provider_url)
            .env_remove("ANTHROPIC_BASE_URL")
            .env_remove("TRON_MEMORY_LEDGER")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .stderr(std::process::Stdio::null()),
    );

    let deltas = rt.block_on(async {
        let mut ws = connect(listen).await;
        let work = dir.path().to_str().unwrap();
        let params = json!({"workingDirectory": work, "model": "claude-sonnet-4-5"});
        let (created, _) = request(&mut ws, "c1", "session.create", params).await;
        let session = created["result"]["sessionId"].clone();
        let (_, mut events) =
            request(&mut ws, "p1", "agent.prompt", json!({"sessionId": session, "prompt": "Say something"}))
                .await;
        loop {
            let v = recv(&mut ws).await;
            events.push(v.clone());
            if v["type"] == "agent.ready" {
                break;
            }
        }
        ws.close(None).await.unwrap();
        events
            .iter()
            .filter(|e| e["type"] == "agent.text_delta")
            .map(|e| e["data"]["delta"].clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(deltas, DELTAS.map(|d| json!(d)), "tron streams the provider's own deltas");
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

    let recording = tron::replay::Recording::load(&out).unwrap();
    assert_eq!(recording.header.settings, settings, "the server's settings are in the header");
    let responses = &recording.header.script.responses;
    assert_eq!(responses.len(), 1, "the provider's answer is the script");
    let ScriptedResponse::Verbatim { route, chunks, cut, .. } = &responses[0] else {
        panic!("not kept verbatim: {:?}", responses[0])
    };
    assert_eq!((route.as_str(), *cut), ("/v1/messages", false));
    assert_eq!(chunks.concat(), anthropic_stream(&DELTAS), "byte for byte, whatever the chunking");
    assert!(chunks.iter().any(|c| c.contains("\"lo wör\"") && c.ends_with("\n\n")), "one event per chunk");

    let replay = |path: &std::path::Path| {
        std::process::Command::new(&bin).args(["replay"]).arg(path).output().unwrap()
    };
    let replayed = replay(&out);
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert!(replayed.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&replayed.stderr));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    // Control: the mock's own rendering of the same text splits it by words.
    let mut words = recording.clone();
    words.header.script = Script::new([ScriptedResponse::text(DELTAS.concat())]);
    let by_words = dir.path().join("by_words.jsonl");
    words.save(&by_words).unwrap();
    let replayed = replay(&by_words);
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("(event agent.text_delta): data.delta: \"Hel\" != \"Hello \""), "{stdout}");
}

//! `tron replay` end to end: a recording made by driving tron's own server with a real
//! WebSocket client, replayed through the real binary (ok, a corrupted field, `--update`,
//! `--json`, `--filter`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tron::replay::{Dir, Header, Line, Recording};

/// Records a session against a fresh in-process tron: the greeting, `system.ping`, a frame
/// that is not JSON (an error envelope), `session.create`, then `agent.getState` of the
/// session it created (so replaying needs the id substituted).
async fn record() -> Recording {
    let dir = tempfile::tempdir().unwrap();
    let setup = common::Setup { anthropic_key: false, ..Default::default() };
    let server = common::serve_in(dir.path(), None, setup).await.unwrap();
    let addr = server.addr;

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    let start = Instant::now();
    let mut lines = Vec::new();
    drain(&mut ws, &mut lines, start).await;
    let mut session = String::new();
    for (i, text) in [
        json!({"id": "1", "method": "system.ping"}).to_string(),
        "{not json".to_owned(),
        json!({"id": "3", "method": "session.create", "params": {"workingDirectory": "/"}}).to_string(),
        "GETSTATE".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let (frame, raw, text) = match (i, text.as_str()) {
            (1, _) => (Value::String(text.clone()), true, text),
            (_, "GETSTATE") => {
                let f = json!({"id": "4", "method": "agent.getState", "params": {"sessionId": session}});
                (f.clone(), false, f.to_string())
            }
            _ => (serde_json::from_str(&text).unwrap(), false, text),
        };
        let mut line = Line::new(Dir::Send, ms(start), frame);
        line.raw = raw;
        lines.push(line);
        ws.send(Message::Text(text.into())).await.unwrap();
        drain(&mut ws, &mut lines, start).await;
        if let Some(s) = lines.iter().find_map(|l| l.frame["result"]["sessionId"].as_str()) {
            session = s.to_owned();
        }
    }
    assert!(session.starts_with("sess_"), "session.create answered: {lines:?}");
    let _ = ws.close(None).await;
    server.shutdown().await;
    let header = Header {
        recorded_against: format!("tron {}", env!("CARGO_PKG_VERSION")),
        description: "ping, a frame that is not JSON, session.create, agent.getState".into(),
        ..Default::default()
    };
    Recording { header, lines }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Receives until the server has been quiet for 400 ms.
async fn drain(ws: &mut Ws, lines: &mut Vec<Line>, start: Instant) {
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(400), ws.next()).await {
        if let Message::Text(t) = msg {
            lines.push(Line::new(Dir::Recv, ms(start), serde_json::from_str(&t).unwrap()));
        }
    }
}

fn ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

fn recorded(dir: &Path) -> std::path::PathBuf {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let recording = rt.block_on(record());
    let errors = recording.received().iter().filter(|f| f["type"] == "system.error").count();
    assert_eq!(errors, 1, "the frame that is not JSON got an error envelope: {recording:?}");
    let path = dir.join("basic.jsonl");
    recording.save(&path).unwrap();
    path
}

fn tron(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("tron")
        .unwrap()
        .arg("replay")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn replay_ok_then_corrupted_then_updated() {
    let dir = tempfile::tempdir().unwrap();
    let path = recorded(dir.path());
    let file = path.to_str().unwrap();

    let out = tron(&[file]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("ok      "), "{}", stdout(&out));
    assert!(stdout(&out).ends_with("1 passed, 0 failed\n"), "{}", stdout(&out));

    // Corrupt one field of a received frame: the model session.create answered.
    let mut rec = Recording::load(&path).unwrap();
    let line = rec.lines.iter_mut().find(|l| l.dir == Dir::Recv && l.frame["id"] == "3").unwrap();
    line.frame["result"]["model"] = json!("claude-corrupted");
    rec.save(&path).unwrap();
    let out = tron(&[file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("FAIL    "), "{text}");
    assert!(text.contains("-    \"model\": \"claude-corrupted\""), "{text}");
    assert!(text.contains("result.model: \"claude-corrupted\" != "), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: 1 of 1 recordings failed"));

    // --json says the same, machine-readably.
    let out = tron(&["--json", file]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(0), Some(1)), "{v}");
    assert_eq!(v["recordings"][0]["ok"], false);
    assert!(v["recordings"][0]["diff"].as_str().unwrap().contains("claude-corrupted"));

    // --update rewrites the recv frames; the recording then passes.
    let out = tron(&["--update", file]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("updated "), "{}", stdout(&out));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("claude-corrupted"));
    let out = tron(&["--json", file]);
    assert!(out.status.success(), "{}", stdout(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(1), Some(0)), "{v}");
}

#[test]
fn folders_filters_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = recorded(dir.path());
    std::fs::copy(&path, dir.path().join("other.jsonl")).unwrap();
    std::fs::write(dir.path().join("broken.jsonl"), "{\"tronRecording\":1}\n{\"dir\":\"sideways\"}\n")
        .unwrap();
    let folder = dir.path().to_str().unwrap();

    let out = tron(&["--filter", "other", folder]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("other.jsonl") && !stdout(&out).contains("basic.jsonl"));

    let out = tron(&[folder]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("broken.jsonl:2: \"dir\" must be"), "{text}");
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");

    let out = tron(&["--filter", "nothing-matches", folder]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recordings found"));
}

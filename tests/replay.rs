//! `tron replay` end to end: a recording made by driving tron's own server with a real
//! WebSocket client, replayed through the real binary (ok, a corrupted field, `--update`,
//! `--json`, `--filter`, `--update` refused after a timeout); every shipped recording replayed
//! against itself; and `--target` against a running `tron serve` whose provider is the
//! recording's script (`tron replay mock-llm`, `--mock-llm`).

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

    // --update rewrites the recv frames; the recording then passes, and its header says
    // tron produced the frames.
    let out = tron(&["--update", file]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("updated "), "{}", stdout(&out));
    assert!(!std::fs::read_to_string(&path).unwrap().contains("claude-corrupted"));
    let updated = Recording::load(&path).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(updated.header.recorded_against, format!("tron {version}; frames updated by tron {version}"));
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

#[test]
fn update_refuses_a_replay_that_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = recorded(dir.path());
    let file = path.to_str().unwrap();
    // A frame the server never sends: the replay times out waiting for it.
    let mut rec = Recording::load(&path).unwrap();
    rec.lines.push(Line::new(Dir::Recv, 0, json!({"type": "never.sent", "data": {}})));
    rec.save(&path).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();

    let out = tron(&["--update", "--timeout", "1", file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("FAIL    "), "{text}");
    assert!(text.contains("note: timed out after 1000 ms waiting for received frame"), "{text}");
    assert!(
        text.contains("error: cannot update")
            && text.contains("not updated: the replay did not complete (timed out"),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 1 failed, 0 updated\n"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "the recording is unchanged");
}

/// The shipped recordings, each replayed in process, written back as `--update` would, and
/// replayed again: a recording replayed against the server that produced it passes.
#[test]
fn every_shipped_recording_replays_against_itself() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings");
    let paths = tron::replay::format::discover(&[dir]).unwrap();
    assert!(paths.len() >= 10, "{paths:?}");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let options = tron::replay::ReplayOptions::default();
    for path in paths {
        let recording = Recording::load(&path).unwrap();
        let first = rt.block_on(tron::replay::replay(&recording, &options)).unwrap();
        assert!(first.notes.is_empty(), "{}: {:?}", path.display(), first.notes);
        let itself = first.updated(&recording, &options.source()).unwrap();
        let checked = rt.block_on(tron::replay::check(&itself, &options)).unwrap();
        assert!(
            checked.comparison.ok,
            "{} against itself:\n{:?}\n{}",
            path.display(),
            checked.comparison.differences,
            checked.comparison.diff
        );
        assert!(checked.transcript.notes.is_empty(), "{:?}", checked.transcript.notes);
    }
}

/// `tron serve` (the real binary, isolated home and data dir, a dummy key) with its
/// Anthropic provider at `provider` and the recording's settings in its settings.json.
fn serve_for(
    recording: &Recording,
    provider: &str,
    dir: &Path,
) -> (std::process::Child, std::net::SocketAddr) {
    std::fs::write(dir.join("settings.json"), recording.header.settings.to_string()).unwrap();
    common::spawn_serve(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
            .args(["serve", "--port", "0"])
            .env("TRON_DATA_DIR", dir)
            .env("HOME", dir)
            .env("ANTHROPIC_API_KEY", "sk-ant-dummy")
            .env("TRON_ANTHROPIC_BASE_URL", provider)
            .env("TRON_RETRY_BASE_MS", "10")
            .env_remove("ANTHROPIC_BASE_URL")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .env_remove("TRON_MEMORY_LEDGER")
            .stderr(std::process::Stdio::null()),
    )
}

fn shipped(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings").join(name)
}

/// `tron replay mock-llm RECORDING` serves the recording's script; a `tron serve` pointed at
/// it is then replayed with `--target` and passes.
#[test]
fn target_replays_a_prompt_against_a_running_serve_on_the_served_script() {
    use std::io::BufRead;
    let recording_path = shipped("prompt_text.jsonl");
    let recording = Recording::load(&recording_path).unwrap();
    assert!(!recording.header.script.responses.is_empty(), "a recording that needs the model");
    let mut mock = std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["replay", "mock-llm", "--listen", "127.0.0.1:0"])
        .arg(&recording_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    std::io::BufReader::new(mock.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, addr) = serve_for(&recording, &url, dir.path());

    let out = tron(&["--target", &format!("ws://{addr}"), recording_path.to_str().unwrap()]);
    let _ = serve.kill();
    let _ = mock.kill();
    let _ = serve.wait();
    let _ = mock.wait();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with("1 passed, 0 failed\n"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target must run with these settings"));
}

/// `--mock-llm ADDR` loads each recording's script in turn into one mock the target uses.
#[test]
fn mock_llm_serves_each_recordings_script_to_the_target_in_turn() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mock_addr = format!("127.0.0.1:{port}");
    let text = shipped("prompt_text.jsonl");
    let tool = shipped("prompt_tool.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, addr) =
        serve_for(&Recording::load(&text).unwrap(), &format!("http://{mock_addr}"), dir.path());
    let target = format!("ws://{addr}");
    let out = tron(&[
        "--target",
        &target,
        "--mock-llm",
        &mock_addr,
        text.to_str().unwrap(),
        tool.to_str().unwrap(),
    ]);
    let _ = serve.kill();
    let _ = serve.wait();
    let stdout = stdout(&out);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.ends_with("2 passed, 0 failed\n"), "{stdout}");

    // Without a target there is nothing to serve the script to: a usage error.
    let out = tron(&["--mock-llm", &mock_addr, text.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bad_settings_and_missing_recordings_are_clear_errors_that_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("settings.json");
    std::fs::write(&bad, "{oops").unwrap();
    let out = dir.path().join("new.jsonl");
    let o = tron(&[
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "ws://127.0.0.1:1/ws",
        "--out",
        out.to_str().unwrap(),
        "--settings",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("settings.json: settings are not JSON"), "{err}");
    assert!(!out.exists(), "nothing written");

    let missing = dir.path().join("missing.jsonl");
    let o = tron(&["mock-llm", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.jsonl"), "{o:?}");
}

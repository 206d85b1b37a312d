//! Transcription through a real server on 127.0.0.1:0 and a real WebSocket client, with a
//! small fake sidecar (a Python script the test writes) that speaks the sidecar protocol:
//! `GET /health`, multipart `POST /transcribe/faster`. Covers transcription, the model list,
//! a crashed or hung sidecar being restarted, a missing sidecar command, voice notes, bad params, and
//! the sidecar stopping (reaped, no zombie) with the server.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{serve_in, Client, Setup};
use serde_json::json;

const FAKE_SIDECAR: &str = r#"
import http.server, json, os, re, sys

state = os.environ["FAKE_STATE"]
with open(os.path.join(state, "starts"), "a") as f:
    f.write("%d\n" % os.getpid())

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            if os.path.exists(os.path.join(state, "unhealthy")):
                self.reply(503, {"status": "stuck"})
            else:
                self.reply(200, {"status": "ok"})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        boundary = re.search(r"boundary=(.+)", self.headers["Content-Type"]).group(1).encode()
        fields = {}
        for part in body.split(b"--" + boundary):
            if b"\r\n\r\n" not in part:
                continue
            head, value = part.split(b"\r\n\r\n", 1)
            name = re.search(rb'name="([^"]+)"', head).group(1).decode()
            fields[name] = value[:-2] if value.endswith(b"\r\n") else value
        if self.path != "/transcribe/faster":
            self.reply(404, {"error": "unknown endpoint " + self.path})
            return
        audio = fields["audio"].decode()
        self.reply(200, {
            "text": "heard: " + audio,
            "raw_text": audio,
            "language": fields.get("language", b"en").decode(),
            "duration_s": 1.5,
            "processing_time_ms": 12,
            "model": fields["model_name"].decode(),
            "device": fields["device"].decode(),
            "compute_type": fields["compute_type"].decode(),
            "cleanup_mode": fields.get("cleanup_mode", b"").decode(),
        })

host = os.environ["TRON_TRANSCRIBE_HOST"]
port = int(os.environ["TRON_TRANSCRIBE_PORT"])
http.server.HTTPServer((host, port), Handler).serve_forever()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A data dir whose settings start `command` as the sidecar on a free port (health checked
/// every 100 ms, so a hung sidecar is found quickly).
fn data_dir(command: &str, port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"server": {"transcription": {
        "baseUrl": format!("http://127.0.0.1:{port}"),
        "sidecarCommand": command,
        "healthCheckIntervalMs": 100,
    }}});
    std::fs::write(dir.path().join("settings.json"), settings.to_string()).unwrap();
    dir
}

/// The fake sidecar's command; it records each start (its pid) in `<state>/starts`.
fn fake_command(state: &Path) -> String {
    let script = state.join("fake_sidecar.py");
    std::fs::write(&script, FAKE_SIDECAR).unwrap();
    format!("FAKE_STATE='{}' exec python3 '{}'", state.display(), script.display())
}

fn starts(state: &Path) -> Vec<u32> {
    std::fs::read_to_string(state.join("starts"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Waits (a minute at most: a hang is a failure) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_is_transcribed_by_the_sidecar_which_is_restarted_after_a_crash_or_hang_and_stopped_with_the_server(
) {
    let state = tempfile::tempdir().unwrap();
    let dir = data_dir(&fake_command(state.path()), free_port());
    let server = serve_in(dir.path(), None, Setup::default()).await.unwrap();
    let mut c = Client::connect(server.addr).await;

    let models = c.request("transcribe.listModels", json!({})).await;
    assert_eq!(models["result"]["defaultModelId"], "parakeet-tdt-0.6b-v3", "{models}");
    assert_eq!(
        models["result"]["models"][0],
        json!({"id": "parakeet-tdt-0.6b-v3", "label": "Parakeet TDT 0.6B v3", "description": "Fast transcription on Apple Silicon"})
    );

    let r = c
        .request(
            "transcribe.audio",
            json!({"audioBase64": format!("data:audio/m4a;base64,{}", b64("hello tron")), "language": "de"}),
        )
        .await;
    assert_eq!(
        r["result"],
        json!({
            "text": "heard: hello tron", "rawText": "hello tron", "language": "de", "durationSeconds": 1.5,
            "processingTimeMs": 12, "model": "mlx-community/parakeet-tdt-0.6b-v3", "device": "mlx",
            "computeType": "mlx", "cleanupMode": "basic"
        }),
        "{r}"
    );
    let first = starts(state.path());
    assert_eq!(first.len(), 1, "started once, with the server");

    // The sidecar dies: the watchdog starts it again, and transcription works again.
    assert!(std::process::Command::new("kill")
        .args(["-9", &first[0].to_string()])
        .status()
        .unwrap()
        .success());
    wait_until("the restart", || starts(state.path()).len() == 2);
    let r = c.request("transcribe.audio", json!({"audioBase64": b64("again"), "cleanupMode": "none"})).await;
    assert_eq!(r["result"]["text"], "heard: again", "{r}");
    assert_eq!(r["result"]["cleanupMode"], "none");
    let second = starts(state.path())[1];
    assert!(alive(second));

    // The sidecar hangs (its health check fails): the watchdog kills and restarts it.
    std::fs::write(state.path().join("unhealthy"), "").unwrap();
    wait_until("the restart of the hung sidecar", || starts(state.path()).len() == 3);
    std::fs::remove_file(state.path().join("unhealthy")).unwrap();
    let r = c.request("transcribe.audio", json!({"audioBase64": b64("third")})).await;
    assert_eq!(r["result"]["text"], "heard: third", "{r}");
    assert!(!alive(second), "the hung sidecar was killed");
    let third = starts(state.path())[2];

    // Stopping the server stops the sidecar; it is reaped, not left as a zombie.
    server.shutdown().await;
    assert!(!alive(third), "the sidecar outlived the server");
    assert!(!alive(first[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sidecar_command_is_a_clear_error_and_saves_nothing() {
    let dir = data_dir("/nonexistent/transcribe-sidecar --serve", free_port());
    let server = serve_in(dir.path(), None, Setup::default()).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let r = c.request("transcribe.audio", json!({"audioBase64": b64("x")})).await;
    assert_eq!(r["error"]["code"], "TRANSCRIPTION_ERROR", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`/nonexistent/transcribe-sidecar --serve` cannot run (exited with code 127)"),
        "{message}"
    );
    assert!(message.contains("server.transcription.sidecarCommand"), "{message}");

    let r = c.request("voiceNotes.save", json!({"audioBase64": b64("x")})).await;
    assert_eq!(r["error"]["code"], "VOICE_NOTE_ERROR", "{r}");
    assert!(!dir.path().join("notes").exists());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_notes_are_saved_listed_and_deleted_and_bad_params_change_nothing() {
    let state = tempfile::tempdir().unwrap();
    let dir = data_dir(&fake_command(state.path()), free_port());
    let server = serve_in(dir.path(), None, Setup::default()).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let notes: PathBuf = dir.path().join("notes");

    for (method, params, code, text) in [
        ("transcribe.audio", json!({}), "INVALID_PARAMS", "audioBase64 is required"),
        (
            "transcribe.audio",
            json!({"audioBase64": "%%%"}),
            "INVALID_PARAMS",
            "audioBase64 is not valid base64",
        ),
        ("transcribe.audio", json!({"audioBase64": ""}), "INVALID_PARAMS", "audioBase64 is required"),
        (
            "transcribe.audio",
            json!({"audioBase64": b64("x"), "task": "sing"}),
            "INVALID_PARAMS",
            "task must be one of",
        ),
        ("voiceNotes.save", json!({}), "INVALID_PARAMS", "audioBase64 is required"),
        ("voiceNotes.delete", json!({}), "INVALID_PARAMS", "filename is required"),
        ("voiceNotes.delete", json!({"filename": "../settings.json"}), "INVALID_PARAMS", "Invalid filename"),
        (
            "voiceNotes.delete",
            json!({"filename": "nope.md"}),
            "FILE_NOT_FOUND",
            "Voice note not found: nope.md",
        ),
        ("voiceNotes.list", json!({"limit": -1}), "INVALID_PARAMS", "limit must be"),
    ] {
        let r = c.request(method, params.clone()).await;
        assert_eq!(r["error"]["code"], code, "{method} {params}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains(text), "{method} {params}: {r}");
    }
    assert!(dir.path().join("settings.json").exists());
    assert!(!notes.exists());

    let empty = c.request("voiceNotes.list", json!({})).await;
    assert_eq!(empty["result"], json!({"notes": [], "totalCount": 0, "hasMore": false}));

    let saved =
        c.request("voiceNotes.save", json!({"audioBase64": b64("buy milk"), "mimeType": "audio/m4a"})).await;
    let result = &saved["result"];
    assert_eq!(result["success"], true, "{saved}");
    let filename = result["filename"].as_str().unwrap().to_owned();
    assert!(
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}-\d{6}-voice-note\.md$").unwrap().is_match(&filename),
        "{filename}"
    );
    assert_eq!(result["filepath"], notes.join(&filename).display().to_string());
    assert_eq!(
        result["transcription"],
        json!({"text": "heard: buy milk", "durationSeconds": 1.5, "language": "en"})
    );
    let content = std::fs::read_to_string(notes.join(&filename)).unwrap();
    assert!(content.starts_with("---\ntype: voice-note\ncreated: "), "{content}");
    assert!(content.contains(
        "\nduration: 1.5\nlanguage: en\nmodel: mlx-community/parakeet-tdt-0.6b-v3\n---\n\n# Voice Note - "
    ));
    assert!(content.ends_with("\n\nheard: buy milk\n"), "{content}");

    let listed = c.request("voiceNotes.list", json!({"limit": 10})).await;
    assert_eq!(listed["result"]["totalCount"], 1, "{listed}");
    assert_eq!(listed["result"]["hasMore"], false);
    let note = &listed["result"]["notes"][0];
    assert_eq!(note["filename"], filename.as_str());
    assert_eq!(note["transcript"], "heard: buy milk");
    assert_eq!(note["preview"], "heard: buy milk");
    assert_eq!(note["durationSeconds"], 1.5);
    assert_eq!(note["language"], "en");
    assert!(note["createdAt"].as_str().unwrap().ends_with('Z'));

    let deleted = c.request("voiceNotes.delete", json!({"filename": filename})).await;
    assert_eq!(deleted["result"], json!({"success": true, "filename": filename}));
    assert!(!notes.join(&filename).exists());
    let after = c.request("voiceNotes.list", json!({})).await;
    assert_eq!(after["result"]["totalCount"], 0);
    server.shutdown().await;
}

//! The agent loop through the real `tron chat` binary against the mock LLM server: abort by
//! signal (mid-stream and mid-tool), read-only tool calls run together, large results kept
//! whole as blobs, and `tron events messages` reconstructing exactly what the provider saw.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tron::core::messages::Message;
use tron::events::{EventStore, OpenMode};
use tron::llm::anthropic::convert_messages;
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn chat(mock: &MockLlm, db: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = common::chat_command(mock, db);
    cmd.args(args).arg("--cwd").arg(cwd);
    cmd
}

/// A data dir inside `dir` (the working dir): the guardrails refuse writes into tron's
/// data dir, so a test whose tools write must not work in it.
fn data_dir(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    data
}

/// A running `tron chat` whose stdout is collected as it arrives.
struct Running {
    child: Child,
    out: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Running { child, out, seen: String::new() }
    }

    /// Waits until stdout contains `text` (panics after a minute: a hang is a failure).
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("never saw {text:?} on stdout; saw {:?}", self.seen),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the exit (panics after a minute) and returns (code, stderr).
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                return (status.code(), err);
            }
            assert!(Instant::now() < deadline, "tron chat did not exit after the signal");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn session_events(db: &Path) -> (String, Vec<(String, Value)>) {
    common::only_session_events(db)
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[test]
fn ctrl_c_mid_stream_persists_the_partial_answer_and_exits_130() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::stream([
            Step::Text { text: "Looking at the parser now".into() },
            Step::DelayMs { ms: 30_000 },
            Step::Text { text: "never sent".into() },
        ]),
        ScriptedResponse::text("Picking up where we left off."),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let mut run = Running::start(chat(&mock, &db, dir.path(), &["why does the parser fail?"]));
    run.wait_for("parser now");
    run.signal("-INT");
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    let (session, events) = session_events(&db);
    assert_eq!(
        types(&events),
        [
            "session.start",
            "message.user",
            "stream.turn_start",
            "message.assistant",
            "notification.interrupted"
        ]
    );
    let assistant = &events[3].1;
    assert_eq!(assistant["stopReason"], "interrupted");
    assert_eq!(assistant["interrupted"], true);
    assert_eq!(assistant["content"], json!([{"type": "text", "text": "Looking at the parser now"}]));
    assert_eq!(events[4].1["turn"], 1);

    // The session continues: the model sees the partial answer.
    let out = chat(&mock, &db, dir.path(), &["go on", "--resume", &session]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = &mock.requests()[1].body["messages"];
    assert_eq!(sent[1]["role"], "assistant");
    assert_eq!(sent[1]["content"][0]["text"], "Looking at the parser now");
}

#[test]
fn ctrl_c_mid_tool_kills_the_command_and_closes_every_call() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleeper.pid");
    let command = format!("sh -c 'echo $$ > {}; exec sleep 60'", pid_file.display());
    let script = Script::new([ScriptedResponse::stream([
        Step::ToolCall { id: "toolu_1".into(), name: "Bash".into(), input: json!({"command": command}) },
        Step::ToolCall { id: "toolu_2".into(), name: "Bash".into(), input: json!({"command": "echo later"}) },
    ])]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    // tron's data dir apart from the working dir (guardrails refuse writes into it).
    let db = data_dir(&dir).join("prod.db");
    let mut run =
        Running::start(chat(&mock, &db, dir.path(), &["run the sleeper", "--output", "stream-json"]));
    run.wait_for("\"tool_start\"");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sleeper: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    run.signal("-TERM");
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(!Path::new(&format!("/proc/{sleeper}")).exists(), "the command's process group was not killed");

    let (_, events) = session_events(&db);
    assert_eq!(
        types(&events),
        [
            "session.start",
            "message.user",
            "stream.turn_start",
            "message.assistant",
            "tool.call",
            "tool.result",
            "tool.call",
            "tool.result",
            "notification.interrupted"
        ]
    );
    let first = &events[5].1;
    assert_eq!(first["toolCallId"], "toolu_1");
    assert_eq!(first["isError"], true);
    assert_eq!(first["interrupted"], true);
    assert!(first["content"].as_str().unwrap().contains("interrupted"), "{first}");
    let second = &events[7].1;
    assert_eq!(second["toolCallId"], "toolu_2");
    assert_eq!(second["interrupted"], true);
    assert!(second["content"].as_str().unwrap().starts_with("Not run"), "{second}");
}

#[test]
fn ctrl_c_during_a_blocking_subagent_aborts_the_child_records_it_and_exits_130() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_spawn",
            "SpawnSubagent",
            json!({"task": "Read every file slowly"}),
        ),
        // The child's answer, still streaming when Ctrl-C comes.
        ScriptedResponse::stream([
            Step::Text { text: "Reading the first file".into() },
            Step::DelayMs { ms: 30_000 },
            Step::Text { text: "never sent".into() },
        ]),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let mut run =
        Running::start(chat(&mock, &db, dir.path(), &["delegate the reading", "--output", "stream-json"]));
    run.wait_for("\"subagent_spawned\"");
    // The child has asked the model (it is mid-answer, blocked on the delay).
    let deadline = Instant::now() + Duration::from_secs(60);
    while mock.requests().len() < 2 {
        assert!(Instant::now() < deadline, "the child never asked the model");
        std::thread::sleep(Duration::from_millis(10));
    }
    run.signal("-INT");
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // The parent's log: the child spawned, started its turn, and failed as aborted; the
    // spawn's tool call is closed.
    let (_, events) = session_events(&db);
    let lifecycle: Vec<&str> = types(&events).into_iter().filter(|t| t.starts_with("subagent.")).collect();
    assert_eq!(lifecycle, ["subagent.spawned", "subagent.status_update", "subagent.failed"], "{events:#?}");
    let failed = &events.iter().find(|(t, _)| t == "subagent.failed").unwrap().1;
    assert_eq!(failed["completionType"], "aborted", "{failed}");
    assert_eq!(failed["recoverable"], false);
    assert!(failed["duration"].is_i64());
    let result = &events.iter().find(|(t, _)| t == "tool.result").expect("the spawn's result").1;
    assert_eq!(result["toolCallId"], "toolu_spawn");
    assert!(types(&events).contains(&"notification.interrupted"), "{events:#?}");

    // The child's own log keeps what it had streamed, marked interrupted.
    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    let all = tron::events::ListOptions { include_subagents: true, ..Default::default() };
    let child = store
        .list_sessions(&all)
        .unwrap()
        .into_iter()
        .find(|s| s.spawning_session_id.is_some())
        .expect("the child session");
    let child_events = store.events(child.id.as_str()).unwrap();
    let assistant = child_events.iter().find(|e| e.event_type.as_str() == "message.assistant").unwrap();
    assert_eq!(assistant.payload["stopReason"], "interrupted", "{}", assistant.payload);
    assert_eq!(mock.requests().len(), 2, "nothing asked the model after Ctrl-C");
}

#[test]
fn read_only_calls_run_together_and_results_stay_in_call_order() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.path().join("b.txt"), "beta\n").unwrap();
    let big = "x".repeat(3000);
    let script = Script::new([
        ScriptedResponse::stream([
            Step::ToolCall {
                id: "toolu_a".into(),
                name: "Read".into(),
                input: json!({"file_path": "a.txt"}),
            },
            Step::ToolCall {
                id: "toolu_b".into(),
                name: "Read".into(),
                input: json!({"file_path": "b.txt"}),
            },
            Step::ToolCall {
                id: "toolu_c".into(),
                name: "Bash".into(),
                input: json!({"command": format!("printf {big}")}),
            },
        ]),
        ScriptedResponse::text("Both read."),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let db = dir.path().join("prod.db");
    let out = chat(&mock, &db, dir.path(), &["read both"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (session, events) = session_events(&db);
    let tools: Vec<(&str, &str)> = events
        .iter()
        .filter(|(t, _)| t.starts_with("tool."))
        .map(|(t, p)| (t.as_str(), p["toolCallId"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tools,
        [
            ("tool.call", "toolu_a"),
            ("tool.call", "toolu_b"),
            ("tool.result", "toolu_a"),
            ("tool.result", "toolu_b"),
            ("tool.call", "toolu_c"),
            ("tool.result", "toolu_c"),
        ]
    );
    // The 3000-byte result is kept whole as a blob; the small ones are not.
    let results: Vec<&Value> = events.iter().filter(|(t, _)| t == "tool.result").map(|(_, p)| p).collect();
    assert!(results[0].get("blobId").is_none());
    let blob = results[2]["blobId"].as_str().expect("a blob id on the large result");
    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    assert_eq!(store.blob(blob).unwrap().content, big.as_bytes());
    assert_eq!(results[2]["content"], big.as_str());

    // What `tron events messages` reconstructs is exactly what the provider was sent.
    let out = Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["events", "messages", &session, "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut messages: Vec<Message> = rec["messagesWithEventIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_value(m["message"].clone()).unwrap())
        .collect();
    let last = messages.pop().unwrap();
    assert_eq!(last.text(), "Both read.");
    let mut sent = mock.requests()[1].body["messages"].clone();
    strip_cache_control(&mut sent);
    assert_eq!(Value::Array(convert_messages(&messages)), sent);
}

fn strip_cache_control(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("cache_control");
            o.values_mut().for_each(strip_cache_control);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_cache_control),
        _ => {}
    }
}

#[test]
fn credentials_come_from_the_auth_file_when_the_environment_has_none() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("Signed in.")]))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let auth = dir.path().join("auth.json");
    let file = json!({"version": 1, "providers": {"anthropic": {"oauth": {
        "accessToken": "sk-ant-oat01-from-file", "refreshToken": "r", "expiresAt": 4_102_444_800_000_i64}}}});
    std::fs::write(&auth, file.to_string()).unwrap();
    let out = chat(&mock, &db, dir.path(), &["hi"]).env_remove("ANTHROPIC_API_KEY").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let request = &mock.requests()[0];
    assert_eq!(request.header("authorization"), Some("Bearer sk-ant-oat01-from-file"));
    assert_eq!(request.header("x-api-key"), None);

    // A corrupt file: a clear error naming it, nothing sent, the file untouched.
    std::fs::write(&auth, "{\"version\": 1, \"providers\": ").unwrap();
    let out = chat(&mock, &db, dir.path(), &["hi"]).env_remove("ANTHROPIC_API_KEY").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.json") && err.contains("not valid"), "{err}");
    assert_eq!(std::fs::read_to_string(&auth).unwrap(), "{\"version\": 1, \"providers\": ");
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn write_then_edit_change_the_file_in_the_session_directory() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_w",
            "Write",
            json!({"file_path": "src/lib.rs", "content": "pub fn answer() -> u32 {\n    41\n}\n"}),
        ),
        ScriptedResponse::tool_call(
            "toolu_e",
            "Edit",
            json!({"file_path": "src/lib.rs", "old_string": "41", "new_string": "42"}),
        ),
        ScriptedResponse::tool_call(
            "toolu_bad",
            "Edit",
            json!({"file_path": "src/lib.rs", "old_string": "no such text", "new_string": "x"}),
        ),
        ScriptedResponse::text("Fixed."),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = data_dir(&dir).join("prod.db");
    let out = chat(&mock, &db, dir.path(), &["fix the answer"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 {\n    42\n}\n"
    );

    let (_, events) = session_events(&db);
    let results: Vec<&Value> = events.iter().filter(|(t, _)| t == "tool.result").map(|(_, p)| p).collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["isError"], false);
    assert_eq!(results[1]["isError"], false);
    assert_eq!(results[2]["isError"], true);
    // Each result went back to the model in the next request.
    let requests = mock.requests();
    let last_user = |i: usize| requests[i].body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_user(1)["content"][0]["tool_use_id"], "toolu_w");
    assert_eq!(last_user(3)["content"][0]["tool_use_id"], "toolu_bad");
    assert_eq!(last_user(3)["content"][0]["is_error"], true);
}

//! Settings through the wire and through the real binary: `settings.get` in both shapes the
//! iOS app has decoded, `settings.update`, hot reload of a hand-edited file reaching new
//! prompts, and bad settings files that are reported and never rewritten.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{start, Client};
use serde_json::{json, Value};
use tron::testing::{Script, ScriptedResponse};

#[tokio::test]
async fn settings_get_answers_the_flat_and_the_nested_shape() {
    // (Test servers turn the ledger off through the environment; this one shows the default.)
    let setup = common::Setup { memory_ledger: true, ..Default::default() };
    let server = common::start_with(Script::default(), setup).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let s = c.call("settings.get", json!({})).await;
    // The TypeScript server's flat keys (the app's older decoder).
    assert_eq!(s["defaultModel"], "claude-sonnet-4-20250514");
    assert_eq!(s["maxConcurrentSessions"], 10);
    assert_eq!(
        s["compaction"],
        json!({"preserveRecentTurns": 5, "forceAlways": false, "triggerTokenThreshold": 0.7,
               "alertZoneThreshold": 0.5, "defaultTurnFallback": 8, "alertTurnFallback": 5})
    );
    assert_eq!(
        s["memory"],
        json!({"ledger": {"enabled": true}, "autoInject": {"enabled": false, "count": 5}})
    );
    assert_eq!(s["rules"], json!({"discoverStandaloneFiles": true}));
    assert_eq!(
        s["tools"]["web"],
        json!({"fetch": {"timeoutMs": 30000}, "cache": {"ttlMs": 900000, "maxEntries": 100}})
    );
    assert!(s.get("defaultWorkspace").is_none(), "left out when not set");
    // The whole tree (the app's newer decoder).
    assert_eq!(s["models"]["default"], "claude-opus-4-6");
    assert_eq!(s["server"]["wsPort"], 8080);
    assert_eq!(s["context"]["compactor"]["preserveRecentCount"], 5);
    assert_eq!(s["tools"]["bash"]["maxOutputLength"], 40000);
}

#[tokio::test]
async fn settings_update_merges_into_the_file_and_new_sessions_see_it() {
    let server = start(Script::default()).await;
    let file = Path::new(&server.dir()).join("settings.json");
    std::fs::write(&file, r#"{"fromTheApp": {"keep": true}}"#).unwrap();
    let mut c = Client::connect(server.addr).await;
    let patch = json!({"server": {"defaultModel": "claude-haiku-4-5", "defaultWorkspace": "/tmp"},
                       "context": {"compactor": {"preserveRecentCount": 9}}});
    assert_eq!(c.call("settings.update", json!({"settings": patch})).await, json!({"success": true}));

    let s = c.call("settings.get", json!({})).await;
    assert_eq!(s["defaultModel"], "claude-haiku-4-5");
    assert_eq!(s["defaultWorkspace"], "/tmp");
    assert_eq!(s["compaction"]["preserveRecentTurns"], 9);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["fromTheApp"], json!({"keep": true}), "keys tron does not know are kept");
    assert_eq!(written["server"], json!({"defaultModel": "claude-haiku-4-5", "defaultWorkspace": "/tmp"}));
    assert!(written.get("tools").is_none(), "defaults are never written to the file");

    let created = c.call("session.create", json!({"workingDirectory": server.dir()})).await;
    assert_eq!(created["model"], "claude-haiku-4-5", "server.defaultModel names a new session's model");
}

#[tokio::test]
async fn bad_updates_are_refused_and_change_nothing() {
    let server = start(Script::default()).await;
    let file = Path::new(&server.dir()).join("settings.json");
    std::fs::write(&file, "{\"server\": {\"maxConcurrentSessions\": 4}}\n").unwrap();
    let before = std::fs::read(&file).unwrap();
    let mut c = Client::connect(server.addr).await;

    let e = c.fail("settings.update", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "settings is required"}));
    let e = c.fail("settings.update", json!({"settings": "dark mode"})).await;
    assert_eq!(e["message"], "settings must be an object");
    let e = c.fail("settings.update", json!({"settings": {"server": {"wsPort": "eighty"}}})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert!(e["message"].as_str().unwrap().contains("`server.wsPort` must be a whole number"), "{e}");
    let e = c
        .fail(
            "settings.update",
            json!({"settings": {"tools": {"bash": {"dangerousPatterns": ["(unclosed"]}}}}),
        )
        .await;
    assert!(e["message"].as_str().unwrap().contains("tools.bash.dangerousPatterns"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // A file broken by hand is reported, not "repaired".
    std::fs::write(&file, "{\"server\": ").unwrap();
    let e = c.fail("settings.update", json!({"settings": {"server": {"maxConcurrentSessions": 3}}})).await;
    assert_eq!(e["code"], "INTERNAL_ERROR");
    assert!(e["message"].as_str().unwrap().contains("is not valid JSON (line 1"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"server\": ");
}

#[tokio::test]
async fn bash_settings_reach_the_next_prompt() {
    let script = Script::new([
        ScriptedResponse::tool_call("t1", "Bash", json!({"command": "echo hello"})),
        ScriptedResponse::text("done"),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let patch = json!({"tools": {"bash": {"dangerousPatterns": ["^echo\\s"]}}});
    c.call("settings.update", json!({"settings": patch})).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "say hello"})).await;
    c.until("agent.complete").await;
    let result =
        server.persisted(&session).into_iter().find(|e| e["type"] == "tool.result").expect("a tool result");
    assert_eq!(result["payload"]["isError"], true);
    assert!(result["payload"]["content"].to_string().contains("Command blocked for safety"), "{result}");
}

#[tokio::test]
async fn logs_export_saves_the_apps_logs_under_the_data_dir() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let r = c.call("logs.export", json!({"content": "line 1\nline 2", "filename": "ios.txt"})).await;
    let path = Path::new(&server.dir()).join("artifacts/ios-logs/ios.txt");
    assert_eq!(r, json!({"success": true, "path": path.display().to_string(), "bytesWritten": 13}));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "line 1\nline 2");
    let e = c.fail("logs.export", json!({"content": "x", "filename": "../../escape.txt"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("logs.export", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "content is required"}));
}

/// A `tron serve` process on a free port with its data in `dir`.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let (child, addr) = common::spawn_serve(serve_command(dir).stderr(Stdio::null()));
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_command(dir: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("tron"));
    cmd.args(["serve", "--port", "0"]).env("TRON_DATA_DIR", dir).env("HOME", dir).env_remove("TRON_WS_PORT");
    cmd
}

/// Polls `settings.get` until `check` holds (hot reload is asynchronous), for up to 20 s.
async fn settings_until(c: &mut Client, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = c.call("settings.get", json!({})).await;
        if check(&s) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_hand_edit_of_the_file_reaches_the_running_server_and_a_bad_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    let serve = Serve::start(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = Client::connect(serve.addr).await;
        std::fs::write(&file, r#"{"server": {"maxConcurrentSessions": 2}}"#).unwrap();
        let s = settings_until(&mut c, |s| s["maxConcurrentSessions"] == 2).await;
        assert_eq!(s["maxConcurrentSessions"], 2, "the edit was not picked up");

        std::fs::write(&file, r#"{"server": {"maxConcurrentSessions": "two"}}"#).unwrap();
        std::fs::write(&file, r#"{"server": {"maxConcurrentSessions": "three"}}"#).unwrap();
        // Give the watcher time to see it, then check the old settings are still in force.
        std::fs::write(dir.path().join("marker"), "").unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let s = c.call("settings.get", json!({})).await;
        assert_eq!(s["maxConcurrentSessions"], 2, "a bad edit must not replace good settings");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            r#"{"server": {"maxConcurrentSessions": "three"}}"#
        );

        std::fs::write(&file, r#"{"server": {"maxConcurrentSessions": 3}}"#).unwrap();
        let s = settings_until(&mut c, |s| s["maxConcurrentSessions"] == 3).await;
        assert_eq!(s["maxConcurrentSessions"], 3, "a fixed file is picked up again");
    });
}

#[test]
fn a_bad_settings_file_stops_the_binary_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    std::fs::write(&file, "{\n  \"server\": {\n    \"wsPort\": \"8080\"\n  }\n}\n").unwrap();
    let out = serve_command(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("settings.json line 3: `server.wsPort` must be a whole number"), "{err}");

    std::fs::write(&file, "{\"agent\": {\"maxTurns\": 3,}}").unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["chat", "hi"])
        .env("TRON_DATA_DIR", dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not valid JSON (line 1, column"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"agent\": {\"maxTurns\": 3,}}");
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.json"), r#"{"server": {"wsPort": 1}}"#).unwrap();
    // --port 0 (a flag) wins over TRON_WS_PORT and the file's port 1 (which would fail to bind).
    let (child, addr) =
        common::spawn_serve(serve_command(dir.path()).env("TRON_WS_PORT", "2").stderr(Stdio::null()));
    assert!(addr.port() != 1 && addr.port() != 2, "{addr}");
    drop(Serve { child, addr });
}

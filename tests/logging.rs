//! Logging through the real binary: `tron serve` stores its log records in the `logs`
//! table of its event database (with the request's id, method and session), a real API key
//! passing through the request path never reaches stderr or the table, `tron events logs`
//! reads records back with its filters, and bad input is a clear error.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::Client;
use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse};

/// Shaped like real keys; neither may ever be seen in a log.
const ANTHROPIC_KEY: &str =
    "sk-ant-api03-Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla-x1Y2AAA";
const OPENAI_KEY: &str = "sk-proj-T3BlbkFJabcdefghijklmnopqrstuvwxyz0123456789";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn tron() -> Command {
    let mut cmd = Command::cargo_bin("tron").unwrap();
    cmd.env_remove("TRON_LOG").env_remove("RUST_LOG").env_remove("TRON_EVENT_STORE_DB");
    cmd
}

fn logs(db: &Path, args: &[&str]) -> Value {
    let out = tron().args(["events", "logs", "--json", "--db"]).arg(db).args(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Every text column of every row of `logs`, as one string.
fn whole_logs_table(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT * FROM logs").unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    rows.map(|r| r.unwrap().join("|")).collect::<Vec<_>>().join("\n")
}

#[test]
fn serve_stores_request_logs_and_never_a_key() {
    let rt = runtime();
    let mock = rt
        .block_on(MockLlm::start(Script::new([
            ScriptedResponse::tool_call("toolu_1", "Bash", json!({"command": "echo hi"})),
            ScriptedResponse::text("Logged and answered."),
        ])))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db/prod.db");
    let (child, addr) = common::spawn_serve(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
            .env("TRON_MEMORY_LEDGER", "false")
            .args(["--log-format", "json", "serve", "--port", "0", "--db"])
            .arg(&db)
            .env("TRON_DATA_DIR", dir.path())
            .env("TRON_LOG", "trace")
            // logging.dbLogLevel (default info) through its environment variable.
            .env("TRON_LOG_DB_LEVEL", "trace")
            .env_remove("RUST_LOG")
            .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("TRON_ANTHROPIC_BASE_URL", mock.base_url())
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .stderr(std::process::Stdio::piped()),
    );
    let session = rt.block_on(async {
        let mut c = Client::connect(addr).await;
        let session = c.session(dir.path().to_str().unwrap()).await;
        // The user pastes a key; a client sends credentials as params.
        let prompt = format!("why is {ANTHROPIC_KEY} rejected?");
        c.call("agent.prompt", json!({"sessionId": session, "prompt": prompt})).await;
        c.call("system.ping", json!({"apiKey": OPENAI_KEY, "accessToken": "oauth-access-0123456789"})).await;
        assert_eq!(c.until("agent.complete").await["data"]["success"], true);
        c.fail("session.resume", json!({"sessionId": "sess_missing"})).await;
        session
    });
    assert_eq!(mock.requests().len(), 2, "the key went through the request path");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    // JSON lines (besides the server's own plain notices), with the request span's fields.
    let lines: Vec<Value> =
        stderr.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "listening"), "{stderr}");
    let failed = lines.iter().find(|l| l["fields"]["message"] == "request failed").expect("request failed");
    assert_eq!(failed["span"]["method"], "session.resume", "{failed}");
    assert_eq!(failed["span"]["session_id"], "sess_missing", "{failed}");
    for key in [ANTHROPIC_KEY, OPENAI_KEY, &ANTHROPIC_KEY[14..40], "oauth-access-0123456789"] {
        assert!(!stderr.contains(key), "a key reached stderr:\n{stderr}");
    }
    assert!(stderr.contains("why is sk-ant-[REDACTED] rejected?"), "the request was logged:\n{stderr}");
    let table = whole_logs_table(&db);
    for key in [ANTHROPIC_KEY, OPENAI_KEY, &ANTHROPIC_KEY[14..40], "oauth-access-0123456789"] {
        assert!(!table.contains(key), "a key reached the logs table:\n{table}");
    }

    // The failed request is stored with its span's fields; logs_fts finds it.
    let failed = logs(&db, &["--search", "request failed"]);
    let failed = failed["logs"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["sessionId"], "sess_missing");
    assert_eq!(failed[0]["data"]["method"], "session.resume");
    assert!(failed[0]["data"]["request_id"].as_str().unwrap().starts_with("REQ-"));
    // Records made inside the prompt request carry its session.
    let of_session = logs(&db, &["--session", &session, "--limit", "0"]);
    assert!(
        of_session["logs"].as_array().unwrap().iter().all(|r| r["sessionId"] == session.as_str()),
        "{of_session}"
    );
    // The run's records carry its session and run id (the run task's span): the guardrails'
    // check of the tool call, for one.
    let checked = logs(&db, &["--session", &session, "--component", "tron::guardrails", "--level", "trace"]);
    let check = checked["logs"].as_array().unwrap().iter().find(|r| r["message"] == "guardrails passed");
    let check = check.unwrap_or_else(|| panic!("no guardrail record: {checked}"));
    assert!(check["data"]["run_id"].as_str().is_some_and(|r| !r.is_empty()), "{check}");
    assert_eq!(check["data"]["tool_call_id"], "toolu_1");
    let requests = logs(&db, &["--search", "request", "--level", "trace", "--limit", "0"]);
    let stored: Vec<&Value> =
        requests["logs"].as_array().unwrap().iter().filter(|r| r["message"] == "request").collect();
    assert_eq!(stored.len(), 4, "{requests}");
    assert!(
        stored.iter().any(|r| r["data"]["params"].as_str().unwrap().contains("[REDACTED]")),
        "{requests}"
    );
    let info = logs(&db, &["--level", "info"]);
    let messages: Vec<&str> =
        info["logs"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert!(messages.contains(&"listening") && messages.contains(&"stopped"), "{messages:?}");
    assert!(info["logs"].as_array().unwrap().iter().all(|r| r["levelNum"].as_i64().unwrap() >= 30));
}

#[test]
fn chat_with_trace_logging_shows_no_key_and_json_lines_go_to_stderr() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("Plain answer.")]))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = Command::from_std(common::chat_command(&mock, &db))
        .args(["--log-format", "json", "say something", "--cwd"])
        .arg(dir.path())
        .env("TRON_LOG", "trace")
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let output = out.get_output();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Plain answer.\n", "stdout carries only the answer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for key in [ANTHROPIC_KEY, OPENAI_KEY] {
        assert!(!stderr.contains(key), "a key reached stderr:\n{stderr}");
    }
    for line in stderr.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
    }
    assert_eq!(mock.requests().len(), 1);
}

/// A database with log rows as the TypeScript server wrote them.
fn typescript_logs() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    tron::events::EventStore::open(&db, tron::events::OpenMode::Create).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows = [
        ("2020-01-01T00:00:00.000Z", "info", 30, "server", "old start", None, None),
        ("2099-01-01T00:00:01.000Z", "debug", 20, "rpc", "prompt received", Some("sess_a"), None),
        ("2099-01-01T00:00:02.000Z", "warn", 40, "anthropic", "rate limited, retrying", Some("sess_a"), None),
        (
            "2099-01-01T00:00:03.000Z",
            "error",
            50,
            "turn",
            "turn failed",
            Some("sess_b"),
            Some("socket closed"),
        ),
    ];
    for (ts, level, num, component, message, session, error) in rows {
        conn.execute(
            "INSERT INTO logs (timestamp, level, level_num, component, message, session_id, error_message, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '{\"attempt\":2}')",
            rusqlite::params![ts, level, num, component, message, session, error],
        )
        .unwrap();
    }
    (dir, db)
}

fn messages(v: &Value) -> Vec<String> {
    v["logs"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn events_logs_filters_typescript_rows() {
    let (_dir, db) = typescript_logs();
    assert_eq!(
        messages(&logs(&db, &[])),
        ["old start", "prompt received", "rate limited, retrying", "turn failed"],
        "oldest first, newest last"
    );
    assert_eq!(messages(&logs(&db, &["--level", "warn"])), ["rate limited, retrying", "turn failed"]);
    assert_eq!(messages(&logs(&db, &["--session", "sess_a"])), ["prompt received", "rate limited, retrying"]);
    assert_eq!(messages(&logs(&db, &["--since", "2050-01-01"])).len(), 3);
    assert_eq!(messages(&logs(&db, &["--since", "1d"])).len(), 3, "future rows are newer than a day ago");
    assert_eq!(messages(&logs(&db, &["--search", "retry*"])), ["rate limited, retrying"]);
    assert_eq!(messages(&logs(&db, &["--search", "socket"])), ["turn failed"], "error_message is searched");
    assert_eq!(messages(&logs(&db, &["--limit", "2"])), ["rate limited, retrying", "turn failed"]);
    let row = &logs(&db, &["--limit", "1"])["logs"][0];
    assert_eq!(row["levelNum"], 50);
    assert_eq!(row["errorMessage"], "socket closed");
    assert_eq!(row["data"], json!({"attempt": 2}));

    let out = tron().args(["events", "logs", "--db"]).arg(&db).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[3].starts_with("2099-01-01 00:00:03.000  ERROR  turn  sess_b  turn failed"), "{text}");
    assert!(lines[3].contains("error=socket closed") && lines[3].contains("attempt=2"), "{text}");
}

#[test]
fn bad_filters_and_bad_log_settings_are_clear_errors() {
    let (_dir, db) = typescript_logs();
    for (args, says) in [
        (vec!["--since", "garbage"], "invalid --since \"garbage\""),
        (vec!["--level", "loud"], "unknown log level \"loud\""),
        (vec!["--search", "  "], "--search needs at least one word"),
    ] {
        let out = tron().args(["events", "logs", "--db"]).arg(&db).args(&args).assert().code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.starts_with("error: ") && stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.get_output().stdout.is_empty());
    }
    let out = tron().args(["events", "logs", "--db"]).arg(&db).env("TRON_LOG", "tron=loud").assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("invalid TRON_LOG \"tron=loud\""), "{stderr}");
    tron().args(["--log-format", "xml", "events", "logs", "--db"]).arg(&db).assert().code(2);
}

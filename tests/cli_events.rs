//! `tron events` through the real binary: every subcommand on a real SQLite file in a temp
//! dir, and the bad inputs (missing, non-SQLite and corrupt files, unknown ids, bad import
//! lines) each giving a clear error and changing nothing.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};
use tron::events::{EventStore, NewEvent, NewSession, OpenMode};

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    session: String,
    user_event: String,
    assistant_event: String,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").join("prod.db");
    let store = EventStore::open(&db, OpenMode::Create).unwrap();
    let (row, _) = store
        .create_session(NewSession {
            working_directory: "/home/me/project".into(),
            model: "claude-sonnet-4-5".into(),
            title: Some("Fix the tests".into()),
            ..Default::default()
        })
        .unwrap();
    let u = store
        .append(&row.id, NewEvent::raw("message.user", json!({"content": "why does the parser fail?"})))
        .unwrap();
    let a = store
        .append(
            &row.id,
            NewEvent::raw(
                "message.assistant",
                json!({"content": [{"type": "text", "text": "The tokenizer drops the last byte."}], "turn": 1,
                       "tokenUsage": {"inputTokens": 1200, "outputTokens": 80}}),
            ),
        )
        .unwrap();
    Fixture {
        db,
        session: row.id.to_string(),
        user_event: u.id.to_string(),
        assistant_event: a.id.to_string(),
        _dir: dir,
    }
}

fn tron() -> Command {
    let mut cmd = Command::cargo_bin("tron").unwrap();
    cmd.env_remove("TRON_EVENT_STORE_DB").env_remove("TRON_DATA_DIR");
    cmd
}

fn events(db: &Path, args: &[&str]) -> Command {
    let mut cmd = tron();
    cmd.arg("events").args(args).arg("--db").arg(db);
    cmd
}

fn stdout_json(mut cmd: impl std::borrow::BorrowMut<Command>) -> Value {
    let cmd = cmd.borrow_mut();
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out)))
}

fn stderr_of(mut cmd: impl std::borrow::BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = cmd.assert().failure().code(1).get_output().stderr.clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn help_lists_all_seven_subcommands() {
    let out = tron().arg("--help").assert().success().get_output().stdout.clone();
    let help = String::from_utf8(out).unwrap();
    for sub in ["serve", "chat", "events", "auth", "embed", "worktree", "replay"] {
        assert!(help.contains(&format!("  {sub} ")), "{sub} missing from:\n{help}");
    }
}

#[test]
fn list_shows_sessions_as_json_and_as_plain_text() {
    let f = fixture();
    let v = stdout_json(events(&f.db, &["list", "--json"]));
    let s = &v["sessions"][0];
    assert_eq!(s["id"], f.session.as_str());
    assert_eq!(s["title"], "Fix the tests");
    assert_eq!(s["latestModel"], "claude-sonnet-4-5");
    assert_eq!(s["eventCount"], 3);
    assert_eq!(s["totalInputTokens"], 1200);
    let out = events(&f.db, &["list"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("SESSION\tTITLE\tMODEL"));
    assert!(lines
        .next()
        .unwrap()
        .starts_with(&format!("{}\tFix the tests\tclaude-sonnet-4-5\t/home/me/project", f.session)));
}

#[test]
fn db_defaults_follow_the_environment() {
    let f = fixture();
    let mut cmd = tron();
    cmd.args(["events", "list", "--json"]).env("TRON_EVENT_STORE_DB", &f.db);
    assert_eq!(stdout_json(&mut cmd)["sessions"].as_array().unwrap().len(), 1);
    let data_dir = f.db.parent().unwrap().parent().unwrap();
    let mut cmd = tron();
    cmd.args(["events", "list", "--json"]).env("TRON_DATA_DIR", data_dir);
    assert_eq!(stdout_json(&mut cmd)["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn show_and_messages_read_the_session() {
    let f = fixture();
    let out = events(&f.db, &["show", &f.session]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("message.user"), "{text}");
    assert!(text.contains("why does the parser fail?"), "{text}");
    let v = stdout_json(events(&f.db, &["show", &f.session, "--json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    let v = stdout_json(events(&f.db, &["messages", &f.session, "--json"]));
    let msgs = v["messagesWithEventIds"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["message"], json!({"role": "user", "content": "why does the parser fail?"}));
    let v = stdout_json(events(&f.db, &["messages", &f.session, "--at", &f.user_event, "--json"]));
    assert_eq!(v["messagesWithEventIds"].as_array().unwrap().len(), 1);
    let out = events(&f.db, &["messages", &f.session]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(out).unwrap().contains("## Assistant\n\nThe tokenizer drops the last byte."));
}

#[test]
fn search_fork_and_rewind() {
    let f = fixture();
    let v = stdout_json(events(&f.db, &["search", "tokenizer", "--json"]));
    assert_eq!(v["totalCount"], 1);
    assert_eq!(v["results"][0]["eventId"], f.assistant_event.as_str());
    let v = stdout_json(events(&f.db, &["search", "parser", "--type", "message.assistant", "--json"]));
    assert_eq!(v["totalCount"], 0);

    let v = stdout_json(events(&f.db, &["fork", &f.user_event, "--title", "try again", "--json"]));
    let fork = v["newSessionId"].as_str().unwrap().to_owned();
    assert_eq!(v["forkedFromSessionId"], f.session.as_str());
    let msgs = stdout_json(events(&f.db, &["messages", &fork, "--json"]));
    assert_eq!(msgs["messagesWithEventIds"].as_array().unwrap().len(), 1);

    let v = stdout_json(events(&f.db, &["rewind", &f.session, &f.user_event, "--json"]));
    assert_eq!(v["headEventId"], f.user_event.as_str());
    let msgs = stdout_json(events(&f.db, &["messages", &f.session, "--json"]));
    assert_eq!(msgs["messagesWithEventIds"].as_array().unwrap().len(), 1);
    let shown = stdout_json(events(&f.db, &["show", &f.session, "--json"]));
    assert_eq!(shown["events"].as_array().unwrap().len(), 3, "rewind deletes nothing");
    let out = events(&f.db, &["show", &f.session]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    let marked: Vec<&str> =
        text.lines().filter(|l| l.starts_with('~') && !l.starts_with("~ marks")).collect();
    assert_eq!(marked.len(), 1, "only the rewound-away assistant event is off the chain:\n{text}");
    assert!(marked[0].contains(&f.assistant_event));
}

#[test]
fn export_then_import_gives_identical_events() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.jsonl");
    events(&f.db, &["export", &f.session, "--out", file.to_str().unwrap()]).assert().success();
    let fresh = dir.path().join("fresh.db");
    let v = stdout_json(events(&fresh, &["import", file.to_str().unwrap(), "--json"]));
    assert_eq!(v, json!({"sessions": 1, "events": 3}));
    let a = stdout_json(events(&f.db, &["show", &f.session, "--json"]));
    let b = stdout_json(events(&fresh, &["show", &f.session, "--json"]));
    assert_eq!(a["events"], b["events"]);
    assert_eq!(a["session"]["title"], b["session"]["title"]);
    assert_eq!(a["session"]["totalInputTokens"], b["session"]["totalInputTokens"]);
    // Importing the same file again clashes and changes nothing.
    let err = stderr_of(events(&fresh, &["import", file.to_str().unwrap()]));
    assert!(err.contains("line 1") && err.contains("already exists"), "{err}");

    let v = stdout_json(events(&f.db, &["export", &f.session, "--format", "json"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    let out = events(&f.db, &["export", &f.session, "--format", "md"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(out).unwrap();
    assert!(md.starts_with("# Fix the tests\n"), "{md}");
}

#[test]
fn import_with_a_bad_line_names_it_and_imports_nothing() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.jsonl");
    let out = events(&f.db, &["export", &f.session]).assert().success().get_output().stdout.clone();
    let mut text = String::from_utf8(out).unwrap();
    text.push_str("{\"this is\": \"not an event\"}\n");
    std::fs::write(&file, text).unwrap();
    let fresh = dir.path().join("fresh.db");
    let err = stderr_of(events(&fresh, &["import", file.to_str().unwrap()]));
    assert!(err.contains("line 4"), "{err}");
    let v = stdout_json(events(&fresh, &["list", "--json", "--all"]));
    assert_eq!(v["sessions"], json!([]));
}

#[test]
fn unknown_ids_are_named() {
    let f = fixture();
    let err = stderr_of(events(&f.db, &["show", "sess_doesnotexist"]));
    assert_eq!(err, "error: session not found: sess_doesnotexist\n");
    let err = stderr_of(events(&f.db, &["fork", "evt_doesnotexist"]));
    assert_eq!(err, "error: event not found: evt_doesnotexist\n");
    let err = stderr_of(events(&f.db, &["rewind", &f.session, "evt_nope"]));
    assert!(err.contains("evt_nope"), "{err}");
}

#[test]
fn a_missing_database_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nope.db");
    let err = stderr_of(events(&db, &["list"]));
    assert!(err.contains("no event database at") && err.contains("nope.db"), "{err}");
    assert!(!db.exists());
}

#[test]
fn a_non_sqlite_file_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    std::fs::write(&db, "these are my notes, not a database\n").unwrap();
    let err = stderr_of(events(&db, &["list"]));
    assert!(err.contains("is not an SQLite database"), "{err}");
    assert_eq!(std::fs::read_to_string(&db).unwrap(), "these are my notes, not a database\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no -wal/-shm files appear");
}

#[test]
fn a_corrupt_database_is_reported_and_left_untouched() {
    let f = fixture();
    // Keep the valid header, damage everything after the first page.
    let mut bytes = std::fs::read(&f.db).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[100..] {
        *b = 0xA5;
    }
    std::fs::write(&f.db, &bytes).unwrap();
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(f.db.with_extension(ext));
    }
    let err = stderr_of(events(&f.db, &["list"]));
    assert!(err.contains("corrupt") || err.contains("not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(&f.db).unwrap(), bytes);
}

#[test]
fn usage_errors_exit_2() {
    tron().args(["events", "frobnicate"]).assert().code(2);
    tron().args(["events", "export"]).assert().code(2);
}

#[test]
fn list_without_any_database_at_the_default_place_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tron();
    cmd.args(["events", "list"]).env("TRON_DATA_DIR", dir.path());
    let out = cmd.assert().success().get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("no sessions yet"));
    let mut cmd = tron();
    cmd.args(["events", "list", "--json"]).env("TRON_DATA_DIR", dir.path());
    assert_eq!(stdout_json(cmd), json!({"sessions": []}));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is created");
    // A path the user named must exist.
    let mut cmd = tron();
    cmd.args(["events", "list"]).env("TRON_EVENT_STORE_DB", dir.path().join("x.db"));
    assert!(stderr_of(cmd).contains("no event database at"));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let f = fixture();
    let store = EventStore::open(&f.db, OpenMode::Existing).unwrap();
    let many: Vec<NewEvent> =
        (0..3000).map(|i| NewEvent::raw("message.user", json!({ "content": format!("line {i}") }))).collect();
    store.append_batch(&f.session, &many).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["events", "show", &f.session, "--db"])
        .arg(&f.db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one chunk, then hang up, as `| head -1` does.
    let mut first = [0u8; 64];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "status {:?}, stderr {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

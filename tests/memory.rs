//! The memory ledger end to end: after a run the ledger model (the mock LLM, as
//! `models.subagent`) writes a `memory.ledger` entry that `memory.getLedger` returns, from
//! the background `Stop` hook `builtin:memory-ledger`; a trivial or failed ledger call writes
//! nothing and never breaks the run; a session's next prompt waits for the ledger write; a
//! compaction is followed by an entry (within a run: the run's own entry, after the boundary;
//! a manual `context.compact`: the entry of what no entry covers yet).

mod common;

use common::{chat_command, start_with, Client, Setup};
use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

fn ledger_on() -> Setup {
    Setup { memory_ledger: true, ..Setup::default() }
}

const ENTRY: &str = r#"```json
{"title": "Printed a greeting", "entryType": "feature", "status": "completed", "tags": ["shell", "greeting"],
 "input": "Print hi", "actions": ["Ran echo hi"], "files": [{"path": "hi.txt", "op": "C", "why": "asked"}],
 "decisions": [{"choice": "echo", "reason": "simplest"}], "lessons": ["echo works"], "thinkingInsights": []}
```"#;

async fn run(c: &mut Client, session: &str, prompt: &str) -> Value {
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": prompt})).await;
    c.until("agent.complete").await["data"].clone()
}

/// The payload of the first event of type `kind` pushed (as `event.new`) since the events
/// were last cleared that `matches`, waiting for it.
/// The payload of the first `kind` event of `session`'s log that `matches`, once it is
/// persisted (hook events are persisted, not broadcast, as in the TypeScript server).
async fn persisted(dir: &str, session: &str, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = logged(std::path::Path::new(dir), session);
        if let Some(e) = log.into_iter().find(|e| e["type"] == kind && matches(&e["payload"])) {
            return e["payload"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no {kind} persisted within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_run_leaves_a_ledger_entry_that_get_ledger_returns() {
    let server = start_with(
        Script::new([
            ScriptedResponse::tool_call("toolu_1", "Bash", json!({"command": "echo hi"})),
            ScriptedResponse::text("It printed hi."),
            ScriptedResponse::stream([
                Step::Text { text: ENTRY.into() },
                Step::Usage {
                    input_tokens: 321,
                    output_tokens: 54,
                    cache_read_tokens: 0,
                    cache_creation_tokens: 0,
                },
            ]),
        ]),
        ledger_on(),
    )
    .await
    .unwrap();
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let session = c.session(&dir).await;
    assert_eq!(run(&mut c, &session, "Print hi").await["success"], true);
    let updated = c.until("agent.memory_updated").await;
    assert_eq!(updated["sessionId"], session.as_str());
    assert_eq!(updated["data"], json!({"title": "Printed a greeting", "entryType": "feature"}));
    // The ledger is the background Stop hook builtin:memory-ledger.
    let started = persisted(&dir, &session, "hook.background_started", |_| true).await;
    assert_eq!(started["hookNames"], json!(["builtin:memory-ledger"]));
    assert_eq!(started["hookEvent"], "Stop");
    let id = started["executionId"].clone();
    let done = persisted(&dir, &session, "hook.background_completed", |p| p["executionId"] == id).await;
    assert_eq!(
        (done["hookNames"].clone(), done["result"].clone()),
        (json!(["builtin:memory-ledger"]), json!("continue"))
    );

    // The ledger request: the small model, the ledger prompt, the cycle as a transcript.
    let requests = server.mock.requests();
    assert_eq!(requests.len(), 3);
    let ledger = &requests[2].body;
    assert_eq!(ledger["model"], "claude-haiku-4-5-20251001");
    assert!(ledger["tools"].as_array().is_none_or(|t| t.is_empty()));
    assert_eq!(common::system_of(ledger), tron::context::memory::LEDGER_PROMPT);
    let asked = ledger["messages"][0]["content"].to_string();
    for line in [
        "[USER] Print hi",
        "[TOOL_CALL] Bash(command=echo hi)",
        "[TOOL_RESULT] hi",
        "[ASSISTANT] It printed hi.",
    ] {
        assert!(asked.contains(line), "{line} missing from {asked}");
    }

    // The event, with the TypeScript payload.
    let log = server.persisted(&session);
    let entry = log.iter().find(|e| e["type"] == "memory.ledger").expect("a memory.ledger event");
    let p = &entry["payload"];
    assert_eq!(p["title"], "Printed a greeting");
    assert_eq!(p["files"], json!([{"path": "hi.txt", "op": "C", "why": "asked"}]));
    assert_eq!(p["tokenCost"], json!({"input": 321, "output": 54}));
    assert_eq!(p["model"], "claude-sonnet-4-20250514", "the session's model");
    assert_eq!(p["workingDirectory"], dir.as_str());
    assert_eq!(p["turnRange"], json!({"firstTurn": 1, "lastTurn": 2}));
    // The first entry covers the session from its start (as the TypeScript writer).
    assert_eq!(p["eventRange"]["firstEventId"], log[0]["id"]);
    for e in server.store().events(&session).unwrap() {
        e.typed().unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
    }

    // memory.getLedger: the iOS app's LedgerEntryDTO.
    let got = c.call("memory.getLedger", json!({"workingDirectory": dir})).await;
    assert_eq!(got["totalCount"], 1);
    assert_eq!(got["hasMore"], false);
    let e = &got["entries"][0];
    assert_eq!(e["id"], entry["id"]);
    assert_eq!(e["sessionId"], session.as_str());
    assert_eq!(e["entryType"], "feature");
    assert_eq!(e["insights"], json!([]));
    assert_eq!(e["decisions"], json!([{"choice": "echo", "reason": "simplest"}]));
    assert_eq!(e["tokenCost"], json!({"input": 321, "output": 54}));
    let tagged = c.call("memory.getLedger", json!({"workingDirectory": dir, "tags": ["nope"]})).await;
    assert_eq!(tagged["totalCount"], 0);
    let tagged =
        c.call("memory.getLedger", json!({"workingDirectory": dir, "tags": ["shell"], "limit": 0})).await;
    assert_eq!((tagged["totalCount"].clone(), tagged["hasMore"].clone()), (json!(1), json!(true)));
    let elsewhere = c.call("memory.getLedger", json!({"workingDirectory": "/nowhere"})).await;
    assert_eq!(elsewhere, json!({"entries": [], "hasMore": false, "totalCount": 0}));
    let err = c.fail("memory.getLedger", json!({})).await;
    assert_eq!(err["code"], "INVALID_PARAMS");

    // Nothing new since the entry: a one-shot update writes nothing and asks no model.
    let again = c.call("memory.updateLedger", json!({"sessionId": session})).await;
    assert_eq!(again, json!({"written": false, "reason": "no_new_content"}));
    assert_eq!(server.mock.requests().len(), 3);
    let err = c.fail("memory.updateLedger", json!({"sessionId": "sess_missing"})).await;
    assert_eq!(err["code"], "SESSION_NOT_FOUND");
}

#[tokio::test]
async fn a_skipped_garbled_or_failed_ledger_call_writes_nothing_and_the_runs_go_on() {
    let server = start_with(
        Script::new([
            ScriptedResponse::text("Hello!"),
            ScriptedResponse::text(r#"{"skip": true}"#),
            ScriptedResponse::text("Sure."),
            ScriptedResponse::text("this is not JSON"),
            ScriptedResponse::text("Third."),
            ScriptedResponse::anthropic_error(400, "invalid_request_error", "bad ledger request", None),
        ]),
        ledger_on(),
    )
    .await
    .unwrap();
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    // Prompt after prompt: each run waits for the previous run's ledger call, so the
    // requests come in script order.
    for prompt in ["hi", "and?", "more"] {
        assert_eq!(run(&mut c, &session, prompt).await["success"], true);
    }
    // Every run's ledger hook has ended (persisted, not broadcast).
    let dir = server.dir();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while logged(std::path::Path::new(&dir), &session)
        .iter()
        .filter(|e| e["type"] == "hook.background_completed")
        .count()
        < 3
    {
        assert!(std::time::Instant::now() < deadline, "the ledger hooks did not end within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let asked: Vec<String> =
        server.mock.requests().iter().map(|r| r.body["model"].as_str().unwrap().to_owned()).collect();
    let (session_model, ledger_model) = ("claude-sonnet-4-20250514", "claude-haiku-4-5-20251001");
    assert_eq!(
        asked,
        [session_model, ledger_model, session_model, ledger_model, session_model, ledger_model]
    );
    // No ledger event landed inside a later run: each run's events follow the previous
    // run's ledger hook completion.
    let log = server.persisted(&session);
    let kinds: Vec<&str> = log.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let users: Vec<usize> =
        kinds.iter().enumerate().filter(|(_, t)| **t == "message.user").map(|(i, _)| i).collect();
    let ledger_done: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == "hook.background_completed")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ledger_done.len(), 3, "{kinds:?}");
    assert!(ledger_done[0] < users[1] && ledger_done[1] < users[2], "{kinds:?}");
    let log = server.persisted(&session);
    assert!(!log.iter().any(|e| e["type"] == "memory.ledger"), "no entry was written");
    assert!(!c.events.iter().any(|e| e["type"] == "agent.memory_updated"));
    let got = c.call("memory.getLedger", json!({"workingDirectory": server.dir()})).await;
    assert_eq!(got["totalCount"], 0);
}

/// A ledger model's answer: an entry titled `title`.
fn entry(title: &str) -> ScriptedResponse {
    ScriptedResponse::text(
        json!({"title": title, "entryType": "feature", "status": "completed", "tags": ["db"],
               "input": "", "actions": [], "files": [], "decisions": [], "lessons": [],
               "thinkingInsights": []})
        .to_string(),
    )
}

/// The session's model answering `text` with `input_tokens` of context.
fn reply(text: &str, input_tokens: u64) -> ScriptedResponse {
    ScriptedResponse::stream([
        Step::Text { text: text.into() },
        Step::Usage { input_tokens, output_tokens: 20, cache_read_tokens: 0, cache_creation_tokens: 0 },
    ])
}

/// A server with the ledger on over `dir`, keeping one turn through a compaction.
async fn compacting_server(dir: &std::path::Path, mock: &MockLlm) -> common::Running {
    let settings = r#"{"context": {"compactor": {"preserveRecentCount": 1}}}"#;
    std::fs::write(dir.join("settings.json"), settings).unwrap();
    common::serve_in(dir, Some(mock), ledger_on()).await.unwrap()
}

/// The persisted events of `session` in the database under `dir`, in their TypeScript shapes.
fn logged(dir: &std::path::Path, session: &str) -> Vec<Value> {
    let store =
        tron::events::EventStore::open(dir.join("prod.db"), tron::events::OpenMode::Existing).unwrap();
    let events = store.events(session).unwrap();
    for e in &events {
        e.typed().unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
    }
    events.iter().map(|e| serde_json::to_value(e).unwrap()).collect()
}

/// Waits until the mock has received `n` requests (a ledger call that writes nothing has
/// no other sign); a minute at most.
async fn requests_reach(mock: &MockLlm, n: usize) {
    for _ in 0..6_000 {
        if mock.requests().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the mock never received {n} requests");
}

#[tokio::test]
async fn a_compaction_within_a_run_is_followed_by_the_runs_ledger_entry() {
    let mock = MockLlm::start(Script::new([
        reply("Schema ready.", 1_000),
        entry("Set up the schema"),
        // 150,000 of Claude Sonnet 4's 200,000: past the 0.7 threshold.
        reply("Runner written.", 150_000),
        entry("Wrote the migration runner"),
        // The third prompt compacts first (the summarising model), then the session's model
        // answers, then the ledger model.
        reply("SUMMARY-OF-EARLIER-WORK: the schema exists.", 500),
        reply("Tests added.", 2_000),
        entry("Added tests"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = compacting_server(dir.path(), &mock).await;
    let mut c = Client::connect(running.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    for (prompt, title) in [
        ("First task: set up the database schema", "Set up the schema"),
        ("Second task: write the migration runner", "Wrote the migration runner"),
        ("Third task: add tests", "Added tests"),
    ] {
        assert_eq!(run(&mut c, &session, prompt).await["success"], true);
        let updated = c.until("agent.memory_updated").await;
        assert_eq!(updated["data"]["title"], title);
    }
    let compaction =
        c.events.iter().find(|e| e["type"] == "agent.compaction").expect("the third run compacted");
    assert_eq!(compaction["data"]["reason"], "threshold_exceeded");

    // compact.boundary, ..., memory.ledger: the run's entry covers the compaction and the run.
    let log = logged(dir.path(), &session);
    let at = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred).unwrap();
    let boundary = at(&|e| e["type"] == "compact.boundary");
    let third = at(&|e| e["type"] == "message.user" && e["payload"]["content"] == "Third task: add tests");
    let ledgers: Vec<usize> = (0..log.len()).filter(|i| log[*i]["type"] == "memory.ledger").collect();
    assert_eq!(ledgers.len(), 3);
    let last = *ledgers.last().unwrap();
    assert!(ledgers[1] < boundary && boundary < third && third < last, "{ledgers:?} {boundary} {third}");
    assert_eq!(log[boundary + 1]["type"], "compact.summary");
    assert_eq!(log[last]["payload"]["title"], "Added tests");
    // It starts after the previous entry, at the boundary or at the hook events before it
    // (the previous entry's `hook.background_completed`, `PreCompact`'s hook events).
    let first =
        log.iter().position(|e| e["id"] == log[last]["payload"]["eventRange"]["firstEventId"]).unwrap();
    assert!(ledgers[1] < first && first <= boundary, "starts at the boundary: {first} {boundary}");
    assert!(log[first..boundary].iter().all(|e| e["type"].as_str().unwrap().starts_with("hook.")));

    // The ledger model read the third run, not the summarised ones.
    let requests = mock.requests();
    assert_eq!(requests.len(), 7);
    assert_eq!(common::system_of(&requests[6].body), tron::context::memory::LEDGER_PROMPT);
    let asked = requests[6].body["messages"][0]["content"].to_string();
    assert!(
        asked.contains("[USER] Third task: add tests") && asked.contains("[ASSISTANT] Tests added."),
        "{asked}"
    );
    assert!(!asked.contains("Second task"), "{asked}");

    let got = c.call("memory.getLedger", json!({"workingDirectory": dir.path()})).await;
    assert_eq!(got["totalCount"], 3);
    assert_eq!(got["entries"][0]["id"], log[last]["id"], "newest first");
    assert_eq!(got["entries"][0]["title"], "Added tests");
    running.shutdown().await;
}

#[tokio::test]
async fn a_manual_compaction_writes_the_ledger_entry_of_what_no_entry_covers_yet() {
    let mock = MockLlm::start(Script::new([
        reply("Hello there.", 1_200),
        ScriptedResponse::text(r#"{"skip": true}"#),
        reply("Done with two.", 1_300),
        ScriptedResponse::text(r#"{"skip": true}"#),
        // context.compact: the summarising model, then the ledger model.
        ScriptedResponse::text("MANUAL-SUMMARY of the greeting"),
        entry("Greeted and counted"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = compacting_server(dir.path(), &mock).await;
    let mut c = Client::connect(running.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    // Two runs whose ledger calls judged them too small to record.
    assert_eq!(run(&mut c, &session, "One: greet me").await["success"], true);
    requests_reach(&mock, 2).await;
    assert_eq!(run(&mut c, &session, "Two: count to two").await["success"], true);
    requests_reach(&mock, 4).await;
    assert!(!logged(dir.path(), &session).iter().any(|e| e["type"] == "memory.ledger"));

    c.events.clear();
    let compacted = c.call("context.compact", json!({"sessionId": session})).await;
    assert_eq!(compacted["success"], true, "{compacted}");
    // Written before the answer: boundary, summary, then the entry covering both runs.
    let log = logged(dir.path(), &session);
    let boundary = log.iter().position(|e| e["type"] == "compact.boundary").unwrap();
    assert_eq!(log[boundary + 1]["type"], "compact.summary");
    assert_eq!(log[boundary + 2]["type"], "memory.ledger");
    assert_eq!(log.len(), boundary + 3);
    let ledger = &log[boundary + 2];
    assert_eq!(ledger["payload"]["title"], "Greeted and counted");
    assert_eq!(ledger["payload"]["eventRange"]["firstEventId"], log[0]["id"], "from the session's start");
    let requests = mock.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(common::system_of(&requests[5].body), tron::context::memory::LEDGER_PROMPT);
    let asked = requests[5].body["messages"][0]["content"].to_string();
    assert!(asked.contains("[USER] One: greet me") && asked.contains("[USER] Two: count to two"), "{asked}");
    // Pushed after the compaction's frames.
    // Persisted, not broadcast (the TypeScript server's `event.new` is for `events.append`
    // and `message.delete` only).
    assert!(c.pushed().is_empty(), "{:?}", c.pushed());
    let updated = c.until("agent.memory_updated").await;
    assert_eq!(updated["data"], json!({"title": "Greeted and counted", "entryType": "feature"}));
    let got = c.call("memory.getLedger", json!({"workingDirectory": dir.path()})).await;
    assert_eq!(got["totalCount"], 1);
    assert_eq!(got["entries"][0]["id"], ledger["id"]);
    running.shutdown().await;
}

#[tokio::test]
async fn tron_chat_writes_the_ledger_too() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("Done."), ScriptedResponse::text(ENTRY)]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut cmd = chat_command(&mock, &db);
    cmd.env("TRON_MEMORY_LEDGER", "true").args(["--cwd"]).arg(dir.path()).arg("do it");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Done.");
    let (_, events) = common::only_session_events(&db);
    let (_, ledger) = events.iter().find(|(t, _)| t == "memory.ledger").expect("a ledger entry");
    assert_eq!(ledger["title"], "Printed a greeting");
}

#[tokio::test]
async fn tron_chat_no_memory_skips_the_ledger_call() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("Done.")])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut cmd = chat_command(&mock, &db);
    cmd.env("TRON_MEMORY_LEDGER", "true").args(["--no-memory", "--cwd"]).arg(dir.path()).arg("do it");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mock.requests().len(), 1, "no ledger call");
    let (_, events) = common::only_session_events(&db);
    assert!(!events.iter().any(|(t, _)| t == "memory.ledger"));
}

/// The server embeds a memory entry after writing it (the TypeScript server's `embedMemory`),
/// with the real test model from $TRON_TEST_EMBED_DIR (scripts/test.sh sets it).
#[cfg(all(feature = "embed", feature = "vector-search"))]
#[tokio::test]
async fn the_server_embeds_a_new_memory_entry() {
    let Some(model) = std::env::var_os("TRON_TEST_EMBED_DIR").filter(|d| !d.is_empty()) else {
        eprintln!("skipped: TRON_TEST_EMBED_DIR is not set (scripts/test.sh sets it)");
        return;
    };
    let model = std::path::PathBuf::from(model);
    // sqlite-vec on every connection opened from here on (tron serve does the same).
    tron::embed::store::register();
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::text("Done."),
        ScriptedResponse::stream([Step::Text { text: ENTRY.into() }]),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"context": {"memory": {"embedding": {
        "cacheDir": model.parent().unwrap(), "model": model.file_name().unwrap().to_str().unwrap(),
        "dtype": "fp32", "dimensions": 384,
    }}}});
    std::fs::write(dir.path().join("settings.json"), settings.to_string()).unwrap();
    let running = common::serve_in(dir.path(), Some(&mock), ledger_on()).await.unwrap();
    let mut c = Client::connect(running.addr).await;
    let session = c.session(&dir.path().display().to_string()).await;
    assert_eq!(run(&mut c, &session, "Print hi").await["success"], true);
    c.until("agent.memory_updated").await;
    let ledger = c.call("memory.getLedger", json!({"workingDirectory": dir.path()})).await;
    let event_id = ledger["entries"][0]["id"].as_str().unwrap().to_owned();

    // The vector is written in the background: wait for it (the model loads first).
    let db = dir.path().join("prod.db");
    let found = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        for _ in 0..600 {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM memory_vectors_384 WHERE event_id = ?1", [&event_id], |r| {
                    r.get(0)
                })
                .unwrap_or(0);
            if n == 1 {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    })
    .await
    .unwrap();
    assert!(found, "the new memory entry was embedded into memory_vectors_384");

    // memory.search finds it by meaning (the first search loads the vectors into memory).
    let ledger = c.call("memory.getLedger", json!({"workingDirectory": dir.path()})).await;
    let id = ledger["entries"][0]["id"].clone();
    let found = c.call("memory.search", json!({"query": "saying hello in the shell"})).await;
    assert_eq!(found["totalCount"], 1, "{found}");
    let hit = &found["entries"][0];
    assert_eq!(
        (&hit["id"], &hit["title"], &hit["source"]),
        (&id, &json!("Printed a greeting"), &json!(session))
    );
    assert!(hit["relevance"].as_f64().unwrap() > 0.2, "{hit}");
    assert!(hit["content"].as_str().unwrap().contains("echo works"), "{hit}");
    let none = c.call("memory.search", json!({"query": "greeting", "workspaceId": "ws_other"})).await;
    assert_eq!(none["totalCount"], 0);
    for bad in [json!({}), json!({"query": "  "}), json!({"query": "x", "limit": 0})] {
        assert_eq!(c.fail("memory.search", bad).await["code"], "INVALID_PARAMS");
    }
    running.shutdown().await;
}

/// Without the embedding model, memory.search says what is missing.
#[cfg(all(feature = "embed", feature = "vector-search"))]
#[tokio::test]
async fn memory_search_without_a_model_is_a_clear_error() {
    let server = start_with(Script::new([]), Setup::default()).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let e = c.fail("memory.search", json!({"query": "anything"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert!(e["message"].as_str().unwrap().contains("embedding model not found"), "{e}");
}

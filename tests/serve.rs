//! `tron serve` as the iOS app sees it: a real server on 127.0.0.1:0 with a temp database
//! and the scripted mock LLM server, driven by a real WebSocket client.

mod common;

use std::time::Duration;

use common::{start, start_with, Client, Setup};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tron::events::{EventStore, OpenMode};
use tron::server::ServerConfig;
use tron::testing::{Script, ScriptedResponse, Step};

fn usage(input: u64, output: u64) -> Step {
    Step::Usage { input_tokens: input, output_tokens: output, cache_read_tokens: 0, cache_creation_tokens: 0 }
}

#[tokio::test]
async fn system_methods_and_bad_frames_get_clear_answers_and_the_connection_stays() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let pong = c.call("system.ping", json!({})).await;
    assert_eq!(pong["pong"], true);
    let info = c.call("system.getInfo", json!({})).await;
    assert!(info["uptime"].is_u64() && info["version"].is_string() && info["activeSessions"] == 0);

    c.send_raw(Message::Text("{not json".into())).await;
    let e = c.recv().await;
    assert_eq!((e["type"].as_str(), e["data"]["code"].as_str()), (Some("system.error"), Some("PARSE_ERROR")));
    c.send_raw(Message::Text(r#"{"id":7,"method":"system.ping"}"#.into())).await;
    assert_eq!(c.recv().await["data"]["code"], "INVALID_FORMAT");

    let e = c.fail("nope.nothing", json!({})).await;
    assert_eq!(e, json!({"code": "METHOD_NOT_FOUND", "message": "Unknown method: nope.nothing"}));
    let e = c.fail("session.resume", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "sessionId is required"}));
    let e = c.fail("session.resume", json!({"sessionId": "sess_missing"})).await;
    assert_eq!(e["code"], "SESSION_NOT_FOUND");
    let e = c.fail("browser.getStatus", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "sessionId is required"}));
    let e = c.fail("session.create", json!({"workingDirectory": "/", "model": "claude-sonnet-9"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert_eq!(e["message"], "Unknown model: claude-sonnet-9", "the TypeScript server's message");

    // Still connected and answering.
    assert_eq!(c.call("system.ping", json!({})).await["pong"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn a_prompt_streams_runs_a_tool_and_the_history_matches() {
    let script = Script::new([
        ScriptedResponse::stream([
            Step::Text { text: "Let me look.".into() },
            Step::ToolCall {
                id: "toolu_1".into(),
                name: "Bash".into(),
                input: json!({"command": "echo hi"}),
            },
            usage(1000, 20),
        ]),
        ScriptedResponse::stream([Step::Text { text: "It prints hi.".into() }, usage(1100, 10)]),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let created = c.call("session.create", json!({"workingDirectory": dir})).await;
    let session = created["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(created["model"], "claude-sonnet-4-20250514", "the default model: server.defaultModel");
    assert!(created["createdAt"].is_string());

    let ack = c.call("agent.prompt", json!({"sessionId": session, "prompt": "what does echo print?"})).await;
    assert_eq!(ack["acknowledged"], true);
    assert!(ack["runId"].is_string());
    c.until("agent.ready").await;
    assert_eq!(
        c.types(),
        [
            "session.created",
            "agent.turn_start",
            "agent.turn_start",
            "agent.text_delta",
            "agent.text_delta",
            "agent.text_delta",
            "agent.tool_generating",
            "agent.tool_start",
            "agent.tool_output",
            "agent.tool_end",
            "agent.turn_end",
            "agent.turn_start",
            "agent.text_delta",
            "agent.text_delta",
            "agent.text_delta",
            "agent.turn_end",
            "agent.turn",
            "agent.complete",
            "agent.ready"
        ]
    );
    for e in &c.events {
        if e["type"] != "session.created" {
            assert_eq!(e["sessionId"], session.as_str(), "{e}");
        }
    }
    let tool_end = c.until("agent.tool_end").await;
    assert_eq!(tool_end["data"]["output"], "hi\n");
    assert_eq!(tool_end["data"]["success"], true);
    assert!(tool_end["data"]["duration"].is_u64());
    let turn_end = c.events.iter().rfind(|e| e["type"] == "agent.turn_end").unwrap().clone();
    let record = &turn_end["data"]["tokenRecord"];
    for key in [
        "provider",
        "timestamp",
        "rawInputTokens",
        "rawOutputTokens",
        "rawCacheReadTokens",
        "rawCacheCreationTokens",
    ] {
        assert!(!record["source"][key].is_null(), "tokenRecord.source.{key}: {turn_end}");
    }
    assert_eq!(record["computed"]["contextWindowTokens"], 1100);
    assert_eq!(record["computed"]["previousContextBaseline"], 1000);
    assert_eq!(record["meta"]["turn"], 2);
    assert_eq!(c.until("agent.complete").await["data"]["success"], true);
    let turn = c.until("agent.turn").await;
    assert_eq!(turn["data"]["turns"], 2);
    let roles: Vec<&str> =
        turn["data"]["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "toolResult", "assistant"]);
    assert_eq!(turn["data"]["messages"][1]["content"][1]["arguments"]["command"], "echo hi");
    let requests = server.mock.requests();
    assert_eq!(requests.len(), 2);
    let sent = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(sent.last().unwrap()["content"][0]["tool_use_id"], "toolu_1", "the tool result went back");

    // What was streamed is what was persisted; persisted events are read back, not pushed
    // (the TypeScript server broadcasts `event.new` only for events.append and
    // message.delete).
    let streamed: String = c
        .events
        .iter()
        .filter(|e| e["type"] == "agent.text_delta")
        .map(|e| e["data"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "Let me look.It prints hi.");
    assert!(c.pushed().is_empty(), "no event.new during a run");
    let history = c.call("events.getHistory", json!({"sessionId": session})).await;
    assert_eq!(history["hasMore"], false);
    let mut persisted: Vec<Value> = history["events"].as_array().unwrap().clone();
    persisted.reverse();
    let types: Vec<&str> = persisted.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "session.start",
            "message.user",
            "stream.turn_start",
            "message.assistant",
            "tool.call",
            "tool.result",
            "stream.turn_end",
            "stream.turn_start",
            "message.assistant",
            "stream.turn_end"
        ]
    );
    let store = server.store();
    let texts: Vec<String> = store.messages(&session).unwrap().messages().map(|m| m.text()).collect();
    assert_eq!(texts, ["what does echo print?", "Let me look.", "hi\n", "It prints hi."]);

    let state = c.call("agent.getState", json!({"sessionId": session})).await;
    assert_eq!(state["isRunning"], false);
    assert_eq!(state["model"], "claude-sonnet-4-20250514");
    assert_eq!(state["tools"], json!([]), "as agent.adapter.ts answers");
    assert_eq!((state["currentTurn"].as_i64(), state["messageCount"].as_i64()), (Some(2), Some(4)));
    server.shutdown().await;
}

#[tokio::test]
async fn busy_abort_and_two_clients_on_one_session() {
    let script = Script::new([
        ScriptedResponse::stream([Step::Text { text: "Working on it".into() }, Step::DelayMs { ms: 30_000 }]),
        ScriptedResponse::text("Done now."),
    ]);
    let server = start(script).await;
    let mut a = Client::connect(server.addr).await;
    let dir = server.dir();
    let session = a.call("session.create", json!({"workingDirectory": dir})).await["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Client::connect(server.addr).await;
    let resumed = b.call("session.resume", json!({"sessionId": session})).await;
    assert_eq!(resumed["sessionId"], session.as_str());
    assert!(resumed["messageCount"].is_i64() && resumed["lastActivity"].is_string());

    a.call("agent.prompt", json!({"sessionId": session, "prompt": "go"})).await;
    a.until("agent.text_delta").await;
    let busy = b.fail("agent.prompt", json!({"sessionId": session, "prompt": "again"})).await;
    assert_eq!(busy["code"], "SESSION_BUSY");
    assert_eq!(b.call("agent.getState", json!({"sessionId": session})).await["isRunning"], true);
    assert_eq!(b.call("agent.abort", json!({"sessionId": session})).await["aborted"], true);
    // As the TypeScript server (TronAgent.abort emits agent_interrupted at once): the
    // interrupted agent.complete goes out before the abort's answer.
    let before_answer = b.events.iter().find(|e| e["type"] == "agent.complete").expect("before the answer");
    assert_eq!(
        before_answer["data"],
        json!({"success": false, "interrupted": true, "partialContent": "Working on it",
               "timestamp": before_answer["timestamp"]})
    );
    assert_eq!(b.call("agent.abort", json!({"sessionId": session})).await["aborted"], false, "nothing left");
    let complete = a.until("agent.complete").await;
    assert_eq!(complete["data"]["interrupted"], true);
    a.until("agent.ready").await;
    b.until("agent.ready").await;
    let without_created = |c: &Client| -> Vec<String> {
        c.types().into_iter().filter(|t| *t != "session.created").map(str::to_owned).collect()
    };
    assert_eq!(without_created(&a), without_created(&b), "both clients saw the same frames");

    // The partial answer was persisted; the session takes the next prompt.
    let store = server.store();
    let types: Vec<String> =
        store.events(&session).unwrap().iter().map(|e| e.event_type.as_str().to_owned()).collect();
    assert_eq!(types[types.len() - 2..], ["message.assistant", "notification.interrupted"]);
    let state = a.call("agent.getState", json!({"sessionId": session})).await;
    assert_eq!((state["isRunning"].as_bool(), state["wasInterrupted"].as_bool()), (Some(false), Some(true)));
    a.call("agent.prompt", json!({"sessionId": session, "prompt": "finish"})).await;
    a.events.clear();
    a.until("agent.ready").await;
    assert_eq!(a.until("agent.complete").await["data"]["success"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_is_bound_after_the_answer_so_it_misses_the_next_sessions_created_event() {
    // The TypeScript gateway binds a client to the session a session.create / resume
    // answered with only after the handler returned: session.created of a second session
    // is filtered out by the first binding.
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let a = c.session(&dir).await;
    let b = c.session(&dir).await;
    assert_ne!(a, b);
    let created: Vec<&Value> = c.events.iter().filter(|e| e["type"] == "session.created").collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["sessionId"], a.as_str());
    server.shutdown().await;
}

#[tokio::test]
async fn events_append_persists_and_broadcasts_event_new() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let mut watcher = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let other = watcher.session(&server.dir()).await;
    let payload = json!({"tags": ["release"]});
    let appended = c
        .call("events.append", json!({"sessionId": session, "type": "metadata.tag", "payload": payload}))
        .await;
    let event = &appended["event"];
    assert_eq!((event["type"].as_str(), &event["payload"]), (Some("metadata.tag"), &payload));
    assert_eq!(appended["newHeadEventId"], event["id"]);
    let new = c.until("event.new").await;
    assert_eq!((&new["sessionId"], &new["data"]["event"]), (&json!(session), event));
    assert_eq!(server.persisted(&session).last().unwrap()["id"], event["id"]);
    // A client bound to another session does not get it.
    watcher.call("system.ping", json!({})).await;
    assert!(watcher.pushed().is_empty());

    // After an explicit parent of the session.
    let root = server.persisted(&session)[0]["id"].clone();
    let branch = c
        .call(
            "events.append",
            json!({"sessionId": session, "type": "metadata.tag", "payload": {}, "parentId": root}),
        )
        .await;
    assert_eq!(branch["event"]["parentId"], root);

    // Bad input changes nothing.
    let other_root = server.persisted(&other)[0]["id"].clone();
    let count = server.persisted(&session).len();
    for (params, code) in [
        (json!({"sessionId": session, "payload": {}}), "INVALID_PARAMS"),
        (json!({"sessionId": session, "type": "metadata.tag"}), "INVALID_PARAMS"),
        (json!({"sessionId": session, "type": "metadata.tag", "payload": [1]}), "INVALID_PARAMS"),
        (json!({"sessionId": "sess_missing", "type": "metadata.tag", "payload": {}}), "SESSION_NOT_FOUND"),
        (
            json!({"sessionId": session, "type": "metadata.tag", "payload": {}, "parentId": other_root}),
            "INVALID_PARAMS",
        ),
    ] {
        assert_eq!(c.fail("events.append", params.clone()).await["code"], code, "{params}");
    }
    assert_eq!(server.persisted(&session).len(), count);
    server.shutdown().await;
}

#[tokio::test]
async fn a_provider_error_ends_the_run_with_its_result_and_only_retries_are_persisted() {
    let script = Script::new([
        ScriptedResponse::anthropic_error(400, "invalid_request_error", "prompt is too long", None),
        ScriptedResponse::anthropic_error(529, "overloaded_error", "Overloaded", None),
        ScriptedResponse::text("Fine now."),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let before = server.persisted(&session).len();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "too much"})).await;
    c.until("agent.ready").await;
    // agent-runner.ts handleCompletion: agent.turn (the RunResult with the error),
    // agent.complete, agent.ready; no agent.error.
    let ends: Vec<&str> = c.types().into_iter().skip_while(|t| *t != "agent.turn").collect();
    assert_eq!(ends, ["agent.turn", "agent.complete", "agent.ready"]);
    let turn = c.until("agent.turn").await;
    let error = turn["data"]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("400") && error.contains("prompt is too long"), "{turn}");
    assert_eq!(turn["data"]["success"], false);
    assert_eq!(turn["data"]["turns"], 1);
    assert_eq!(turn["data"]["messages"], json!([{"role": "user", "content": "too much"}]));
    assert!(turn["data"].get("stoppedReason").is_none());
    let complete = c.until("agent.complete").await;
    assert_eq!(
        (complete["data"]["success"].as_bool(), complete["data"]["error"].as_str()),
        (Some(false), Some(error.as_str()))
    );
    let types: Vec<String> =
        server.persisted(&session)[before..].iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["message.user", "stream.turn_start"], "nothing for the failure itself");

    // A retried error is persisted as error.provider {retryable: true} (handleApiRetry).
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "again"})).await;
    assert_eq!(c.until("agent.complete").await["data"]["success"], true);
    let retried: Vec<Value> =
        server.persisted(&session).into_iter().filter(|e| e["type"] == "error.provider").collect();
    assert_eq!(retried.len(), 1, "{retried:?}");
    let p = &retried[0]["payload"];
    assert_eq!((p["provider"].as_str(), p["retryable"].as_bool()), (Some("anthropic"), Some(true)));
    assert!(p["error"].as_str().unwrap().contains("Overloaded") && p["retryAfter"].is_u64(), "{p}");
    assert_eq!(c.until("agent.turn").await["data"]["turns"], 2, "the agent's turns go on counting");
    server.shutdown().await;
}

#[tokio::test]
async fn sessions_list_fork_switch_archive_and_page_history() {
    let server = start(Script::new([ScriptedResponse::text("One."), ScriptedResponse::text("Two.")])).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let session = c.call("session.create", json!({"workingDirectory": dir})).await["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    for prompt in ["first", "second"] {
        c.call("agent.prompt", json!({"sessionId": session, "prompt": prompt})).await;
        c.until("agent.ready").await;
        c.events.clear();
    }

    let list = c.call("session.list", json!({})).await;
    let entry = &list["sessions"][0];
    assert_eq!(entry["sessionId"], session.as_str());
    assert_eq!(entry["messageCount"], 4);
    assert_eq!(entry["isActive"], true);
    assert_eq!(entry["lastUserPrompt"], "second");
    assert_eq!(entry["lastAssistantResponse"], "Two.");

    // Paging newest first with beforeEventId ends (the iOS app loops while hasMore).
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut params = json!({"sessionId": session, "limit": 3});
        if let Some(b) = &before {
            params["beforeEventId"] = json!(b);
        }
        let page = c.call("events.getHistory", params).await;
        pages.extend(page["events"].as_array().unwrap().iter().map(|e| e["sequence"].as_i64().unwrap()));
        if page["hasMore"] != true {
            break;
        }
        before = page["oldestEventId"].as_str().map(str::to_owned);
    }
    let total = server.store().events(&session).unwrap().len() as i64;
    assert_eq!(pages, (0..total).rev().collect::<Vec<_>>());
    let since = c.call("events.getSince", json!({"sessionId": session, "limit": 2})).await;
    assert_eq!(since["hasMore"], true);
    assert_eq!(since["events"][0]["sequence"], 0);

    let switched = c.call("model.switch", json!({"sessionId": session, "model": "claude-haiku-4-5"})).await;
    assert_eq!(
        switched,
        json!({"previousModel": "claude-sonnet-4-20250514", "newModel": "claude-haiku-4-5"})
    );
    assert_eq!(c.call("session.resume", json!({"sessionId": session})).await["model"], "claude-haiku-4-5");
    let models = c.call("model.list", json!({})).await;
    assert!(models["models"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["contextWindow"].is_u64() && m["provider"].is_string()));

    let fork = c.call("session.fork", json!({"sessionId": session})).await;
    let forked = fork["newSessionId"].as_str().unwrap();
    assert_eq!(fork["forkedFromSessionId"], session.as_str());
    let texts: Vec<String> = server.store().messages(forked).unwrap().messages().map(|m| m.text()).collect();
    assert_eq!(texts, ["first", "One.", "second", "Two."]);

    let chain = c.call("tree.getAncestors", json!({"eventId": fork["rootEventId"]})).await;
    let chain = chain["events"].as_array().unwrap();
    assert_eq!(chain[0]["type"], "session.start");
    assert_eq!(chain.last().unwrap()["id"], fork["rootEventId"]);

    let first_user = server.store().events(&session).unwrap()[1].clone();
    assert_eq!(first_user.event_type.as_str(), "message.user");
    let deleted = c
        .call(
            "message.delete",
            json!({"sessionId": session, "targetEventId": first_user.id, "reason": "user_request"}),
        )
        .await;
    assert_eq!(deleted["success"], true);
    assert_eq!(deleted["targetType"], "message.user");
    assert!(deleted["deletionEventId"].is_string());
    // The TypeScript server's only broadcasts of a persisted event (EventController's
    // onEventCreated): event.new, and for a deletion agent.message_deleted too.
    let new = c.until("event.new").await;
    assert_eq!(new["data"]["event"]["id"], deleted["deletionEventId"]);
    let gone = c.until("agent.message_deleted").await;
    assert_eq!(
        gone["data"],
        json!({"targetEventId": first_user.id, "targetType": "message.user", "reason": "user_request"})
    );
    let texts: Vec<String> =
        server.store().messages(&session).unwrap().messages().map(|m| m.text()).collect();
    assert_eq!(texts, ["One.", "second", "Two."]);
    let e =
        c.fail("message.delete", json!({"sessionId": session, "targetEventId": fork["rootEventId"]})).await;
    assert_eq!(e["code"], "INVALID_PARAMS", "{e}");

    assert_eq!(c.call("session.delete", json!({"sessionId": session})).await, json!({"deleted": true}));
    let list = c.call("session.list", json!({})).await;
    assert!(list["sessions"].as_array().unwrap().iter().all(|s| s["sessionId"] != session.as_str()));
    let list = c.call("session.list", json!({"includeArchived": true})).await;
    assert!(list["sessions"].as_array().unwrap().iter().any(|s| s["sessionId"] == session.as_str()));
    server.shutdown().await;
}

#[tokio::test]
async fn other_addresses_need_a_token() {
    let open = ServerConfig { addr: "0.0.0.0:0".parse().unwrap(), ..Default::default() };
    let err = start_with(Script::default(), Setup { config: open, ..Default::default() })
        .await
        .err()
        .expect("refused without a token");
    assert!(err.to_string().contains("--token"), "{err}");

    let config = ServerConfig {
        addr: "0.0.0.0:0".parse().unwrap(),
        token: Some("s3cret".into()),
        ..Default::default()
    };
    let server = start_with(Script::default(), Setup { config, ..Default::default() }).await.unwrap();
    let port = server.addr.port();
    let refused = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await;
    assert!(refused.is_err(), "no token: refused at the upgrade");
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token=s3cret")).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("system.connected"));
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_aborts_a_running_turn_and_keeps_what_it_produced() {
    let script = Script::new([ScriptedResponse::stream([
        Step::Text { text: "Half an answer".into() },
        Step::DelayMs { ms: 60_000 },
    ])]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let session = c.call("session.create", json!({"workingDirectory": dir})).await["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "go"})).await;
    c.until("agent.text_delta").await;
    let dir = server.shutdown().await;
    let store = EventStore::open(dir.path().join("prod.db"), OpenMode::Existing).unwrap();
    let events = store.events(&session).unwrap();
    let assistant =
        events.iter().find(|e| e.event_type.as_str() == "message.assistant").expect("the partial answer");
    assert_eq!(assistant.payload["content"][0]["text"], "Half an answer");
    assert_eq!(events.last().unwrap().event_type.as_str(), "notification.interrupted");
}

#[test]
fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = common::spawn_serve(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
            .env("TRON_MEMORY_LEDGER", "false")
            .args(["serve", "--port", "0", "--db"])
            .arg(dir.path().join("db/prod.db"))
            .env("TRON_DATA_DIR", dir.path())
            .stderr(std::process::Stdio::piped()),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.call("system.ping", json!({})).await["pong"], true);
        let health: Value = {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).await.unwrap();
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
        };
        assert_eq!(health["status"], "ok");
        let ok =
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        // The client is sent a close frame.
        loop {
            match tokio::time::timeout(Duration::from_secs(20), c.ws.next()).await.unwrap() {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "tron serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
}

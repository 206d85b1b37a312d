//! Subagents: children are real sessions in the same SQLite file, with their events in
//! their own log and their lifecycle in their parent's (`subagent.spawned`,
//! `subagent.status_update` per child turn, `subagent.completed` / `subagent.failed`).
//!
//! What the model drives (mock LLM, over a real in-process server and WebSocket, or the real
//! `tron chat` binary):
//! - a blocking `SpawnSubagent` through the server (both logs, the parent's lifecycle
//!   order, the `agent.subagent_*` frames, the child's tools) and through `tron chat`;
//! - two children spawned without waiting, then `WaitForAgents {mode: all}` and
//!   `QueryAgent {queryType: status}`, through the server and through `tron chat` (the mock
//!   answers by who asks, so the children run concurrently with the parent);
//! - a background child's notification; aborting the parent aborts its child (`agent.abort`;
//!   Ctrl-C of `tron chat` is in tests/agent_run.rs); a `subagent: yes` skill.
//!
//! Called directly on a tool registry over a real store (no model choosing the calls): the
//! other `QueryAgent` query types, the bad-input errors and the `WaitForAgents` timeout.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{chat_command, start, Client};
use serde_json::{json, Value};
use tron::agent::subagents::{ChildEnv, SubagentEvent, SubagentSink, Subagents};
use tron::events::{EventStore, NewSession, OpenMode, StoreHandle};
use tron::settings::Settings;
use tron::testing::{MockLlm, RecordedRequest, Responder, Script, ScriptedResponse, Step};
use tron::tools::{ToolContext, ToolRegistry};

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn child_of(server: &common::Server, parent: &str) -> tron::events::SessionRow {
    let store = server.store();
    let opts = tron::events::ListOptions { include_subagents: true, ..Default::default() };
    store
        .list_sessions(&opts)
        .unwrap()
        .into_iter()
        .find(|s| s.spawning_session_id.as_ref().map(|p| p.as_str()) == Some(parent))
        .expect("a child session")
}

#[tokio::test]
async fn a_blocking_subagent_runs_to_completion_with_its_events_in_both_logs() {
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_spawn",
            "SpawnSubagent",
            json!({"task": "Count the files in this folder", "toolDenials": {"tools": ["Bash"]}}),
        ),
        ScriptedResponse::stream([
            Step::Text { text: "There are 3 files.".into() },
            Step::Usage {
                input_tokens: 120,
                output_tokens: 7,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ]),
        ScriptedResponse::text("The subagent counted 3 files."),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "delegate the count"})).await;
    let complete = loop {
        let e = c.until("agent.complete").await;
        if e["sessionId"] == parent.as_str() {
            break e;
        }
        c.events.retain(|f| !(f["type"] == "agent.complete" && f["sessionId"] != parent.as_str()));
    };
    assert_eq!(complete["data"]["success"], true, "{complete}");

    // The child: a real session, marked as the parent's subagent, with its own log.
    let child = child_of(&server, &parent);
    let child_id = child.id.as_str().to_owned();
    assert_eq!(child.spawn_type.as_deref(), Some("subsession"));
    assert_eq!(child.spawn_task.as_deref(), Some("Count the files in this folder"));
    assert_eq!(child.title.as_deref(), Some("Subagent: Count the files in this folder"));
    assert_eq!(child.tags, ["subagent", "subsession"]);
    let child_log = server.persisted(&child_id);
    assert_eq!(
        types(&child_log),
        ["session.start", "message.user", "stream.turn_start", "message.assistant", "stream.turn_end"],
        "{child_log:#?}"
    );
    assert_eq!(child_log[1]["payload"]["content"], "Count the files in this folder");

    // The parent's log: spawned, the child's turn as a status update, completed, and the
    // tool result the model read.
    let parent_log = server.persisted(&parent);
    let lifecycle: Vec<&str> =
        types(&parent_log).into_iter().filter(|t| t.starts_with("subagent.")).collect();
    assert_eq!(lifecycle, ["subagent.spawned", "subagent.status_update", "subagent.completed"]);
    let status = parent_log.iter().find(|e| e["type"] == "subagent.status_update").unwrap();
    assert_eq!(
        status["payload"],
        json!({"subagentSessionId": child_id, "status": "running", "currentTurn": 1,
               "tokenUsage": {"inputTokens": 0, "outputTokens": 0}}),
        "the child's first turn, before it used any tokens"
    );
    let spawned = parent_log.iter().find(|e| e["type"] == "subagent.spawned").unwrap();
    assert_eq!(spawned["payload"]["subagentSessionId"], child_id.as_str());
    assert_eq!(spawned["payload"]["spawnType"], "subsession");
    assert_eq!(spawned["payload"]["maxTurns"], 50);
    assert_eq!(spawned["payload"]["toolDenials"], json!({"tools": ["Bash"]}));
    let completed = parent_log.iter().find(|e| e["type"] == "subagent.completed").unwrap();
    let p = &completed["payload"];
    assert_eq!(p["resultSummary"], "There are 3 files.");
    assert_eq!(p["fullOutput"], "There are 3 files.");
    assert_eq!(p["totalTurns"], 1);
    assert_eq!(p["totalTokenUsage"], json!({"inputTokens": 120, "outputTokens": 7}));
    assert_eq!(p["completionType"], "success");
    assert_eq!(p["truncated"], false);
    assert!(p["duration"].is_i64());
    let result = parent_log.iter().find(|e| e["type"] == "tool.result").unwrap();
    let text = result["payload"]["content"].as_str().unwrap();
    assert!(text.starts_with("✅ Agent completed successfully.\n"), "{text}");
    assert!(text.contains(&format!("**Session ID**: {child_id}")), "{text}");
    assert!(text.contains("**Tokens**: 120 in / 7 out"), "{text}");
    assert!(text.ends_with("**Output**:\nThere are 3 files."), "{text}");
    // A blocking spawn answers in its tool result: no notification.
    assert!(!parent_log.iter().any(|e| e["type"] == "notification.subagent_result"));
    // Every event has its TypeScript shape.
    for e in server.store().events(&parent).unwrap() {
        e.typed().unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
    }

    // The frames of the TypeScript server, on the parent session.
    let on_parent = |kind: &str| -> Vec<Value> {
        c.events.iter().filter(|e| e["type"] == kind && e["sessionId"] == parent.as_str()).cloned().collect()
    };
    let spawned = &on_parent("agent.subagent_spawned")[0]["data"];
    assert_eq!(spawned["subagentSessionId"], child_id.as_str());
    assert_eq!(spawned["toolCallId"], "toolu_spawn");
    assert_eq!(spawned["task"], "Count the files in this folder");
    // The live status frame follows the committed status update.
    // (Persisted events are not broadcast: the frame carries the committed payload.)
    let status_frame = c.events.iter().find(|e| e["type"] == "agent.subagent_status").unwrap();
    assert_eq!(status_frame["data"]["currentTurn"], status["payload"]["currentTurn"]);
    assert_eq!(status_frame["data"]["subagentSessionId"], status["payload"]["subagentSessionId"]);
    let status = &on_parent("agent.subagent_status")[0]["data"];
    let timestamp = status["timestamp"].clone();
    assert!(timestamp.is_string(), "an agent_event's data carries its timestamp: {status}");
    assert_eq!(
        status,
        &json!({"subagentSessionId": child_id, "status": "running", "currentTurn": 1, "timestamp": timestamp})
    );
    let forwarded: Vec<String> = on_parent("agent.subagent_event")
        .iter()
        .map(|e| e["data"]["event"]["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        forwarded.iter().any(|t| t == "text_delta") && forwarded.iter().any(|t| t == "turn_start"),
        "{forwarded:?}"
    );
    assert!(on_parent("agent.subagent_event").iter().all(|e| e["data"]["event"]["timestamp"].is_string()));
    let done = &on_parent("agent.subagent_completed")[0]["data"];
    assert_eq!(done["tokenUsage"], json!({"inputTokens": 120, "outputTokens": 7}));
    assert_eq!(done["totalTurns"], 1);

    // The child got the parent's tools minus its denials and never the subagent tools.
    let requests = server.mock.requests();
    let tool_names = |body: &Value| -> Vec<String> {
        body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    let parent_tools = tool_names(&requests[0].body);
    assert!(parent_tools.iter().any(|t| t == "SpawnSubagent") && parent_tools.iter().any(|t| t == "Bash"));
    let child_tools = tool_names(&requests[1].body);
    assert!(child_tools.iter().any(|t| t == "Read"), "{child_tools:?}");
    for gone in ["Bash", "SpawnSubagent", "QueryAgent", "WaitForAgents"] {
        assert!(!child_tools.iter().any(|t| t == gone), "{gone} offered to the child: {child_tools:?}");
    }
}

#[tokio::test]
async fn a_background_subagent_notifies_its_parent_when_done() {
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_bg",
            "SpawnSubagent",
            json!({"task": "Look around", "blocking": false}),
        ),
        // The child's answer and the parent's next answer, in whichever order they ask.
        ScriptedResponse::text("Finished."),
        ScriptedResponse::text("Finished."),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "start a helper"})).await;
    let available = c.until("agent.subagent_result_available").await;
    let data = &available["data"];
    assert_eq!(data["parentSessionId"], parent.as_str());
    assert_eq!(data["success"], true);
    assert_eq!(data["task"], "Look around");
    assert_eq!(data["resultSummary"], "Finished.");
    assert!(data["completedAt"].is_string());

    let parent_log = server.persisted(&parent);
    let result = parent_log.iter().find(|e| e["type"] == "tool.result").unwrap();
    assert!(result["payload"]["content"].as_str().unwrap().starts_with("Agent spawned successfully.\n"));
    let note = parent_log.iter().find(|e| e["type"] == "notification.subagent_result").unwrap();
    assert_eq!(note["payload"]["subagentSessionId"], data["subagentSessionId"]);
}

#[tokio::test]
async fn aborting_the_parent_aborts_its_running_subagent() {
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_slow", "SpawnSubagent", json!({"task": "Take your time"})),
        ScriptedResponse::stream([
            Step::Text { text: "Thinking it over".into() },
            Step::DelayMs { ms: 30_000 },
            Step::Text { text: " and done.".into() },
        ]),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "delegate"})).await;
    // Abort once the child has streamed some text (it then keeps it as an interrupted message).
    loop {
        let e = c.until("agent.subagent_event").await;
        if e["data"]["event"]["type"] == "text_delta" {
            break;
        }
        c.events.retain(|f| f["type"] != "agent.subagent_event");
    }
    assert_eq!(c.call("agent.abort", json!({"sessionId": parent})).await["aborted"], true);
    let failed = c.until("agent.subagent_failed").await;
    assert_eq!(failed["data"]["completionType"], "aborted", "{failed}");
    assert!(failed["data"]["duration"].is_i64());
    let complete = loop {
        let e = c.until("agent.complete").await;
        if e["sessionId"] == parent.as_str() {
            break e;
        }
        c.events.retain(|f| !(f["type"] == "agent.complete" && f["sessionId"] != parent.as_str()));
    };
    assert_eq!(complete["data"]["interrupted"], true, "{complete}");

    // Both logs say what happened: the child kept what it had streamed.
    let child = child_of(&server, &parent);
    let child_log = server.persisted(child.id.as_str());
    let assistant = child_log.iter().find(|e| e["type"] == "message.assistant").unwrap();
    assert_eq!(assistant["payload"]["stopReason"], "interrupted", "{assistant}");
    assert!(child_log.iter().any(|e| e["type"] == "notification.interrupted"));
    let parent_log = server.persisted(&parent);
    let failed = parent_log.iter().find(|e| e["type"] == "subagent.failed").unwrap();
    assert_eq!(failed["payload"]["recoverable"], false);
    assert_eq!(failed["payload"]["completionType"], "aborted");
}

/// The model of the two-helper tests, answering by who asks (the parent is offered
/// `WaitForAgents`, a child never is): the parent spawns two helpers without waiting, then
/// waits for both (`WaitForAgents`, ids read from its spawn results), asks the first one's
/// status (`QueryAgent`), and answers; each helper answers its task.
fn two_helpers() -> Responder {
    let parent_calls = Arc::new(AtomicUsize::new(0));
    Arc::new(move |request: &RecordedRequest| {
        let body = &request.body;
        if !offers(body, "WaitForAgents") {
            let task = body["messages"][0]["content"].to_string();
            let answer =
                if task.contains("alpha") { "Alpha counted 3 files." } else { "Beta found 2 TODOs." };
            return Some(ScriptedResponse::text(answer));
        }
        let ids = spawned_ids(&body.to_string());
        Some(match parent_calls.fetch_add(1, Ordering::SeqCst) {
            0 => ScriptedResponse::stream([
                Step::ToolCall {
                    id: "toolu_alpha".into(),
                    name: "SpawnSubagent".into(),
                    input: json!({"task": "Task alpha: count the files", "blocking": false}),
                },
                Step::ToolCall {
                    id: "toolu_beta".into(),
                    name: "SpawnSubagent".into(),
                    input: json!({"task": "Task beta: find the TODOs", "blocking": false}),
                },
            ]),
            1 => ScriptedResponse::tool_call(
                "toolu_wait",
                "WaitForAgents",
                json!({"sessionIds": ids, "mode": "all"}),
            ),
            2 => ScriptedResponse::tool_call(
                "toolu_query",
                "QueryAgent",
                json!({"sessionId": ids[0], "queryType": "status"}),
            ),
            _ => ScriptedResponse::text("Both helpers are done: 3 files, 2 TODOs."),
        })
    })
}

/// Whether a provider request offers the tool `name`.
fn offers(body: &Value, name: &str) -> bool {
    body["tools"].as_array().is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
}

/// The child session ids the spawn results in `text` name, in order.
fn spawned_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for part in text.split("**Session ID**: ").skip(1) {
        let id: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// What a two-helper run leaves: the children's logs, the parent's log (lifecycle events
/// per child in order, the four tool results, two notifications) and the mock's requests
/// (both children asked before the parent's call after `WaitForAgents`). The child ids,
/// alpha first.
fn check_two_helpers(store: &EventStore, parent: &str, requests: &[RecordedRequest]) -> [String; 2] {
    let opts = tron::events::ListOptions { include_subagents: true, ..Default::default() };
    let mut children: Vec<_> = store
        .list_sessions(&opts)
        .unwrap()
        .into_iter()
        .filter(|s| s.spawning_session_id.as_ref().map(|p| p.as_str()) == Some(parent))
        .collect();
    children.sort_by_key(|c| c.spawn_task.clone());
    assert_eq!(children.len(), 2, "two children");
    let ids = [children[0].id.as_str().to_owned(), children[1].id.as_str().to_owned()];
    for (child, (task, answer)) in children.iter().zip([
        ("Task alpha: count the files", "Alpha counted 3 files."),
        ("Task beta: find the TODOs", "Beta found 2 TODOs."),
    ]) {
        assert_eq!(child.spawn_task.as_deref(), Some(task));
        let log: Vec<Value> = store
            .events(child.id.as_str())
            .unwrap()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        assert_eq!(
            types(&log),
            ["session.start", "message.user", "stream.turn_start", "message.assistant", "stream.turn_end"],
            "{log:#?}"
        );
        assert_eq!(log[1]["payload"]["content"], task);
        assert_eq!(log[3]["payload"]["content"][0]["text"], answer);
    }

    let events = store.events(parent).unwrap();
    for e in &events {
        e.typed().unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
    }
    let log: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    let count = |kind: &str| log.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(count("subagent.spawned"), 2);
    assert_eq!(count("subagent.status_update"), 2, "one turn each");
    assert_eq!(count("subagent.completed"), 2);
    assert_eq!(count("subagent.failed"), 0);
    assert_eq!(count("notification.subagent_result"), 2, "spawned without waiting: both notify");
    for id in &ids {
        let at = |kind: &str| {
            log.iter()
                .position(|e| e["type"] == kind && e["payload"]["subagentSessionId"] == id.as_str())
                .unwrap_or_else(|| panic!("no {kind} for {id}"))
        };
        assert!(at("subagent.spawned") < at("subagent.status_update"), "{id}");
        assert!(at("subagent.status_update") < at("subagent.completed"), "{id}");
    }

    // The four tool results the model read, in call order.
    let results: Vec<&str> = log
        .iter()
        .filter(|e| e["type"] == "tool.result")
        .map(|e| e["payload"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(results.len(), 4, "{results:#?}");
    for (text, id) in results[..2].iter().zip(&ids) {
        assert!(
            text.starts_with(
                "Agent spawned successfully.
"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("**Session ID**: {id}")), "{text}");
    }
    let waited = results[2];
    assert!(
        waited.starts_with(
            "**Sub-agent(s) Completed**

"
        ),
        "{waited}"
    );
    for (id, answer) in ids.iter().zip(["Alpha counted 3 files.", "Beta found 2 TODOs."]) {
        assert!(waited.contains(&format!("### ✅ Session: `{id}`")), "{waited}");
        assert!(waited.contains(&format!("\n**Output**:\n{answer}\n")), "{waited}");
    }
    let status = results[3];
    assert!(status.starts_with("**Sub-agent Status** ✅"), "{status}");
    assert!(status.contains(&format!("| **Session ID** | `{}` |", ids[0])), "{status}");
    assert!(
        status.contains("| **Status** | completed |") && status.contains("| **Turns** | 1 |"),
        "{status}"
    );
    assert!(status.ends_with("**Task**: Task alpha: count the files"), "{status}");
    let last = log.iter().rev().find(|e| e["type"] == "message.assistant").unwrap();
    assert_eq!(last["payload"]["content"][0]["text"], "Both helpers are done: 3 files, 2 TODOs.");

    // The mock: four parent calls, and both children asked before the parent's call that
    // followed WaitForAgents.
    let parent_calls: Vec<usize> =
        (0..requests.len()).filter(|i| offers(&requests[*i].body, "WaitForAgents")).collect();
    let child_calls: Vec<usize> =
        (0..requests.len()).filter(|i| !offers(&requests[*i].body, "WaitForAgents")).collect();
    assert_eq!((parent_calls.len(), child_calls.len()), (4, 2), "{} requests", requests.len());
    assert!(child_calls.iter().all(|c| *c < parent_calls[2]), "{parent_calls:?} {child_calls:?}");
    ids
}

#[tokio::test]
async fn the_model_spawns_two_helpers_waits_for_both_and_queries_one_through_serve() {
    let mock = MockLlm::start_with_responder(Script::default(), two_helpers()).await.unwrap();
    let server = common::start_on(mock, common::Setup::default()).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "count files and TODOs in parallel"})).await;
    let complete = loop {
        let e = c.until("agent.complete").await;
        if e["sessionId"] == parent.as_str() {
            break e;
        }
        c.events.retain(|f| !(f["type"] == "agent.complete" && f["sessionId"] != parent.as_str()));
    };
    assert_eq!(complete["data"]["success"], true, "{complete}");
    let ids = check_two_helpers(&server.store(), &parent, &server.mock.requests());

    // The parent's clients saw each child start, run and end.
    let on_parent = |kind: &str| -> Vec<Value> {
        c.events.iter().filter(|e| e["type"] == kind && e["sessionId"] == parent.as_str()).cloned().collect()
    };
    for kind in ["agent.subagent_spawned", "agent.subagent_status", "agent.subagent_completed"] {
        let mut seen: Vec<String> = on_parent(kind)
            .iter()
            .map(|e| e["data"]["subagentSessionId"].as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(seen, want, "{kind}");
    }
    assert_eq!(on_parent("agent.subagent_result_available").len(), 2);
}

#[tokio::test]
async fn the_model_spawns_two_helpers_waits_for_both_and_queries_one_through_tron_chat() {
    let mock = MockLlm::start_with_responder(Script::default(), two_helpers()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut cmd = chat_command(&mock, &db);
    cmd.args(["--output", "stream-json", "--cwd"]).arg(dir.path()).arg("count files and TODOs in parallel");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |kind: &str| lines.iter().filter(|l| l["type"] == kind).count();
    assert_eq!((of("subagent_spawned"), of("subagent_completed")), (2, 2), "{stdout}");
    assert_eq!(lines.last().unwrap()["result"], "Both helpers are done: 3 files, 2 TODOs.");

    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    let parent = store.list_sessions(&Default::default()).unwrap().remove(0).id.into_string();
    check_two_helpers(&store, &parent, &mock.requests());
}

/// A host over a real store and the mock LLM, as `tron serve` makes one.
async fn host(dir: &std::path::Path, mock: &MockLlm) -> (Arc<Subagents>, StoreHandle, String) {
    let store = EventStore::open(dir.join("events.db"), OpenMode::Create).unwrap();
    let (row, _) = store
        .create_session(NewSession {
            working_directory: dir.display().to_string(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        })
        .unwrap();
    let store = StoreHandle::spawn(store);
    let base = mock.base_url();
    let env: tron::settings::EnvLookup = Arc::new(move |n: &str| match n {
        "ANTHROPIC_API_KEY" => Some("sk-ant-test".into()),
        "TRON_ANTHROPIC_BASE_URL" => Some(base.clone()),
        _ => None,
    });
    let settings = Arc::new(Settings::defaults());
    let child_env = ChildEnv {
        store: store.clone(),
        settings: Arc::new(move || Arc::clone(&settings)),
        data_dir: dir.to_path_buf(),
        env,
    };
    let sink: SubagentSink = Arc::new(|_: &str, _: SubagentEvent<'_>| {});
    let parent = row.id.into_string();
    (Subagents::new(&parent, child_env, sink, Default::default()), store, parent)
}

async fn call(tools: &ToolRegistry, name: &str, args: Value) -> tron::core::tools::ToolResult {
    let ctx = ToolContext::new("/");
    tools.get(name).unwrap().execute(args.as_object().unwrap(), &ctx).await
}

#[tokio::test]
async fn query_and_wait_for_background_subagents() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("The answer is 42.")])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (subagents, _store, _parent) = host(dir.path(), &mock).await;
    let mut tools = ToolRegistry::new();
    for tool in tron::tools::subagent::tools(subagents.clone()) {
        tools.register(tool);
    }

    let spawned = call(&tools, "SpawnSubagent", json!({"task": "Compute", "blocking": false})).await;
    assert!(!spawned.failed(), "{}", spawned.text_content());
    let id = spawned.details.as_ref().unwrap()["sessionId"].as_str().unwrap().to_owned();

    let waited = call(&tools, "WaitForAgents", json!({"sessionIds": [id], "timeout": 20000})).await;
    let text = waited.text_content();
    assert!(!waited.failed(), "{text}");
    assert!(text.starts_with(&format!("**Sub-agent(s) Completed**\n\n### ✅ Session: `{id}`")), "{text}");
    assert!(text.contains("\n**Output**:\nThe answer is 42.\n"), "{text}");

    let status =
        call(&tools, "QueryAgent", json!({"sessionId": id, "queryType": "status"})).await.text_content();
    assert!(status.starts_with("**Sub-agent Status** ✅"), "{status}");
    assert!(
        status.contains("| **Status** | completed |") && status.contains("| **Spawn Type** | subsession |")
    );
    assert!(status.ends_with("**Task**: Compute"), "{status}");
    let output =
        call(&tools, "QueryAgent", json!({"sessionId": id, "queryType": "output"})).await.text_content();
    assert_eq!(output, format!("**Sub-agent Output** (session: `{id}`):\n\nThe answer is 42."));
    let events = call(&tools, "QueryAgent", json!({"sessionId": id, "queryType": "events", "limit": 2}))
        .await
        .text_content();
    assert!(events.starts_with("**Sub-agent Events** (2 events)"), "{events}");

    // Bad input: clear errors, nothing spawned.
    let r = call(&tools, "QueryAgent", json!({"sessionId": id, "queryType": "vibes"})).await;
    assert_eq!(r.text_content(), "Error: Invalid queryType. Must be one of: status, events, logs, output.");
    let r = call(&tools, "QueryAgent", json!({"sessionId": "sess_unknown", "queryType": "status"})).await;
    assert!(
        r.failed() && r.text_content().starts_with("Failed to query sub-agent: "),
        "{}",
        r.text_content()
    );
    let r = call(&tools, "WaitForAgents", json!({"sessionIds": []})).await;
    assert_eq!(r.text_content(), "Error: No session IDs provided.");
    let r = call(&tools, "WaitForAgents", json!({"sessionIds": ["sess_unknown"]})).await;
    assert!(r.failed() && r.text_content().contains("not found"), "{}", r.text_content());
    let r = call(&tools, "SpawnSubagent", json!({"task": "  "})).await;
    assert!(r.text_content().starts_with("Error: Missing required parameter \"task\""));
    let r = call(&tools, "SpawnSubagent", json!({"task": "x", "model": "gpt-nonexistent-9"})).await;
    assert!(r.failed() && r.text_content().starts_with("Failed to spawn agent: "), "{}", r.text_content());
    assert_eq!(mock.requests().len(), 1, "only the one real child asked the model");
}

#[tokio::test]
async fn waiting_times_out_with_the_typescript_error() {
    let mock = MockLlm::start(Script::new([ScriptedResponse::stream([
        Step::Text { text: "slow".into() },
        Step::DelayMs { ms: 30_000 },
    ])]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (subagents, _store, _parent) = host(dir.path(), &mock).await;
    let mut tools = ToolRegistry::new();
    for tool in tron::tools::subagent::tools(subagents.clone()) {
        tools.register(tool);
    }
    let spawned = call(&tools, "SpawnSubagent", json!({"task": "Slow", "timeout": 50})).await;
    assert!(spawned.failed());
    assert!(spawned.text_content().starts_with("Agent timed out after 0s.\n"), "{}", spawned.text_content());
    let id = spawned.details.as_ref().unwrap()["sessionId"].as_str().unwrap().to_owned();
    let r = call(&tools, "WaitForAgents", json!({"sessionIds": [id], "timeout": 50})).await;
    assert_eq!(
        r.text_content(),
        "Failed to wait for sub-agent(s): Timeout after 50ms waiting for sub-agent(s)"
    );
    assert_eq!(subagents.running(), 1);
    subagents.abort_all();
    tokio::time::timeout(Duration::from_secs(10), subagents.wait_idle()).await.unwrap();
    let status =
        call(&tools, "QueryAgent", json!({"sessionId": id, "queryType": "status"})).await.text_content();
    assert!(status.contains("| **Status** | failed |"), "{status}");
}

#[tokio::test]
async fn tron_chat_runs_a_subagent_and_waits_for_it() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::tool_call("toolu_1", "SpawnSubagent", json!({"task": "Say hi"})),
        ScriptedResponse::text("hi"),
        ScriptedResponse::text("The subagent said hi."),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut cmd = chat_command(&mock, &db);
    cmd.args(["--output", "stream-json", "--cwd"]).arg(dir.path()).arg("delegate");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["type"] == "subagent_spawned"), "{stdout}");
    assert!(
        lines.iter().any(|l| l["type"] == "subagent_completed" && l["resultSummary"] == "hi"),
        "{stdout}"
    );
    assert_eq!(lines.last().unwrap()["result"], "The subagent said hi.");

    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    let all = tron::events::ListOptions { include_subagents: true, ..Default::default() };
    assert_eq!(store.list_sessions(&all).unwrap().len(), 2);
    assert_eq!(store.list_sessions(&Default::default()).unwrap().len(), 1, "subagents are hidden by default");
}

#[tokio::test]
async fn a_subagent_skill_is_delegated_to_a_subagent_with_its_model_and_tool_limits() {
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_rev",
            "SpawnSubagent",
            json!({"task": "Review src/lib.rs", "skills": ["reviewer"]}),
        ),
        ScriptedResponse::text("Looks fine."),
        ScriptedResponse::text("The reviewer found nothing."),
    ]);
    let server = start(script).await;
    let skill = std::path::Path::new(&server.dir()).join(".claude/skills/reviewer");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(
        skill.join("SKILL.md"),
        "---\nname: reviewer\ndescription: Reviews code for bugs\nsubagent: yes\nsubagentModel: claude-haiku-4-5-20251001\n\
         allowedTools:\n  - Read\n---\nREVIEWER-INSTRUCTIONS: read carefully and report bugs.\n",
    )
    .unwrap();
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "@reviewer please check src/lib.rs"})).await;
    loop {
        let e = c.until("agent.complete").await;
        if e["sessionId"] == parent.as_str() {
            assert_eq!(e["data"]["success"], true, "{e}");
            break;
        }
        c.events.retain(|f| !(f["type"] == "agent.complete" && f["sessionId"] != parent.as_str()));
    }
    let requests = server.mock.requests();
    // The parent is offered the skill for delegation, not its instructions, and keeps its tools.
    let system = common::system_of(&requests[0].body);
    assert!(
        system.contains("<subagent-skills>") && system.contains("- @reviewer: Reviews code for bugs"),
        "{system}"
    );
    assert!(!system.contains("REVIEWER-INSTRUCTIONS"), "{system}");
    let names = |body: &Value| -> Vec<String> {
        body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert!(names(&requests[0].body).iter().any(|t| t == "Bash"));
    // The subagent follows the skill, on its model, with its allow-list.
    let child = &requests[1].body;
    assert_eq!(child["model"], "claude-haiku-4-5-20251001");
    assert!(common::system_of(child).contains("REVIEWER-INSTRUCTIONS"));
    assert_eq!(names(child), ["Read"]);

    // An unknown skill is refused before a child exists.
    let r = {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockLlm::start(Script::default()).await.unwrap();
        let (subagents, _store, _parent) = host(dir.path(), &mock).await;
        let tools = tron::tools::subagent::tools(subagents);
        let ctx = ToolContext::new("/");
        let args = json!({"task": "x", "skills": ["nope"]});
        tools[0].execute(args.as_object().unwrap(), &ctx).await
    };
    assert!(r.failed() && r.text_content().contains("unknown skill \"nope\""), "{}", r.text_content());
}

#[tokio::test]
async fn subagent_stop_hooks_run_in_the_parent_when_a_subagent_fails() {
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_fail", "SpawnSubagent", json!({"task": "Break things"})),
        ScriptedResponse::anthropic_error(400, "invalid_request_error", "no such thing", None),
        ScriptedResponse::text("The helper failed."),
    ]);
    let server = start(script).await;
    let hooks = server.dir.path().join(".agent/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("subagent-stop.sh");
    std::fs::write(
        &hook,
        "#!/bin/bash\ncat >> stops.jsonl; echo >> stops.jsonl; echo '{\"action\":\"continue\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut c = Client::connect(server.addr).await;
    let parent = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": parent, "prompt": "delegate"})).await;
    let failed = c.until("agent.subagent_failed").await;
    assert_eq!(failed["data"]["completionType"], "error", "{failed}");
    // The hook's events reach the parent's log (persisted, not broadcast) once it ran.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let completed = loop {
        let found = server
            .persisted(&parent)
            .into_iter()
            .find(|e| e["type"] == "hook.completed" && e["payload"]["hookEvent"] == "SubagentStop");
        if let Some(e) = found {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "no SubagentStop hook.completed within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(completed["sessionId"], parent.as_str());
    assert_eq!(completed["payload"]["hookNames"], json!(["project:subagent-stop"]));
    assert_eq!(completed["payload"]["result"], "continue");

    let child = child_of(&server, &parent);
    let stops = std::fs::read_to_string(server.dir.path().join("stops.jsonl")).unwrap();
    let stop: Value = serde_json::from_str(stops.lines().next().unwrap()).unwrap();
    assert_eq!(stop["hookType"], "SubagentStop");
    assert_eq!(stop["sessionId"], parent.as_str());
    assert_eq!(stop["subagentId"], child.id.as_str());
    assert_eq!(stop["stopReason"], "error");
    assert_eq!(stop["result"]["success"], false);
    assert!(stop["result"]["error"].as_str().unwrap().contains("no such thing"), "{stop}");
    let parent_log = server.persisted(&parent);
    let triggered = parent_log
        .iter()
        .find(|e| e["type"] == "hook.triggered" && e["payload"]["hookEvent"] == "SubagentStop")
        .expect("hook.triggered in the parent's log");
    assert_eq!(triggered["payload"]["hookNames"], json!(["project:subagent-stop"]));
}

//! Context and compaction through a real server: `context.*` methods, automatic compaction
//! when a session crosses `context.compactor.triggerTokenThreshold`, and the same context
//! after a restart over the same database. The mock LLM serves the session's model and the
//! summarising model (`models.subagent`) from one script, in order.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::Client;
use serde_json::{json, Value};
use tron::events::{EventStore, OpenMode};
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

/// The settings every test server runs with: keep one turn through a compaction.
const SETTINGS: &str = r#"{"context": {"compactor": {"preserveRecentCount": 1}}}"#;

/// A server over the database in `dir` (created when absent), with every provider pointed
/// at `mock`.
async fn serve(dir: &Path, mock: &MockLlm) -> common::Running {
    std::fs::write(dir.join("settings.json"), SETTINGS).unwrap();
    common::serve_in(dir, Some(mock), common::Setup::default()).await.unwrap()
}

fn text(t: &str, input_tokens: u64) -> ScriptedResponse {
    ScriptedResponse::stream([
        Step::Text { text: t.into() },
        Step::Usage { input_tokens, output_tokens: 20, cache_read_tokens: 0, cache_creation_tokens: 0 },
    ])
}

/// Sends a prompt and waits for the run to end; the `agent.complete` data.
async fn prompt(c: &mut Client, session: &str, text: &str) -> Value {
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": text})).await;
    let done = c.until("agent.complete").await;
    c.until("agent.ready").await;
    done["data"].clone()
}

/// The persisted events of `session` in the database under `dir`: (type, payload).
fn events(dir: &Path, session: &str) -> Vec<(String, Value)> {
    let store = EventStore::open(dir.join("prod.db"), OpenMode::Existing).unwrap();
    store
        .events(session)
        .unwrap()
        .into_iter()
        .map(|e| {
            e.typed().unwrap_or_else(|err| panic!("{} is not in its TypeScript shape: {err}", e.event_type));
            (e.event_type.as_str().to_owned(), e.payload)
        })
        .collect()
}

#[tokio::test]
async fn a_session_past_the_threshold_compacts_keeps_working_and_restarts_the_same() {
    let mock = MockLlm::start(Script::new([
        text("Schema ready.", 1_000),
        // 150,000 of Claude Sonnet 4's 200,000: past the 0.7 threshold.
        text("Runner written.", 150_000),
        // The third prompt compacts first: the summarising model answers, then the session's.
        text("SUMMARY-OF-EARLIER-WORK: the schema exists.", 500),
        text("Tests added.", 2_000),
        text("Docs written.", 2_100),
        // After the restart.
        text("Released.", 2_200),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;

    assert_eq!(prompt(&mut c, &session, "First task: set up the database schema").await["success"], true);
    assert_eq!(prompt(&mut c, &session, "Second task: write the migration runner").await["success"], true);
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    assert_eq!(snap["currentTokens"], 150_000, "the provider's count: {snap}");
    assert_eq!(snap["thresholdLevel"], "alert");
    assert_eq!(c.call("context.shouldCompact", json!({"sessionId": session})).await["shouldCompact"], true);

    assert_eq!(prompt(&mut c, &session, "Third task: add tests").await["success"], true);
    let compaction =
        c.events.iter().find(|e| e["type"] == "agent.compaction").expect("agent.compaction pushed");
    assert_eq!(compaction["sessionId"], session.as_str());
    assert_eq!(compaction["data"]["tokensBefore"], 150_000);
    assert_eq!(compaction["data"]["reason"], "threshold_exceeded");
    assert!(compaction["data"]["summary"].as_str().unwrap().starts_with("SUMMARY-OF-EARLIER-WORK"));
    assert!(compaction["data"]["tokensAfter"].as_u64().unwrap() < 10_000, "{compaction}");

    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    // The summarising request: the small model, the older turn only.
    let summarize = &requests[2].body;
    assert_eq!(summarize["model"], "claude-haiku-4-5-20251001");
    let asked = summarize["messages"].to_string();
    assert!(asked.contains("First task") && !asked.contains("Second task"), "{asked}");
    // The model's request: the summary with the kept turn, then the new prompt.
    let sent = &requests[3].body["messages"];
    let sent_text = sent.to_string();
    assert!(sent_text.contains("[Context from earlier in this conversation]"), "{sent_text}");
    assert!(sent_text.contains("SUMMARY-OF-EARLIER-WORK") && sent_text.contains("Second task"));
    assert!(!sent_text.contains("First task"), "the summarised turn is gone: {sent_text}");
    assert!(!sent_text.contains("Schema ready"), "{sent_text}");
    assert_eq!(sent.as_array().unwrap().len(), 3, "summary, acknowledgement, prompt: {sent_text}");
    assert!(sent[2].to_string().contains("Third task"));

    // Persisted in the TypeScript order and shapes: boundary, summary, then the prompt.
    let evs = events(dir.path(), &session);
    let at = evs.iter().position(|(t, _)| t == "compact.boundary").expect("compact.boundary");
    assert_eq!(evs[at + 1].0, "compact.summary");
    assert_eq!(evs[at + 2].0, "message.user");
    let (boundary, summary) = (&evs[at].1, &evs[at + 1].1);
    for key in ["originalTokens", "compactedTokens", "compressionRatio", "reason", "summary"] {
        assert!(boundary.get(key).is_some(), "compact.boundary lacks {key}: {boundary}");
    }
    assert!(boundary["runId"].is_string(), "written by the run: {boundary}");
    assert!(summary["summary"].as_str().unwrap().contains("Second task"));
    assert!(summary.get("boundaryEventId").is_none() && summary["filesModified"].is_array(), "{summary}");

    // The session goes on from the compacted context.
    assert_eq!(prompt(&mut c, &session, "Fourth task: write the docs").await["success"], true);
    let before = mock.requests()[4].body.clone();
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    assert_eq!(snap["currentTokens"], 2_100);
    assert_eq!(snap["thresholdLevel"], "normal");
    server.shutdown().await;

    // A new server over the same database sends the same context.
    let server = serve(dir.path(), &mock).await;
    let mut c = Client::connect(server.addr).await;
    c.call("session.resume", json!({"sessionId": session})).await;
    assert_eq!(prompt(&mut c, &session, "Fifth task: release").await["success"], true);
    let after = mock.requests()[5].body.clone();
    let (b, a) = (before["messages"].as_array().unwrap(), after["messages"].as_array().unwrap());
    assert_eq!(a.len(), b.len() + 2, "the reply to the fourth task and the fifth prompt");
    assert_eq!(&a[..b.len()], &b[..], "the context before the restart, unchanged");
    assert_eq!(before["system"], after["system"]);
    assert_eq!(before["tools"], after["tools"]);
    server.shutdown().await;
}

#[tokio::test]
async fn snapshots_previews_compaction_on_request_and_clear() {
    let mock = MockLlm::start(Script::new([
        text("Hello there.", 1_200),
        text("Done with two.", 1_300),
        // previewCompaction's summary (the summarising model).
        text("PREVIEW-SUMMARY", 10),
        // After the edited-summary compaction.
        text("Continuing.", 300),
        // After the clear.
        text("Fresh start.", 100),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;

    // An empty session: an estimate of the system prompt and tools only.
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    assert_eq!(snap["contextLimit"], 200_000);
    assert_eq!(snap["thresholdLevel"], "normal");
    assert!(snap["usagePercent"].is_f64() || snap["usagePercent"].is_u64());
    for key in ["systemPrompt", "tools", "rules", "messages", "capabilities", "environment"] {
        assert!(snap["breakdown"][key].is_u64(), "breakdown.{key}: {snap}");
    }
    assert_eq!(snap["breakdown"]["messages"], 0);
    assert!(snap["breakdown"]["tools"].as_u64().unwrap() > 0);

    prompt(&mut c, &session, "One: greet me").await;
    prompt(&mut c, &session, "Two: count to two").await;
    let detailed = c.call("context.getDetailedSnapshot", json!({"sessionId": session})).await;
    let messages = detailed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{detailed}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "One: greet me");
    assert!(messages[0]["eventId"].is_string());
    assert_eq!(messages[1]["summary"], "Hello there.");
    assert!(detailed["toolsContent"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t.as_str().unwrap().starts_with("Bash: ")));
    assert_eq!(detailed["addedSkills"], json!([]));
    assert!(detailed["systemPromptContent"].is_string());
    let check =
        c.call("context.canAcceptTurn", json!({"sessionId": session, "estimatedResponseTokens": 4000})).await;
    assert_eq!(
        check,
        json!({"canProceed": true, "needsCompaction": false, "wouldExceedLimit": false,
               "currentTokens": 1300, "estimatedAfterTurn": 5300, "contextLimit": 200_000})
    );

    // A preview changes nothing.
    let count = events(dir.path(), &session).len();
    let preview = c.call("context.previewCompaction", json!({"sessionId": session})).await;
    assert_eq!(preview["summary"], "PREVIEW-SUMMARY");
    assert_eq!((preview["preservedTurns"].as_u64(), preview["summarizedTurns"].as_u64()), (Some(1), Some(1)));
    assert_eq!(preview["tokensBefore"], 1300);
    assert!(preview["compressionRatio"].is_number() && preview["extractedData"].is_object());
    assert_eq!(events(dir.path(), &session).len(), count, "a preview persists nothing");
    assert_eq!(c.call("context.getSnapshot", json!({"sessionId": session})).await["currentTokens"], 1300);

    // Compaction on request, with the user's own summary (no model call).
    let done = c
        .call("context.confirmCompaction", json!({"sessionId": session, "editedSummary": "MY-SUMMARY"}))
        .await;
    assert_eq!(done["success"], true);
    assert_eq!(done["summary"], "MY-SUMMARY");
    assert_eq!(done["tokensBefore"], 1300);
    let pushed = c.until("agent.compaction").await;
    assert_eq!(pushed["data"]["reason"], "manual");
    assert_eq!(pushed["data"]["tokensAfter"], done["tokensAfter"]);
    // As the TypeScript server forwards compaction_completed: no agent.compaction_started
    // for a compaction on request.
    assert_eq!(
        pushed["data"],
        json!({"tokensBefore": 1300, "tokensAfter": done["tokensAfter"],
                                      "reason": "manual", "summary": "MY-SUMMARY"})
    );
    assert!(c.events.iter().all(|e| e["type"] != "agent.compaction_started"));
    let evs = events(dir.path(), &session);
    assert_eq!(evs[evs.len() - 2].0, "compact.boundary");
    assert_eq!(evs[evs.len() - 1].0, "compact.summary");
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    // The provider's count is stale after compacting: the estimate is reported instead.
    let b = &snap["breakdown"];
    let estimate: u64 = ["systemPrompt", "tools", "messages"].iter().map(|k| b[*k].as_u64().unwrap()).sum();
    assert_eq!(snap["currentTokens"], estimate, "{snap}");
    assert!(b["messages"].as_u64().unwrap() < 200, "summary, acknowledgement: {snap}");
    assert!(b["systemPrompt"].as_u64().unwrap() > 0, "the session's system prompt: {snap}");
    prompt(&mut c, &session, "Three: go on").await;
    let sent = mock.requests()[3].body["messages"].to_string();
    assert!(
        sent.contains("MY-SUMMARY") && sent.contains("Two: count to two") && !sent.contains("One: greet me")
    );

    // Clear: nothing before it is sent again.
    let cleared = c.call("context.clear", json!({"sessionId": session})).await;
    assert_eq!(cleared["success"], true);
    assert_eq!(cleared["tokensBefore"], 300);
    assert_eq!(cleared["clearedTodos"], json!([]));
    // Afterwards: the system prompt and the tools only.
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    let overhead =
        snap["breakdown"]["systemPrompt"].as_u64().unwrap() + snap["breakdown"]["tools"].as_u64().unwrap();
    assert_eq!(cleared["tokensAfter"], overhead);
    assert_eq!(
        (snap["currentTokens"].as_u64(), snap["breakdown"]["messages"].as_u64()),
        (Some(overhead), Some(0))
    );
    assert_eq!(c.until("agent.context_cleared").await["data"]["tokensBefore"], 300);
    let (kind, payload) = events(dir.path(), &session).pop().unwrap();
    assert_eq!(kind, "context.cleared");
    assert_eq!(payload["reason"], "manual");
    prompt(&mut c, &session, "Four: new topic").await;
    let sent = &mock.requests()[4].body["messages"];
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent}");
    assert!(sent.to_string().contains("Four: new topic"));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_params_and_unknown_sessions_get_clear_errors() {
    let mock = MockLlm::start(Script::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    for method in [
        "context.getSnapshot",
        "context.getDetailedSnapshot",
        "context.shouldCompact",
        "context.previewCompaction",
        "context.confirmCompaction",
        "context.compact",
        "context.canAcceptTurn",
        "context.clear",
    ] {
        let e = c.fail(method, json!({})).await;
        assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "sessionId is required"}), "{method}");
        let e = c.fail(method, json!({"sessionId": "sess_missing", "estimatedResponseTokens": 1})).await;
        assert_eq!(e["code"], "SESSION_NOT_FOUND", "{method}: {e}");
    }
    let e = c.fail("context.canAcceptTurn", json!({"sessionId": session})).await;
    assert_eq!(e["message"], "estimatedResponseTokens is required");
    let e =
        c.fail("context.canAcceptTurn", json!({"sessionId": session, "estimatedResponseTokens": "x"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("context.confirmCompaction", json!({"sessionId": session, "editedSummary": 5})).await;
    assert_eq!(e["message"], "editedSummary must be a string");
    // Nothing to compact in an empty session: success, nothing persisted, no model call.
    let done = c.call("context.compact", json!({"sessionId": session})).await;
    assert_eq!((done["success"].as_bool(), done["compressionRatio"].as_f64()), (Some(true), Some(1.0)));
    assert!(events(dir.path(), &session).iter().all(|(t, _)| !t.starts_with("compact.")));
    assert!(mock.requests().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_failing_summarising_model_falls_back_to_the_keyword_summary() {
    use tron::context::{LlmSummarizer, Summarizer};
    use tron::core::messages::Message;
    use tron::llm::anthropic::{AnthropicAuth, AnthropicProvider};
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::anthropic_error(400, "invalid_request_error", "no", None),
        text("A MODEL SUMMARY", 1),
    ]))
    .await
    .unwrap();
    let provider = AnthropicProvider::new(mock.base_url(), AnthropicAuth::ApiKey("k".into()));
    let model = tron::llm::models::lookup("claude-haiku-4-5").unwrap();
    let summarizer = LlmSummarizer::new(Arc::new(provider), model);
    let messages = vec![Message::user("Please migrate the database tables"), Message::assistant(vec![])];
    let fallback = summarizer.summarize(&messages).await;
    assert!(fallback.narrative.contains("migrate the database tables"), "{}", fallback.narrative);
    assert!(fallback.narrative.contains("(2 messages summarized)"));
    let summary = summarizer.summarize(&messages).await;
    assert_eq!(summary.narrative, "A MODEL SUMMARY");
    assert!(summary.extracted_data.topics_discussed.contains(&"migrate".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tron_chat_compacts_the_same_way() {
    let mock = MockLlm::start(Script::new([
        text("One done.", 150_000),
        text("CHAT-SUMMARY of the first task.", 100),
        text("Two done.", 1_000),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    // Keep no turn: everything before the new prompt is summarised.
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"context": {"compactor": {"preserveRecentCount": 0}}}"#,
    )
    .unwrap();
    let cwd = dir.path().to_str().unwrap().to_owned();
    for args in [vec!["one: the first task"], vec!["two: the second task", "--continue"]] {
        let mut cmd = common::chat_command(&mock, &db);
        cmd.args(&args).args(["--model", "claude-sonnet-4-20250514", "--cwd", &cwd, "--no-tools"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    let sent = &requests[2].body["messages"];
    assert_eq!(sent.as_array().unwrap().len(), 3, "{sent}");
    assert!(
        sent[0].to_string().contains("CHAT-SUMMARY") && !sent.to_string().contains("one: the first task")
    );
    let (_, events) = common::only_session_events(&db);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    let at = types.iter().position(|t| *t == "compact.boundary").expect("compacted");
    assert_eq!(&types[at..at + 3], ["compact.boundary", "compact.summary", "message.user"]);
    assert_eq!(events[at].1["reason"], "threshold_exceeded");
}

#[tokio::test]
async fn tool_results_that_fill_the_window_compact_in_the_middle_of_a_run() {
    let mock = MockLlm::start(Script::new([
        text("Schema ready.", 1_000),
        // The second prompt's first call asks for a tool; its context is past the threshold.
        ScriptedResponse::stream([
            Step::ToolCall {
                id: "toolu_big".into(),
                name: "Bash".into(),
                input: json!({"command": "echo big"}),
            },
            Step::Usage {
                input_tokens: 150_000,
                output_tokens: 30,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ]),
        // Between the calls: the summarising model, then the run's next call.
        text("SUMMARY-OF-EARLIER-WORK: the schema exists.", 500),
        text("Runner written.", 3_000),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    assert_eq!(prompt(&mut c, &session, "First task: set up the database schema").await["success"], true);
    assert_eq!(prompt(&mut c, &session, "Second task: write the migration runner").await["success"], true);

    let compaction =
        c.events.iter().find(|e| e["type"] == "agent.compaction").expect("agent.compaction pushed");
    assert_eq!(compaction["data"]["reason"], "threshold_exceeded");
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    let asked = requests[2].body["messages"].to_string();
    assert!(asked.contains("First task") && !asked.contains("Second task"), "{asked}");
    // The run's next call: the summary with the run's own turn (its tool call and result),
    // and a request to go on (the context must end with a user message).
    let sent = requests[3].body["messages"].as_array().unwrap().clone();
    let all = serde_json::to_string(&sent).unwrap();
    assert!(all.contains("SUMMARY-OF-EARLIER-WORK"), "{all}");
    assert!(!all.contains("First task"), "{all}");
    assert!(all.contains("Second task") && all.contains("Tool result: big"), "{all}");
    let last = sent.last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], tron::agent::turn::CONTINUE_AFTER_COMPACTION);

    // The log: the boundary sits between the tool result and the next turn.
    let types: Vec<String> = events(dir.path(), &session).into_iter().map(|(t, _)| t).collect();
    let result = types.iter().rposition(|t| t == "tool.result").unwrap();
    let boundary = types.iter().position(|t| t == "compact.boundary").unwrap();
    let last_turn = types.iter().rposition(|t| t == "stream.turn_start").unwrap();
    assert!(result < boundary && boundary < last_turn, "{types:?}");
    server.shutdown().await;
}

/// A server over `dir` with `settings` (JSON text) and the memory ledger `ledger`.
async fn serve_with(dir: &Path, mock: &MockLlm, settings: &str, ledger: bool) -> common::Running {
    std::fs::write(dir.join("settings.json"), settings).unwrap();
    let setup = common::Setup { memory_ledger: ledger, ..Default::default() };
    common::serve_in(dir, Some(mock), setup).await.unwrap()
}

/// Characters / 4, rounded up: the estimate the snapshot makes of a text.
fn tokens_of(text: &str) -> u64 {
    text.len().div_ceil(4) as u64
}

#[tokio::test]
async fn snapshots_count_rules_and_skills_apart_and_list_them() {
    let mock = MockLlm::start(Script::new([text("Done.", 1_000)])).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join(".git")).unwrap();
    std::fs::write(work.path().join("AGENTS.md"), "SNAPSHOT-RULE: keep functions short.").unwrap();
    let skill = dir.path().join("skills/helper");
    std::fs::create_dir_all(&skill).unwrap();
    let skill_text = "HELPER-SKILL: explain every change.";
    std::fs::write(skill.join("SKILL.md"), format!("---\ndescription: helps\n---\n{skill_text}")).unwrap();
    let mut c = Client::connect(server.addr).await;
    let session = c.session(work.path().to_str().unwrap()).await;
    assert_eq!(prompt(&mut c, &session, "Tidy up, @helper").await["success"], true);

    // What the run sent: the rules section and the skill block sit inside its system prompt.
    let body = &mock.requests()[0].body;
    let system = common::system_of(body);
    let rules_at = system.find("\n\n# Project rules").expect("rules in the prompt");
    let skills_at = system.find("\n\n<skills>").expect("the skill in the prompt");
    assert!(rules_at < skills_at && system.contains("SNAPSHOT-RULE") && system.contains(skill_text));
    let (rules, skills) = (&system[rules_at..skills_at], &system[skills_at..]);

    let detailed = c.call("context.getDetailedSnapshot", json!({"sessionId": session})).await;
    assert_eq!(detailed["systemPromptContent"], system.as_str(), "the next prompt's system prompt");
    let b = &detailed["breakdown"];
    assert_eq!(b["rules"], tokens_of(rules), "{b}");
    assert_eq!(b["skillContext"], tokens_of(skills), "{b}");
    assert_eq!(b["systemPrompt"], (system.len() - rules.len() - skills.len()).div_ceil(4) as u64, "{b}");
    assert_eq!((b["skillRemoval"].as_u64(), b["memory"].as_u64()), (Some(0), Some(0)));
    // The tools counted are the tools the run sent.
    let sent: Vec<&str> =
        body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    let counted: Vec<&str> = detailed["capabilitiesContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(counted, sent);
    for name in ["SpawnSubagent", "AskUserQuestion", "BrowseTheWeb", "TaskManager"] {
        assert!(counted.contains(&name), "{name} missing from {counted:?}");
    }
    let snap = c.call("context.getSnapshot", json!({"sessionId": session})).await;
    assert_eq!(&snap["breakdown"], b, "the same counts in the plain snapshot");

    // The skill the prompt added, and the rules file loaded.
    let evs = events(dir.path(), &session);
    let store = EventStore::open(dir.path().join("prod.db"), OpenMode::Existing).unwrap();
    let added = store.events(&session).unwrap().into_iter().find(|e| e.event_type.as_str() == "skill.added");
    let added_id = added.expect("skill.added").id.as_str().to_owned();
    assert_eq!(
        detailed["addedSkills"],
        json!([{"name": "helper", "source": "global", "addedVia": "mention", "eventId": added_id,
                "tokens": tokens_of(skill_text)}])
    );
    let loaded = &evs.iter().find(|(t, _)| t == "rules.loaded").unwrap().1;
    let rules_field = &detailed["rules"];
    assert_eq!(rules_field["totalFiles"], 1);
    assert_eq!(rules_field["tokens"], loaded["mergedTokens"]);
    assert_eq!(rules_field["files"], loaded["files"]);
    assert_eq!(rules_field["files"][0]["relativePath"], "AGENTS.md");
    assert_eq!(rules_field["files"][0]["level"], "project");

    // Removing the skill: its notice is counted as skillRemoval, and it is no longer listed.
    c.call("skill.remove", json!({"sessionId": session, "skillName": "helper"})).await;
    let detailed = c.call("context.getDetailedSnapshot", json!({"sessionId": session})).await;
    assert_eq!(detailed["addedSkills"], json!([]));
    assert_eq!(detailed["breakdown"]["skillContext"], 0);
    let system = detailed["systemPromptContent"].as_str().unwrap();
    let notice = &system[system.find("\n\n<removed-skills>").expect("the removal notice")..];
    assert!(notice.contains("@helper"), "{system}");
    assert_eq!(detailed["breakdown"]["skillRemoval"], tokens_of(notice));
    server.shutdown().await;
}

/// A ledger model's answer: an entry titled `title`.
fn ledger(title: &str) -> ScriptedResponse {
    text(
        &json!({"title": title, "entryType": "feature", "lessons": [format!("{title} lesson")]}).to_string(),
        50,
    )
}

/// The persisted event types of `session`.
fn types(dir: &Path, session: &str) -> Vec<String> {
    events(dir, session).into_iter().map(|(t, _)| t).collect()
}

#[tokio::test]
async fn force_always_compacts_after_each_run_before_the_ledger_entry() {
    let mock = MockLlm::start(Script::new([
        text("One done.", 1_000),
        ledger("First step"),
        text("Two done.", 1_200),
        text("FORCED-SUMMARY of the first step.", 40),
        ledger("Second step"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = r#"{"context": {"compactor": {"preserveRecentCount": 1, "forceAlways": true}}}"#;
    let server = serve_with(dir.path(), &mock, settings, true).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;

    // One turn: the run's own turn is kept, so there is nothing to summarise yet.
    assert_eq!(prompt(&mut c, &session, "First: read the code").await["success"], true);
    c.until("agent.memory_updated").await;
    assert!(!types(dir.path(), &session).contains(&"compact.boundary".to_owned()));

    assert_eq!(prompt(&mut c, &session, "Second: fix the bug").await["success"], true);
    let at = |kind: &str| c.events.iter().position(|e| e["type"] == kind);
    let (compaction, complete) =
        (at("agent.compaction").expect("agent.compaction pushed"), at("agent.complete"));
    assert!(compaction < complete.unwrap(), "compacted before the run is reported done");
    assert_eq!(c.events[compaction]["data"]["reason"], "threshold_exceeded");
    c.until("agent.memory_updated").await;

    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    let summarize = &requests[3].body;
    assert_eq!(summarize["model"], "claude-haiku-4-5-20251001");
    let asked = summarize["messages"].to_string();
    assert!(asked.contains("First: read the code") && !asked.contains("Second: fix the bug"), "{asked}");
    // Compaction first, then the ledger entry of the run (the TypeScript order).
    // (Hook events left out: the ledger is a background `Stop` hook, `builtin:pre-compact`
    // runs before the compaction.)
    let t: Vec<String> =
        types(dir.path(), &session).into_iter().filter(|k| !k.starts_with("hook.")).collect();
    let end = t.iter().rposition(|k| k == "stream.turn_end").unwrap();
    assert_eq!(&t[end + 1..], ["compact.boundary", "compact.summary", "memory.ledger"], "{t:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn runs_compact_on_the_turn_fallbacks_and_on_progress_signals() {
    let mock = MockLlm::start(Script::new([
        text("a done", 1_000),
        // 60 % of the window: past alertZoneThreshold, under triggerTokenThreshold.
        text("b done", 120_000),
        text("FALLBACK-SUMMARY", 40),
        ScriptedResponse::tool_call("toolu_tag", "Bash", json!({"command": "git tag v9 2>/dev/null; true"})),
        text("tagged", 2_000),
        text("PROGRESS-SUMMARY", 40),
        text("d done", 2_100),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = r#"{"context": {"compactor": {"preserveRecentCount": 1, "defaultTurnFallback": 3,
        "alertTurnFallback": 2, "alertZoneThreshold": 0.5}}}"#;
    let server = serve_with(dir.path(), &mock, settings, false).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    let boundaries =
        |dir: &Path| events(dir, &session).into_iter().filter(|(t, _)| t == "compact.boundary").count();

    prompt(&mut c, &session, "a: first").await;
    assert_eq!(boundaries(dir.path()), 0, "1 run of the 3 the default fallback waits for");
    // The context now holds 60 %: the alert fallback (2 runs) applies.
    prompt(&mut c, &session, "b: second").await;
    assert_eq!(boundaries(dir.path()), 1);
    let asked = mock.requests()[2].body["messages"].to_string();
    assert!(asked.contains("a: first") && !asked.contains("b: second"), "{asked}");
    // A tag pushed by Bash is progress: compacted after one run.
    prompt(&mut c, &session, "c: tag it").await;
    assert_eq!(boundaries(dir.path()), 2);
    assert_eq!(mock.requests()[5].body["model"], "claude-haiku-4-5-20251001");
    // Counted again from the last compaction, which came after the tag: nothing now.
    prompt(&mut c, &session, "d: go on").await;
    assert_eq!(boundaries(dir.path()), 2);
    assert_eq!(mock.requests().len(), 7);
    let sent = mock.requests()[6].body["messages"].to_string();
    assert!(sent.contains("PROGRESS-SUMMARY") && !sent.contains("a: first"), "{sent}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_skill_mentioned_in_a_prompt_that_compacts_stays_active() {
    let mock = MockLlm::start(Script::new([
        text("First done.", 150_000),
        text("SKILL-SUMMARY of the first task.", 40),
        text("Second done.", 1_000),
        text("Third done.", 1_100),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &mock).await;
    let skill = dir.path().join("skills/nobash");
    std::fs::create_dir_all(&skill).unwrap();
    std::fs::write(skill.join("SKILL.md"), "---\ndeniedTools: [Bash]\n---\nNOBASH-SKILL: file tools only.")
        .unwrap();
    let mut c = Client::connect(server.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;

    prompt(&mut c, &session, "First task").await;
    // Past the threshold: this prompt compacts first, then records its skill.
    prompt(&mut c, &session, "Second task, please @nobash").await;
    assert!(c.events.iter().any(|e| e["type"] == "agent.compaction"));
    prompt(&mut c, &session, "Third task").await;
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[1].body["model"], "claude-haiku-4-5-20251001", "the summary");
    for r in &requests[2..] {
        let tools: Vec<&str> =
            r.body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert!(tools.contains(&"Read") && !tools.contains(&"Bash"), "{tools:?}");
        assert!(common::system_of(&r.body).contains("NOBASH-SKILL"));
    }
    let t = types(dir.path(), &session);
    let pos = |k: &str| t.iter().position(|x| x == k).unwrap();
    assert!(pos("compact.boundary") < pos("skill.added"), "{t:?}");
    let prompts: Vec<usize> =
        t.iter().enumerate().filter(|(_, k)| *k == "message.user").map(|(i, _)| i).collect();
    assert!(pos("skill.added") < prompts[1], "recorded before its prompt: {t:?}");
    let detailed = c.call("context.getDetailedSnapshot", json!({"sessionId": session})).await;
    assert_eq!(detailed["addedSkills"][0]["name"], "nobash");
    server.shutdown().await;
}

#[tokio::test]
async fn workspace_memory_is_injected_into_a_new_sessions_prompts() {
    let mock = MockLlm::start(Script::new([
        text("Parser written.", 1_000),
        text(
            &json!({"title": "Parser work", "entryType": "feature", "lessons": ["Test unicode input"],
                    "decisions": [{"choice": "nom", "reason": "fast"}]})
            .to_string(),
            50,
        ),
        // The second session.
        text("Lexer written.", 1_000),
        ledger("Lexer work"),
        text("Docs written.", 1_100),
        ledger("Docs work"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = r#"{"context": {"memory": {"autoInject": {"enabled": true, "count": 3}}}}"#;
    let server = serve_with(dir.path(), &mock, settings, true).await;
    let mut c = Client::connect(server.addr).await;
    let wd = dir.path().to_str().unwrap();
    let first = c.session(wd).await;
    prompt(&mut c, &first, "Write the parser").await;
    c.until("agent.memory_updated").await;
    assert!(!common::system_of(&mock.requests()[0].body).contains("# Memory"), "nothing to inject yet");
    assert!(types(dir.path(), &first).iter().all(|t| t != "memory.loaded"));

    let second = c.session(wd).await;
    prompt(&mut c, &second, "Write the lexer").await;
    c.until("agent.memory_updated").await;
    let expected = "# Memory\n\n## Recent sessions in this workspace\n\n### Parser work\n- Test unicode input\n- nom: fast";
    let system = common::system_of(&mock.requests()[2].body);
    assert!(system.contains(expected), "{system}");
    let loaded: Vec<Value> = events(dir.path(), &second)
        .into_iter()
        .filter(|(t, _)| t == "memory.loaded")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(loaded, [json!({"count": 1, "tokens": tokens_of(expected), "workspaceId": ""})]);

    // The next prompt carries the same memory: not the entry this session wrote since.
    prompt(&mut c, &second, "Write the docs").await;
    c.until("agent.memory_updated").await;
    assert_eq!(common::system_of(&mock.requests()[4].body), system);
    assert_eq!(events(dir.path(), &second).iter().filter(|(t, _)| t == "memory.loaded").count(), 1);
    let snap = c.call("context.getSnapshot", json!({"sessionId": second})).await;
    assert_eq!(snap["breakdown"]["memory"], tokens_of(&format!("\n\n{expected}")));
    server.shutdown().await;
}

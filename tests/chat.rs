//! `tron chat` through the real binary against the scripted mock LLM server: the answer is
//! streamed to stdout, every event is persisted in the TypeScript shapes, provider errors
//! are clear and persisted, and bad input changes nothing.

mod common;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};
use tron::events::{EventStore, OpenMode};
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn text_reply(text: &str, input: u64, output: u64) -> ScriptedResponse {
    ScriptedResponse::Stream {
        steps: vec![
            Step::Text { text: text.into() },
            Step::Usage {
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
            Step::Stop { reason: "end_turn".into() },
        ],
    }
}

fn chat(mock: &MockLlm, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::from_std(common::chat_command(mock, db));
    cmd.args(args);
    cmd
}

/// The session's events as (type, payload); every one must parse as its typed payload.
fn events_of(db: &Path) -> (String, Vec<(String, Value)>) {
    common::only_session_events(db)
}

#[test]
fn a_prompt_streams_the_answer_and_persists_the_turn() {
    let rt = runtime();
    let mock = rt
        .block_on(MockLlm::start(Script {
            responses: vec![text_reply("The tokenizer drops the last byte.", 1200, 40)],
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let cwd = dir.path().to_str().unwrap();
    let out = chat(&mock, &db, &["why does the parser fail?", "--model", "claude-sonnet-4-5", "--cwd", cwd])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "The tokenizer drops the last byte.\n");

    let (_, events) = events_of(&db);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["session.start", "message.user", "stream.turn_start", "message.assistant", "stream.turn_end"]
    );
    assert_eq!(events[1].1, json!({"content": "why does the parser fail?"}));
    assert_eq!(events[2].1, json!({"turn": 1}));
    let assistant = &events[3].1;
    assert_eq!(assistant["content"], json!([{"type": "text", "text": "The tokenizer drops the last byte."}]));
    assert_eq!(assistant["stopReason"], "end_turn");
    assert_eq!(assistant["turn"], 1);
    assert_eq!(assistant["tokenUsage"]["inputTokens"], 1200);
    assert_eq!(assistant["tokenUsage"]["outputTokens"], 40);
    let turn_end = &events[4].1;
    assert_eq!(turn_end["turn"], 1);
    assert!(turn_end["cost"].as_f64().unwrap() > 0.0, "{turn_end}");

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/messages");
    assert!(r.headers.iter().any(|(k, v)| k == "x-api-key" && v == "sk-ant-test-key"));
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["messages"][0]["role"], "user");
}

#[test]
fn a_second_prompt_continues_the_session_with_its_history() {
    let rt = runtime();
    let script = Script { responses: vec![text_reply("Hello!", 10, 2), text_reply("You said hi.", 20, 4)] };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    chat(&mock, &db, &["hi"]).assert().success();
    let (session, _) = events_of(&db);
    let out =
        chat(&mock, &db, &["what did I say?", "--session", &session]).assert().success().get_output().clone();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "You said hi.\n");
    let second = &mock.requests()[1].body["messages"];
    assert_eq!(second.as_array().unwrap().len(), 3, "{second}");
    assert_eq!(second[1]["role"], "assistant");
    let (_, events) = events_of(&db);
    assert_eq!(events.iter().filter(|(t, _)| t == "stream.turn_start").count(), 2);
    assert_eq!(events.last().unwrap().1["turn"], 2);
}

#[test]
fn stream_json_output_is_one_event_per_line_and_a_result() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script { responses: vec![text_reply("ok", 5, 1)] })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = chat(&mock, &dir.path().join("prod.db"), &["hi", "--output", "stream-json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["type"] == "text_delta"));
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["stopReason"], "end_turn");
    assert!(last["sessionId"].as_str().unwrap().starts_with("sess_"));
}

#[test]
fn a_provider_error_is_clear_and_persisted() {
    let rt = runtime();
    let script = Script {
        responses: vec![ScriptedResponse::HttpError {
            status: 401,
            body: json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            retry_after: None,
        }],
    };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = chat(&mock, &db, &["hi"]).assert().code(1).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: ") && err.contains("401") && err.contains("invalid x-api-key"), "{err}");
    let (_, events) = events_of(&db);
    let (kind, payload) = events.last().unwrap();
    assert_eq!(kind, "error.provider");
    assert_eq!(payload["provider"], "anthropic");
    assert_eq!(payload["retryable"], false);
    assert_eq!(payload["code"], "401");
    assert_eq!(mock.requests().len(), 1, "a 401 is not retried");
}

#[test]
fn bad_input_changes_nothing() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script { responses: vec![] })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = chat(&mock, &db, &["hi", "--model", "claude-sonet-4-5"]).assert().code(1).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown model \"claude-sonet-4-5\"") && err.contains("claude-sonnet-4-5"), "{err}");
    EventStore::open(&db, OpenMode::Create).unwrap();
    let out = chat(&mock, &db, &["hi", "--session", "sess_nope"]).assert().code(1).get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("session not found: sess_nope"));
    let mut cmd = chat(&mock, &db, &["hi"]);
    cmd.env_remove("ANTHROPIC_API_KEY");
    let err = String::from_utf8(cmd.assert().code(1).get_output().stderr.clone()).unwrap();
    assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
    assert!(mock.requests().is_empty());
}

#[test]
fn continuing_a_session_needs_an_existing_database() {
    let rt = runtime();
    let mock = rt.block_on(MockLlm::start(Script { responses: vec![] })).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = chat(&mock, &db, &["hi", "--session", "sess_x"]).assert().code(1).get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("no event database"));
    assert!(!db.exists());
}

#[test]
fn openai_and_gemini_models_stream_through_their_own_formats() {
    let rt = runtime();
    let script = Script { responses: vec![text_reply("from gpt", 30, 3), text_reply("from gemini", 40, 4)] };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = chat(&mock, &db, &["hi", "--model", "gpt-4o"]).assert().success().get_output().clone();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "from gpt\n");
    let out =
        chat(&mock, &db, &["hi", "--model", "gemini-2.5-flash"]).assert().success().get_output().clone();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "from gemini\n");
    let paths: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths[0], "/v1/chat/completions");
    assert!(paths[1].starts_with("/v1beta/models/gemini-2.5-flash:streamGenerateContent"), "{}", paths[1]);
}

#[test]
fn tool_calls_run_in_the_session_directory_and_their_results_go_back_to_the_model() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.txt"), "found me\n").unwrap();
    let script = Script {
        responses: vec![
            ScriptedResponse::Stream {
                steps: vec![
                    Step::Text { text: "Let me look.".into() },
                    Step::ToolCall {
                        id: "toolu_1".into(),
                        name: "Bash".into(),
                        input: json!({"command": "cat marker.txt"}),
                    },
                    Step::Usage {
                        input_tokens: 100,
                        output_tokens: 20,
                        cache_read_tokens: 0,
                        cache_creation_tokens: 0,
                    },
                ],
            },
            text_reply("The file says: found me.", 150, 10),
        ],
    };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let db = dir.path().join("prod.db");
    let cwd = dir.path().to_str().unwrap();
    let out =
        chat(&mock, &db, &["what is in marker.txt?", "--cwd", cwd]).assert().success().get_output().clone();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "Let me look.The file says: found me.\n");

    let (_, events) = events_of(&db);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
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
    let assistant = &events[3].1;
    assert_eq!(assistant["stopReason"], "tool_use");
    assert_eq!(assistant["content"][1]["type"], "tool_use");
    assert_eq!(assistant["content"][1]["input"], json!({"command": "cat marker.txt"}));
    assert_eq!(events[4].1["name"], "Bash");
    assert_eq!(events[4].1["arguments"], json!({"command": "cat marker.txt"}));
    assert_eq!(events[5].1["toolCallId"], "toolu_1");
    assert_eq!(events[5].1["isError"], false);
    assert!(events[5].1["content"].as_str().unwrap().contains("found me"), "{}", events[5].1);

    // The second request carries the tool result back.
    let second = &mock.requests()[1].body["messages"];
    let last = second.as_array().unwrap().last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
    assert!(mock.requests()[0].body["tools"].as_array().unwrap().iter().any(|t| t["name"] == "Bash"));
}

#[test]
fn without_tools_a_tool_call_ends_the_run_with_a_clear_error() {
    let rt = runtime();
    let script = Script {
        responses: vec![ScriptedResponse::Stream {
            steps: vec![Step::ToolCall {
                id: "toolu_1".into(),
                name: "Bash".into(),
                input: json!({"command": "ls"}),
            }],
        }],
    };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = chat(&mock, &db, &["list files", "--no-tools"]).assert().code(1).get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`Bash`") && err.contains("no tools"), "{err}");
    assert!(mock.requests()[0].body.get("tools").is_none_or(|t| t.as_array().is_some_and(|a| a.is_empty())));
}

#[test]
fn json_output_is_one_object_and_continue_picks_the_latest_session_of_the_directory() {
    let rt = runtime();
    let bad_request = ScriptedResponse::HttpError {
        status: 400,
        body: json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}),
        retry_after: None,
    };
    let script =
        Script { responses: vec![text_reply("first", 10, 2), text_reply("second", 20, 3), bad_request] };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let cwd = dir.path().to_str().unwrap();
    let out =
        chat(&mock, &db, &["one", "--cwd", cwd, "--output", "json"]).assert().success().get_output().clone();
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["type"], "result");
    assert_eq!(first["isError"], false);
    assert_eq!(first["result"], "first");
    assert_eq!(first["turns"], 1);
    assert_eq!(first["usage"]["inputTokens"], 10);
    assert!(first["cost"].as_f64().unwrap() > 0.0);
    let out = chat(&mock, &db, &["two", "--cwd", cwd, "--continue", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(second["sessionId"], first["sessionId"]);
    assert_eq!(second["result"], "second");
    // Errors are in the JSON too.
    let out = chat(&mock, &db, &["three", "--cwd", cwd, "--continue", "--output", "json"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["isError"], true);
    assert!(err["error"].as_str().unwrap().contains("prompt is too long"), "{err}");
}

#[test]
fn tool_lists_filter_what_the_model_is_offered() {
    let rt = runtime();
    let script = Script { responses: vec![text_reply("ok", 1, 1), text_reply("ok", 1, 1)] };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    chat(&mock, &db, &["a", "--allowed-tools", "Read,Edit"]).assert().success();
    chat(&mock, &db, &["b", "--disallowed-tools", "Bash"]).assert().success();
    let names = |i: usize| -> Vec<String> {
        mock.requests()[i].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(0), ["Read", "Edit"]);
    assert!(!names(1).contains(&"Bash".to_owned()) && names(1).contains(&"Write".to_owned()));
    let out = chat(&mock, &db, &["c", "--allowed-tools", "Telepathy"]).assert().code(1).get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("unknown tool \"Telepathy\""));
}

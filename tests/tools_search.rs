//! `Find` and `Grep` through the real binary: `tron chat` against the scripted mock LLM
//! server, the model calls the tool in the session's directory, and the persisted
//! `tool.result` event carries what the tool found.

mod common;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};
use tron::events::{EventStore, ListOptions, OpenMode};
use tron::testing::{MockLlm, Script, ScriptedResponse};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn chat(mock: &MockLlm, db: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::from_std(common::chat_command(mock, db));
    cmd.args(args);
    cmd
}

/// The payload of the session's only `tool.result` event.
fn tool_result(db: &Path) -> Value {
    let store = EventStore::open(db, OpenMode::Existing).unwrap();
    let session = store.list_sessions(&ListOptions::default()).unwrap().remove(0).id.into_string();
    let mut results: Vec<Value> = store
        .events(&session)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type.as_str() == "tool.result")
        .map(|e| e.payload)
        .collect();
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0)
}

/// Runs one prompt in `project` where the model calls `tool` with `input` and then answers;
/// returns the persisted tool result and the tool result sent back to the model.
fn round_trip(project: &Path, tool: &str, input: Value) -> (Value, Value) {
    let rt = runtime();
    let script = Script {
        responses: vec![
            ScriptedResponse::tool_call("toolu_1", tool, input),
            ScriptedResponse::text("Done searching."),
        ],
    };
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("prod.db");
    let cwd = project.to_str().unwrap();
    let out = chat(&mock, &db, &["search the project", "--cwd", cwd]).assert().success().get_output().clone();
    assert!(String::from_utf8(out.stdout).unwrap().contains("Done searching."));

    let tools = mock.requests()[0].body["tools"].as_array().unwrap().clone();
    assert!(tools.iter().any(|t| t["name"] == tool), "{tool} not offered");
    let second = &mock.requests()[1].body["messages"];
    let sent = second.as_array().unwrap().last().unwrap()["content"][0].clone();
    (tool_result(&db), sent)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/parser")).unwrap();
    std::fs::create_dir_all(root.join("target/debug")).unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {\n    // TODO: parse args\n}\n").unwrap();
    std::fs::write(root.join("src/parser/lexer.rs"), "pub fn lex() {}\n// TODO: handle unicode\n").unwrap();
    std::fs::write(root.join("target/debug/build.rs"), "// TODO: generated\n").unwrap();
    std::fs::write(root.join("README.md"), "TODO list\n").unwrap();
    dir
}

#[test]
fn find_lists_matching_files_relative_to_the_session_directory() {
    let dir = project();
    let (result, sent) = round_trip(dir.path(), "Find", json!({"pattern": "**/*.rs"}));
    assert_eq!(result["toolCallId"], "toolu_1");
    assert_eq!(result["isError"], false);
    // The gitignored target/ directory is not listed.
    assert_eq!(result["content"], "src/main.rs\nsrc/parser/lexer.rs", "{result}");
    assert_eq!(sent["type"], "tool_result");
    assert_eq!(sent["tool_use_id"], "toolu_1");
    assert!(sent.to_string().contains("src/parser/lexer.rs"), "{sent}");
}

#[test]
fn grep_reports_matching_lines_by_file() {
    let dir = project();
    let (result, sent) = round_trip(dir.path(), "Grep", json!({"pattern": "TODO", "glob": "*.rs"}));
    assert_eq!(result["isError"], false);
    let main = dir.path().join("src/main.rs");
    let lexer = dir.path().join("src/parser/lexer.rs");
    assert_eq!(
        result["content"],
        format!(
            "{}:\n2:     // TODO: parse args\n\n{}:\n2: // TODO: handle unicode",
            main.display(),
            lexer.display()
        ),
        "{result}"
    );
    assert!(sent.to_string().contains("handle unicode"), "{sent}");

    let (result, _) = round_trip(dir.path(), "Grep", json!({"pattern": "(unclosed"}));
    assert_eq!(result["isError"], true);
    assert!(result["content"].as_str().unwrap().starts_with("Invalid regex pattern"), "{result}");
}

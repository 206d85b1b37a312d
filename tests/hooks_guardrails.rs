//! Hooks and guardrails end to end: real hook scripts in temp dirs, the real `tron chat`
//! binary (and a real `tron serve`) against the scripted mock LLM server.
//!
//! - a `PreToolUse` hook refuses `rm`: the Bash call does not run, the model is sent the
//!   reason, `hook.triggered` / `hook.completed` are persisted with the TypeScript payloads;
//! - a hook that hangs is killed at `hooks.defaultTimeoutMs` and the turn goes on;
//! - core guardrails block the issue's examples although the settings disable them
//!   (`rm -rf /` and `rm -r -f "$HOME"` in real forms, Bash and Write into `~/.ssh`, Write,
//!   Edit and `sed -i` into tron's data dir), each refusal a `logs` row of the session that
//!   `tron events logs --session S --component tron::guardrails` reads back; legitimate work
//!   (`rm -rf ./build`, a project's own `.tron/`, reading `~/.ssh`) runs;
//! - a custom pattern rule from settings blocks; warn and audit rules let the call run and
//!   are audited (each evaluation in the in-memory audit log, hits traced);
//! - background hooks are tracked (`hook.background_started` / `_completed`);
//! - over WebSocket, a `UserPromptSubmit` hook refuses a prompt;
//! - through `tron serve`, in plan mode (`plan.enter`) the `session.plan-mode` guardrail
//!   refuses a Write the model calls although it was not offered; after `plan.exit` it runs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// A temp home, working dir and database for one `tron chat` run.
struct Case {
    _dir: tempfile::TempDir,
    home: PathBuf,
    work: PathBuf,
    db: PathBuf,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let (home, work, data) = (dir.path().join("home"), dir.path().join("work"), dir.path().join("data"));
        for d in [&home, &work, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        let db = data.join("prod.db");
        Case { _dir: dir, home, work, db }
    }

    /// Writes an executable hook script `name` into the project's `.agent/hooks`.
    fn hook(&self, name: &str, body: &str) {
        let dir = self.work.join(".agent/hooks");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Writes `~/.tron/settings.json` (the data dir beside the database).
    fn settings(&self, settings: Value) {
        std::fs::write(self.db.parent().unwrap().join("settings.json"), settings.to_string()).unwrap();
    }

    /// Runs `tron chat PROMPT` in the working dir with HOME at the temp home.
    fn chat(&self, mock: &MockLlm, prompt: &str) -> std::process::Output {
        self.chat_with(mock, prompt, &[])
    }

    /// [`Case::chat`] with more environment variables.
    fn chat_with(&self, mock: &MockLlm, prompt: &str, env: &[(&str, &str)]) -> std::process::Output {
        let out = common::chat_command(mock, &self.db)
            .env("HOME", &self.home)
            .envs(env.iter().copied())
            .args([prompt, "--model", "claude-sonnet-4-5", "--cwd"])
            .arg(&self.work)
            .output()
            .unwrap();
        assert!(out.status.success(), "tron chat failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    fn events(&self) -> Vec<(String, Value)> {
        common::only_session_events(&self.db).1
    }
}

fn of_type<'a>(events: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|(t, _)| t == kind).map(|(_, p)| p).collect()
}

/// The text of the tool results the model was sent in its last request.
fn tool_results_sent(mock: &MockLlm) -> String {
    let last = mock.requests().pop().expect("a request");
    last.body["messages"].to_string()
}

const BLOCK_RM: &str = r#"ctx=$(cat)
case "$ctx" in
  *'"command":"rm '*) echo '{"action":"block","reason":"rm is not allowed in this project"}' ;;
  *) echo '{"action":"continue"}' ;;
esac"#;

#[test]
fn a_pre_tool_use_hook_refuses_rm_and_the_model_gets_the_reason() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_rm", "Bash", json!({"command": "rm victim.txt"})),
        ScriptedResponse::tool_call("toolu_ls", "Bash", json!({"command": "echo kept > seen.txt"})),
        ScriptedResponse::text("understood"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    std::fs::write(case.work.join("victim.txt"), "precious").unwrap();
    case.hook("pre-tool-use.sh", BLOCK_RM);
    case.chat(&mock, "clean up");

    assert!(case.work.join("victim.txt").exists(), "the refused rm must not run");
    assert!(case.work.join("seen.txt").exists(), "an allowed call runs");
    let events = case.events();
    let results = of_type(&events, "tool.result");
    assert_eq!(results[0]["toolCallId"], "toolu_rm");
    assert_eq!(results[0]["isError"], true);
    assert_eq!(results[0]["content"], "Tool execution blocked: rm is not allowed in this project");
    assert_eq!(results[1]["isError"], false);
    assert!(tool_results_sent(&mock).contains("rm is not allowed in this project"));

    let triggered = of_type(&events, "hook.triggered");
    let completed = of_type(&events, "hook.completed");
    assert_eq!(triggered.len(), 2, "one per tool call");
    assert_eq!(triggered[0]["hookNames"], json!(["project:pre-tool-use"]));
    assert_eq!(triggered[0]["hookEvent"], "PreToolUse");
    assert_eq!(triggered[0]["toolName"], "Bash");
    assert_eq!(triggered[0]["toolCallId"], "toolu_rm");
    assert!(triggered[0]["timestamp"].is_string());
    assert_eq!(completed[0]["result"], "block");
    assert_eq!(completed[0]["reason"], "rm is not allowed in this project");
    assert_eq!(completed[0]["toolCallId"], "toolu_rm");
    assert!(completed[0]["duration"].is_number());
    assert_eq!(completed[1]["result"], "continue");
    // The hook events come before the call they judged.
    let order: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    let at = |t: &str| order.iter().position(|o| *o == t).unwrap();
    assert!(
        at("hook.triggered") < at("hook.completed") && at("hook.completed") < at("tool.call"),
        "{order:?}"
    );
}

#[test]
fn a_hook_that_hangs_is_killed_at_the_timeout_and_the_turn_goes_on() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_1", "Bash", json!({"command": "echo ran > ran.txt"})),
        ScriptedResponse::text("done"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    case.settings(json!({"hooks": {"defaultTimeoutMs": 300}}));
    // A child holds the pipes too: the hook's whole process group must go.
    case.hook("pre-tool-use.sh", "sleep 60 & sleep 60");
    case.chat(&mock, "go");

    assert!(case.work.join("ran.txt").exists(), "a hook that times out counts as continue");
    let events = case.events();
    assert_eq!(of_type(&events, "hook.completed")[0]["result"], "continue");
    assert_eq!(of_type(&events, "tool.result")[0]["isError"], false);
}

/// Refuses every tool call: a backstop behind the guardrails under test (they run first),
/// so a guardrail that fails makes the test fail instead of running `rm -rf /`.
const BACKSTOP: &str =
    r#"echo '{"action":"block","reason":"backstop: the guardrails let this call through"}'"#;

#[test]
fn core_guardrails_block_the_issues_examples_even_when_settings_disable_them() {
    let rt = runtime();
    let case = Case::new();
    let data_settings = case.db.parent().unwrap().join("settings.json");
    let calls: Vec<(&str, &str, Value, &str)> = vec![
        (
            "toolu_rm",
            "Bash",
            json!({"command": "sudo -E rm -fr --no-preserve-root /"}),
            "Destructive Commands: Potentially destructive command pattern detected",
        ),
        (
            "toolu_rm_home",
            "Bash",
            json!({"command": "cd /tmp && rm -r -f \"$HOME\""}),
            "Destructive Commands: Potentially destructive command pattern detected",
        ),
        (
            "toolu_ssh_bash",
            "Bash",
            json!({"command": "echo ssh-ed25519 AAAA >> $HOME/.ssh/authorized_keys"}),
            "SSH Protection: Command would modify protected path",
        ),
        (
            "toolu_ssh_write",
            "Write",
            json!({"file_path": "~/.ssh/authorized_keys", "content": "ssh-ed25519 AAAA attacker"}),
            "SSH Protection: Cannot modify protected path",
        ),
        (
            "toolu_settings",
            "Write",
            json!({"file_path": data_settings.display().to_string(), "content": "{}"}),
            "Tron Data Protection: Cannot modify protected path",
        ),
        (
            "toolu_home_tron",
            "Edit",
            json!({"file_path": "~/.tron/SYSTEM.md", "old_string": "a", "new_string": "b"}),
            "Tron Data Protection: Cannot modify protected path",
        ),
        (
            "toolu_sed",
            "Bash",
            json!({"command": format!("sed -i 's/x/y/' {}", data_settings.display())}),
            "Tron Data Protection: Command would modify protected path",
        ),
    ];
    let mut responses: Vec<ScriptedResponse> = calls
        .iter()
        .map(|(id, tool, args, _)| ScriptedResponse::tool_call(*id, *tool, args.clone()))
        .collect();
    responses.push(ScriptedResponse::text("ok"));
    let mock = rt.block_on(MockLlm::start(Script::new(responses))).unwrap();
    let settings = json!({"guardrails": {"rules": {
        "core.destructive-commands": {"enabled": false},
        "core.ssh-protection": {"enabled": false},
        "core.tron-data-protection": {"enabled": false}
    }}});
    case.settings(settings.clone());
    case.hook("pre-tool-use.sh", BACKSTOP);
    let out = case.chat(&mock, "break things");

    assert!(!case.home.join(".ssh").exists(), "nothing was written into ~/.ssh");
    assert!(!case.home.join(".tron").exists(), "nothing was written into ~/.tron");
    assert_eq!(
        std::fs::read_to_string(&data_settings).unwrap(),
        settings.to_string(),
        "settings.json untouched"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for rule in ["core.destructive-commands", "core.ssh-protection", "core.tron-data-protection"] {
        assert!(
            stderr.lines().any(|l| l.contains(rule) && l.contains("cannot be disabled")),
            "{rule}: {stderr}"
        );
    }
    let events = case.events();
    let results = of_type(&events, "tool.result");
    assert_eq!(results.len(), calls.len());
    for ((id, _, _, reason), result) in calls.iter().zip(&results) {
        assert_eq!(result["toolCallId"], *id);
        assert_eq!(result["isError"], true, "{id}");
        assert_eq!(result["content"], format!("Tool execution blocked: {reason}"), "{id}");
    }
    assert!(tool_results_sent(&mock).contains("SSH Protection: Cannot modify protected path"));
    // The guardrails refused before any hook ran: the backstop never saw a call.
    assert!(of_type(&events, "hook.triggered").is_empty(), "{:?}", of_type(&events, "hook.completed"));

    // The audit log: each refusal is a `logs` row of the session, with the call and the rule.
    let session = common::only_session_events(&case.db).0;
    let logs = std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["events", "logs", "--json", "--session", &session, "--component", "tron::guardrails", "--db"])
        .arg(&case.db)
        .output()
        .unwrap();
    assert!(logs.status.success(), "{}", String::from_utf8_lossy(&logs.stderr));
    let rows: Value = serde_json::from_slice(&logs.stdout).unwrap();
    let rows = rows["logs"].as_array().unwrap();
    let blocked: Vec<&Value> =
        rows.iter().filter(|r| r["message"] == "guardrail blocked a tool call").collect();
    assert_eq!(blocked.len(), calls.len(), "{rows:#?}");
    for ((id, tool, _, _), row) in calls.iter().zip(&blocked) {
        assert_eq!(row["component"], "tron::guardrails");
        assert_eq!(row["sessionId"], session.as_str());
        assert_eq!(row["level"], "warn");
        assert_eq!(row["data"]["tool_call_id"], *id);
        assert_eq!(row["data"]["tool"], *tool);
    }
    let rule_ids = |i: usize| blocked[i]["data"]["rule_ids"].as_str().unwrap().to_owned();
    assert!(rule_ids(0).contains("core.destructive-commands"), "{}", rule_ids(0));
    assert!(rule_ids(2).contains("core.ssh-protection"), "{}", rule_ids(2));
    assert!(rule_ids(4).contains("core.tron-data-protection"), "{}", rule_ids(4));
}

#[test]
fn legitimate_work_is_not_refused() {
    let rt = runtime();
    let calls = [
        (
            "toolu_build",
            "Bash",
            json!({"command": "mkdir -p build/x && rm -rf ./build && echo gone > gone.txt"}),
        ),
        ("toolu_project_tron", "Write", json!({"file_path": ".tron/SYSTEM.md", "content": "project prompt"})),
        ("toolu_project_tron_bash", "Bash", json!({"command": "echo rules > .tron/AGENTS.md"})),
        ("toolu_read_ssh", "Bash", json!({"command": "cat ~/.ssh/config"})),
    ];
    let mut responses: Vec<ScriptedResponse> =
        calls.iter().map(|(id, tool, args)| ScriptedResponse::tool_call(*id, *tool, args.clone())).collect();
    responses.push(ScriptedResponse::text("ok"));
    let mock = rt.block_on(MockLlm::start(Script::new(responses))).unwrap();
    let case = Case::new();
    std::fs::create_dir_all(case.home.join(".ssh")).unwrap();
    std::fs::write(case.home.join(".ssh/config"), "Host x\n").unwrap();
    case.settings(json!({"guardrails": {"customRules": [{"id": "custom.audit-cat", "type": "pattern",
        "severity": "audit", "tools": ["Bash"], "targetArgument": "command", "patterns": ["^cat "]}]}}));
    case.chat(&mock, "work");

    assert!(case.work.join("gone.txt").exists() && !case.work.join("build").exists());
    assert_eq!(std::fs::read_to_string(case.work.join(".tron/SYSTEM.md")).unwrap(), "project prompt");
    assert_eq!(std::fs::read_to_string(case.work.join(".tron/AGENTS.md")).unwrap(), "rules\n");
    let events = case.events();
    for result in of_type(&events, "tool.result") {
        assert_eq!(result["isError"], false, "{result}");
    }
    // Audit hits are stored too, though `tron chat` shows only warnings.
    let logs = std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"))
        .args(["events", "logs", "--json", "--component", "tron::guardrails", "--db"])
        .arg(&case.db)
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&logs.stdout).unwrap();
    let hit = rows["logs"].as_array().unwrap().iter().find(|r| r["message"] == "guardrail rules triggered");
    let hit = hit.unwrap_or_else(|| panic!("no audit row: {rows:#}"));
    assert_eq!(
        (hit["level"].clone(), hit["data"]["rule_ids"].clone()),
        (json!("info"), json!("custom.audit-cat"))
    );
    assert_eq!(hit["data"]["tool_call_id"], "toolu_read_ssh");
    assert_eq!(hit["sessionId"], common::only_session_events(&case.db).0.as_str());
}

#[test]
fn custom_rules_block_warn_and_audit() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_b",
            "Bash",
            json!({"command": "echo curl-was-here > blocked.txt"}),
        ),
        ScriptedResponse::tool_call("toolu_w", "Bash", json!({"command": "echo warned > warned.txt"})),
        ScriptedResponse::tool_call("toolu_a", "Bash", json!({"command": "echo audited > audited.txt"})),
        ScriptedResponse::text("done"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    let rule = |id: &str, severity: &str, pattern: &str| {
        json!({"id": id, "type": "pattern", "tier": "custom", "severity": severity, "tools": ["Bash"],
               "targetArgument": "command", "patterns": [pattern]})
    };
    case.settings(json!({"guardrails": {"customRules": [
        rule("custom.no-curl", "block", r"\bcurl\b"),
        rule("custom.warn-echo", "warn", "warned"),
        rule("custom.audit-echo", "audit", "audited"),
    ]}}));
    // The audit's tracing events at info level (the default filter keeps warnings only).
    let out = case.chat_with(&mock, "go", &[("TRON_LOG", "warn,tron::guardrails=info")]);

    assert!(!case.work.join("blocked.txt").exists());
    assert!(case.work.join("warned.txt").exists() && case.work.join("audited.txt").exists());
    let events = case.events();
    let results = of_type(&events, "tool.result");
    assert_eq!(
        results[0]["content"],
        "Tool execution blocked: custom.no-curl: Potentially destructive command pattern detected"
    );
    assert_eq!((results[1]["isError"].clone(), results[2]["isError"].clone()), (json!(false), json!(false)));

    // Every evaluation is audited; hits are traced (to stderr here).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let traced = |needle: &str, rule: &str| stderr.lines().any(|l| l.contains(needle) && l.contains(rule));
    assert!(traced("guardrail blocked a tool call", "custom.no-curl"), "{stderr}");
    assert!(traced("guardrail rules triggered", "custom.warn-echo"), "{stderr}");
    assert!(traced("guardrail rules triggered", "custom.audit-echo"), "{stderr}");
}

#[test]
fn background_hooks_are_tracked_and_post_tool_use_and_stop_hooks_run() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_1", "Bash", json!({"command": "echo hi"})),
        ScriptedResponse::text("all done"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    case.hook("post-tool-use.background.sh", r#"cat > post.json"#);
    case.hook("stop.sh", r#"cat > stop.json; echo '{"action":"continue"}'"#);
    case.hook("session-start.sh", r#"cat > start.json; echo '{"action":"continue"}'"#);
    case.hook("session-end.sh", r#"cat > end.json; echo '{"action":"continue"}'"#);
    case.chat(&mock, "go");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(case.work.join(name)).unwrap()).unwrap()
    };

    let post: Value =
        serde_json::from_str(&std::fs::read_to_string(case.work.join("post.json")).unwrap()).unwrap();
    assert_eq!(post["hookType"], "PostToolUse");
    assert_eq!(post["toolName"], "Bash");
    assert_eq!(post["toolCallId"], "toolu_1");
    assert_eq!(post["result"]["isError"], false);
    let stop: Value =
        serde_json::from_str(&std::fs::read_to_string(case.work.join("stop.json")).unwrap()).unwrap();
    // The TypeScript agent's Stop context: how the run ended, the model's own reason in data.
    assert_eq!((stop["hookType"].clone(), stop["stopReason"].clone()), (json!("Stop"), json!("completed")));
    assert_eq!(stop["data"]["stoppedReason"], "end_turn");
    assert_eq!(stop["finalMessage"], "all done");
    // SessionStart when the run starts, SessionEnd after Stop.
    let start = read("start.json");
    assert_eq!(start["hookType"], "SessionStart");
    assert_eq!(start["workingDirectory"], case.work.display().to_string());
    let end = read("end.json");
    assert_eq!(end["hookType"], "SessionEnd");
    assert_eq!((end["messageCount"].clone(), end["toolCallCount"].clone()), (json!(4), json!(1)));

    let events = case.events();
    let started = of_type(&events, "hook.background_started");
    let completed = of_type(&events, "hook.background_completed");
    assert_eq!(started.len(), 1);
    assert_eq!(completed.len(), 1, "chat waits for background hooks before it exits");
    assert_eq!(started[0]["executionId"], completed[0]["executionId"]);
    assert!(started[0]["executionId"].as_str().unwrap().starts_with("bg_"));
    assert_eq!(completed[0]["hookNames"], json!(["project:post-tool-use"]));
    assert_eq!(completed[0]["result"], "continue");
    let stops: Vec<_> =
        of_type(&events, "hook.completed").into_iter().filter(|p| p["hookEvent"] == "Stop").collect();
    assert_eq!(stops.len(), 1);
    let order: Vec<&str> =
        of_type(&events, "hook.triggered").iter().map(|p| p["hookEvent"].as_str().unwrap()).collect();
    assert_eq!(order, ["SessionStart", "Stop", "SessionEnd"]);
}

#[test]
fn stop_and_session_end_hooks_run_when_a_run_fails_and_pre_compact_before_a_compaction() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::anthropic_error(400, "invalid_request_error", "no such thing", None),
        // The second chat: past the threshold (150,000 of 200,000) so the third compacts.
        ScriptedResponse::stream([
            Step::Text { text: "big".into() },
            Step::Usage {
                input_tokens: 150_000,
                output_tokens: 10,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ]),
        ScriptedResponse::text("SUMMARY"),
        ScriptedResponse::text("after"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    case.settings(json!({"context": {"compactor": {"preserveRecentCount": 1}}}));
    case.hook("stop.sh", r#"cat >> stops.jsonl; echo >> stops.jsonl; echo '{"action":"continue"}'"#);
    case.hook("pre-compact.sh", r#"cat > compact.json; echo '{"action":"continue"}'"#);
    let failed = common::chat_command(&mock, &case.db)
        .env("HOME", &case.home)
        .args(["first", "--model", "claude-sonnet-4-5", "--cwd"])
        .arg(&case.work)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stops = std::fs::read_to_string(case.work.join("stops.jsonl")).unwrap();
    let first: Value = serde_json::from_str(stops.lines().next().unwrap()).unwrap();
    assert_eq!(first["stopReason"], "error");
    assert!(first.get("finalMessage").is_none());

    let session = common::only_session_events(&case.db).0;
    for prompt in ["second", "third"] {
        let out = common::chat_command(&mock, &case.db)
            .env("HOME", &case.home)
            .args([prompt, "--model", "claude-sonnet-4-5", "--resume", &session])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let compact: Value =
        serde_json::from_str(&std::fs::read_to_string(case.work.join("compact.json")).unwrap()).unwrap();
    assert_eq!(compact["hookType"], "PreCompact");
    assert_eq!(compact["currentTokens"], 150_000);
    assert_eq!(compact["targetTokens"], 140_000);
    let events = case.events();
    assert!(events.iter().any(|(t, _)| t == "compact.boundary"));
    // builtin:pre-compact (priority 100) before the file; at 150,000 of a 140,000 target it
    // writes a checkpoint note that ends the persisted summary and so reaches the model.
    let pre: Vec<_> =
        of_type(&events, "hook.completed").into_iter().filter(|p| p["hookEvent"] == "PreCompact").collect();
    assert_eq!(pre[0]["hookNames"], json!(["builtin:pre-compact", "project:pre-compact"]));
    assert_eq!(pre[0]["result"], "continue");
    let note = "## Session Continuation (Post-Compaction)\n\n*Checkpoint at 150000 tokens*\n\nSession history is preserved in the event store.";
    let summary = of_type(&events, "compact.summary")[0]["summary"].as_str().unwrap().to_owned();
    assert!(summary.ends_with(note), "{summary}");
    let sent = mock.requests().pop().unwrap().body["messages"].to_string();
    assert!(sent.contains("*Checkpoint at 150000 tokens*"), "{sent}");
}

#[tokio::test]
async fn over_websocket_a_user_prompt_submit_hook_refuses_a_prompt_and_pre_tool_use_refuses_rm() {
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_rm", "Bash", json!({"command": "rm -f victim.txt"})),
        ScriptedResponse::text("fine"),
    ]);
    let server = common::start(script).await;
    // A project outside the server's data dir (the guardrails refuse writes into that).
    let project = tempfile::tempdir().unwrap();
    let work = project.path().to_owned();
    let hooks = work.join(".agent/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for (name, body) in [
        (
            "user-prompt-submit.sh",
            r#"grep -q forbidden && echo '{"action":"block","reason":"that topic is off limits"}' || true"#,
        ),
        ("pre-tool-use.sh", BLOCK_RM),
    ] {
        std::fs::write(hooks.join(name), format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(work.join("victim.txt"), "x").unwrap();
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(work.to_str().unwrap()).await;

    c.call("agent.prompt", json!({"sessionId": session, "prompt": "tell me the forbidden thing"})).await;
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["success"], false);
    assert!(complete["data"]["error"].as_str().unwrap().contains("that topic is off limits"), "{complete}");
    c.until("agent.ready").await;
    let events = server.persisted(&session);
    assert!(events.iter().all(|e| e["type"] != "message.user"), "a refused prompt is not persisted");
    let completed: Vec<&Value> = events.iter().filter(|e| e["type"] == "hook.completed").collect();
    assert_eq!(completed[0]["payload"]["hookEvent"], "UserPromptSubmit");
    assert_eq!(completed[0]["payload"]["result"], "block");
    assert!(completed[0]["payload"]["runId"].is_string(), "stamped with the run id");
    assert!(c.pushed().is_empty(), "a run's events are not broadcast as event.new");

    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "clean up"})).await;
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["success"], true, "{complete}");
    assert!(work.join("victim.txt").exists());
    let result = server.persisted(&session).into_iter().find(|e| e["type"] == "tool.result").unwrap();
    assert_eq!(result["payload"]["content"], "Tool execution blocked: rm is not allowed in this project");
    let end = c.events.iter().find(|e| e["type"] == "agent.tool_end").unwrap();
    assert_eq!(end["data"]["success"], false, "{end}");
    server.shutdown().await;
}

#[test]
fn a_hook_can_change_arguments_but_not_steer_around_a_guardrail() {
    let rt = runtime();
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_1", "Write", json!({"file_path": "notes.txt", "content": "a"})),
        ScriptedResponse::tool_call("toolu_2", "Write", json!({"file_path": "keys.txt", "content": "b"})),
        ScriptedResponse::text("done"),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let case = Case::new();
    let ssh = case.home.join(".ssh/authorized_keys");
    case.hook(
        "pre-tool-use.sh",
        &format!(
            r#"ctx=$(cat)
case "$ctx" in
  *notes.txt*) echo '{{"action":"modify","modifications":{{"file_path":"renamed.txt"}}}}' ;;
  *) echo '{{"action":"modify","modifications":{{"file_path":"{}"}}}}' ;;
esac"#,
            ssh.display()
        ),
    );
    case.chat(&mock, "write");

    assert_eq!(std::fs::read_to_string(case.work.join("renamed.txt")).unwrap(), "a");
    assert!(!case.work.join("notes.txt").exists() && !ssh.exists());
    let events = case.events();
    let calls = of_type(&events, "tool.call");
    assert_eq!(calls[0]["arguments"]["file_path"], "renamed.txt", "tool.call carries the arguments that ran");
    let results = of_type(&events, "tool.result");
    assert_eq!(results[1]["content"], "Tool execution blocked: SSH Protection: Cannot modify protected path");
    assert_eq!(of_type(&events, "hook.completed")[0]["result"], "modify");
}

/// Writes an executable hook script into `work`'s `.agent/hooks`.
fn project_hook(work: &Path, name: &str, body: &str) {
    let hooks = work.join(".agent/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(hooks.join(name), format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn after_agent_abort_stop_and_session_end_hooks_still_run_with_stop_reason_interrupted() {
    let script = Script::new([ScriptedResponse::stream([
        Step::Text { text: "Working on it".into() },
        Step::DelayMs { ms: 30_000 },
    ])]);
    let server = common::start(script).await;
    let work = Path::new(&server.dir()).to_owned();
    // Each hook takes a moment before it writes what it was given: had the abort stopped
    // it, nothing would be written.
    for (name, out) in [("stop.sh", "stop.json"), ("session-end.sh", "end.json")] {
        let body =
            format!("ctx=$(cat); sleep 0.3; echo \"$ctx\" > {out}; echo '{{\"action\":\"continue\"}}'");
        project_hook(&work, name, &body);
    }
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "go"})).await;
    c.until("agent.text_delta").await;
    assert_eq!(c.call("agent.abort", json!({"sessionId": session})).await["aborted"], true);
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["interrupted"], true, "{complete}");
    c.until("agent.ready").await;

    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(work.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap()
    };
    let stop = read("stop.json");
    assert_eq!((stop["hookType"].clone(), stop["stopReason"].clone()), (json!("Stop"), json!("interrupted")));
    assert!(stop.get("finalMessage").is_none(), "{stop}");
    assert_eq!(read("end.json")["hookType"], "SessionEnd");
    let log = server.persisted(&session);
    let completed: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "hook.completed")
        .map(|e| &e["payload"])
        .filter(|p| p["hookEvent"] == "Stop" || p["hookEvent"] == "SessionEnd")
        .collect();
    assert_eq!(completed.len(), 2, "{log:#?}");
    for p in completed {
        assert_eq!(p["result"], "continue", "{p}");
        assert!(p.get("reason").is_none(), "{p}");
    }
    let _ = server.shutdown().await;
}

#[tokio::test]
async fn context_compact_runs_pre_compact_hooks_as_an_automatic_compaction_does() {
    let mock = MockLlm::start(Script::new([
        ScriptedResponse::text("one"),
        ScriptedResponse::text("two"),
        ScriptedResponse::text("SUMMARY"),
    ]))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"context": {"compactor": {"preserveRecentCount": 1}}});
    std::fs::write(dir.path().join("settings.json"), settings.to_string()).unwrap();
    project_hook(dir.path(), "pre-compact.sh", r#"cat > compact.json; echo '{"action":"continue"}'"#);
    let running = common::serve_in(dir.path(), Some(&mock), common::Setup::default()).await.unwrap();
    let mut c = common::Client::connect(running.addr).await;
    let session = c.session(dir.path().to_str().unwrap()).await;
    for prompt in ["first", "second"] {
        c.events.clear();
        c.call("agent.prompt", json!({"sessionId": session, "prompt": prompt})).await;
        c.until("agent.ready").await;
    }
    let compacted = c.call("context.compact", json!({"sessionId": session})).await;
    assert_eq!(compacted["success"], true, "{compacted}");

    let hook: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("compact.json")).unwrap()).unwrap();
    assert_eq!(hook["hookType"], "PreCompact");
    assert_eq!(hook["targetTokens"], 140_000);
    assert!(hook["currentTokens"].as_u64().unwrap() > 0, "{hook}");
    let store =
        tron::events::EventStore::open(dir.path().join("prod.db"), tron::events::OpenMode::Existing).unwrap();
    let log: Vec<(String, Value)> = store
        .events(&session)
        .unwrap()
        .into_iter()
        .map(|e| (e.event_type.as_str().to_owned(), e.payload.clone()))
        .collect();
    let at = |kind: &str| {
        log.iter()
            .position(|(t, p)| t == kind && (kind != "hook.triggered" || p["hookEvent"] == "PreCompact"))
    };
    let triggered = at("hook.triggered").expect("PreCompact hooks ran");
    assert!(triggered < at("compact.boundary").unwrap(), "hooks before the compaction");
    let names = &log[triggered].1["hookNames"];
    assert_eq!(names, &json!(["builtin:pre-compact", "project:pre-compact"]));
    assert!(log[triggered].1.get("runId").is_none(), "not in a run");
    // Far below the target: no checkpoint note in the summary.
    let (_, summary) = log.iter().find(|(t, _)| t == "compact.summary").unwrap();
    assert!(!summary["summary"].as_str().unwrap().contains("Session Continuation"), "{summary}");
    // Persisted, not broadcast (the TypeScript server sends `event.new` only for
    // `events.append` and `message.delete`).
    assert!(c.pushed().is_empty(), "{:?}", c.pushed());
    running.shutdown().await;
}

#[tokio::test]
async fn in_plan_mode_the_guardrail_refuses_write_even_when_the_model_calls_it_unoffered() {
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_plan", "Write", json!({"file_path": "plan.txt", "content": "x"})),
        ScriptedResponse::text("I will plan instead."),
        ScriptedResponse::tool_call(
            "toolu_after",
            "Write",
            json!({"file_path": "plan.txt", "content": "done"}),
        ),
        ScriptedResponse::text("written"),
    ]);
    let server = common::start(script).await;
    let project = tempfile::tempdir().unwrap();
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(project.path().to_str().unwrap()).await;
    let entered = c.call("plan.enter", json!({"sessionId": session, "skillName": "plan"})).await;
    assert_eq!(entered["blockedTools"], json!(["Write", "Edit", "Bash", "NotebookEdit"]));

    c.call("agent.prompt", json!({"sessionId": session, "prompt": "plan the change"})).await;
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["success"], true, "{complete}");
    // Write was not offered, yet the model called it: the guardrail answers.
    let offered: Vec<String> = server.mock.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!offered.iter().any(|t| t == "Write") && offered.iter().any(|t| t == "Read"), "{offered:?}");
    assert!(!project.path().join("plan.txt").exists());
    let results: Vec<Value> =
        server.persisted(&session).into_iter().filter(|e| e["type"] == "tool.result").collect();
    assert_eq!(results[0]["payload"]["isError"], true);
    assert_eq!(
        results[0]["payload"]["content"],
        "Tool execution blocked: Tool blocked during plan mode. Exit plan mode to use this tool."
    );
    c.until("agent.ready").await;

    // Out of plan mode the same call runs.
    c.call("plan.exit", json!({"sessionId": session, "reason": "approved"})).await;
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "now do it"})).await;
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["success"], true, "{complete}");
    assert_eq!(std::fs::read_to_string(project.path().join("plan.txt")).unwrap(), "done");
    server.shutdown().await;
}

//! Unit tests: file names, results, discovery, running scripts, the engine's aggregation.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use tokio_util::sync::CancellationToken;

use super::*;

fn script(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn file_stems_name_kinds_as_upstream() {
    assert_eq!(HookKind::from_file_stem("pre-tool-use"), Some(HookKind::PreToolUse));
    assert_eq!(HookKind::from_file_stem("PRE_TOOL"), Some(HookKind::PreToolUse));
    assert_eq!(HookKind::from_file_stem("user-prompt"), Some(HookKind::UserPromptSubmit));
    assert_eq!(HookKind::from_file_stem("subagent-stop"), Some(HookKind::SubagentStop));
    assert_eq!(HookKind::from_file_stem("pre-compact"), Some(HookKind::PreCompact));
    assert_eq!(HookKind::from_file_stem("readme"), None);
    assert!(HookKind::PreToolUse.forced_blocking() && !HookKind::Stop.forced_blocking());
}

#[test]
fn results_parse_as_upstream_and_deny_is_block() {
    let r = HookResult::parse(r#"{"action":"block","reason":"no rm"}"#);
    assert_eq!((r.action, r.reason.as_deref()), (HookAction::Block, Some("no rm")));
    assert_eq!(HookResult::parse(r#"{"action":"deny"}"#).action, HookAction::Block);
    let m = HookResult::parse(r#"{"action":"modify","modifications":{"timeout":5}}"#);
    assert_eq!((m.action, m.modifications["timeout"].clone()), (HookAction::Modify, json!(5)));
    let text = HookResult::parse("hello\n");
    assert_eq!((text.action, text.message.as_deref()), (HookAction::Continue, Some("hello")));
    assert_eq!(HookResult::parse(""), HookResult::proceed());
}

#[test]
fn discovery_reads_both_dirs_with_priorities_and_skips_what_is_not_a_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, home) = (tmp.path().join("work"), tmp.path().join("home"));
    let project = work.join(".agent/hooks");
    script(&project, "pre-tool-use.sh", "exit 0");
    script(&project, "100-stop.sh", "exit 0");
    script(&project, "notes.txt", "");
    script(&project, "post-tool-use.background.sh", "exit 0");
    script(&project, "pre-tool-use.background.sh", "exit 0");
    std::fs::write(project.join("user-prompt-submit.sh"), "echo '{}'").unwrap(); // not executable
    script(&home.join(".config/tron/hooks"), "session-start", "exit 0"); // no extension
    let (hooks, warnings) = discover(&work, Some(&home), &crate::settings::defaults().clone());
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<(&str, HookKind, i64, bool)> =
        hooks.iter().map(|h| (h.name.as_str(), h.kind, h.priority, h.background)).collect();
    assert!(names.contains(&("project:pre-tool-use", HookKind::PreToolUse, 0, false)), "{names:?}");
    assert!(names.contains(&("project:stop", HookKind::Stop, 100, false)), "{names:?}");
    assert!(names.contains(&("project:post-tool-use", HookKind::PostToolUse, 0, true)), "{names:?}");
    assert!(names.contains(&("user:session-start", HookKind::SessionStart, 0, false)), "{names:?}");
    let prompt = hooks.iter().find(|h| h.kind == HookKind::UserPromptSubmit).unwrap();
    assert_eq!(prompt.launch, discovery::Launch::Interpreter("bash".into()));
    // A PreToolUse hook always blocks, even when named as background; same name replaces.
    let pre: Vec<_> = hooks.iter().filter(|h| h.kind == HookKind::PreToolUse).collect();
    assert_eq!(pre.len(), 1);
    assert!(!pre[0].background);
    assert_eq!(hooks.len(), 5, "{names:?}");
}

#[tokio::test]
async fn blocking_hooks_run_by_priority_and_the_first_block_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    // Priority 200 runs first and sees the context on stdin and in HOOK_CONTEXT.
    script(
        &dir,
        "200-pre-tool-use.sh",
        r#"ctx=$(cat); [ "$ctx" = "$HOOK_CONTEXT" ] || exit 9
case "$ctx" in *'"command":"rm'*) echo '{"action":"block","reason":"rm is not allowed here"}';; *) echo '{"action":"modify","modifications":{"timeout":1000}}';; esac"#,
    );
    script(&dir, "100-pre-tool.sh", r#"echo '{"action":"block","reason":"second"}'"#);
    let (engine, _) = HookEngine::from_settings(tmp.path(), None, crate::settings::defaults());
    let (blocking, background) = engine.of_kind(HookKind::PreToolUse);
    assert_eq!(
        blocking.iter().map(|h| h.name()).collect::<Vec<_>>(),
        ["project:pre-tool-use", "project:pre-tool"]
    );
    assert!(background.is_empty());
    let ctx = json!({"hookType": "PreToolUse", "sessionId": "s", "toolName": "Bash", "toolArguments": {"command": "rm -rf x"}});
    let r = engine.run_blocking(&blocking[..1], &ctx, tmp.path(), &CancellationToken::new()).await.result;
    assert_eq!((r.action, r.reason.as_deref()), (HookAction::Block, Some("rm is not allowed here")));
    let ok = json!({"hookType": "PreToolUse", "sessionId": "s", "toolName": "Bash", "toolArguments": {"command": "ls"}});
    let r = engine.run_blocking(&blocking[..1], &ok, tmp.path(), &CancellationToken::new()).await.result;
    assert_eq!((r.action, r.modifications["timeout"].clone()), (HookAction::Modify, json!(1000)));
    let run = engine.run_blocking(&blocking, &ok, tmp.path(), &CancellationToken::new()).await;
    assert_eq!((run.result.action, run.result.reason.as_deref()), (HookAction::Block, Some("second")));
    // Each hook's own answer is kept.
    let answered: Vec<&str> = run.answers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(answered, ["project:pre-tool-use", "project:pre-tool"]);
    assert_eq!(run.answer("project:pre-tool-use").unwrap().action, HookAction::Modify);
}

#[tokio::test]
async fn failing_or_slow_hooks_count_as_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    // (Two names: files that differ only in their priority prefix share a name, and the later
    // replaces the earlier, as upstream.)
    script(&dir, "300-post-tool-use.sh", r#"echo '{"action":"block"}'; exit 1"#);
    // A child keeps the pipes open: the whole process group is killed at the timeout.
    script(&dir, "200-post-tool.sh", "sleep 30 & sleep 30");
    let mut settings = crate::settings::defaults().clone();
    settings["hooks"]["defaultTimeoutMs"] = json!(200);
    let (engine, _) = HookEngine::from_settings(tmp.path(), None, &settings);
    let (blocking, _) = engine.of_kind(HookKind::PostToolUse);
    assert_eq!(blocking.len(), 2);
    let r = engine
        .run_blocking(&blocking, &json!({"hookType": "PostToolUse"}), tmp.path(), &CancellationToken::new())
        .await;
    assert_eq!(r.result, HookResult::proceed());
    let engine::Hook::File(slow) = &blocking[1] else { panic!("a file") };
    let failed = runner::run(slow, &json!({}), tmp.path(), Duration::from_millis(200), None);
    assert!(failed.unwrap_err().contains("timed out after 200ms"));
}

#[tokio::test]
async fn an_abort_stops_a_slow_hook_at_once_and_blocks_what_it_guards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    let pid_file = tmp.path().join("hook.pid");
    // A hook that would run for a minute (its child too), recording its pid.
    script(&dir, "pre-tool-use.sh", &format!("echo $$ > {}; sleep 60 & sleep 60", pid_file.display()));
    let mut settings = crate::settings::defaults().clone();
    settings["hooks"]["defaultTimeoutMs"] = json!(120_000);
    let (engine, _) = HookEngine::from_settings(tmp.path(), None, &settings);
    let (blocking, _) = engine.of_kind(HookKind::PreToolUse);
    let cancel = CancellationToken::new();
    let abort = cancel.clone();
    let pid = pid_file.clone();
    tokio::spawn(async move {
        while !pid.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        abort.cancel();
    });
    let ctx = json!({"hookType": "PreToolUse", "toolName": "Bash"});
    let r = engine.run_blocking(&blocking, &ctx, tmp.path(), &cancel).await.result;
    assert_eq!((r.action, r.reason.as_deref()), (HookAction::Block, Some("The run was aborted")));
    // Nothing of the hook's process group runs any more (an orphaned child may linger as a
    // zombie until init reaps it; it no longer runs).
    let pgid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    let running = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid pgrp ...
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.get(2) == Some(&pgid.as_str()) && fields.first() != Some(&"Z")
            })
            .collect()
    };
    // SIGKILL is delivered asynchronously: give the kernel a moment to end the processes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !running().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = running();
    assert!(left.is_empty(), "the hook's process group {pgid} still runs: {left:?}");
}

#[tokio::test]
async fn background_executions_are_tracked_per_session_until_done() {
    let session = "sess_tracked_bg";
    assert!(engine::wait_background(session, Duration::from_secs(1)).await, "nothing runs yet");
    let first = engine::background_started(session);
    let second = engine::background_started(session);
    assert!(first.execution_id.starts_with("bg_1_"), "{}", first.execution_id);
    assert!(second.execution_id.starts_with("bg_2_"), "{}", second.execution_id);
    assert_eq!(engine::pending_background(session), 2);
    assert_eq!(engine::pending_background("sess_other"), 0);
    drop(first);
    tokio::spawn(async move { drop(second) });
    assert!(engine::wait_background(session, Duration::from_secs(20)).await);
    assert_eq!(engine::pending_background(session), 0);
}

#[tokio::test]
async fn built_ins_sort_with_files_by_priority_and_only_applicable_ones_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    script(&dir, "60-post-tool-use.sh", r#"echo '{"action":"continue"}'"#);
    script(&dir, "post-tool.sh", r#"echo '{"action":"modify","modifications":{"seen":true}}'"#);
    let (mut engine, _) = HookEngine::from_settings(tmp.path(), None, crate::settings::defaults());
    engine.register(std::sync::Arc::new(builtin::PostToolUse::default()));
    let read =
        json!({"hookType": "PostToolUse", "toolName": "Read", "toolArguments": {"file_path": "a.txt"}});
    let (blocking, _) = engine.for_context(HookKind::PostToolUse, &read);
    let names: Vec<&str> = blocking.iter().map(|h| h.name()).collect();
    assert_eq!(names, ["project:post-tool-use", "builtin:post-tool-use", "project:post-tool"]);
    let run = engine.run_blocking(&blocking, &read, tmp.path(), &CancellationToken::new()).await;
    // The built-in's continue does not change the combined result; its answer is kept.
    assert_eq!(Value::Object(run.result.modifications.clone()), json!({"seen": true}));
    assert_eq!(builtin::tracked_file(&run).as_deref(), Some("a.txt"));
    let bash = json!({"hookType": "PostToolUse", "toolName": "Bash", "toolArguments": {"command": "ls"}});
    let (blocking, _) = engine.for_context(HookKind::PostToolUse, &bash);
    assert_eq!(blocking.len(), 2, "the built-in does not apply to Bash");
    // The settings leave the built-ins on, or turn them off.
    let gate = Gate::load(crate::settings::defaults(), tmp.path(), None, tmp.path());
    let builtins: Vec<&str> =
        gate.hooks().hooks().iter().map(|h| h.name()).filter(|n| n.starts_with("builtin:")).collect();
    assert_eq!(builtins, ["builtin:pre-compact", "builtin:post-tool-use"]);
    let mut off = crate::settings::defaults().clone();
    off["hooks"]["builtin"]["preCompact"]["enabled"] = json!(false);
    off["hooks"]["builtin"]["postToolUse"]["enabled"] = json!(false);
    let gate = Gate::load(&off, tmp.path(), None, tmp.path());
    assert!(gate.hooks().hooks().iter().all(|h| !h.name().starts_with("builtin:")));
}

#[tokio::test]
async fn module_hooks_run_through_the_bridge_when_node_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pre-tool-use.mjs"),
        "export default { handler: async (ctx) => ({ action: 'block', reason: `no ${ctx.toolName}` }) };\n",
    )
    .unwrap();
    let (engine, warnings) = HookEngine::from_settings(tmp.path(), None, crate::settings::defaults());
    let (blocking, _) = engine.of_kind(HookKind::PreToolUse);
    let node_present = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("node").is_file() || d.join("bun").is_file());
    if !node_present {
        assert!(blocking.is_empty() && warnings[0].contains("needs node or bun"), "{warnings:?}");
        return;
    }
    assert!(
        matches!(&blocking[0], engine::Hook::File(h) if matches!(h.launch, discovery::Launch::Module(_)))
    );
    let ctx = json!({"hookType": "PreToolUse", "sessionId": "s", "toolName": "Bash"});
    let r = engine.run_blocking(&blocking, &ctx, tmp.path(), &CancellationToken::new()).await.result;
    assert_eq!((r.action, r.reason.as_deref()), (HookAction::Block, Some("no Bash")));
}

fn node_present() -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("node").is_file() || d.join("bun").is_file())
}

#[tokio::test]
async fn module_hooks_honour_their_filter_priority_timeout_and_mode() {
    if !node_present() {
        eprintln!("skipped: no node or bun on PATH");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".agent/hooks");
    std::fs::create_dir_all(&dir).unwrap();
    // A filter that lets only Bash through; priority and timeout from the module.
    std::fs::write(
        dir.join("pre-tool-use.mjs"),
        "export default { priority: 300, timeout: 10000, filter: (ctx) => ctx.toolName === 'Bash',\n\
           handler: async (ctx) => ({ action: 'block', reason: `no ${ctx.toolName}` }) };\n",
    )
    .unwrap();
    // The file name's priority wins over the module's; the module's mode makes it background.
    std::fs::write(
        dir.join("7-post-tool-use.mjs"),
        "export const PostToolUseHook = { priority: 99, mode: 'background', handler: async () => ({ action: 'continue' }) };\n",
    )
    .unwrap();
    // A slow handler is stopped at the module's own timeout (150 ms), not the default.
    std::fs::write(
        dir.join("stop.mjs"),
        "export default { timeout: 150, handler: () => new Promise((r) => setTimeout(() => r({ action: 'block' }), 20000)) };\n",
    )
    .unwrap();
    std::fs::write(dir.join("session-start.mjs"), "export default { handler: ").unwrap();
    let (engine, warnings) = HookEngine::from_settings(tmp.path(), None, crate::settings::defaults());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("session-start.mjs skipped: its module could not be loaded"),
        "{warnings:?}"
    );
    let files: Vec<&DiscoveredHook> = engine
        .hooks()
        .iter()
        .filter_map(|h| match h {
            engine::Hook::File(f) => Some(f),
            engine::Hook::Builtin(_) => None,
        })
        .collect();
    let pre = files.iter().find(|h| h.kind == HookKind::PreToolUse).unwrap();
    assert_eq!(
        (pre.priority, pre.timeout, pre.background),
        (300, Some(Duration::from_millis(10_000)), false)
    );
    let post = files.iter().find(|h| h.kind == HookKind::PostToolUse).unwrap();
    assert_eq!((post.priority, post.background), (7, true));
    let (blocking, _) = engine.of_kind(HookKind::PreToolUse);
    let bash = json!({"hookType": "PreToolUse", "sessionId": "s", "toolName": "Bash"});
    let r = engine.run_blocking(&blocking, &bash, tmp.path(), &CancellationToken::new()).await.result;
    assert_eq!((r.action, r.reason.as_deref()), (HookAction::Block, Some("no Bash")));
    let read = json!({"hookType": "PreToolUse", "sessionId": "s", "toolName": "Read"});
    let r = engine.run_blocking(&blocking, &read, tmp.path(), &CancellationToken::new()).await.result;
    assert_eq!(r, HookResult::proceed(), "the filter said no");
    let (stop, _) = engine.of_kind(HookKind::Stop);
    let r =
        engine.run_blocking(&stop, &json!({"hookType": "Stop"}), tmp.path(), &CancellationToken::new()).await;
    assert_eq!(r.result, HookResult::proceed(), "timed out at 150 ms: continue");
    assert!(r.answers.is_empty());
}

use std::fs;

use serde_json::json;

use super::*;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// repo/ (.git) with rules at every level, a working dir two folders down, and scoped
/// rules beside and below it.
fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let repo = tmp.path().join("repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    write(&data.join("rules/AGENTS.md"), "global rule");
    write(&data.join("AGENTS.md"), "second global");
    write(&repo.join(".claude/CLAUDE.md"), "project rule in .claude");
    write(&repo.join("AGENTS.md"), "root standalone");
    write(&repo.join("pkg/agents.md"), "pkg rule");
    write(&repo.join("pkg/app/.tron/AGENTS.md"), "app rule");
    write(&repo.join("pkg/app/inner/CLAUDE.md"), "inner scoped rule");
    write(&repo.join("lib/AGENTS.md"), "lib scoped rule");
    write(&repo.join("lib/deep/.agent/claude.md"), "deep scoped rule in agent dir");
    write(&repo.join("node_modules/x/AGENTS.md"), "never");
    write(&repo.join("target/AGENTS.md"), "never");
    write(&repo.join(".hidden/AGENTS.md"), "never");
    (tmp, data, repo)
}

fn opts(data: &Path, standalone: bool) -> RulesOptions {
    RulesOptions { data_dir: data.to_owned(), discover_standalone: standalone }
}

#[test]
fn discovers_every_level_from_the_working_dir_to_the_repo_root() {
    let (_tmp, data, repo) = tree();
    let wd = repo.join("pkg/app");
    let rules = discover(&wd, &opts(&data, true));
    assert_eq!(rules.root, repo);
    let always: Vec<(&str, RulesLevel, i64)> =
        rules.always.iter().map(|r| (r.content.as_str(), r.level, r.depth)).collect();
    assert_eq!(
        always,
        [
            ("global rule", RulesLevel::Global, -1),
            ("second global", RulesLevel::Global, -1),
            ("project rule in .claude", RulesLevel::Project, 0),
            ("root standalone", RulesLevel::Project, 0),
            ("pkg rule", RulesLevel::Directory, 1),
            ("app rule", RulesLevel::Directory, 2),
        ]
    );
    let scoped: Vec<(&str, &str)> =
        rules.scoped.iter().map(|r| (r.label.as_str(), r.scope_dir.as_deref().unwrap())).collect();
    assert_eq!(
        scoped,
        [
            ("pkg/app/inner/CLAUDE.md", "pkg/app/inner"),
            ("lib/deep/.agent/claude.md", "lib/deep"),
            ("lib/AGENTS.md", "lib"),
        ]
    );
    let indexed = rules.indexed_payload();
    let index: Vec<(&str, &str, bool)> =
        indexed.files.iter().map(|f| (f.relative_path.as_str(), f.scope_dir.as_str(), f.is_global)).collect();
    assert_eq!(
        index,
        [
            (".claude/CLAUDE.md", "", true),
            ("AGENTS.md", "", true),
            ("pkg/agents.md", "pkg", false),
            ("pkg/app/.tron/AGENTS.md", "pkg/app", false),
            ("pkg/app/inner/CLAUDE.md", "pkg/app/inner", false),
            ("lib/deep/.agent/claude.md", "lib/deep", false),
            ("lib/AGENTS.md", "lib", false),
        ]
    );
    assert_eq!((indexed.total_rules, indexed.global_rules, indexed.scoped_rules), (7, 2, 5));
    let text = rules.text(&[]);
    assert!(text.starts_with("<!-- Rules: "), "{text}");
    for part in ["global rule", "project rule in .claude", "pkg rule", "app rule"] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    assert!(!text.contains("inner scoped rule"));

    // Without standalone discovery only agent-folder files are scoped.
    let rules = discover(&wd, &opts(&data, false));
    let labels: Vec<&str> = rules.scoped.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["lib/deep/.agent/claude.md"]);
}

fn tool_call(name: &str, args: serde_json::Value) -> SessionEvent {
    event("tool.call", json!({"toolCallId": "t", "name": name, "arguments": args, "turn": 1}))
}

fn event(kind: &str, payload: serde_json::Value) -> SessionEvent {
    serde_json::from_value(json!({
        "id": "e", "parentId": null, "sessionId": "s", "workspaceId": "w",
        "timestamp": "2026-01-01T00:00:00.000Z", "type": kind, "sequence": 1, "payload": payload,
    }))
    .unwrap()
}

#[test]
fn touched_paths_activate_scoped_rules_until_compaction() {
    let (_tmp, data, repo) = tree();
    let wd = repo.join("pkg/app");
    let rules = discover(&wd, &opts(&data, true));
    let mut events = vec![
        tool_call("Read", json!({"file_path": "inner/mod.rs"})),
        tool_call("Grep", json!({"pattern": "x", "path": "../../lib"})),
        tool_call("Read", json!({"file_path": "/elsewhere/file"})),
        tool_call("Bash", json!({"command": "ls"})),
    ];
    let touched = rules.touched_paths(&events);
    assert_eq!(touched, ["pkg/app/inner/mod.rs", "lib"]);
    let active = rules.activated(&touched);
    let labels: Vec<&str> = active.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["pkg/app/inner/CLAUDE.md", "lib/AGENTS.md"], "lib/deep is not touched");
    let text = rules.text(&active);
    assert!(text.contains("inner scoped rule") && text.contains("lib scoped rule"));

    let payload = rules.loaded_payload(&active);
    assert_eq!(payload.total_files, 8);
    assert_eq!(payload.dynamic_rules_count, Some(3));
    assert_eq!(payload.files[0].level, "global");
    assert_eq!(payload.files[0].depth, -1);
    assert_eq!(payload.files[5].relative_path, ".tron/AGENTS.md", "relative to the working dir");
    assert!(payload.files[1].relative_path.starts_with('/'), "outside the working dir: absolute");
    assert_eq!(payload.merged_tokens, estimate_tokens(&text));
    let v = serde_json::to_value(&payload).unwrap();
    assert!(v["files"][0].get("sizeBytes").is_some() && v.get("totalFiles").is_some());

    events.push(event("compact.boundary", json!({})));
    assert!(rules.touched_paths(&events).is_empty());
}

#[test]
fn every_rules_file_of_a_folder_is_loaded_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    fs::create_dir_all(repo.join(".git")).unwrap();
    write(&repo.join("AGENTS.md"), "root agents");
    write(&repo.join("CLAUDE.md"), "root claude");
    write(&repo.join(".tron/CLAUDE.md"), "root tron claude");
    write(&repo.join("pkg/AGENTS.md"), "pkg agents");
    write(&repo.join("pkg/CLAUDE.md"), "pkg claude");
    write(&repo.join("lib/AGENTS.md"), "lib agents");
    write(&repo.join("lib/.claude/CLAUDE.md"), "lib claude");
    #[cfg(unix)]
    std::os::unix::fs::symlink(repo.join("pkg/AGENTS.md"), repo.join("pkg/claude.md")).unwrap();
    let rules = discover(&repo.join("pkg"), &opts(&tmp.path().join("nodata"), true));
    let always: Vec<&str> = rules.always.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        always,
        [".tron/CLAUDE.md", "AGENTS.md", "CLAUDE.md", "pkg/AGENTS.md", "pkg/CLAUDE.md"],
        "both names at the root and below it; the symlink to pkg/AGENTS.md once"
    );
    let scoped: Vec<&str> = rules.scoped.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(scoped, ["lib/.claude/CLAUDE.md", "lib/AGENTS.md"], "and in scoped folders");
}

#[test]
fn no_git_means_the_working_dir_is_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("AGENTS.md"), "above, not loaded");
    let wd = tmp.path().join("work");
    write(&wd.join("CLAUDE.md"), "here");
    let rules = discover(&wd, &opts(&tmp.path().join("nodata"), true));
    assert_eq!(rules.root, wd);
    assert_eq!(rules.always.len(), 1);
    assert_eq!(rules.always[0].content, "here");
    assert_eq!(rules.always[0].level, RulesLevel::Project);
    assert!(rules.scoped.is_empty());
}

#[test]
fn loaded_events_follow_changes() {
    let (_tmp, data, repo) = tree();
    let rules_file = repo.join("pkg/agents.md");
    let wd = repo.join("pkg/app");
    let tracker = LoadedTracker::default();
    let rules = discover(&wd, &opts(&data, true));
    let payload = rules.loaded_payload(&[]);
    let hash = rules.fingerprint(&[]);
    assert!(tracker.needs_event("s", None, &payload, hash), "first time");
    tracker.remember("s", hash);
    let last = serde_json::to_value(&payload).unwrap();
    assert!(!tracker.needs_event("s", Some(&last), &payload, hash), "nothing changed");

    // Same size, other content: only the hash tells.
    fs::write(&rules_file, "PKG RULE").unwrap();
    let rules = discover(&wd, &opts(&data, true));
    let (p2, h2) = (rules.loaded_payload(&[]), rules.fingerprint(&[]));
    assert!(rules.text(&[]).contains("PKG RULE"));
    assert!(tracker.needs_event("s", Some(&last), &p2, h2));
    // Another process (no hash seen) with the same payload does not repeat it.
    assert!(!LoadedTracker::default().needs_event("s", Some(&last), &p2, h2));
    // A longer file changes the payload itself.
    fs::write(&rules_file, "a longer pkg rule than before").unwrap();
    let p3 = discover(&wd, &opts(&data, true)).loaded_payload(&[]);
    assert!(LoadedTracker::default().needs_event("s", Some(&last), &p3, 0));
    // No rules at all: no event.
    let empty = Rules::default().loaded_payload(&[]);
    assert!(!tracker.needs_event("other", None, &empty, 0));
}

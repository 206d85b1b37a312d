//! Settings layers, errors, updates and reloads on real files in temp dirs.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn sources(file: &Path, env: &'static [(&'static str, &'static str)]) -> Sources {
    Sources {
        file: file.to_owned(),
        env: Arc::new(move |n| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())),
        flags: Vec::new(),
    }
}

fn write(file: &Path, text: &str) {
    std::fs::write(file, text).unwrap();
}

#[test]
fn defaults_are_the_typescript_servers() {
    let s = Settings::defaults();
    assert_eq!(s.get("server.wsPort"), Some(&json!(8080)));
    assert_eq!(s.get("server.healthPort"), Some(&json!(8081)));
    assert_eq!(s.get("server.heartbeatIntervalMs"), Some(&json!(30000)));
    assert_eq!(s.get("tools.bash.maxTimeoutMs"), Some(&json!(600000)));
    assert_eq!(s.get("context.compactor.triggerTokenThreshold"), Some(&json!(0.7)));
    assert_eq!(s.get("server.defaultModel"), Some(&json!("claude-sonnet-4-20250514")));
    assert_eq!(s.server.ws_port, 8080);
    assert_eq!(s.bash.max_output_length, 40000);
    assert_eq!(s.bash.dangerous_patterns.sources().len(), 9);
    assert_eq!(s.agent.max_turns, 100);
    assert_eq!(s.get("server.nope"), None);
    assert_eq!(s.get("server.wsPort.deeper"), None);
}

#[test]
fn layers_merge_in_order_file_env_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    write(
        &file,
        r#"{"server": {"wsPort": 9001, "heartbeatIntervalMs": 5000},
            "tools": {"bash": {"dangerousPatterns": ["^shutdown"]}},
            "iosOnly": {"theme": "dark"}}"#,
    );
    let s = Settings::load(&sources(&file, &[])).unwrap();
    assert_eq!(s.server.ws_port, 9001);
    assert_eq!(s.server.heartbeat_interval_ms, 5000);
    assert_eq!(s.server.health_port, 8081, "untouched keys keep their defaults");
    assert_eq!(s.bash.dangerous_patterns.sources(), ["^shutdown"], "lists are replaced, not appended");
    assert!(s.bash.dangerous_patterns.is_match("SHUTDOWN now"), "patterns match case-insensitively");
    assert_eq!(s.get("iosOnly.theme"), Some(&json!("dark")), "unknown keys are kept");

    let s = Settings::load(&sources(&file, &[("TRON_WS_PORT", "9002"), ("TRON_TRANSCRIBE_ENABLED", "no")]))
        .unwrap();
    assert_eq!(s.server.ws_port, 9002, "the environment beats the file");
    assert_eq!(s.get("server.transcription.enabled"), Some(&json!(false)));

    let s = Settings::load(&sources(&file, &[("TRON_WS_PORT", "9002")]).flag("server.wsPort", Some(9003)))
        .unwrap();
    assert_eq!(s.server.ws_port, 9003, "a flag beats everything");
}

#[test]
fn bad_environment_values_are_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    let s =
        Settings::load(&sources(&file, &[("TRON_WS_PORT", "eighty"), ("TRON_TRANSCRIBE_CLEANUP_MODE", "x")]))
            .unwrap();
    assert_eq!(s.server.ws_port, 8080);
    assert_eq!(s.warnings.len(), 2);
    assert!(
        s.warnings[0].contains("TRON_WS_PORT=\"eighty\" is ignored: server.wsPort must be a whole number")
    );
}

#[test]
fn a_file_that_does_not_parse_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    write(&file, "{\n  \"server\": {\n    \"wsPort\": 80,\n  }\n}\n");
    let e = Settings::load(&sources(&file, &[])).unwrap_err().to_string();
    assert!(e.contains("is not valid JSON (line 4, column 3)"), "{e}");
    assert!(e.contains("tron will not rewrite it"), "{e}");
}

#[test]
fn a_wrong_type_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    write(&file, "{\n  \"server\": {\n    \"wsPort\": \"80\"\n  }\n}\n");
    let e = Settings::load(&sources(&file, &[])).unwrap_err();
    assert_eq!(e.key(), Some("server.wsPort"));
    let text = e.to_string();
    assert!(
        text.contains(
            "settings.json line 3: `server.wsPort` must be a whole number, found a string (\"80\")"
        ),
        "{text}"
    );

    write(&file, "{\"server\":\n {\"wsPort\": 70000}}");
    let e = Settings::load(&sources(&file, &[])).unwrap_err().to_string();
    assert!(e.contains("line 2: `server.wsPort` must be a whole number from 0 to 65535"), "{e}");

    write(&file, "{\"tools\": {\"bash\": {\n\"dangerousPatterns\": [\"(?<=a)b\"]}}}");
    let e = Settings::load(&sources(&file, &[])).unwrap_err().to_string();
    assert!(e.contains("line 2: `tools.bash.dangerousPatterns` must be usable, found pattern 0"), "{e}");
}

#[test]
fn update_merges_keeps_unknown_keys_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    write(&file, r#"{"server": {"defaultModel": "claude-opus-4-6"}, "future": {"x": 1}}"#);
    let handle = SettingsHandle::load(sources(&file, &[])).unwrap();
    let mut changes = handle.subscribe();
    let s = handle
        .update(
            &json!({"server": {"maxConcurrentSessions": 3}, "context": {"compactor": {"forceAlways": true}}}),
        )
        .unwrap();
    assert_eq!(s.server.max_concurrent_sessions, 3);
    assert!(changes.has_changed().unwrap());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        json!({"server": {"defaultModel": "claude-opus-4-6", "maxConcurrentSessions": 3},
               "future": {"x": 1}, "context": {"compactor": {"forceAlways": true}}}),
        "only the user's keys and the patch are written, never the defaults"
    );
    assert_eq!(handle.current().get("context.compactor.forceAlways"), Some(&json!(true)));
    changes.mark_unchanged();

    // A bad update changes nothing: not the file, not the settings in force.
    let before = std::fs::read(&file).unwrap();
    for bad in [json!({"server": {"wsPort": "x"}}), json!([1]), json!({"server": {"wsPort": 99999}})] {
        assert!(handle.update(&bad).is_err(), "{bad}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(!changes.has_changed().unwrap());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp files left behind");
}

#[test]
fn update_over_a_broken_file_refuses_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    let handle = SettingsHandle::load(sources(&file, &[])).unwrap();
    write(&file, "{ broken");
    let e = handle.update(&json!({"server": {"maxConcurrentSessions": 3}})).unwrap_err();
    assert!(matches!(e, UpdateError::File(_)), "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ broken");
}

#[test]
fn reload_keeps_the_last_good_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    let handle = SettingsHandle::load(sources(&file, &[])).unwrap();
    assert!(!handle.reload().unwrap(), "nothing changed");
    write(&file, r#"{"agent": {"maxTurns": 7}}"#);
    assert!(handle.reload().unwrap());
    assert_eq!(handle.current().agent.max_turns, 7);
    write(&file, r#"{"agent": {"maxTurns": "many"}}"#);
    assert!(handle.reload().is_err());
    assert_eq!(handle.current().agent.max_turns, 7);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), r#"{"agent": {"maxTurns": "many"}}"#);
}

#[tokio::test]
async fn an_edit_of_the_file_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    let handle = SettingsHandle::load(sources(&file, &[])).unwrap();
    let _watcher = handle.watch().unwrap();
    let mut changes = handle.subscribe();
    // Written the way editors do: a new file renamed over the old one.
    let tmp = dir.path().join("settings.json.swp");
    write(&tmp, r#"{"agent": {"maxTurns": 3}}"#);
    std::fs::rename(&tmp, &file).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), changes.changed()).await.unwrap().unwrap();
    assert_eq!(handle.current().agent.max_turns, 3);
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-z\"\\\\ ]{0,6}".prop_map(Value::from)
    ]
}

fn json_tree() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Merging a patch and reading back any of its leaves gives the patch's value.
    #[test]
    fn merged_patch_leaves_win(base in json_tree(), patch in json_tree()) {
        let mut merged = base.clone();
        deep_merge(&mut merged, &patch);
        fn leaves(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
            match v {
                Value::Object(m) if !m.is_empty() => {
                    for (k, c) in m {
                        leaves(c, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
                    }
                }
                v => out.push((path, v.clone())),
            }
        }
        let mut out = Vec::new();
        leaves(&patch, String::new(), &mut out);
        for (path, value) in out {
            let got = if path.is_empty() { Some(&merged) } else { path.split('.').try_fold(&merged, |v, k| v.get(k)) };
            if value.as_object().is_some_and(|m| m.is_empty()) && got.is_some_and(|g| g.is_object()) {
                continue;
            }
            prop_assert_eq!(got, Some(&value), "at {}", path);
        }
    }

    /// Every key of a pretty-printed object is found on the line it is written on.
    #[test]
    fn keys_are_located_on_their_line(tree in json_tree()) {
        let text = serde_json::to_string_pretty(&tree).unwrap();
        fn keys(v: &Value, path: String, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, c) in m {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    out.push(p.clone());
                    keys(c, p, out);
                }
            }
        }
        let mut all = Vec::new();
        keys(&tree, String::new(), &mut all);
        for key in all {
            let line = locate::line_of(&text, &key).expect("found");
            let last = key.rsplit('.').next().unwrap();
            let written = text.lines().nth(line - 1).unwrap();
            prop_assert!(written.trim_start().starts_with(&format!("\"{last}\":")), "{} on {}", key, written);
        }
    }

    /// Locating never panics, whatever the text.
    #[test]
    fn locating_never_panics(text in ".{0,80}", key in "[a-z.]{0,8}") {
        let _ = locate::line_of(&text, &key);
    }
}

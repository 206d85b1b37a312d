//! Settings load: every layer read and merged the way `tron serve` and `tron chat` do at
//! startup (and the file watcher does on each edit): the compiled defaults, a realistic
//! `settings.json` the iOS app has written to, the environment, and a flag.
//!
//! Run: `cargo bench --bench settings` (the target is under 1 ms per load).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tron::settings::{EnvLookup, Settings, Sources};

/// A file as the app and a user leave it: a few nested overrides, a replaced list, and keys
/// this version does not know.
const FILE: &str = r#"{
  "server": {"defaultModel": "claude-opus-4-6", "maxConcurrentSessions": 4, "defaultWorkspace": "/Users/me/src"},
  "context": {"compactor": {"preserveRecentCount": 8, "forceAlways": false, "triggerTokenThreshold": 0.75},
              "memory": {"ledger": {"enabled": true}, "autoInject": {"enabled": true, "count": 3}},
              "rules": {"discoverStandaloneFiles": true}},
  "tools": {"bash": {"maxOutputLength": 60000,
                     "dangerousPatterns": ["^rm\\s+-rf?\\s+/\\s*$", "^sudo\\s+", "^mkfs\\.", "git\\s+push\\s+--force"]},
            "web": {"fetch": {"timeoutMs": 20000}}},
  "integrations": {"deviceContext": {"enabled": true, "battery": true}},
  "session": {"isolation": {"mode": "always"}}
}"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    std::fs::write(&file, FILE).unwrap();
    let env: EnvLookup = Arc::new(|n| match n {
        "TRON_WS_PORT" => Some("9090".into()),
        "TRON_DEFAULT_MODEL" => Some("claude-sonnet-4-5".into()),
        _ => None,
    });
    let sources = Sources::new(&file, env).flag("agent.maxTurns", Some(40));
    assert_eq!(Settings::load(&sources).unwrap().server.ws_port, 9090);

    c.bench_function("settings/load file+env+flag", |b| {
        b.iter(|| black_box(Settings::load(&sources).unwrap()))
    });
    let none = Sources::file_only(dir.path().join("missing.json"));
    c.bench_function("settings/load defaults only", |b| b.iter(|| black_box(Settings::load(&none).unwrap())));
}

criterion_group!(benches, bench);
criterion_main!(benches);

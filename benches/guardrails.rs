//! Guardrails before every tool call: the full built-in and settings rules over a Write, a
//! plain Bash command, and a long Bash script (read once by the shell reader for every
//! rule), plus the plan-mode lookup `session.plan-mode` needs (the session's plan events
//! along its head) on a long session, next to reading the whole chain.
//!
//! Run: `cargo bench --bench guardrails` (targets: an evaluation well under 1 ms, the plan
//! lookup on a 5,000-event session tens of µs when plan mode was never used, under 1 ms
//! when it was; reading the whole chain instead takes ~15 ms).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use tron::agent::guardrails::{custom, EvalContext, GuardrailEngine};
use tron::core::wire::JsonObject;
use tron::events::{EventStore, NewEvent, NewSession};

const SCRIPT: &str = r#"set -euo pipefail
cd "$HOME/src/app" && git status --short
for f in $(git diff --name-only); do
  sed -i 's/foo/bar/g' "$f"
done
cargo build --release 2>&1 | tail -n 20 > build.log
cat > notes.md <<'END'
rm -rf / is what we never do
END
mkdir -p dist && cp target/release/app dist/ && tar -czf dist.tgz dist
echo "done" >> build.log"#;

fn evaluate(engine: &GuardrailEngine, tool: &str, args: &Value) -> bool {
    let args: &JsonObject = args.as_object().unwrap();
    engine
        .evaluate(&EvalContext {
            tool_name: tool,
            arguments: args,
            working_directory: Path::new("/home/u/src/app"),
            session_id: Some("sess_bench"),
            tool_call_id: Some("toolu_bench"),
            plan_mode: None,
        })
        .blocked
}

fn bench(c: &mut Criterion) {
    let settings = json!({"guardrails": {"audit": {"enabled": false}, "customRules": [
        {"id": "no-curl", "type": "pattern", "severity": "warn", "targetArgument": "command", "patterns": ["\\bcurl\\b"]},
        {"id": "secrets", "type": "path", "severity": "block", "protectedPaths": ["/home/u/secrets/**"]}
    ]}});
    let engine = custom::from_settings(&settings, Path::new("/home/u"), Path::new("/home/u/.tron"));
    let write = json!({"file_path": "src/main.rs", "content": "fn main() {}"});
    let plain = json!({"command": "cargo test --lib 2>&1 | tail -n 50"});
    let script = json!({ "command": SCRIPT });
    assert!(!evaluate(&engine, "Write", &write) && !evaluate(&engine, "Bash", &plain));
    assert!(!evaluate(&engine, "Bash", &script));
    assert!(evaluate(&engine, "Bash", &json!({"command": "sudo rm -fr --no-preserve-root /"})));

    c.bench_function("guardrails/evaluate Write", |b| {
        b.iter(|| black_box(evaluate(&engine, "Write", &write)))
    });
    c.bench_function("guardrails/evaluate Bash one command", |b| {
        b.iter(|| black_box(evaluate(&engine, "Bash", &plain)))
    });
    c.bench_function("guardrails/evaluate Bash 10-line script", |b| {
        b.iter(|| black_box(evaluate(&engine, "Bash", &script)))
    });

    // Long sessions: 5,000 events with sizable payloads, one of them with a plan.mode_entered.
    let store = EventStore::open_in_memory().unwrap();
    let big = "x".repeat(2_000);
    let long_session = |plan: bool| {
        let new = NewSession {
            working_directory: "/w".into(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        };
        let session = store.create_session(new).unwrap().0.id.into_string();
        let batch: Vec<NewEvent> = (0..5_000)
            .map(|i| match i {
                100 if plan => NewEvent::raw(
                    "plan.mode_entered",
                    json!({"skillName": "plan", "blockedTools": ["Write"]}),
                ),
                _ if i % 2 == 0 => NewEvent::raw("message.user", json!({"content": format!("{i} {big}")})),
                _ => NewEvent::raw("tool.result", json!({"toolCallId": format!("t{i}"), "content": big})),
            })
            .collect();
        store.append_batch(&session, &batch).unwrap();
        session
    };
    let (session, plain) = (long_session(true), long_session(false));
    let kinds = ["plan.mode_entered", "plan.mode_exited"];
    assert_eq!(store.head_events_of_types(&session, &kinds).unwrap().len(), 1);
    assert!(store.head_events_of_types(&plain, &kinds).unwrap().is_empty());
    c.bench_function("guardrails/plan lookup, 5000 events, never in plan mode", |b| {
        b.iter(|| black_box(store.head_events_of_types(&plain, &kinds).unwrap()))
    });
    c.bench_function("guardrails/plan lookup, 5000 events, plan mode used", |b| {
        b.iter(|| black_box(store.head_events_of_types(&session, &kinds).unwrap()))
    });
    c.bench_function("guardrails/whole head chain, 5000-event session (for comparison)", |b| {
        b.iter(|| black_box(store.head_chain(&session).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Whole-process timings of `tron chat` against the scripted mock LLM server (run by
//! scripts/bench.sh; `cargo bench --bench chat`). Two scenarios: (a) one answer streamed as
//! 200 text deltas, (b) one Bash tool round trip. Reports median wall time and peak RSS of
//! the `tron` process (targets: <= 20 ms and <= 15 MiB each).

use std::process::Command;
use std::time::Instant;

use serde_json::json;
use tron::testing::{MockLlm, Script, ScriptedResponse, Step};

const RUNS: usize = 20;

fn answer(words: usize) -> ScriptedResponse {
    let text = (0..words).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    ScriptedResponse::Stream {
        steps: vec![
            Step::Text { text },
            Step::Usage {
                input_tokens: 1000,
                output_tokens: words as u64,
                cache_read_tokens: 0,
                cache_creation_tokens: 0,
            },
        ],
    }
}

fn tool_call() -> ScriptedResponse {
    ScriptedResponse::Stream {
        steps: vec![Step::ToolCall {
            id: "toolu_1".into(),
            name: "Bash".into(),
            input: json!({"command": "echo hi"}),
        }],
    }
}

/// Runs `tron chat` once; returns (wall ms, peak RSS KiB from /usr/bin/time, if present).
fn run_once(base_url: &str, db: &std::path::Path, measure_rss: bool) -> (f64, Option<u64>) {
    let tron = env!("CARGO_BIN_EXE_tron");
    let mut cmd = if measure_rss {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", tron]);
        c
    } else {
        Command::new(tron)
    };
    cmd.args(["chat", "go", "--db"])
        .arg(db)
        .env("ANTHROPIC_API_KEY", "sk-ant-bench")
        .env("TRON_ANTHROPIC_BASE_URL", base_url)
        .env_remove("ANTHROPIC_BASE_URL");
    let started = Instant::now();
    let out = cmd.output().expect("running tron");
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    assert!(out.status.success(), "tron chat failed: {}", String::from_utf8_lossy(&out.stderr));
    let rss = measure_rss
        .then(|| String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok()))
        .flatten();
    (wall, rss)
}

fn scenario(name: &str, responses_per_run: impl Fn() -> Vec<ScriptedResponse>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let script = Script { responses: (0..RUNS * 2 + 2).flat_map(|_| responses_per_run()).collect() };
    let mock = runtime.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    run_once(&mock.base_url(), &db, false); // warm up: creates the database
    let mut walls: Vec<f64> = (0..RUNS).map(|_| run_once(&mock.base_url(), &db, false).0).collect();
    walls.sort_by(|a, b| a.total_cmp(b));
    let rss: Vec<u64> = (0..RUNS).filter_map(|_| run_once(&mock.base_url(), &db, true).1).collect();
    let peak = rss
        .iter()
        .max()
        .map_or("unavailable (no /usr/bin/time)".to_owned(), |k| format!("{:.1} MiB", *k as f64 / 1024.0));
    println!("chat/{name:<22} median {:>6.1} ms  min {:>6.1} ms  peak RSS {peak}", walls[RUNS / 2], walls[0]);
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent; only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    scenario("200_text_deltas", || vec![answer(200)]);
    scenario("bash_round_trip", || vec![tool_call(), answer(5)]);
}

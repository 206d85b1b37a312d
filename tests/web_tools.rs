//! The web tools against local servers on 127.0.0.1: `WebFetch` reads a real page over HTTP
//! and a real model request (the mock LLM) answers about it; `WebSearch` calls mock Brave
//! and Exa APIs through the configured base URLs and the auth file's keys. Nothing touches
//! the internet.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tron::core::tools::ToolResult;
use tron::llm::models;
use tron::settings::Settings;
use tron::testing::{MockLlm, Script, ScriptedResponse};
use tron::tools::web::fetch::{FetchConfig, ModelReader, WebFetchTool};
use tron::tools::web::url_guard::UrlGuard;
use tron::tools::{Tool, ToolContext};

const PAGE: &str = "<html><head><title>Rust Release</title><script>secret()</script></head>\
    <body><nav>menu</nav><h1>Rust 9.0</h1><p>Rust 9.0 ships <b>borrow hints</b>.</p></body></html>";

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn html(body: String) -> impl IntoResponse {
    ([("content-type", "text/html; charset=utf-8")], body)
}

/// A site with a page, a big page, a slow page, a JSON document and an error.
async fn site(hits: Arc<AtomicUsize>) -> SocketAddr {
    let router = Router::new()
        .route(
            "/page",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { html(PAGE.to_owned()) }
            }),
        )
        .route("/big", get(|| async { html(format!("<p>{}</p><p>THE END</p>", "word ".repeat(20_000))) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                html("late".to_owned())
            }),
        )
        .route("/data", get(|| async { Json(json!({"a": 1})) }))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "gone") }))
        .route(
            "/to-localhost",
            get(|headers: HeaderMap| async move {
                let host = headers["host"].to_str().unwrap().replace("127.0.0.1", "localhost");
                (StatusCode::FOUND, [("location", format!("http://{host}/page"))])
            }),
        );
    serve(router).await
}

fn args(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn text(r: &ToolResult) -> String {
    serde_json::to_value(&r.content)
        .unwrap()
        .pointer("/0/text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// `WebFetch` allowed to reach 127.0.0.1, answering through the mock LLM (Haiku).
fn fetch_tool(mock: &MockLlm, timeout: Duration, max_bytes: usize) -> WebFetchTool {
    let model = models::lookup("claude-haiku-4-5-20251001").unwrap();
    let base = mock.base_url();
    let env = move |n: &str| match n {
        "ANTHROPIC_API_KEY" => Some("sk-ant-test".to_owned()),
        "TRON_ANTHROPIC_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    let provider =
        tron::agent::provider_for(model, Path::new("/nonexistent/auth.json"), env, Default::default(), None)
            .unwrap();
    let config = FetchConfig {
        guard: UrlGuard::allowing_internal(),
        timeout,
        max_response_bytes: max_bytes,
        ..FetchConfig::default()
    };
    WebFetchTool::new(config, Arc::new(ModelReader::new(Arc::from(provider), model)))
}

fn last_user_text(body: &Value) -> String {
    body["messages"].as_array().unwrap().last().unwrap()["content"].to_string()
}

#[tokio::test]
async fn fetch_reads_the_page_as_text_asks_the_model_and_caches_the_answer() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = site(hits.clone()).await;
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("It ships borrow hints.")])).await.unwrap();
    let tool = fetch_tool(&mock, Duration::from_secs(10), 1 << 20);
    let ctx = ToolContext::new(std::env::temp_dir());
    let call = args(json!({"url": format!("http://{addr}/page"), "prompt": "What does Rust 9.0 ship?"}));
    let r = tool.execute(&call, &ctx).await;
    assert!(!r.failed(), "{}", text(&r));
    assert_eq!(text(&r), "It ships borrow hints.");
    let details = r.details.clone().unwrap();
    assert_eq!(details["fromCache"], false);
    assert_eq!(details["source"]["title"], "Rust Release");
    assert_eq!(details["source"]["url"], format!("http://{addr}/page"));

    // The model read the page as text: headings and words, no script, no navigation.
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["model"], "claude-haiku-4-5-20251001");
    let asked = last_user_text(&requests[0].body);
    assert!(asked.contains("**Question**: What does Rust 9.0 ship?"), "{asked}");
    assert!(asked.contains("# Rust 9.0") && asked.contains("Rust 9.0 ships borrow hints."), "{asked}");
    assert!(!asked.contains("secret()") && !asked.contains("menu"), "{asked}");

    // Same URL and prompt: the cached answer, without fetching or asking again.
    let again = tool.execute(&call, &ctx).await;
    assert_eq!(text(&again), "It ships borrow hints.");
    assert_eq!(again.details.unwrap()["fromCache"], true);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(tool.cache_stats().hits, 1);
}

#[tokio::test]
async fn fetch_limits_size_and_time_and_reports_http_failures() {
    let addr = site(Arc::default()).await;
    let mock = MockLlm::start(Script::new([ScriptedResponse::text("partial answer")])).await.unwrap();
    let ctx = ToolContext::new(std::env::temp_dir());

    // Only the first 2000 bytes are read: the end of the big page never reaches the model.
    let small = fetch_tool(&mock, Duration::from_secs(10), 2000);
    let r = small.execute(&args(json!({"url": format!("http://{addr}/big"), "prompt": "end?"})), &ctx).await;
    assert!(!r.failed(), "{}", text(&r));
    assert_eq!(r.details.unwrap()["contentTruncated"], true);
    let asked = last_user_text(&mock.requests()[0].body);
    assert!(asked.contains("[Content truncated]") && !asked.contains("THE END"));
    assert!(asked.len() < 4000, "{}", asked.len());

    let quick = fetch_tool(&mock, Duration::from_millis(300), 1 << 20);
    let r = quick.execute(&args(json!({"url": format!("http://{addr}/slow"), "prompt": "?"})), &ctx).await;
    assert!(r.failed());
    assert_eq!(text(&r), "Error fetching URL: Request timed out after 300ms");

    let r = quick.execute(&args(json!({"url": format!("http://{addr}/data"), "prompt": "?"})), &ctx).await;
    assert_eq!(text(&r), "Error fetching URL: Unsupported content type: application/json");
    let r = quick.execute(&args(json!({"url": format!("http://{addr}/missing"), "prompt": "?"})), &ctx).await;
    assert_eq!(text(&r), "Error fetching URL: HTTP 404: Not Found");
    // Redirects are checked like the first URL: here `localhost` is a blocked domain.
    let model = models::lookup("claude-haiku-4-5-20251001").unwrap();
    let guard = UrlGuard { blocked_domains: vec!["localhost".into()], ..UrlGuard::allowing_internal() };
    let provider = tron::agent::provider_for(
        model,
        Path::new("/nonexistent/auth.json"),
        |_| Some("k".into()),
        Default::default(),
        None,
    )
    .unwrap();
    let strict = WebFetchTool::new(
        FetchConfig { guard, ..FetchConfig::default() },
        Arc::new(ModelReader::new(Arc::from(provider), model)),
    );
    let r = strict
        .execute(&args(json!({"url": format!("http://{addr}/to-localhost"), "prompt": "?"})), &ctx)
        .await;
    assert!(r.failed());
    assert!(text(&r).contains("redirect refused: Domain is blocked: localhost"), "{}", text(&r));
    let r = quick.execute(&args(json!({"url": format!("http://{addr}/page")})), &ctx).await;
    assert!(text(&r).contains("Missing required parameter \"prompt\""));
    // None of the failures asked the model anything.
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn fetch_refuses_local_files_private_and_loopback_targets_by_default() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = site(hits.clone()).await;
    let mock = MockLlm::start(Script::new([])).await.unwrap();
    // The tool as a run builds it, from the default settings.
    let settings = Settings::defaults();
    let model = models::lookup("claude-haiku-4-5-20251001").unwrap();
    let env: tron::settings::EnvLookup = Arc::new(|_: &str| None);
    let tools = tron::tools::web::tools_for_run(&settings, model, Path::new("/nonexistent/auth.json"), env);
    let names: Vec<String> = tools.iter().map(|t| t.definition().name).collect();
    assert_eq!(names, ["WebFetch"], "no search key: no WebSearch");
    let tool = &tools[0];
    let ctx = ToolContext::new(std::env::temp_dir());
    for (url, expected) in [
        ("file:///etc/passwd".to_owned(), "Invalid protocol: file:"),
        ("http://10.0.0.8/admin".to_owned(), "Internal addresses are not allowed: 10.0.0.8"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "Internal addresses are not allowed: 169.254.169.254",
        ),
        ("http://localhost:9/".to_owned(), "Internal addresses are not allowed: localhost"),
        (format!("http://{addr}/page"), "Internal addresses are not allowed: 127.0.0.1"),
    ] {
        let r = tool.execute(&args(json!({"url": url, "prompt": "?"})), &ctx).await;
        assert!(r.failed(), "{url}");
        assert!(
            text(&r).starts_with("Error: Invalid URL - ") && text(&r).contains(expected),
            "{url}: {}",
            text(&r)
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was fetched");
    assert!(mock.requests().is_empty());
}

/// What a mock search API saw and answers.
#[derive(Clone, Default)]
struct Api {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    /// Keys that get a 429.
    limited: Arc<Vec<String>>,
    /// Answer with this raw body instead.
    raw: Option<&'static str>,
}

async fn brave(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let key = headers.get("x-subscription-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    api.seen.lock().unwrap().push((key.clone(), json!(q)));
    if api.limited.contains(&key) {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")], "Rate limited").into_response();
    }
    if let Some(raw) = api.raw {
        return ([("content-type", "application/json")], raw).into_response();
    }
    Json(json!({"query": {"original": q["q"]}, "web": {"results": [
        {"title": "Rust Blog", "url": "https://blog.rust-lang.org/9.0", "description": "Rust 9.0 released", "age": "2 hours ago"},
        {"title": "Spam", "url": "https://spam.example/rust", "description": "buy"},
        {"title": "Shared", "url": "https://shared.example/x", "description": "seen by both"}
    ]}}))
    .into_response()
}

async fn exa(
    State(api): State<Api>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    api.seen.lock().unwrap().push((key, body.clone()));
    Json(json!({"requestId": "r1", "results": [
        {"id": "1", "url": "https://arxiv.org/abs/1", "title": "Borrow Hints Paper", "highlights": ["We study hints."], "author": "Ada", "publishedDate": "2025-01-31T10:00:00.000Z"},
        {"id": "2", "url": "https://SHARED.example/x", "title": "Shared again"}
    ]}))
    .into_response()
}

async fn search_apis(brave_api: Api, exa_api: Api) -> SocketAddr {
    let router = Router::new()
        .route("/res/v1/{endpoint}/search", get(brave).with_state(brave_api))
        .route("/search", post(exa).with_state(exa_api));
    serve(router).await
}

fn auth_file(dir: &Path, services: Value) -> std::path::PathBuf {
    let path = dir.join("auth.json");
    std::fs::write(&path, json!({"version": 1, "providers": {}, "services": services}).to_string()).unwrap();
    path
}

fn search_tool(addr: SocketAddr, auth: &Path) -> tron::tools::web::WebSearchTool {
    let base = format!("http://{addr}");
    let env = move |n: &str| match n {
        "TRON_BRAVE_BASE_URL" | "TRON_EXA_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    tron::tools::web::search_tool(&Settings::defaults(), auth, &env).expect("a provider has keys")
}

#[tokio::test]
async fn search_asks_brave_and_exa_merges_filters_and_dedupes() {
    let (brave_api, exa_api) = (Api::default(), Api::default());
    let addr = search_apis(brave_api.clone(), exa_api.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let auth = auth_file(dir.path(), json!({"brave": {"apiKey": "bk"}, "exa": {"apiKeys": ["ek"]}}));
    let tool = search_tool(addr, &auth);
    assert!(tool.definition().description.contains("**exa**: Semantic search"));
    let ctx = ToolContext::new(dir.path());
    let r = tool
        .execute(&args(json!({"query": "rust 9", "count": 5, "freshness": "week", "excludeDomains": ["spam.example"]})), &ctx)
        .await;
    assert!(!r.failed(), "{}", text(&r));
    let t = text(&r);
    assert!(t.starts_with("Search results for: \"rust 9\" (via brave+exa)\nFound 3 results:"), "{t}");
    assert!(t.contains("**1. Rust Blog** [brave]\n   https://blog.rust-lang.org/9.0\n   Rust 9.0 released\n   *2 hours ago*"), "{t}");
    assert!(t.contains("**3. Borrow Hints Paper** [exa]") && t.contains("*2025-01-31 | by Ada*"), "{t}");
    assert!(!t.contains("Spam") && !t.contains("Shared again"), "{t}");
    assert!(t.ends_with("---\nUse WebFetch to read the full content of any result."));

    let (key, query) = brave_api.seen.lock().unwrap()[0].clone();
    assert_eq!(key, "bk");
    assert_eq!(
        (query["q"].as_str(), query["count"].as_str(), query["freshness"].as_str()),
        (Some("rust 9"), Some("5"), Some("pw"))
    );
    let (key, body) = exa_api.seen.lock().unwrap()[0].clone();
    assert_eq!(key, "ek");
    assert_eq!(body["query"], "rust 9");
    assert_eq!(body["num_results"], 5);
    assert_eq!(body["exclude_domains"], json!(["spam.example"]));
    assert!(body["start_published_date"].as_str().unwrap().ends_with('Z'));

    // `social` goes to Exa alone, as category `tweet`.
    let r = tool.execute(&args(json!({"query": "rust", "contentType": "social"})), &ctx).await;
    assert!(text(&r).contains("(via exa)"), "{}", text(&r));
    assert_eq!(exa_api.seen.lock().unwrap()[1].1["category"], "tweet");
    assert_eq!(brave_api.seen.lock().unwrap().len(), 1);
    let r = tool.execute(&args(json!({"query": "x".repeat(401)})), &ctx).await;
    assert_eq!(text(&r), "Error: Query is too long. Maximum length is 400 characters.");
    let r = tool.execute(&args(json!({"query": "x", "freshness": "decade"})), &ctx).await;
    assert!(r.failed() && text(&r).contains("\"freshness\" must be one of"));
}

#[tokio::test]
async fn a_rate_limited_brave_key_hands_over_to_the_next_key() {
    let brave_api = Api { limited: Arc::new(vec!["k1".into()]), ..Api::default() };
    let addr = search_apis(brave_api.clone(), Api::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let auth = auth_file(dir.path(), json!({"brave": {"apiKeys": ["k1", "k2"], "apiKey": "ignored"}}));
    let tool = search_tool(addr, &auth);
    assert!(tool.definition().description.contains("**Provider:** Brave Search"));
    let ctx = ToolContext::new(dir.path());
    let r = tool.execute(&args(json!({"query": "rust"})), &ctx).await;
    assert!(!r.failed(), "{}", text(&r));
    assert!(text(&r).contains("Rust Blog"));
    let keys: Vec<String> = brave_api.seen.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, ["k1", "k2"]);
    // k1 rests for its Retry-After: the next search goes straight to k2.
    let r = tool.execute(&args(json!({"query": "rust"})), &ctx).await;
    assert!(!r.failed());
    let keys: Vec<String> = brave_api.seen.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, ["k1", "k2", "k2"]);

    // With its only key limited, the error says so.
    let one = tempfile::tempdir().unwrap();
    let tool = search_tool(addr, &auth_file(one.path(), json!({"brave": {"apiKey": "k1"}})));
    let r = tool.execute(&args(json!({"query": "rust"})), &ctx).await;
    assert!(r.failed());
    assert!(
        text(&r).contains(
            "its only API key is rate-limited or refused (Brave Search API error: 429 - Rate limited)"
        ),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn a_search_api_that_answers_garbage_is_a_clear_tool_error() {
    let brave_api = Api { raw: Some("<html>oops</html>"), ..Api::default() };
    let addr = search_apis(brave_api, Api::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let tool = search_tool(addr, &auth_file(dir.path(), json!({"brave": {"apiKeys": ["k"]}})));
    let r = tool.execute(&args(json!({"query": "rust"})), &ToolContext::new(dir.path())).await;
    assert!(r.failed());
    assert_eq!(
        text(&r),
        "Error performing search: Brave Search API answered with something that is not JSON: \"<html>oops</html>\""
    );
    assert!(tron::tools::web::search_tool(&Settings::defaults(), &dir.path().join("none.json"), &|_| None)
        .is_none());
}

/// The model calls `WebFetch` in a real `tron chat` run; the answer about the page reaches
/// the model's next turn as the tool result.
#[test]
fn a_chat_run_fetches_a_page_and_the_answer_reaches_the_next_turn() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let addr = rt.block_on(site(Arc::default()));
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_f",
            "WebFetch",
            json!({"url": format!("http://{addr}/page"), "prompt": "What ships?"}),
        ),
        ScriptedResponse::text("Borrow hints ship in 9.0."),
        ScriptedResponse::text("Rust 9.0 ships borrow hints."),
    ]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // This test's page is on 127.0.0.1: allow internal targets for it.
    std::fs::write(
        dir.path().join("settings.json"),
        json!({"tools": {"web": {"fetch": {"allowInternal": true}}}}).to_string(),
    )
    .unwrap();
    let db = dir.path().join("prod.db");
    let out = common::chat_command(&mock, &db)
        .arg("what ships in rust 9?")
        .arg("--cwd")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].body["tools"].as_array().unwrap().iter().any(|t| t["name"] == "WebFetch"));
    assert!(last_user_text(&requests[1].body).contains("Rust 9.0 ships borrow hints."));
    let result = &requests[2].body["messages"].as_array().unwrap().last().unwrap()["content"][0];
    assert_eq!(result["tool_use_id"], "toolu_f");
    assert!(result["content"].to_string().contains("Borrow hints ship in 9.0."), "{result}");
}

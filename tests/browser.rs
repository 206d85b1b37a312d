//! The browser for real: Debian's chromium, headless, driven over the DevTools Protocol
//! against pages this test serves on 127.0.0.1. scripts/test.sh installs chromium and sets
//! TRON_TEST_CHROMIUM; without it the tests use a chromium found on this machine, and say
//! so and return when there is none.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use axum::response::Html;
use axum::routing::get;
use serde_json::{json, Value};
use tron::platform::browser::{launch, Browser, BrowserConfig, BrowserError};
use tron::testing::{Script, ScriptedResponse};

/// The chromium to test with, or `None` (with a notice) when this machine has none.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRON_TEST_CHROMIUM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "TRON_TEST_CHROMIUM={} does not exist", p.display());
        return Some(p);
    }
    match launch::locate(None, std::env::var("PATH").ok().as_deref()) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("skipped: {e} (scripts/test.sh installs chromium and sets TRON_TEST_CHROMIUM)");
            None
        }
    }
}

const HOME: &str = r#"<!doctype html><html><head><title>Home page</title></head><body>
<h1>Hello from tron</h1>
<p id="intro">A page served by the test.</p>
<ul><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.clicks)">Press me</button>
<div id="out">not clicked</div>
<input id="name" placeholder="Your name">
<div id="echo"></div>
<select id="color"><option value="r">Red</option><option value="g">Green</option></select>
<a id="next" href="/second">Second page</a>
<script>
window.clicks = 0;
const name = document.getElementById('name');
name.addEventListener('keydown', () => window.keys = (window.keys || 0) + 1);
name.addEventListener('input', () => document.getElementById('echo').textContent = 'typed: ' + name.value);
</script>
</body></html>"#;

const SECOND: &str =
    "<!doctype html><html><head><title>Second page</title></head><body><p>You reached the second page.</p></body></html>";

/// Serves the test pages on 127.0.0.1; the base URL.
async fn site() -> String {
    let app = axum::Router::new()
        .route("/", get(|| async { Html(HOME) }))
        .route("/second", get(|| async { Html(SECOND) }))
        .route(
            "/third",
            get(|| async {
                Html("<title>Third</title><p style='background:#c33;height:2000px'>Third page</p>")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn config(binary: PathBuf) -> BrowserConfig {
    BrowserConfig { executable: Some(binary), ..BrowserConfig::default() }
}

/// Whether a process `pid` exists (a zombie counts: it has not been reaped).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The processes of the process group `pgid` that still run.
fn group_members(pgid: u32) -> Vec<u32> {
    launch::group_running(pgid)
}

/// Waits until the process `pid` has died (it stays a zombie until the browser reaps it).
async fn wait_dead(pid: u32) {
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().next().unwrap_or("");
        if stat.is_empty() || state == "Z" || state == "X" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_browser_reads_queries_clicks_types_screenshots_and_keeps_tabs() {
    let Some(bin) = chromium() else { return };
    let base = site().await;
    let b = Browser::start(config(bin)).await.unwrap();
    let pid = b.pid().await.expect("a launched browser has a pid");

    // Navigate, wait for the load, read the page as text.
    let url = b.navigate(&format!("{base}/")).await.unwrap();
    assert_eq!(url, format!("{base}/"));
    let (_, title) = b.location().await.unwrap();
    assert_eq!(title, "Home page");
    let text = b.text().await.unwrap();
    assert!(text.contains("Hello from tron") && text.contains("A page served by the test."), "{text}");

    // Query the DOM.
    let items = b.query("li.item").await.unwrap();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(items[0]["tag"], "li");
    assert_eq!(b.element_text("#intro").await.unwrap(), "A page served by the test.");
    assert_eq!(b.attribute("#next", "href").await.unwrap().as_deref(), Some("/second"));
    assert_eq!(b.attribute("#next", "nope").await.unwrap(), None);
    assert_eq!(b.element_text("li:has-text(\"two\")").await.unwrap(), "two");

    // Click a button that changes the DOM (real mouse events), twice.
    b.click("#go").await.unwrap();
    assert_eq!(b.element_text("#out").await.unwrap(), "clicked 1");
    b.click("button:contains('Press me')").await.unwrap();
    assert_eq!(b.element_text("#out").await.unwrap(), "clicked 2");

    // Type into an input key by key: keyboard and input events fire.
    b.type_text("#name", "Ada").await.unwrap();
    assert_eq!(b.evaluate("document.getElementById('name').value").await.unwrap(), "Ada");
    assert_eq!(b.element_text("#echo").await.unwrap(), "typed: Ada");
    assert_eq!(b.evaluate("window.keys").await.unwrap(), 3);
    b.press_key("Backspace").await.unwrap();
    assert_eq!(b.element_text("#echo").await.unwrap(), "typed: Ad");
    b.fill("#name", "Grace").await.unwrap();
    assert_eq!(b.element_text("#echo").await.unwrap(), "typed: Grace");
    b.select("#color", &["g".into()]).await.unwrap();
    assert_eq!(b.evaluate("document.getElementById('color').value").await.unwrap(), "g");

    // A snapshot numbers the elements; a reference works as a selector.
    let snap = b.evaluate(tron_snapshot()).await.unwrap();
    let button =
        snap["elements"].as_array().unwrap().iter().find(|e| e["name"] == "Press me").unwrap().clone();
    assert_eq!(button["role"], "button");
    b.click(button["ref"].as_str().unwrap()).await.unwrap();
    assert_eq!(b.element_text("#out").await.unwrap(), "clicked 3");

    // A screenshot is a PNG of the 1280x800 viewport.
    let png = b.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 800));
    let pdf = b.pdf().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    // Follow a link, go back and forward.
    b.click("#next").await.unwrap();
    b.wait_for("p:has-text('second page')", std::time::Duration::from_secs(20)).await.unwrap();
    assert_eq!(b.location().await.unwrap().1, "Second page");
    assert_eq!(b.history(-1).await.unwrap(), format!("{base}/"));
    assert_eq!(b.location().await.unwrap().1, "Home page");
    assert_eq!(b.history(1).await.unwrap(), format!("{base}/second"));
    b.reload().await.unwrap();
    assert!(b.text().await.unwrap().contains("second page"));

    // Two tabs: each keeps its page; operations act on the active one.
    let first = b.tabs().await.unwrap()[0].id.clone();
    let second = b.new_tab(Some(&format!("{base}/third"))).await.unwrap();
    let tabs = b.tabs().await.unwrap();
    assert_eq!(tabs.len(), 2);
    assert_eq!(
        (tabs[1].id.as_str(), tabs[1].title.as_str(), tabs[1].active),
        (second.as_str(), "Third", true)
    );
    assert_eq!((tabs[0].title.as_str(), tabs[0].active), ("Second page", false));
    assert!(b.text().await.unwrap().contains("Third page"));
    b.switch_tab(&first).await.unwrap();
    assert!(b.text().await.unwrap().contains("second page"));
    b.close_tab(&second).await.unwrap();
    assert_eq!(b.tabs().await.unwrap().len(), 1);

    // Bad input: clear errors, and the browser still works after each.
    let e = b.click("#does-not-exist").await.unwrap_err();
    assert!(matches!(e, BrowserError::NoElement(_)), "{e}");
    assert_eq!(e.to_string(), "no element matches the selector #does-not-exist");
    let e = b.query("li[[").await.unwrap_err();
    assert!(e.to_string().starts_with("invalid selector \"li[[\""), "{e}");
    let e = b.switch_tab("nope").await.unwrap_err();
    assert!(e.to_string().starts_with("no tab \"nope\""), "{e}");
    let e = b.close_tab(&first).await.unwrap_err();
    assert_eq!(e.to_string(), "cannot close the last tab; close the browser instead");
    let e = b.press_key("NoSuchKey").await.unwrap_err();
    assert!(e.to_string().starts_with("unknown key \"NoSuchKey\""), "{e}");
    // A port nobody listens on (the site's port + nothing: bind and drop one).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = b.navigate(&format!("http://{dead}/")).await.unwrap_err();
    assert!(e.to_string().contains("net::ERR_CONNECTION_REFUSED"), "{e}");
    assert!(b.text().await.unwrap().contains("second page") || b.navigate(&base).await.is_ok());
    assert_eq!(b.restarts(), 0);

    // Close: the browser and every process it started are gone, and reaped.
    b.close().await;
    assert!(!exists(pid), "the browser {pid} is still there (or a zombie)");
    assert_eq!(group_members(pid), Vec::<u32>::new(), "processes of the browser's group are left");
    let e = b.text().await.unwrap_err();
    assert_eq!(e.to_string(), "the browser was closed; start a new one");
}

fn tron_snapshot() -> &'static str {
    // The same script the BrowseTheWeb `snapshot` action runs.
    tron::platform::browser::actions::SNAPSHOT_SCRIPT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_is_started_again_and_never_left_as_a_zombie() {
    let Some(bin) = chromium() else { return };
    let base = site().await;
    let b = Browser::start(config(bin)).await.unwrap();
    b.navigate(&format!("{base}/second")).await.unwrap();
    let first = b.pid().await.unwrap();
    let frames = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    // Kill the browser process under it (as a crash would).
    let killed = std::process::Command::new("kill").args(["-KILL", &first.to_string()]).status().unwrap();
    assert!(killed.success());
    wait_dead(first).await;

    // The next call starts a new browser, back at the page it was on.
    let text = b.text().await.unwrap();
    assert!(text.contains("second page"), "{text}");
    assert_eq!(b.restarts(), 1);
    let second = b.pid().await.unwrap();
    assert_ne!(first, second);
    assert!(!exists(first), "the crashed browser {first} was not reaped");
    assert_eq!(group_members(first), Vec::<u32>::new(), "processes of the crashed browser are left");
    b.navigate(&format!("{base}/")).await.unwrap();
    assert_eq!(b.location().await.unwrap().1, "Home page");

    // A screencast survives a restart too.
    let count = frames.clone();
    b.start_screencast(
        Default::default(),
        Arc::new(move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }),
    )
    .await
    .unwrap();
    std::process::Command::new("kill").args(["-KILL", &second.to_string()]).status().unwrap();
    wait_dead(second).await;
    b.navigate(&format!("{base}/third")).await.unwrap();
    assert!(b.is_streaming().await);
    assert_eq!(b.restarts(), 2);
    let third = b.pid().await.unwrap();
    assert!(!exists(second));

    b.close().await;
    assert!(!exists(third));
    assert_eq!(group_members(third), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_browser_names_the_package_to_install() {
    let e = Browser::start(BrowserConfig {
        executable: Some("/nonexistent/chromium".into()),
        ..BrowserConfig::default()
    })
    .await
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("install the Debian package `chromium`") && msg.contains("/nonexistent/chromium"),
        "{msg}"
    );
    // Attaching to a port where no browser listens fails with the URL in the message.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("ws://{dead}/devtools/browser/x");
    let e = Browser::start(BrowserConfig { attach: Some(url.clone()), ..BrowserConfig::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&url), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_to_a_running_browser_leaves_it_running() {
    let Some(bin) = chromium() else { return };
    let base = site().await;
    let running = tokio::task::spawn_blocking(move || {
        launch::BrowserProcess::spawn(&bin, std::time::Duration::from_secs(30)).unwrap()
    })
    .await
    .unwrap();
    let b =
        Browser::start(BrowserConfig { attach: Some(running.ws_url.clone()), ..BrowserConfig::default() })
            .await
            .unwrap();
    assert_eq!(b.pid().await, None);
    b.navigate(&format!("{base}/second")).await.unwrap();
    assert!(b.text().await.unwrap().contains("second page"));
    b.close().await;
    assert!(exists(running.pid()), "closing an attached browser must not end it");
    let pid = running.pid();
    drop(running);
    assert!(!exists(pid));
}

/// The `tool.result` payloads of `session`: (tool call id, text, isError, details).
fn tool_results(server: &common::Server, session: &str) -> Vec<(String, String, bool, Value)> {
    server
        .persisted(session)
        .into_iter()
        .filter(|e| e["type"] == "tool.result")
        .map(|e| {
            let p = &e["payload"];
            let text = match &p["content"] {
                Value::String(s) => s.clone(),
                Value::Array(blocks) => {
                    blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
                }
                other => other.to_string(),
            };
            (p["toolCallId"].as_str().unwrap().to_owned(), text, p["isError"] == true, p["details"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_browses_and_clients_get_frames_until_they_stop_the_stream() {
    if chromium().is_none() {
        return;
    }
    let base = site().await;
    let browse = |id: &str, args: Value| ScriptedResponse::tool_call(id, "BrowseTheWeb", args);
    let script = Script::new([
        browse("t_nav", json!({"action": "navigate", "url": format!("{base}/")})),
        browse("t_text", json!({"action": "getText", "selector": "#intro"})),
        browse("t_missing", json!({"action": "click", "selector": "#nope"})),
        browse("t_shot", json!({"action": "screenshot"})),
        browse("t_bad", json!({"action": "fly"})),
        ScriptedResponse::text("Browsed."),
        browse("t_second", json!({"action": "navigate", "url": format!("{base}/second")})),
        ScriptedResponse::text("Again."),
        browse("t_third", json!({"action": "navigate", "url": format!("{base}/third")})),
        ScriptedResponse::text("Once more."),
        browse("t_close", json!({"action": "close"})),
        ScriptedResponse::text("Closed."),
    ]);
    let server = common::start(script).await;
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let sid = json!({"sessionId": session});

    // No browser yet; bad params are refused and start nothing.
    assert_eq!(
        c.call("browser.getStatus", sid.clone()).await,
        json!({"hasBrowser": false, "isStreaming": false})
    );
    let e = c.fail("browser.startStream", json!({})).await;
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("INVALID_PARAMS"), Some("sessionId is required"))
    );
    let e = c.fail("browser.startStream", json!({"sessionId": session, "format": "gif"})).await;
    assert_eq!(e["message"], "format must be \"jpeg\" or \"png\", not \"gif\"");
    let e = c.fail("browser.startStream", json!({"sessionId": session, "quality": 101})).await;
    assert_eq!(e["message"], "quality must be between 0 and 100, not 101");
    let e = c.fail("browser.startStream", json!({"sessionId": session, "everyNthFrame": "often"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert_eq!(c.fail("browser.getStatus", json!({})).await["message"], "sessionId is required");
    assert_eq!(
        c.fail("browser.stopStream", json!({"sessionId": 7})).await["message"],
        "sessionId must be a string"
    );
    assert_eq!(c.call("browser.getStatus", sid.clone()).await["hasBrowser"], false);
    // Stopping a stream that never started is fine (as in the TypeScript server).
    assert_eq!(c.call("browser.stopStream", sid.clone()).await, json!({"success": true}));

    // The model browses: the session's browser starts and streams on its own.
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "look at the page"})).await;
    assert_eq!(c.until("agent.complete").await["data"]["success"], true);
    let results = tool_results(&server, &session);
    let by_id =
        |id: &str| results.iter().find(|r| r.0 == id).unwrap_or_else(|| panic!("no result {id}")).clone();
    assert_eq!(by_id("t_nav").1, format!("Navigated to: {base}/"));
    assert_eq!(by_id("t_text").1, "Text content: A page served by the test.");
    let missing = by_id("t_missing");
    assert_eq!(
        (missing.1.as_str(), missing.2),
        ("Browser action failed: no element matches the selector #nope", true)
    );
    let shot = by_id("t_shot");
    assert!(shot.1.starts_with("Screenshot captured (base64): iVBORw0KGgo"), "{}", shot.1);
    assert!(shot.1.ends_with("...") && !shot.2);
    // The whole PNG goes to clients in the tool's details (not into the event log).
    let end = c
        .events
        .iter()
        .find(|e| e["type"] == "agent.tool_end" && e["data"]["toolCallId"] == "t_shot")
        .unwrap();
    assert_eq!(end["data"]["details"]["format"], "png");
    assert!(end["data"]["details"]["screenshot"].as_str().unwrap().starts_with("iVBORw0KGgo"));
    assert_eq!(by_id("t_bad").1, "Browser action failed: Unknown action: fly");
    let status = c.call("browser.getStatus", sid.clone()).await;
    assert_eq!(status, json!({"hasBrowser": true, "isStreaming": true, "currentUrl": format!("{base}/")}));
    // The model was offered both tools.
    let offered = &server.mock.requests()[0].body["tools"];
    let names: Vec<&str> = offered.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"BrowseTheWeb") && names.contains(&"OpenURL"), "{names:?}");

    // A client asks for every frame: browser.frame events with the TypeScript data.
    let started =
        c.call("browser.startStream", json!({"sessionId": session, "everyNthFrame": 1, "quality": 50})).await;
    assert_eq!(started, json!({"success": true}));
    let frame = c.until("browser.frame").await;
    assert_eq!(frame["sessionId"], session.as_str());
    let data = &frame["data"];
    assert_eq!(data["sessionId"], session.as_str());
    assert!(data["data"].as_str().unwrap().starts_with("/9j/"), "a base64 JPEG");
    assert!(data["frameId"].is_i64(), "{}", data["frameId"]);
    assert!(data["timestamp"].as_f64().unwrap() > 1.6e12, "milliseconds: {}", data["timestamp"]);
    assert_eq!(data["metadata"]["deviceWidth"], 1280.0);
    assert_eq!(data["metadata"]["deviceHeight"], 800.0);

    // Stop: no frame follows, even when the page changes.
    assert_eq!(c.call("browser.stopStream", sid.clone()).await, json!({"success": true}));
    assert_eq!(c.call("browser.getStatus", sid.clone()).await["isStreaming"], false);
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "next page"})).await;
    c.events.clear();
    c.until("agent.complete").await;
    // Frames sent before the stop were all delivered before this run's own events.
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "third page"})).await;
    c.until("agent.complete").await;
    assert!(!c.types().contains(&"browser.frame"), "frames after stopStream: {:?}", c.types());
    assert_eq!(tool_results(&server, &session).last().unwrap().1, format!("Navigated to: {base}/third"));

    // The model closes its browser: clients hear browser.closed.
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "close it"})).await;
    c.until("agent.complete").await;
    assert_eq!(tool_results(&server, &session).last().unwrap().1, "Browser session closed");
    let closed = c.until("browser.closed").await;
    assert_eq!(closed["sessionId"], session.as_str());
    assert_eq!(c.call("browser.getStatus", sid).await, json!({"hasBrowser": false, "isStreaming": false}));
    server.shutdown().await;
}

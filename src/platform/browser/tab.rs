//! The CDP plumbing under [`super::Browser`]: launching or attaching and opening the
//! first tab, attaching to page targets (flattened sessions), script evaluation, load
//! waits and the screencast task.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::cdp::Cdp;
use super::launch::BrowserProcess;
use super::page::{ScreencastFrame, ScreencastOptions};
use super::{BrowserConfig, BrowserError, Result, VIEWPORT};

pub(super) type FrameFn = Arc<dyn Fn(ScreencastFrame) + Send + Sync>;

pub(super) struct Screencast {
    pub(super) options: ScreencastOptions,
    pub(super) sink: FrameFn,
    pub(super) task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
pub(super) struct Tab {
    pub(super) target_id: String,
    pub(super) session_id: String,
    pub(super) url: String,
}

pub(super) struct Inner {
    pub(super) process: Option<BrowserProcess>,
    pub(super) cdp: Arc<Cdp>,
    pub(super) tabs: Vec<Tab>,
    pub(super) active: usize,
    pub(super) screencast: Option<Screencast>,
    pub(super) closed: bool,
}

pub(super) fn decode(v: &Value, method: &str) -> Result<Vec<u8>> {
    let data = v["data"].as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| BrowserError::Protocol {
        method: method.into(),
        message: format!("the browser sent data that is not base64: {e}"),
    })
}

/// Launches (or attaches to) the browser and opens its first tab.
pub(super) async fn connect(config: &BrowserConfig, binary: Option<&PathBuf>) -> Result<Inner> {
    let (process, url) = match (binary, &config.attach) {
        (Some(bin), _) => {
            let (bin, timeout) = (bin.clone(), config.timeout);
            let p = tokio::task::spawn_blocking(move || BrowserProcess::spawn(&bin, timeout))
                .await
                .map_err(|e| BrowserError::Connection(e.to_string()))??;
            let url = p.ws_url.clone();
            (Some(p), url)
        }
        (None, Some(url)) => (None, url.clone()),
        (None, None) => return Err(BrowserError::Invalid("no browser to launch or attach to".into())),
    };
    let cdp = Arc::new(Cdp::connect(&url, config.timeout).await?);
    // A launched browser starts with one blank page; use it. An attached one gets its own.
    let first = match &process {
        Some(_) => {
            let targets = cdp.call("Target.getTargets", json!({}), None).await?;
            targets["targetInfos"]
                .as_array()
                .and_then(|t| t.iter().find(|x| x["type"] == "page"))
                .and_then(|x| x["targetId"].as_str())
                .map(str::to_owned)
        }
        None => None,
    };
    let tab = match first {
        Some(id) => attach(&cdp, &id, "about:blank").await?,
        None => open_tab(&cdp, "about:blank").await?,
    };
    Ok(Inner { process, cdp, tabs: vec![tab], active: 0, screencast: None, closed: false })
}

pub(super) async fn open_tab(cdp: &Cdp, url: &str) -> Result<Tab> {
    let created = cdp.call("Target.createTarget", json!({ "url": url }), None).await?;
    let id = created["targetId"].as_str().unwrap_or_default().to_owned();
    attach(cdp, &id, url).await
}

async fn attach(cdp: &Cdp, target_id: &str, url: &str) -> Result<Tab> {
    let a =
        cdp.call("Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }), None).await?;
    let session_id = a["sessionId"].as_str().unwrap_or_default().to_owned();
    let s = Some(session_id.as_str());
    cdp.call("Page.enable", json!({}), s).await?;
    cdp.call("Page.setLifecycleEventsEnabled", json!({ "enabled": true }), s).await?;
    let (w, h) = VIEWPORT;
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": w, "height": h, "deviceScaleFactor": 1, "mobile": false }),
        s,
    )
    .await?;
    Ok(Tab { target_id: target_id.to_owned(), session_id, url: url.to_owned() })
}

pub(super) async fn eval(cdp: &Cdp, tab: &Tab, expression: &str) -> Result<Value> {
    let v = cdp
        .call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            Some(&tab.session_id),
        )
        .await?;
    if let Some(ex) = v.get("exceptionDetails") {
        let msg = ex["exception"]["description"].as_str().or(ex["text"].as_str()).unwrap_or("exception");
        return Err(BrowserError::Script(msg.lines().next().unwrap_or(msg).to_owned()));
    }
    Ok(v["result"]["value"].clone())
}

/// Navigates `tab` to `url` and waits for the new document's `load`.
pub(super) async fn goto(cdp: &Cdp, tab: &Tab, url: &str, timeout: Duration) -> Result<()> {
    let mut events = cdp.subscribe();
    let nav = cdp.call("Page.navigate", json!({ "url": url }), Some(&tab.session_id)).await?;
    if let Some(err) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
        return Err(BrowserError::Navigation { url: url.to_owned(), reason: err.to_owned() });
    }
    // No loader: a same-document navigation (a #fragment), already done.
    let Some(loader) = nav["loaderId"].as_str().map(str::to_owned) else { return Ok(()) };
    let deadline = Instant::now() + timeout;
    wait_event(cdp, &mut events, deadline, &format!("loading {url}"), |e| {
        e.method == "Page.lifecycleEvent"
            && e.session_id.as_deref() == Some(tab.session_id.as_str())
            && e.params["name"] == "load"
            && e.params["loaderId"] == loader.as_str()
    })
    .await
}

/// Waits for an event matching `want`; fails when the browser goes away or at `deadline`.
pub(super) async fn wait_event(
    cdp: &Cdp,
    events: &mut tokio::sync::broadcast::Receiver<Arc<super::cdp::CdpEvent>>,
    deadline: Instant,
    what: &str,
    want: impl Fn(&super::cdp::CdpEvent) -> bool,
) -> Result<()> {
    use tokio::sync::broadcast::error::RecvError;
    let start = Instant::now();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BrowserError::Timeout(what.to_owned(), (deadline - start).as_millis()));
        }
        match tokio::time::timeout(left.min(Duration::from_millis(250)), events.recv()).await {
            Ok(Ok(e)) if want(&e) => return Ok(()),
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) => {
                return Err(BrowserError::Connection("the browser went away".into()))
            }
            Err(_) if cdp.is_closed() => {
                return Err(BrowserError::Connection(format!("the browser went away while {what}")))
            }
            Err(_) => {}
        }
    }
}

/// Waits until the document is complete (and at `url`, when given).
pub(super) async fn wait_ready(cdp: &Cdp, tab: &Tab, url: Option<&str>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let v = eval(cdp, tab, "({ state: document.readyState, url: location.href })").await;
        if let Ok(v) = v {
            if v["state"] == "complete" && url.is_none_or(|u| v["url"] == u) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(BrowserError::Timeout("waiting for the page to load".into(), timeout.as_millis()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Restarts a running screencast on the (new) active tab.
pub(super) async fn recast(inner: &mut Inner) -> Result<()> {
    if let Some(sc) = inner.screencast.take() {
        sc.task.abort();
        start_cast(inner, sc.options, sc.sink).await?;
    }
    Ok(())
}

pub(super) async fn start_cast(inner: &mut Inner, options: ScreencastOptions, sink: FrameFn) -> Result<()> {
    if let Some(sc) = inner.screencast.take() {
        sc.task.abort();
        let tab = &inner.tabs[inner.active];
        let _ = inner.cdp.call("Page.stopScreencast", json!({}), Some(&tab.session_id)).await;
    }
    let tab = inner.tabs[inner.active].clone();
    let cdp = Arc::clone(&inner.cdp);
    let mut events = cdp.subscribe();
    let (frames, session) = (Arc::clone(&sink), tab.session_id.clone());
    let task = tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(e) if e.method == "Page.screencastFrame" && e.session_id.as_deref() == Some(&session) => {
                    let n = e.params["sessionId"].as_i64().unwrap_or(0);
                    let _ =
                        cdp.call("Page.screencastFrameAck", json!({ "sessionId": n }), Some(&session)).await;
                    frames(ScreencastFrame {
                        data: e.params["data"].as_str().unwrap_or_default().to_owned(),
                        frame_number: n,
                        metadata: e.params["metadata"].clone(),
                    });
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    let params = json!({
        "format": options.format,
        "quality": options.quality,
        "maxWidth": options.max_width,
        "maxHeight": options.max_height,
        "everyNthFrame": options.every_nth_frame,
    });
    if let Err(e) = inner.cdp.call("Page.startScreencast", params, Some(&tab.session_id)).await {
        task.abort();
        return Err(e);
    }
    inner.screencast = Some(Screencast { options, sink, task });
    Ok(())
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(sc) = self.screencast.take() {
            sc.task.abort();
        }
    }
}

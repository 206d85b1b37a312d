//! [`Browser`]: one browser (launched or attached) with its tabs, and every page operation.
//!
//! Every operation first makes sure the browser is alive: a browser whose process exited or
//! whose connection closed is killed for good (process group, reaped) and launched again,
//! with its tabs reopened at their last URLs and its screencast restarted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::launch::{self, BrowserProcess};
use super::tab::{connect, decode, eval, goto, open_tab, recast, start_cast, wait_event, wait_ready, Inner};
use super::{dom, BrowserConfig, BrowserError, Result, VIEWPORT};

/// A tab as [`Browser::tabs`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct TabInfo {
    /// The tab's target id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Whether operations act on it.
    pub active: bool,
}

/// Screencast settings (CDP `Page.startScreencast`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreencastOptions {
    /// `jpeg` or `png`.
    pub format: String,
    /// JPEG quality 0-100.
    pub quality: u32,
    /// Largest frame width.
    pub max_width: u32,
    /// Largest frame height.
    pub max_height: u32,
    /// Send every n-th frame.
    pub every_nth_frame: u32,
}

impl Default for ScreencastOptions {
    /// The TypeScript server's defaults: JPEG, quality 60, the viewport size, every frame.
    fn default() -> Self {
        Self {
            format: "jpeg".into(),
            quality: 60,
            max_width: VIEWPORT.0,
            max_height: VIEWPORT.1,
            every_nth_frame: 1,
        }
    }
}

/// One screencast frame.
#[derive(Debug, Clone)]
pub struct ScreencastFrame {
    /// The image, base64.
    pub data: String,
    /// CDP's frame number (`sessionId` of `Page.screencastFrame`).
    pub frame_number: i64,
    /// CDP's frame metadata (`offsetTop`, `pageScaleFactor`, `deviceWidth`, ...,
    /// `timestamp` in seconds).
    pub metadata: Value,
}

/// A headless browser (see the module doc). Operations act on the active tab, one at a
/// time.
pub struct Browser {
    config: BrowserConfig,
    binary: Option<PathBuf>,
    inner: tokio::sync::Mutex<Inner>,
    restarts: AtomicU32,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Browser {
    /// Launches a browser (or attaches, when `config.attach` is set) with one blank tab.
    pub async fn start(config: BrowserConfig) -> Result<Self> {
        let binary = match &config.attach {
            Some(_) => None,
            None => {
                let path_var = std::env::var("PATH").ok();
                Some(launch::locate(config.executable.as_deref(), path_var.as_deref())?)
            }
        };
        let inner = connect(&config, binary.as_ref()).await?;
        Ok(Self { config, binary, inner: tokio::sync::Mutex::new(inner), restarts: AtomicU32::new(0) })
    }

    /// The launched browser's process id (`None` when attached or closed).
    pub async fn pid(&self) -> Option<u32> {
        self.inner.lock().await.process.as_ref().map(BrowserProcess::pid)
    }

    /// How many times the browser was relaunched after a crash.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Whether the browser died (crashed, killed, lost its connection) since the last call.
    pub async fn is_dead(&self) -> bool {
        let mut inner = self.inner.lock().await;
        !inner.closed && (inner.cdp.is_closed() || inner.process.as_mut().is_some_and(BrowserProcess::exited))
    }

    /// The live browser, relaunched first if it died.
    async fn alive(&self) -> Result<tokio::sync::MutexGuard<'_, Inner>> {
        let mut inner = self.inner.lock().await;
        if inner.closed {
            return Err(BrowserError::Invalid("the browser was closed; start a new one".into()));
        }
        let dead = inner.cdp.is_closed() || inner.process.as_mut().is_some_and(BrowserProcess::exited);
        if dead {
            tracing::warn!("the browser died; starting it again");
            if let Some(mut p) = inner.process.take() {
                tokio::task::spawn_blocking(move || p.kill()).await.ok();
            }
            if let Some(sc) = &inner.screencast {
                sc.task.abort();
            }
            // The old tabs stay known until the new browser is up (a failed start is retried
            // by the next call with the same tabs).
            let old_tabs = inner.tabs.clone();
            let mut fresh = connect(&self.config, self.binary.as_ref()).await?;
            // Reopen the other tabs at their last URLs (the first tab is the fresh blank one).
            for (i, tab) in old_tabs.iter().enumerate() {
                if i > 0 {
                    let t = open_tab(&fresh.cdp, "about:blank").await?;
                    fresh.tabs.push(t);
                }
                if tab.url != "about:blank" && !tab.url.is_empty() {
                    let t = fresh.tabs[i].clone();
                    let _ = goto(&fresh.cdp, &t, &tab.url, self.config.timeout).await;
                    fresh.tabs[i].url = tab.url.clone();
                }
            }
            fresh.active = inner.active.min(fresh.tabs.len() - 1);
            let screencast = inner.screencast.take();
            *inner = fresh;
            if let Some(sc) = screencast {
                start_cast(&mut inner, sc.options, sc.sink).await?;
            }
            self.restarts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(inner)
    }

    /// Goes to `url` and waits for its `load` event; the final URL.
    pub async fn navigate(&self, url: &str) -> Result<String> {
        let mut inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        goto(&inner.cdp, &tab, url, self.config.timeout).await?;
        let href = eval(&inner.cdp, &tab, "location.href").await?;
        let href = href.as_str().unwrap_or(url).to_owned();
        let active = inner.active;
        inner.tabs[active].url = href.clone();
        Ok(href)
    }

    /// Back (`-1`) or forward (`1`) in the tab's history; waits for the page to load.
    pub async fn history(&self, delta: i64) -> Result<String> {
        let mut inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let h = inner.cdp.call("Page.getNavigationHistory", json!({}), Some(&tab.session_id)).await?;
        let index = h["currentIndex"].as_i64().unwrap_or(0) + delta;
        let entries = h["entries"].as_array().cloned().unwrap_or_default();
        let Some(entry) = usize::try_from(index).ok().and_then(|i| entries.get(i)) else {
            let way = if delta < 0 { "back" } else { "forward" };
            return Err(BrowserError::Invalid(format!(
                "there is no page to go {way} to in this tab's history"
            )));
        };
        let target = entry["url"].as_str().unwrap_or_default().to_owned();
        inner
            .cdp
            .call("Page.navigateToHistoryEntry", json!({ "entryId": entry["id"] }), Some(&tab.session_id))
            .await?;
        wait_ready(&inner.cdp, &tab, Some(&target), self.config.timeout).await?;
        let active = inner.active;
        inner.tabs[active].url = target.clone();
        Ok(target)
    }

    /// Reloads the page and waits for it to load.
    pub async fn reload(&self) -> Result<()> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let mut events = inner.cdp.subscribe();
        inner.cdp.call("Page.reload", json!({}), Some(&tab.session_id)).await?;
        let deadline = Instant::now() + self.config.timeout;
        wait_event(&inner.cdp, &mut events, deadline, "reload", |e| {
            e.method == "Page.loadEventFired" && e.session_id.as_deref() == Some(tab.session_id.as_str())
        })
        .await
    }

    /// The value of a script expression (awaited when it is a promise), as JSON.
    pub async fn evaluate(&self, expression: &str) -> Result<Value> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        eval(&inner.cdp, &tab, expression).await
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> Result<String> {
        let v = self.evaluate("document.body ? document.body.innerText : ''").await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's URL and title.
    pub async fn location(&self) -> Result<(String, String)> {
        let v = self.evaluate("({ url: location.href, title: document.title })").await?;
        Ok((v["url"].as_str().unwrap_or_default().into(), v["title"].as_str().unwrap_or_default().into()))
    }

    /// Every element matching a CSS selector: `{tag, text, id, attributes}` each.
    pub async fn query(&self, selector: &str) -> Result<Vec<Value>> {
        let script = format!(
            "[...document.querySelectorAll({})].map(e => ({{ tag: e.tagName.toLowerCase(), id: e.id, \
             text: (e.innerText || e.textContent || '').trim(), \
             attributes: Object.fromEntries([...e.attributes].map(a => [a.name, a.value])) }}))",
            json!(selector)
        );
        let v = self.evaluate(&script).await.map_err(|e| bad_selector(selector, e))?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Runs `body` (see [`dom::on_element`]) on the element `selector` names.
    async fn on_element(&self, selector: &str, body: &str) -> Result<Value> {
        let v =
            self.evaluate(&dom::on_element(selector, body)).await.map_err(|e| bad_selector(selector, e))?;
        if v.get("missing").and_then(Value::as_bool) == Some(true) {
            return Err(BrowserError::NoElement(selector.to_owned()));
        }
        Ok(v)
    }

    /// The text of the element `selector` names.
    pub async fn element_text(&self, selector: &str) -> Result<String> {
        let v = self.on_element(selector, "return { text: el.innerText ?? el.textContent ?? '' };").await?;
        Ok(v["text"].as_str().unwrap_or_default().to_owned())
    }

    /// An attribute of the element `selector` names (`None` when it has none).
    pub async fn attribute(&self, selector: &str, name: &str) -> Result<Option<String>> {
        let body = format!("return {{ value: el.getAttribute({}) }};", json!(name));
        let v = self.on_element(selector, &body).await?;
        Ok(v["value"].as_str().map(str::to_owned))
    }

    /// Waits (at most `timeout`) until an element matches `selector`.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = match self.evaluate(&format!("!!({})", dom::find(selector))).await {
                Ok(found) => found,
                // The page is between two documents (a click that navigates): not there yet.
                Err(BrowserError::Protocol { ref message, .. }) if navigating(message) => Value::Bool(false),
                Err(e) => return Err(bad_selector(selector, e)),
            };
            if found.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout(format!("waiting for {selector}"), timeout.as_millis()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Moves the mouse to the element `selector` names (scrolled into view): its centre.
    async fn point_at(&self, selector: &str) -> Result<(f64, f64)> {
        let v = self.on_element(selector, dom::CENTER).await?;
        let (x, y) = (v["x"].as_f64().unwrap_or(0.0), v["y"].as_f64().unwrap_or(0.0));
        if v["w"].as_f64() == Some(0.0) && v["h"].as_f64() == Some(0.0) {
            return Err(BrowserError::Invalid(format!("the element {selector} is not visible")));
        }
        self.mouse("mouseMoved", x, y).await?;
        Ok((x, y))
    }

    async fn mouse(&self, kind: &str, x: f64, y: f64) -> Result<()> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let mut p = json!({ "type": kind, "x": x, "y": y });
        if kind != "mouseMoved" {
            p["button"] = json!("left");
            p["clickCount"] = json!(1);
        }
        inner.cdp.call("Input.dispatchMouseEvent", p, Some(&tab.session_id)).await?;
        Ok(())
    }

    /// Clicks the element `selector` names with real mouse events at its centre.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let (x, y) = self.point_at(selector).await?;
        self.mouse("mousePressed", x, y).await?;
        self.mouse("mouseReleased", x, y).await
    }

    /// Moves the mouse over the element `selector` names.
    pub async fn hover(&self, selector: &str) -> Result<()> {
        self.point_at(selector).await.map(|_| ())
    }

    async fn key_event(&self, fields: &Value) -> Result<()> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let mut down = fields.clone();
        down["type"] = json!(if fields["text"].as_str().is_some_and(|t| !t.is_empty()) {
            "keyDown"
        } else {
            "rawKeyDown"
        });
        inner.cdp.call("Input.dispatchKeyEvent", down, Some(&tab.session_id)).await?;
        let mut up = fields.clone();
        up["type"] = json!("keyUp");
        if let Some(o) = up.as_object_mut() {
            o.remove("text");
            o.remove("unmodifiedText");
        }
        inner.cdp.call("Input.dispatchKeyEvent", up, Some(&tab.session_id)).await?;
        Ok(())
    }

    /// Focuses the element `selector` names and types `text` key by key (every key fires
    /// its keyboard and input events).
    pub async fn type_text(&self, selector: &str, text: &str) -> Result<()> {
        self.on_element(selector, "el.focus(); return {};").await?;
        for c in text.chars() {
            self.key_event(&dom::char_key(c)).await?;
        }
        Ok(())
    }

    /// Replaces the value of the input `selector` names with `value`.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<()> {
        self.on_element(
            selector,
            "el.focus(); if ('value' in el) { el.value = ''; } else { el.textContent = ''; } \
             el.dispatchEvent(new Event('input', {bubbles: true})); return {};",
        )
        .await?;
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        inner.cdp.call("Input.insertText", json!({ "text": value }), Some(&tab.session_id)).await?;
        drop(inner);
        self.on_element(selector, "el.dispatchEvent(new Event('change', {bubbles: true})); return {};")
            .await?;
        Ok(())
    }

    /// Selects the options with these values (or labels) in the `<select>` `selector` names.
    pub async fn select(&self, selector: &str, values: &[String]) -> Result<()> {
        let body = format!(
            "if (el.tagName !== 'SELECT') return {{ error: 'not a <select> element' }}; \
             const want = {}; let hit = 0; \
             for (const o of el.options) {{ o.selected = want.includes(o.value) || want.includes(o.label); if (o.selected) hit++; }} \
             el.dispatchEvent(new Event('input', {{bubbles: true}})); el.dispatchEvent(new Event('change', {{bubbles: true}})); \
             return {{ hit }};",
            json!(values)
        );
        let v = self.on_element(selector, &body).await?;
        if let Some(e) = v["error"].as_str() {
            return Err(BrowserError::Invalid(format!("{selector} is {e}")));
        }
        if v["hit"].as_u64() == Some(0) {
            return Err(BrowserError::Invalid(format!("{selector} has no option {}", values.join(", "))));
        }
        Ok(())
    }

    /// Presses a key (`Enter`, `Tab`, `Escape`, `ArrowDown`, a single character, ...).
    pub async fn press_key(&self, key: &str) -> Result<()> {
        let fields = dom::key(key).ok_or_else(|| {
            BrowserError::Invalid(format!(
                "unknown key {key:?}; use a single character or one of Enter, Tab, Escape, Backspace, Delete, \
                 ArrowUp, ArrowDown, ArrowLeft, ArrowRight, Home, End, PageUp, PageDown, Space"
            ))
        })?;
        self.key_event(&fields).await
    }

    /// Scrolls the page (or the element `selector` names) by (`dx`, `dy`) pixels.
    pub async fn scroll(&self, dx: f64, dy: f64, selector: Option<&str>) -> Result<()> {
        match selector {
            Some(sel) => {
                self.on_element(sel, &format!("el.scrollBy({dx}, {dy}); return {{}};")).await.map(|_| ())
            }
            None => self.evaluate(&format!("window.scrollBy({dx}, {dy})")).await.map(|_| ()),
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let v = inner
            .cdp
            .call("Page.captureScreenshot", json!({ "format": "png" }), Some(&tab.session_id))
            .await?;
        decode(&v, "Page.captureScreenshot")
    }

    /// A PDF of the page.
    pub async fn pdf(&self) -> Result<Vec<u8>> {
        let inner = self.alive().await?;
        let tab = inner.tabs[inner.active].clone();
        let v = inner.cdp.call("Page.printToPDF", json!({}), Some(&tab.session_id)).await?;
        decode(&v, "Page.printToPDF")
    }

    /// The open tabs, in order.
    pub async fn tabs(&self) -> Result<Vec<TabInfo>> {
        let inner = self.alive().await?;
        let targets = inner.cdp.call("Target.getTargets", json!({}), None).await?;
        let infos = targets["targetInfos"].as_array().cloned().unwrap_or_default();
        Ok(inner
            .tabs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let info = infos.iter().find(|x| x["targetId"] == t.target_id.as_str());
                TabInfo {
                    id: t.target_id.clone(),
                    url: info.and_then(|x| x["url"].as_str()).unwrap_or(&t.url).to_owned(),
                    title: info.and_then(|x| x["title"].as_str()).unwrap_or_default().to_owned(),
                    active: i == inner.active,
                }
            })
            .collect())
    }

    /// Opens a tab (at `url`, waiting for it to load, when given) and makes it active; its id.
    pub async fn new_tab(&self, url: Option<&str>) -> Result<String> {
        let mut inner = self.alive().await?;
        let mut tab = open_tab(&inner.cdp, "about:blank").await?;
        if let Some(url) = url {
            goto(&inner.cdp, &tab, url, self.config.timeout).await?;
            tab.url = url.to_owned();
        }
        let id = tab.target_id.clone();
        inner.tabs.push(tab);
        inner.active = inner.tabs.len() - 1;
        recast(&mut inner).await?;
        Ok(id)
    }

    /// Makes the tab `id` active.
    pub async fn switch_tab(&self, id: &str) -> Result<()> {
        let mut inner = self.alive().await?;
        inner.active = tab_index(&inner, id)?;
        let tab = inner.tabs[inner.active].clone();
        inner.cdp.call("Target.activateTarget", json!({ "targetId": tab.target_id }), None).await?;
        recast(&mut inner).await
    }

    /// Closes the tab `id` (not the last one: close the browser instead).
    pub async fn close_tab(&self, id: &str) -> Result<()> {
        let mut inner = self.alive().await?;
        let i = tab_index(&inner, id)?;
        if inner.tabs.len() == 1 {
            return Err(BrowserError::Invalid("cannot close the last tab; close the browser instead".into()));
        }
        inner.cdp.call("Target.closeTarget", json!({ "targetId": id }), None).await?;
        inner.tabs.remove(i);
        if inner.active >= i && inner.active > 0 {
            inner.active -= 1;
        }
        recast(&mut inner).await
    }

    /// Streams the active tab's screencast frames to `sink` (replacing a running stream).
    pub async fn start_screencast(
        &self,
        options: ScreencastOptions,
        sink: Arc<dyn Fn(ScreencastFrame) + Send + Sync>,
    ) -> Result<()> {
        if !matches!(options.format.as_str(), "jpeg" | "png") {
            return Err(BrowserError::Invalid(format!(
                "format must be jpeg or png, not {:?}",
                options.format
            )));
        }
        let mut inner = self.alive().await?;
        start_cast(&mut inner, options, sink).await
    }

    /// Stops the screencast; whether one was running.
    pub async fn stop_screencast(&self) -> Result<bool> {
        let mut inner = self.alive().await?;
        let Some(sc) = inner.screencast.take() else { return Ok(false) };
        sc.task.abort();
        let tab = inner.tabs[inner.active].clone();
        inner.cdp.call("Page.stopScreencast", json!({}), Some(&tab.session_id)).await?;
        Ok(true)
    }

    /// Whether a screencast is running.
    pub async fn is_streaming(&self) -> bool {
        self.inner.lock().await.screencast.is_some()
    }

    /// The active tab's last known URL, without touching the browser.
    pub async fn current_url(&self) -> Option<String> {
        let inner = self.inner.lock().await;
        (!inner.closed).then(|| inner.tabs.get(inner.active).map(|t| t.url.clone())).flatten()
    }

    /// Closes the browser: a launched one is asked to quit, then its process group is
    /// killed and reaped and its profile removed; an attached one keeps running (only the
    /// tabs this browser opened are closed).
    pub async fn close(&self) {
        let mut inner = self.inner.lock().await;
        if std::mem::replace(&mut inner.closed, true) {
            return;
        }
        if let Some(sc) = inner.screencast.take() {
            sc.task.abort();
        }
        let quick = Duration::from_secs(2);
        match inner.process.take() {
            Some(mut p) => {
                let _ = inner.cdp.call_within("Browser.close", json!({}), None, quick).await;
                tokio::task::spawn_blocking(move || p.shutdown(Duration::from_secs(3))).await.ok();
            }
            None => {
                for t in &inner.tabs {
                    let _ = inner
                        .cdp
                        .call_within("Target.closeTarget", json!({ "targetId": t.target_id }), None, quick)
                        .await;
                }
            }
        }
    }
}

/// Whether a CDP error says the page's document went away under the call (a navigation).
fn navigating(message: &str) -> bool {
    ["Inspected target navigated or closed", "Execution context was destroyed", "Cannot find context"]
        .iter()
        .any(|m| message.contains(m))
}

fn bad_selector(selector: &str, e: BrowserError) -> BrowserError {
    match e {
        BrowserError::Script(m) if m.contains("SyntaxError") || m.contains("not a valid selector") => {
            BrowserError::Invalid(format!("invalid selector {selector:?}: {m}"))
        }
        other => other,
    }
}

fn tab_index(inner: &Inner, id: &str) -> Result<usize> {
    inner.tabs.iter().position(|t| t.target_id == id).ok_or_else(|| {
        let ids: Vec<&str> = inner.tabs.iter().map(|t| t.target_id.as_str()).collect();
        BrowserError::Invalid(format!("no tab {id:?}; open tabs: {}", ids.join(", ")))
    })
}

//! The `BrowseTheWeb` actions (the TypeScript browser service's `execute`): each takes the
//! model's parameters and gives an [`ActionResult`] whose `data` has the TypeScript field
//! names (`url`, `selector`, `screenshot`, `snapshot`, `elementRefs`, ...) and whose errors
//! have its messages (`URL is required`, `Unknown action: X`, ...).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::{dom, ActionResult, Browser, BrowserService, VIEWPORT};
use crate::core::wire::JsonObject;

/// Every action name, in the tool description's order.
pub const ACTIONS: &[&str] = &[
    "navigate",
    "snapshot",
    "screenshot",
    "click",
    "fill",
    "type",
    "select",
    "wait",
    "scroll",
    "goBack",
    "goForward",
    "reload",
    "hover",
    "pressKey",
    "getText",
    "getAttribute",
    "pdf",
    "close",
];

fn text<'a>(p: &'a JsonObject, name: &str) -> Option<&'a str> {
    p.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl BrowserService {
    /// Runs `action` in `session`'s browser (which must exist: see
    /// [`BrowserService::ensure_session`]). Relative `pdf` paths resolve against `cwd`.
    pub async fn execute(&self, session: &str, action: &str, p: &JsonObject, cwd: &Path) -> ActionResult {
        if action == "close" {
            return match self.close_session(session).await {
                true => ActionResult::ok(json!({})),
                false => ActionResult::fail("Session not found"),
            };
        }
        let Some(browser) = self.session(session).await else {
            return ActionResult::fail("Session not found");
        };
        let first = run(&browser, action, p, cwd).await;
        // The browser died under the action: it starts again for one more try.
        if !first.success && browser.is_dead().await {
            return run(&browser, action, p, cwd).await;
        }
        first
    }
}

async fn run(b: &Browser, action: &str, p: &JsonObject, cwd: &Path) -> ActionResult {
    let selector = text(p, "selector");
    let outcome = match action {
        "navigate" => {
            let Some(url) = text(p, "url") else { return ActionResult::fail("URL is required") };
            b.navigate(url).await.map(|_| json!({ "url": url }))
        }
        "goBack" => b.history(-1).await.map(|_| json!({})),
        "goForward" => b.history(1).await.map(|_| json!({})),
        "reload" => b.reload().await.map(|_| json!({})),
        "click" | "hover" => {
            let Some(sel) = selector else { return ActionResult::fail("Selector is required") };
            let done = if action == "click" { b.click(sel).await } else { b.hover(sel).await };
            done.map(|_| json!({ "selector": sel }))
        }
        "fill" => {
            let (Some(sel), Some(value)) = (selector, p.get("value").and_then(Value::as_str)) else {
                return ActionResult::fail("Selector and value are required");
            };
            b.fill(sel, value).await.map(|_| json!({ "selector": sel, "value": value }))
        }
        "type" => {
            let (Some(sel), Some(t)) = (selector, text(p, "text")) else {
                return ActionResult::fail("Selector and text are required");
            };
            b.type_text(sel, t).await.map(|_| json!({ "selector": sel, "text": t }))
        }
        "select" => {
            let values: Vec<String> = match p.get("value") {
                Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            let Some(sel) = selector.filter(|_| !values.is_empty()) else {
                return ActionResult::fail("Selector and value are required");
            };
            b.select(sel, &values).await.map(|_| json!({ "selector": sel, "value": p["value"] }))
        }
        "pressKey" => {
            let Some(key) = text(p, "key") else { return ActionResult::fail("Key is required") };
            b.press_key(key).await.map(|_| json!({ "key": key }))
        }
        "screenshot" => b.screenshot().await.map(|png| {
            json!({
                "screenshot": base64::engine::general_purpose::STANDARD.encode(png),
                "format": "png",
                "width": VIEWPORT.0,
                "height": VIEWPORT.1,
            })
        }),
        "snapshot" => b.evaluate(dom::SNAPSHOT).await.map(|snap| {
            let refs: Vec<Value> = snap["elements"]
                .as_array()
                .map(|els| els.iter().map(|e| json!({ "ref": e["ref"], "selector": e["ref"] })).collect())
                .unwrap_or_default();
            json!({ "snapshot": snap, "elementRefs": refs })
        }),
        "pdf" => match b.pdf().await {
            Err(e) => Err(e),
            Ok(bytes) => match text(p, "path") {
                Some(path) => {
                    let full = cwd.join(path);
                    let written = tokio::fs::write(&full, &bytes).await;
                    return match written {
                        Ok(()) => ActionResult::ok(json!({ "path": path })),
                        Err(e) => {
                            ActionResult::fail(format!("cannot write the PDF to {}: {e}", full.display()))
                        }
                    };
                }
                None => Ok(json!({ "pdf": base64::engine::general_purpose::STANDARD.encode(bytes) })),
            },
        },
        "getText" => {
            let Some(sel) = selector else { return ActionResult::fail("Selector is required") };
            b.element_text(sel).await.map(|t| json!({ "selector": sel, "text": t }))
        }
        "getAttribute" => {
            let (Some(sel), Some(attr)) = (selector, text(p, "attribute")) else {
                return ActionResult::fail("Selector and attribute are required");
            };
            b.attribute(sel, attr).await.map(|v| json!({ "selector": sel, "attribute": attr, "value": v }))
        }
        "wait" => {
            let timeout = p.get("timeout").and_then(Value::as_f64).filter(|t| *t >= 0.0);
            match (selector, timeout) {
                (Some(sel), t) => {
                    let t = Duration::from_millis(t.unwrap_or(10_000.0) as u64);
                    b.wait_for(sel, t).await.map(|_| json!({ "selector": sel }))
                }
                (None, Some(t)) if t > 0.0 => {
                    tokio::time::sleep(Duration::from_millis(t as u64)).await;
                    Ok(json!({ "timeout": p["timeout"] }))
                }
                _ => return ActionResult::fail("Either selector or timeout is required"),
            }
        }
        "scroll" => {
            let amount = p.get("amount").and_then(Value::as_f64).unwrap_or(100.0);
            let direction = text(p, "direction").unwrap_or_default();
            let (dx, dy) = match direction {
                "up" => (0.0, -amount),
                "down" => (0.0, amount),
                "left" => (-amount, 0.0),
                "right" => (amount, 0.0),
                _ => return ActionResult::fail("Invalid scroll direction"),
            };
            b.scroll(dx, dy, selector).await.map(|_| json!({ "direction": direction, "amount": amount }))
        }
        other => return ActionResult::fail(format!("Unknown action: {other}")),
    };
    match outcome {
        Ok(data) => ActionResult::ok(data),
        Err(e) => ActionResult::fail(e.to_string()),
    }
}

/// The script the `snapshot` action runs: it numbers the elements a user can act on
/// (`data-tron-ref="eN"`, usable as selectors afterwards) and returns the page's `url`,
/// `title`, `elements` (`ref`, `role`, `name`, ...) and visible text (`content`).
pub const SNAPSHOT_SCRIPT: &str = dom::SNAPSHOT;

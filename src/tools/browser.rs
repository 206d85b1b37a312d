//! `OpenURL` and `BrowseTheWeb`: the model's web browser tools (the TypeScript server's
//! names, descriptions, parameters and result texts).
//!
//! `OpenURL` only checks the URL: the iOS app opens it in Safari when it sees the call.
//! `BrowseTheWeb` drives the session's headless browser through a [`BrowserControl`]
//! (implemented here for [`BrowserService`], whose frames the server streams to clients):
//! the session's browser starts on the first call and, when someone receives frames,
//! streams its screencast at once, as the TypeScript server's browser delegate does.
//!
//! Differences from the TypeScript server: a failed browser action is also marked
//! `isError: true`; selectors are CSS (with `:has-text("...")` / `:contains("...")` and
//! snapshot references `eN`), not Playwright's selector engine.

use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::platform::browser::{ActionResult, BrowserService, ScreencastOptions};

/// The tools' names.
pub const NAMES: [&str; 2] = ["OpenURL", "BrowseTheWeb"];

/// How `BrowseTheWeb` reaches the session's browser.
pub trait BrowserControl: Send + Sync {
    /// Makes sure `session` has a browser (starting it, and its stream, if needed).
    fn ensure_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), String>>;

    /// Runs one action in `session`'s browser; relative paths resolve against `cwd`.
    fn execute<'a>(
        &'a self,
        session: &'a str,
        action: &'a str,
        params: &'a JsonObject,
        cwd: &'a Path,
    ) -> BoxFuture<'a, ActionResult>;
}

impl BrowserControl for BrowserService {
    fn ensure_session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let had = self.session(session).await.is_some();
            self.ensure_session(session).await.map_err(|e| e.to_string())?;
            if !had && self.streams() {
                // Frames flow to the app at once: JPEG, quality 60, 1280x800, every 6th
                // frame (about 10 a second), as the TypeScript server's delegate starts it.
                let options = ScreencastOptions { every_nth_frame: 6, ..ScreencastOptions::default() };
                self.start_stream(session, options).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn execute<'a>(
        &'a self,
        session: &'a str,
        action: &'a str,
        params: &'a JsonObject,
        cwd: &'a Path,
    ) -> BoxFuture<'a, ActionResult> {
        Box::pin(BrowserService::execute(self, session, action, params, cwd))
    }
}

/// Both tools; `BrowseTheWeb` drives `control`'s browser for `session` (without a control
/// it answers that the browser is not available).
pub fn tools(control: Option<Arc<dyn BrowserControl>>, session: &str) -> Vec<Arc<dyn Tool>> {
    vec![Arc::new(OpenUrl), Arc::new(BrowseTheWeb { control, session: session.to_owned() })]
}

// ----- OpenURL -------------------------------------------------------------------------

/// `OpenURL`.
pub struct OpenUrl;

const OPEN_URL_DESCRIPTION: &str = r#"Open a URL in the native iOS Safari browser for the user to view.

Use this tool when you want to:
- Show the user a webpage, documentation, or article
- Direct the user to a website for reference
- Open external links for the user to explore

The URL opens in Safari within the app. The user can browse, interact with the page,
and dismiss it when done. This is a fire-and-forget action - you don't need to wait
for the user to close the browser.

Examples:
- Open documentation: { "url": "https://docs.swift.org/swift-book/" }
- Show a reference: { "url": "https://developer.apple.com/documentation/swiftui" }"#;

impl Tool for OpenUrl {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            "OpenURL",
            OPEN_URL_DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "The URL to open (must be http:// or https://)"}
                },
                "required": ["url"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move { open_url(arguments) })
    }

    fn read_only(&self) -> bool {
        true
    }
}

fn text_result(text: String, is_error: bool, details: Value) -> ToolResult {
    ToolResult {
        content: crate::core::content::MessageContent::Text(text),
        is_error: Some(is_error),
        details: Some(details),
        ..Default::default()
    }
}

fn open_url(arguments: &JsonObject) -> ToolResult {
    let Some(url) = arguments.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
        let given = arguments.get("url").cloned().unwrap_or(Value::Null);
        return text_result("Missing required parameter: url".into(), true, json!({ "url": given }));
    };
    let url = url.trim();
    let invalid = |msg: String| text_result(msg, true, json!({ "url": url }));
    if url.is_empty() {
        return invalid("URL cannot be empty".into());
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(_) => {
            return invalid(format!(
                "Invalid URL format: \"{url}\". Please provide a valid URL like \"https://example.com\""
            ))
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return invalid(format!(
            "Invalid URL scheme: \"{}:\". Only http:// and https:// URLs are allowed",
            parsed.scheme()
        ));
    }
    text_result(format!("Opening {url} in Safari"), false, json!({ "url": url, "action": "open_safari" }))
}

// ----- BrowseTheWeb --------------------------------------------------------------------

/// `BrowseTheWeb`.
pub struct BrowseTheWeb {
    control: Option<Arc<dyn BrowserControl>>,
    session: String,
}

const BROWSE_DESCRIPTION: &str = r##"Control a web browser with automation capabilities.

IMPORTANT: Execute browser actions ONE AT A TIME sequentially - wait for each action to complete before starting the next. Do NOT call multiple browser tools in parallel as this causes race conditions.

Recommended workflow:
1. navigate to URL → wait for result
2. snapshot to get page structure → wait for result
3. screenshot to see visual state → wait for result
4. interact (click/fill/etc.) → wait for result
5. repeat as needed

Actions:
- navigate: Go to a URL (wait for page to load before other actions)
  Required: url (string)
  Example: { "action": "navigate", "url": "https://example.com" }

- snapshot: Get accessibility tree with element references
  IMPORTANT: Call this AFTER navigate completes. Returns element references (e1, e2, etc.)
  Example: { "action": "snapshot" }

- screenshot: Capture visual screenshot of current viewport (1280x800)
  Example: { "action": "screenshot" }

- click: Click an element
  Required: selector (string) - CSS selector or element reference (e.g., "e1")
  Example: { "action": "click", "selector": "button.submit" }

- fill: Fill an input field (clears first, then fills)
  Required: selector (string), value (string)
  Example: { "action": "fill", "selector": "#email", "value": "test@example.com" }

- type: Type text character by character (triggers JS events)
  Required: selector (string), text (string)
  Example: { "action": "type", "selector": "#search", "text": "query" }

- select: Select dropdown option(s)
  Required: selector (string), value (string or string[])
  Example: { "action": "select", "selector": "#country", "value": "US" }

- wait: Wait for element or timeout
  Optional: selector (string), timeout (number in ms)
  Example: { "action": "wait", "selector": ".loading", "timeout": 5000 }

- scroll: Scroll page or element
  Required: direction ("up" | "down" | "left" | "right")
  Optional: amount (number in pixels), selector (string)
  Example: { "action": "scroll", "direction": "down", "amount": 500 }

- goBack: Navigate back in browser history
  Example: { "action": "goBack" }

- goForward: Navigate forward in browser history
  Example: { "action": "goForward" }

- reload: Reload the current page
  Example: { "action": "reload" }

- hover: Hover over an element (triggers hover states/tooltips)
  Required: selector (string)
  Example: { "action": "hover", "selector": "button.menu" }

- pressKey: Press a keyboard key
  Required: key (string) - key name (e.g., "Enter", "Tab", "Escape", "ArrowDown")
  Example: { "action": "pressKey", "key": "Enter" }

- getText: Get text content from an element
  Required: selector (string)
  Example: { "action": "getText", "selector": ".article-content" }

- getAttribute: Get an attribute value from an element
  Required: selector (string), attribute (string)
  Example: { "action": "getAttribute", "selector": "a.link", "attribute": "href" }

- pdf: Generate a PDF of the current page
  Optional: path (string) - file path to save PDF
  Example: { "action": "pdf", "path": "/tmp/page.pdf" }

- close: Close the browser session
  Example: { "action": "close" }

Note: Selectors are CSS selectors, plus:
- :contains("text") or :has-text("text") → the innermost element containing the text
- Element references from snapshot (e1, e2) are automatically resolved

Browser sessions are persistent - once created, you can perform multiple actions.
The browser runs headless by default and streams frames to the iOS app."##;

fn browse_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string", "description": "The browser action to perform (navigate, click, fill, type, select, screenshot, snapshot, wait, scroll, goBack, goForward, reload, hover, pressKey, getText, getAttribute, pdf, close)"},
            "url": {"type": "string", "description": "URL for navigate action"},
            "selector": {"type": "string", "description": "CSS selector or element reference (e.g., \"e1\") for click, fill, type, select, hover, getText, getAttribute actions"},
            "value": {"type": "string", "description": "Value for fill or select actions"},
            "text": {"type": "string", "description": "Text for type action"},
            "direction": {"type": "string", "description": "Scroll direction: up, down, left, right"},
            "amount": {"type": "number", "description": "Scroll amount in pixels"},
            "timeout": {"type": "number", "description": "Timeout in milliseconds for wait action"},
            "key": {"type": "string", "description": "Key name for pressKey action (e.g., \"Enter\", \"Tab\", \"Escape\")"},
            "attribute": {"type": "string", "description": "Attribute name for getAttribute action"},
            "path": {"type": "string", "description": "File path for pdf action"}
        },
        "required": ["action"]
    })
}

impl Tool for BrowseTheWeb {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new("BrowseTheWeb", BROWSE_DESCRIPTION, browse_schema())
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let Some(control) = &self.control else {
                return ToolResult::error("Browser tool is not available (no delegate configured)");
            };
            let Some(action) = arguments.get("action").and_then(Value::as_str).filter(|a| !a.is_empty())
            else {
                return ToolResult::error("Error: \"action\" parameter is required");
            };
            if let Err(e) = control.ensure_session(&self.session).await {
                return ToolResult::error(format!("Browser error: {e}"));
            }
            let result = control.execute(&self.session, action, arguments, &ctx.working_directory).await;
            if !result.success {
                let why = result.error.as_deref().unwrap_or("Unknown error");
                return ToolResult::error(format!("Browser action failed: {why}"));
            }
            let text = format_result(action, &result.data);
            let out = ToolResult::text(text);
            match (action, result.data.get("screenshot")) {
                ("screenshot", Some(shot)) => out.with_details(json!({
                    "screenshot": shot,
                    "format": result.data.get("format").cloned().unwrap_or(json!("png")),
                })),
                _ => out,
            }
        })
    }
}

/// A JSON value as JavaScript's template strings show it (`undefined` when absent).
fn show(data: &Map<String, Value>, key: &str) -> String {
    match data.get(key) {
        None => "undefined".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().map(show_value).collect::<Vec<_>>().join(","),
        Some(v) => show_value(v),
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        // JavaScript prints whole numbers without a fraction.
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The result text of a successful action (the TypeScript tool's).
fn format_result(action: &str, data: &Map<String, Value>) -> String {
    let d = |k: &str| show(data, k);
    match action {
        "navigate" => format!("Navigated to: {}", d("url")),
        "click" => format!("Clicked: {}", d("selector")),
        "fill" => format!("Filled {} with: {}", d("selector"), d("value")),
        "type" => format!("Typed into {}: {}", d("selector"), d("text")),
        "select" => format!("Selected {}: {}", d("selector"), d("value")),
        "screenshot" => {
            let shot = d("screenshot");
            let head: String = shot.chars().take(50).collect();
            format!("Screenshot captured (base64): {head}...")
        }
        "snapshot" => {
            let refs = data.get("elementRefs").and_then(Value::as_array).map_or(0, Vec::len);
            let snap = data.get("snapshot").cloned().unwrap_or(Value::Null);
            let pretty = serde_json::to_string_pretty(&snap).unwrap_or_default();
            format!("Snapshot captured with {refs} element references\n{pretty}")
        }
        "wait" => match data.get("selector") {
            Some(_) => format!("Waited for: {}", d("selector")),
            None => format!("Waited: {}ms", d("timeout")),
        },
        "scroll" => format!("Scrolled {}: {}px", d("direction"), d("amount")),
        "goBack" => "Navigated back in history".into(),
        "goForward" => "Navigated forward in history".into(),
        "reload" => "Page reloaded".into(),
        "hover" => format!("Hovered over: {}", d("selector")),
        "pressKey" => format!("Pressed key: {}", d("key")),
        "getText" => format!("Text content: {}", d("text")),
        "getAttribute" => format!("Attribute {}: {}", d("attribute"), d("value")),
        "pdf" => match data.get("path") {
            Some(_) => format!("PDF saved to: {}", d("path")),
            None => "PDF generated".into(),
        },
        "close" => "Browser session closed".into(),
        _ => serde_json::to_string_pretty(&Value::Object(data.clone())).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn open_url_checks_the_url_with_the_typescript_texts() {
        let ok = open_url(&args(json!({"url": "  https://example.com/docs  "})));
        assert_eq!(ok.text_content(), "Opening https://example.com/docs in Safari");
        assert_eq!(
            ok.details.clone().unwrap(),
            json!({"url": "https://example.com/docs", "action": "open_safari"})
        );
        assert!(!ok.failed());
        let missing = open_url(&args(json!({})));
        assert_eq!(
            (missing.text_content().as_str(), missing.failed()),
            ("Missing required parameter: url", true)
        );
        assert_eq!(open_url(&args(json!({"url": "   "}))).text_content(), "URL cannot be empty");
        assert_eq!(
            open_url(&args(json!({"url": "not a url"}))).text_content(),
            "Invalid URL format: \"not a url\". Please provide a valid URL like \"https://example.com\""
        );
        let ftp = open_url(&args(json!({"url": "ftp://example.com"})));
        assert_eq!(
            ftp.text_content(),
            "Invalid URL scheme: \"ftp:\". Only http:// and https:// URLs are allowed"
        );
        assert!(ftp.failed());
    }

    #[test]
    fn result_texts_are_the_typescript_ones() {
        let data = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(format_result("navigate", &data(json!({"url": "http://x/"}))), "Navigated to: http://x/");
        assert_eq!(
            format_result("fill", &data(json!({"selector": "#a", "value": "v"}))),
            "Filled #a with: v"
        );
        assert_eq!(
            format_result("select", &data(json!({"selector": "#c", "value": ["a", "b"]}))),
            "Selected #c: a,b"
        );
        assert_eq!(format_result("wait", &data(json!({"timeout": 500}))), "Waited: 500ms");
        assert_eq!(
            format_result("scroll", &data(json!({"direction": "down", "amount": 100.0}))),
            "Scrolled down: 100px"
        );
        assert_eq!(
            format_result("getAttribute", &data(json!({"attribute": "href", "value": null}))),
            "Attribute href: null"
        );
        assert_eq!(format_result("pdf", &data(json!({"pdf": "JVBER"}))), "PDF generated");
        assert_eq!(format_result("close", &data(json!({}))), "Browser session closed");
    }

    #[tokio::test]
    async fn without_a_browser_the_tool_says_so_and_action_is_required() {
        let tool = BrowseTheWeb { control: None, session: "s".into() };
        let r = tool.execute(&args(json!({"action": "navigate"})), &ToolContext::new("/")).await;
        assert_eq!(r.text_content(), "Browser tool is not available (no delegate configured)");
        let names: Vec<String> = tools(None, "s").iter().map(|t| t.definition().name).collect();
        assert_eq!(names, NAMES);
    }
}

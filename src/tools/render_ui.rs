//! `RenderAppUI`: the model renders a native UI canvas (a component tree) in the app.
//!
//! As in the TypeScript server: the canvas id is the model's, or made from the title (its
//! first three words) or the root tag plus 8 random hex digits; the tree is checked
//! (known `$tag`s, the props each control needs, `$children` as components or text); an
//! invalid tree is answered with the problems and *not* as an error, so the model can fix
//! it in the same turn (`details.needsRetry`, `attempt`), until the third failed attempt
//! for a canvas, which is an error that ends the turn. A valid canvas is saved in the
//! canvas store ([`crate::platform::canvas`]) before the tool returns, and the run ends
//! (`stopTurn`): the user's actions come back as the next prompt. The result's `details`
//! carry `{async, canvasId, title, ui, state}`, from which rpc/ pushes
//! `agent.ui_render_complete`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::platform::canvas::{valid_id, CanvasArtifact, CanvasStore};

/// The tool's name.
pub const NAME: &str = "RenderAppUI";

/// Failed attempts for one canvas before the tool gives up.
pub const MAX_RETRIES: u32 = 3;

/// Every component tag.
pub const TAGS: [&str; 18] = [
    "VStack",
    "HStack",
    "ZStack",
    "ScrollView",
    "Spacer",
    "Divider",
    "Text",
    "Icon",
    "Image",
    "Button",
    "Toggle",
    "Slider",
    "TextField",
    "Picker",
    "List",
    "ProgressView",
    "Badge",
    "Section",
];
const CARD: &str = "Card";

const DESCRIPTION: &str = "Render a native iOS UI interface for the user to interact with.

Use this tool to build interactive forms or settings screens, display structured data (lists, \
progress, badges), create multi-step flows, present options with buttons, toggles, sliders and \
pickers, or show status dashboards. The UI renders as a native SwiftUI sheet.

## Component tree
Each node is {\"$tag\": Tag, \"$props\"?: {...}, \"$children\"?: [nodes] or \"text\"}.
- Layout: VStack, HStack, ZStack (props spacing, alignment), ScrollView (axis), Spacer (minLength), Divider
- Content: Text ($children is the text; props style: body|title|title2|title3|headline|subheadline|caption|footnote|largeTitle, weight, color, lineLimit), Icon (name: SF Symbol, size, color), Image (systemName or data, width, height)
- Interactive: Button (label, actionId, style: primary|secondary|destructive|link, disabled, icon), Toggle (label, bindingId, isOn), Slider (bindingId, value, min, max, step, label), TextField (bindingId, placeholder, value, label, isSecure, keyboardType), Picker (bindingId, options: [{label, value}], selected, label, style)
- Data: List (items), ProgressView (value 0-1, label), Badge (text, color)
- Structure: Section (header, footer), Card (padding, style)

## Usage
1. Call RenderAppUI with the tree (and initial `state` by bindingId)
2. The app shows it; button taps return their actionId and controls their bindingId and value
   in the next message
3. Update a canvas by calling RenderAppUI again with the same canvasId

IMPORTANT: after calling this tool, write no more text. The user's response comes back as a new \
message.";

/// `RenderAppUI` for one session (see the module doc).
#[derive(Debug)]
pub struct RenderAppUITool {
    store: CanvasStore,
    session: String,
    retries: Mutex<HashMap<String, u32>>,
}

impl RenderAppUITool {
    /// The tool for `session`, saving canvases in `store`.
    pub fn new(store: CanvasStore, session: &str) -> Self {
        Self { store, session: session.to_owned(), retries: Mutex::default() }
    }
}

/// A canvas id for a canvas without one: the title's first three words, else `canvas-` and
/// the root tag, then `-` and 8 random hex digits.
pub fn generate_canvas_id(title: Option<&str>, root_tag: Option<&str>) -> String {
    let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
    if let Some(title) = title {
        let cleaned: String =
            title.to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || c.is_whitespace()).collect();
        let words: Vec<&str> = cleaned.split_whitespace().take(3).collect();
        if !words.is_empty() {
            return format!("{}-{suffix}", words.join("-"));
        }
    }
    let tag: String =
        root_tag.unwrap_or("canvas").to_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("canvas-{}-{suffix}", if tag.is_empty() { "canvas".into() } else { tag })
}

/// Checks a `RenderAppUI` call's `canvasId`, `title`, `ui` and `state`; every problem found.
pub fn validate(args: &JsonObject) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(id) = args.get("canvasId") {
        match id.as_str() {
            Some(id) if valid_id(id) => {}
            _ => errors.push(format!(
                "canvasId must be 1-128 letters, digits, '-', '_' or '.' (not starting with '.'), got {id}"
            )),
        }
    }
    if args.get("title").is_some_and(|t| !t.is_string()) {
        errors.push("title must be a string".into());
    }
    if args.get("state").is_some_and(|s| !s.is_object()) {
        errors.push("state must be an object (values by bindingId)".into());
    }
    match args.get("ui") {
        Some(ui @ Value::Object(_)) => check_node(ui, "ui", 0, &mut errors),
        Some(_) => errors.push("ui must be a component object ({\"$tag\": ...})".into()),
        None => errors.push("ui is required (the root component)".into()),
    }
    errors
}

const MAX_DEPTH: usize = 50;

fn check_node(node: &Value, at: &str, depth: usize, errors: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        errors.push(format!("{at}: the tree is nested deeper than {MAX_DEPTH} levels"));
        return;
    }
    let Some(node) = node.as_object() else {
        errors.push(format!("{at} must be a component object"));
        return;
    };
    let tag = match node.get("$tag").and_then(Value::as_str) {
        Some(t) if TAGS.contains(&t) || t == CARD => t,
        Some(t) => {
            errors
                .push(format!("{at}.$tag {t:?} is not a component (use one of {}, {CARD})", TAGS.join(", ")));
            return;
        }
        None => {
            errors.push(format!("{at}.$tag is required (the component type)"));
            return;
        }
    };
    let props = match node.get("$props") {
        None => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            errors.push(format!("{at}.$props must be an object"));
            None
        }
    };
    let required: &[&str] = match tag {
        "Icon" => &["name"],
        "Button" => &["label", "actionId"],
        "Toggle" => &["label", "bindingId"],
        "Slider" | "TextField" => &["bindingId"],
        "Picker" => &["bindingId", "options"],
        "List" => &["items"],
        "Badge" => &["text"],
        _ => &[],
    };
    for key in required {
        if props.and_then(|p| p.get(*key)).is_none_or(Value::is_null) {
            errors.push(format!("{at} ({tag}) requires $props.{key}"));
        }
    }
    if tag == "Picker" && props.and_then(|p| p.get("options")).is_some_and(|o| !o.is_array()) {
        errors.push(format!("{at} (Picker) $props.options must be an array of {{label, value}}"));
    }
    match node.get("$children") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(children)) => {
            for (i, c) in children.iter().enumerate() {
                check_node(c, &format!("{at}.$children[{i}]"), depth + 1, errors);
            }
        }
        Some(one @ Value::Object(_)) => check_node(one, &format!("{at}.$children"), depth + 1, errors),
        Some(_) => errors.push(format!("{at}.$children must be an array of components or a string")),
    }
}

/// Counts of interactive components, for the summary.
fn summary(canvas_id: &str, title: Option<&str>, ui: &Value) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    fn walk<'a>(node: &'a Value, counts: &mut HashMap<&'a str, usize>) {
        if let Some(tag) = node.get("$tag").and_then(Value::as_str) {
            *counts.entry(tag).or_default() += 1;
        }
        match node.get("$children") {
            Some(Value::Array(c)) => c.iter().for_each(|c| walk(c, counts)),
            Some(c @ Value::Object(_)) => walk(c, counts),
            _ => {}
        }
    }
    walk(ui, &mut counts);
    let mut lines = vec![format!("UI canvas \"{canvas_id}\" rendered.")];
    if let Some(t) = title {
        lines.push(format!("Title: {t}"));
    }
    let parts: Vec<String> = [
        ("Button", "button"),
        ("Toggle", "toggle"),
        ("TextField", "text field"),
        ("Slider", "slider"),
        ("Picker", "picker"),
    ]
    .iter()
    .filter_map(|(tag, name)| counts.get(tag).map(|&n| format!("{n} {name}{}", if n > 1 { "s" } else { "" })))
    .collect();
    if !parts.is_empty() {
        lines.push(format!("Contains: {}", parts.join(", ")));
    }
    lines.push(String::new());
    lines.push("Awaiting user interaction...".into());
    lines.join("\n")
}

impl RenderAppUITool {
    async fn run(&self, args: &JsonObject) -> ToolResult {
        let title = args.get("title").and_then(Value::as_str).map(str::to_owned);
        let canvas_id = match args.get("canvasId").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => generate_canvas_id(
                title.as_deref(),
                args.get("ui").and_then(|u| u.get("$tag")).and_then(Value::as_str),
            ),
        };
        let errors = validate(args);
        if !errors.is_empty() {
            let attempt = {
                let mut retries = self.retries.lock().unwrap_or_else(|e| e.into_inner());
                let count = retries.entry(canvas_id.clone()).or_default();
                *count += 1;
                let attempt = *count;
                if attempt > MAX_RETRIES {
                    retries.remove(&canvas_id);
                }
                attempt
            };
            let validation = json!({ "valid": false, "errors": errors });
            if attempt > MAX_RETRIES {
                return ToolResult {
                    details: Some(
                        json!({ "validation": validation, "canvasId": canvas_id, "maxRetriesExceeded": true }),
                    ),
                    stop_turn: Some(true),
                    ..ToolResult::error(format!(
                        "Failed to render valid UI after {MAX_RETRIES} attempts:\n{}",
                        errors.join("\n")
                    ))
                };
            }
            return ToolResult {
                details: Some(json!({
                    "validation": validation, "needsRetry": true, "canvasId": canvas_id, "attempt": attempt,
                })),
                ..ToolResult::text(format!(
                    "UI validation failed (attempt {attempt}/{MAX_RETRIES}). Fix these errors and call RenderAppUI \
                     again with the same canvasId ({canvas_id}):\n{}\n\nKeep the iOS sheet open - user is waiting.",
                    errors.join("\n")
                ))
            };
        }
        self.retries.lock().unwrap_or_else(|e| e.into_inner()).remove(&canvas_id);
        let ui: Map<String, Value> = args.get("ui").and_then(Value::as_object).cloned().unwrap_or_default();
        let state = args.get("state").and_then(Value::as_object).cloned();
        let artifact = CanvasArtifact {
            canvas_id: canvas_id.clone(),
            session_id: self.session.clone(),
            title: title.clone(),
            ui: ui.clone(),
            state: state.clone(),
            saved_at: crate::events::now_iso(),
        };
        let store = self.store.clone();
        let saved = tokio::task::spawn_blocking(move || store.save(&artifact)).await;
        if let Err(e) = saved.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            return ToolResult::error(format!("The canvas {canvas_id} could not be saved: {e}"));
        }
        let ui = Value::Object(ui);
        ToolResult {
            details: Some(json!({
                "async": true, "canvasId": canvas_id, "title": title, "ui": ui, "state": state,
            })),
            stop_turn: Some(true),
            ..ToolResult::text(summary(&canvas_id, title.as_deref(), &ui))
        }
    }
}

impl Tool for RenderAppUITool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAME,
            DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "canvasId": {"type": "string", "description": "Unique identifier for this canvas. Auto-generated if not provided. Provide the same canvasId to update an existing canvas."},
                    "title": {"type": "string", "description": "Optional title shown in the sheet toolbar"},
                    "ui": {"type": "object", "description": "Root UI component tree (see schema in tool description)"},
                    "state": {"type": "object", "description": "Initial state values for bound controls (keys are bindingIds)"}
                },
                "required": ["ui"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(self.run(arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn canvas_ids_come_from_the_title_or_the_root_tag() {
        let id = generate_canvas_id(Some("My Cool Settings Page!"), None);
        assert!(id.starts_with("my-cool-settings-") && id.len() == "my-cool-settings-".len() + 8, "{id}");
        assert!(generate_canvas_id(Some("!!"), Some("VStack")).starts_with("canvas-vstack-"));
        assert!(generate_canvas_id(None, None).starts_with("canvas-canvas-"));
    }

    #[test]
    fn the_tree_is_checked() {
        let ok = args(json!({"ui": {"$tag": "VStack", "$children": [
            {"$tag": "Text", "$children": "Hi"},
            {"$tag": "Button", "$props": {"label": "Go", "actionId": "go"}}]}}));
        assert!(validate(&ok).is_empty());
        let bad = args(json!({"canvasId": "../x", "ui": {"$tag": "VStack", "$children": [
            {"$tag": "Blink"}, {"$tag": "Button", "$props": {"label": "Go"}}, 3]}}));
        let errors = validate(&bad);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].starts_with("canvasId"));
        assert!(errors[1].contains("\"Blink\" is not a component"));
        assert!(errors[2].contains("ui.$children[1] (Button) requires $props.actionId"));
        assert!(errors[3].contains("ui.$children[2] must be a component object"));
        assert_eq!(validate(&args(json!({}))), ["ui is required (the root component)"]);
    }

    #[tokio::test]
    async fn a_valid_canvas_is_saved_and_ends_the_turn() {
        let dir = tempfile::tempdir().unwrap();
        let tool = RenderAppUITool::new(CanvasStore::new(dir.path()), "sess_a");
        let a = args(json!({"canvasId": "c1", "title": "Prefs", "state": {"on": true},
            "ui": {"$tag": "Toggle", "$props": {"label": "On", "bindingId": "on"}}}));
        let r = tool.execute(&a, &ToolContext::new(".")).await;
        assert_eq!(r.stop_turn, Some(true));
        assert_eq!(
            r.text_content(),
            "UI canvas \"c1\" rendered.\nTitle: Prefs\nContains: 1 toggle\n\nAwaiting user interaction..."
        );
        let saved = CanvasStore::new(dir.path()).load("c1").unwrap().unwrap();
        assert_eq!((saved.session_id.as_str(), saved.title.as_deref()), ("sess_a", Some("Prefs")));
        assert_eq!(r.details.unwrap()["ui"]["$tag"], "Toggle");
    }

    #[tokio::test]
    async fn invalid_trees_ask_for_a_retry_then_fail_after_three_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let tool = RenderAppUITool::new(CanvasStore::new(dir.path()), "sess_a");
        let bad = args(json!({"canvasId": "c2", "ui": {"$tag": "Nope"}}));
        for attempt in 1..=3 {
            let r = tool.execute(&bad, &ToolContext::new(".")).await;
            assert!(!r.failed() && r.stop_turn.is_none());
            assert_eq!(r.details.as_ref().unwrap()["attempt"], attempt);
            assert!(r.text_content().contains(&format!("attempt {attempt}/3")));
        }
        let r = tool.execute(&bad, &ToolContext::new(".")).await;
        assert!(r.failed() && r.stop_turn == Some(true));
        assert_eq!(r.details.unwrap()["maxRetriesExceeded"], true);
        assert!(CanvasStore::new(dir.path()).list().unwrap().is_empty());
    }
}

//! Canvas export: JSON (the stored artifact), Markdown (the component tree as a readable
//! document, with the bound values filled in), and PDF (the Markdown's content set with
//! [`super::pdf`]).
//!
//! The Markdown follows the component model of `RenderAppUI` (`{$tag, $props?,
//! $children?}`): text by its style, sections with their header and footer, controls as
//! list items showing their label and current value (the canvas `state` wins over a
//! control's own value), dividers as rules; layout containers only contribute their
//! children.

use serde_json::{Map, Value};

use super::pdf::{Document, Style};
use super::CanvasArtifact;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The artifact as pretty-printed JSON.
    Json,
    /// A Markdown document.
    Markdown,
    /// A PDF document.
    Pdf,
}

impl Format {
    /// Parses `json`, `markdown` (or `md`) and `pdf`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "markdown" | "md" => Some(Self::Markdown),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "md",
            Self::Pdf => "pdf",
        }
    }

    /// The MIME type.
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Markdown => "text/markdown",
            Self::Pdf => "application/pdf",
        }
    }
}

/// `canvas` in `format`.
pub fn export(canvas: &CanvasArtifact, format: Format) -> Vec<u8> {
    match format {
        Format::Json => to_json(canvas).into_bytes(),
        Format::Markdown => to_markdown(canvas).into_bytes(),
        Format::Pdf => to_pdf(canvas),
    }
}

/// The artifact as pretty-printed JSON (what the store keeps).
pub fn to_json(canvas: &CanvasArtifact) -> String {
    serde_json::to_string_pretty(canvas).expect("a canvas serializes")
}

/// One block of the rendered document.
#[derive(Debug, Clone, PartialEq)]
enum Block {
    Title(String),
    Heading(String),
    Paragraph(String),
    Item(String),
    Rule,
    Meta(String),
}

fn blocks(canvas: &CanvasArtifact) -> Vec<Block> {
    let mut out = vec![Block::Title(canvas.title.clone().unwrap_or_else(|| canvas.canvas_id.clone()))];
    out.push(Block::Meta(format!("Canvas: {}", canvas.canvas_id)));
    out.push(Block::Meta(format!("Session: {}", canvas.session_id)));
    out.push(Block::Meta(format!("Saved: {}", canvas.saved_at)));
    let empty = Map::new();
    let state = canvas.state.as_ref().unwrap_or(&empty);
    walk(&Value::Object(canvas.ui.clone()), state, &mut out);
    out
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn walk(node: &Value, state: &Map<String, Value>, out: &mut Vec<Block>) {
    let Some(node) = node.as_object() else {
        if let Some(s) = node.as_str() {
            out.push(Block::Paragraph(s.to_owned()));
        }
        return;
    };
    let props = node.get("$props").and_then(Value::as_object);
    let prop = |k: &str| text(props.and_then(|p| p.get(k)));
    let bound = |fallback: &str| {
        let id = props.and_then(|p| p.get("bindingId")).and_then(Value::as_str);
        id.and_then(|id| state.get(id)).or_else(|| props.and_then(|p| p.get(fallback))).cloned()
    };
    let label = |default: &str| prop("label").unwrap_or_else(|| default.to_owned());
    let children = node.get("$children");
    let tag = node.get("$tag").and_then(Value::as_str).unwrap_or("");
    match tag {
        "Text" => {
            let content = children.and_then(|c| text(Some(c))).unwrap_or_default();
            match prop("style").as_deref() {
                Some("largeTitle" | "title" | "title2" | "title3" | "headline") => {
                    out.push(Block::Heading(content))
                }
                _ => out.push(Block::Paragraph(content)),
            }
            return;
        }
        "Section" => {
            if let Some(h) = prop("header") {
                out.push(Block::Heading(h));
            }
            walk_children(children, state, out);
            if let Some(f) = prop("footer") {
                out.push(Block::Paragraph(f));
            }
            return;
        }
        "Divider" => out.push(Block::Rule),
        "Button" => out.push(Block::Item(format!("[{}]", label("Button")))),
        "Toggle" => {
            let on = bound("isOn").and_then(|v| v.as_bool()).unwrap_or(false);
            out.push(Block::Item(format!("{} {}", if on { "[x]" } else { "[ ]" }, label("Toggle"))));
        }
        "Slider" | "TextField" => {
            let value = bound("value").and_then(|v| text(Some(&v))).or_else(|| prop("placeholder"));
            out.push(Block::Item(format!("{}: {}", label(tag), value.unwrap_or_default())));
        }
        "Picker" => {
            let selected = bound("selected").and_then(|v| text(Some(&v))).unwrap_or_default();
            let options: Vec<String> = props
                .and_then(|p| p.get("options"))
                .and_then(Value::as_array)
                .map(|o| o.iter().filter_map(|o| text(o.get("label"))).collect())
                .unwrap_or_default();
            out.push(Block::Item(format!(
                "{}: {} (options: {})",
                label("Picker"),
                selected,
                options.join(", ")
            )));
        }
        "ProgressView" => {
            let value = props.and_then(|p| p.get("value")).and_then(Value::as_f64);
            let shown = value.map_or("in progress".to_owned(), |v| format!("{:.0}%", v * 100.0));
            out.push(Block::Item(format!("{}: {shown}", label("Progress"))));
        }
        "Badge" => out.push(Block::Item(prop("text").unwrap_or_default())),
        "List" => {
            for item in props.and_then(|p| p.get("items")).and_then(Value::as_array).into_iter().flatten() {
                out.push(Block::Item(text(Some(item)).unwrap_or_default()));
            }
        }
        "Image" | "Icon" => {
            if let Some(name) = prop("name").or_else(|| prop("systemName")) {
                out.push(Block::Item(format!("({tag}: {name})")));
            }
        }
        _ => {}
    }
    walk_children(children, state, out);
}

fn walk_children(children: Option<&Value>, state: &Map<String, Value>, out: &mut Vec<Block>) {
    match children {
        Some(Value::Array(list)) => list.iter().for_each(|c| walk(c, state, out)),
        Some(one) => walk(one, state, out),
        None => {}
    }
}

/// The canvas as a Markdown document.
pub fn to_markdown(canvas: &CanvasArtifact) -> String {
    let mut md = String::new();
    let mut last_item = false;
    for block in blocks(canvas) {
        let is_item = matches!(block, Block::Item(_) | Block::Meta(_));
        let continues_list = is_item && last_item;
        if !md.is_empty() && !continues_list {
            md.push('\n');
        }
        match block {
            Block::Title(t) => md.push_str(&format!("# {t}\n")),
            Block::Heading(t) => md.push_str(&format!("## {t}\n")),
            Block::Paragraph(t) => md.push_str(&format!("{t}\n")),
            Block::Item(t) | Block::Meta(t) => md.push_str(&format!("- {t}\n")),
            Block::Rule => md.push_str("---\n"),
        }
        last_item = is_item;
    }
    md
}

/// The canvas as a PDF document.
pub fn to_pdf(canvas: &CanvasArtifact) -> Vec<u8> {
    let mut doc = Document::new(canvas.title.clone().unwrap_or_else(|| canvas.canvas_id.clone()));
    for block in blocks(canvas) {
        match block {
            Block::Title(t) => doc.line(Style::Title, t).line(Style::Body, ""),
            Block::Heading(t) => doc.line(Style::Body, "").line(Style::Heading, t),
            Block::Paragraph(t) => doc.line(Style::Body, t),
            Block::Item(t) => doc.line(Style::Indented, format!("- {t}")),
            Block::Meta(t) => doc.line(Style::Body, t),
            Block::Rule => doc.line(Style::Body, "-".repeat(40)),
        };
    }
    doc.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canvas() -> CanvasArtifact {
        CanvasArtifact {
            canvas_id: "prefs-1".into(),
            session_id: "sess_1".into(),
            title: Some("Preferences".into()),
            ui: json!({"$tag": "VStack", "$children": [
                {"$tag": "Text", "$props": {"style": "title"}, "$children": "Notifications"},
                {"$tag": "Section", "$props": {"header": "Alerts", "footer": "Changes apply at once"}, "$children": [
                    {"$tag": "Toggle", "$props": {"label": "Email", "bindingId": "email"}},
                    {"$tag": "Slider", "$props": {"label": "Volume", "bindingId": "vol", "value": 10}},
                    {"$tag": "Picker", "$props": {"label": "Theme", "bindingId": "theme",
                        "options": [{"label": "Dark", "value": "dark"}, {"label": "Light", "value": "light"}]}}
                ]},
                {"$tag": "Divider"},
                {"$tag": "Button", "$props": {"label": "Save", "actionId": "save"}}
            ]})
            .as_object()
            .unwrap()
            .clone(),
            state: Some(json!({"email": true, "vol": 70, "theme": "dark"}).as_object().unwrap().clone()),
            saved_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn markdown_shows_the_tree_with_bound_values() {
        let md = to_markdown(&canvas());
        assert_eq!(
            md,
            "# Preferences\n\n- Canvas: prefs-1\n- Session: sess_1\n- Saved: 2026-01-01T00:00:00.000Z\n\n\
             ## Notifications\n\n## Alerts\n\n- [x] Email\n- Volume: 70\n- Theme: dark (options: Dark, Light)\n\n\
             Changes apply at once\n\n---\n\n- [Save]\n"
        );
    }

    #[test]
    fn json_round_trips_and_formats_parse() {
        let c = canvas();
        assert_eq!(serde_json::from_str::<CanvasArtifact>(&to_json(&c)).unwrap(), c);
        assert_eq!(Format::parse("MD"), Some(Format::Markdown));
        assert_eq!(Format::parse("docx"), None);
        assert!(export(&c, Format::Pdf).starts_with(b"%PDF-1.4"));
    }
}

//! `Edit`: replaces an exact `old_string` with `new_string` in a file (the match must be
//! unique unless `replace_all`), answering with a small unified diff of the change.

use serde_json::{json, Value};

use super::tool_support::{
    fs_error, js_len, js_prefix, optional_bool, required_string, resolve_path, truncated_call, wrong_type,
};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Context lines shown around the change in the diff.
const DIFF_CONTEXT_LINES: usize = 2;
/// Characters of `old_string` / `new_string` shown in messages and previews.
const PREVIEW_LENGTH: usize = 50;

/// The `Edit` tool.
#[derive(Debug, Clone, Default)]
pub struct EditTool;

impl EditTool {
    /// The tool.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for EditTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute or relative path to the file to edit"},
                "old_string": {"type": "string", "description": "The exact string to search for and replace"},
                "new_string": {"type": "string", "description": "The string to replace old_string with"},
                "replace_all": {
                    "type": "boolean",
                    "description": "Replace all occurrences (default: false)",
                    "default": false
                }
            },
            "required": ["file_path", "old_string", "new_string"]
        });
        ToolDefinition::new(
            "Edit",
            "Edit a file by replacing old_string with new_string. Requires exact match.",
            parameters,
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        super::tool_support::blocking(arguments, ctx, run)
    }
}

fn string_arg<'a>(args: &'a JsonObject, name: &str) -> Result<&'a str, ToolResult> {
    match args.get(name) {
        None | Some(Value::Null) => Err(truncated_call(name)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn preview(s: &str) -> String {
    if js_len(s) <= PREVIEW_LENGTH {
        s.to_string()
    } else {
        format!("{}...", js_prefix(s, PREVIEW_LENGTH))
    }
}

fn run(args: &JsonObject, ctx: &ToolContext) -> ToolResult {
    let raw = match required_string(args, "file_path", "the path to the file to edit", None) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let old = match string_arg(args, "old_string") {
        Ok(s) => s,
        Err(e) => return e,
    };
    let new = match string_arg(args, "new_string") {
        Ok(s) => s,
        Err(e) => return e,
    };
    let replace_all = match optional_bool(args, "replace_all") {
        Ok(b) => b.unwrap_or(false),
        Err(e) => return e,
    };
    let file_path = resolve_path(raw, &ctx.working_directory);
    let shown = file_path.display().to_string();

    if old == new {
        return ToolResult::error("Error: old_string and new_string are the same. No changes needed.")
            .with_details(json!({ "filePath": shown }));
    }
    if old.is_empty() {
        return ToolResult::error("Invalid old_string: old_string cannot be empty.")
            .with_details(json!({ "filePath": shown }));
    }

    let content = match std::fs::read(&file_path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return fs_error(&e, &file_path, "editing"),
    };
    let occurrences = content.matches(old).count();
    if occurrences == 0 {
        return ToolResult::error(format!(
            "Error: old_string not found in file. The exact string \"{}\" does not exist in {shown}",
            preview(old)
        ))
        .with_details(json!({"filePath": shown, "occurrences": 0}));
    }
    if occurrences > 1 && !replace_all {
        return ToolResult::error(format!(
            "Error: old_string appears multiple times ({occurrences} occurrences). Use replace_all: true to replace \
             all occurrences, or provide more context to make the match unique."
        ))
        .with_details(json!({"filePath": shown, "occurrences": occurrences}));
    }

    let (updated, replacements) = if replace_all {
        (content.replace(old, new), occurrences)
    } else {
        (content.replacen(old, new, 1), 1)
    };
    if let Err(e) = std::fs::write(&file_path, updated) {
        return fs_error(&e, &file_path, "editing");
    }

    let diff = unified_diff(old, new, DIFF_CONTEXT_LINES);
    let plural = if replacements > 1 { "s" } else { "" };
    ToolResult::text(format!("Successfully replaced {replacements} occurrence{plural} in {shown}\n\n{diff}"))
        .with_details(json!({
            "filePath": shown,
            "replacements": replacements,
            "oldStringPreview": preview(old),
            "newStringPreview": preview(new),
            "diff": diff,
        }))
}

/// One hunk covering the lines that differ between `old` and `new` (common leading and
/// trailing lines trimmed), with up to `context` unchanged lines on each side.
fn unified_diff(old: &str, new: &str, context: usize) -> String {
    let a: Vec<&str> = old.split('\n').collect();
    let b: Vec<&str> = new.split('\n').collect();
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    // Exclusive ends of the differing ranges.
    let (mut a_end, mut b_end) = (a.len(), b.len());
    while a_end > first + 1 && b_end > first + 1 && a[a_end - 1] == b[b_end - 1] {
        a_end -= 1;
        b_end -= 1;
    }
    let ctx_start = first.saturating_sub(context);
    let a_ctx_end = a.len().min(a_end + context);
    let a_count = a_end - ctx_start + context.min(a.len() - a_end);
    let b_count = b_end - ctx_start + context.min(b.len() - b_end);

    let mut out = vec![format!("@@ -{},{a_count} +{},{b_count} @@", ctx_start + 1, ctx_start + 1)];
    out.extend(a[ctx_start..first].iter().map(|l| format!(" {l}")));
    out.extend(a[first.min(a_end)..a_end].iter().map(|l| format!("-{l}")));
    out.extend(b[first.min(b_end)..b_end].iter().map(|l| format!("+{l}")));
    out.extend(a[a_end..a_ctx_end].iter().map(|l| format!(" {l}")));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    async fn edit(v: Value, dir: &std::path::Path) -> ToolResult {
        EditTool::new().execute(&args(v), &ToolContext::new(dir)).await
    }

    #[tokio::test]
    async fn replaces_a_unique_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "a\nb\nc\nd\ne\n").unwrap();
        let r = edit(json!({"file_path": "f.txt", "old_string": "c", "new_string": "C$&"}), dir.path()).await;
        assert!(!r.failed(), "{}", r.text_content());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\nC$&\nd\ne\n");
        assert_eq!(
            r.text_content(),
            format!("Successfully replaced 1 occurrence in {}\n\n@@ -1,1 +1,1 @@\n-c\n+C$&", path.display())
        );
        let d = r.details.unwrap();
        assert_eq!(d["replacements"], 1);
        assert_eq!(d["oldStringPreview"], "c");
    }

    #[tokio::test]
    async fn multiple_matches_need_replace_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "x = 1\nx = 1\n").unwrap();
        let r = edit(json!({"file_path": "f.txt", "old_string": "x = 1", "new_string": "x = 2"}), dir.path())
            .await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            "Error: old_string appears multiple times (2 occurrences). Use replace_all: true to replace all \
             occurrences, or provide more context to make the match unique."
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x = 1\nx = 1\n");

        let r = edit(
            json!({"file_path": "f.txt", "old_string": "x = 1", "new_string": "x = 2", "replace_all": true}),
            dir.path(),
        )
        .await;
        assert!(!r.failed());
        assert!(r.text_content().starts_with("Successfully replaced 2 occurrences in "));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x = 2\nx = 2\n");
    }

    #[tokio::test]
    async fn not_found_missing_file_and_same_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "hello\n").unwrap();
        let r = edit(json!({"file_path": "f.txt", "old_string": "bye", "new_string": "x"}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            format!(
                "Error: old_string not found in file. The exact string \"bye\" does not exist in {}",
                path.display()
            )
        );
        let r =
            edit(json!({"file_path": "nope.txt", "old_string": "a", "new_string": "b"}), dir.path()).await;
        assert_eq!(r.text_content(), format!("File not found: {}", dir.path().join("nope.txt").display()));
        let r = edit(json!({"file_path": "f.txt", "old_string": "a", "new_string": "a"}), dir.path()).await;
        assert_eq!(r.text_content(), "Error: old_string and new_string are the same. No changes needed.");
        let r = edit(json!({"file_path": "f.txt", "old_string": "", "new_string": "a"}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
    }

    #[tokio::test]
    async fn bad_arguments_name_the_parameter() {
        let dir = tempfile::tempdir().unwrap();
        let r = edit(json!({"old_string": "a", "new_string": "b"}), dir.path()).await;
        assert_eq!(
            r.text_content(),
            "Missing required parameter: file_path. Please provide the path to the file to edit."
        );
        let r = edit(json!({"file_path": "f", "new_string": "b"}), dir.path()).await;
        assert_eq!(
            r.text_content(),
            "Missing required parameter: old_string. The tool call may have been truncated."
        );
        let r = edit(json!({"file_path": "f", "old_string": "a"}), dir.path()).await;
        assert_eq!(
            r.text_content(),
            "Missing required parameter: new_string. The tool call may have been truncated."
        );
        let r = edit(json!({"file_path": "f", "old_string": "a", "new_string": 1}), dir.path()).await;
        assert!(r.failed() && r.text_content().contains("new_string"));
        let r = edit(
            json!({"file_path": "f", "old_string": "a", "new_string": "b", "replace_all": "yes"}),
            dir.path(),
        )
        .await;
        assert!(r.failed() && r.text_content().contains("replace_all"));
    }

    #[test]
    fn diff_shows_context() {
        let d = unified_diff("a\nb\nc\nd\ne", "a\nb\nX\nd\ne", 2);
        assert_eq!(d, "@@ -1,5 +1,5 @@\n a\n b\n-c\n+X\n d\n e");
        let d = unified_diff("a", "a\nb", 2);
        assert_eq!(d, "@@ -1,1 +1,2 @@\n a\n+b");
    }
}

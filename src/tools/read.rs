//! `Read`: a file's lines, numbered (`{n:>6}→{line}`), from `offset` (0-based) for `limit`
//! lines (default 2000); lines longer than 2000 characters are cut with `... [truncated]`,
//! and output above 20000 estimated tokens is cut keeping the first 10 lines.

use serde_json::json;

use super::tool_support::{
    estimate_tokens, fs_error, js_len, js_prefix, js_space, optional_number, required_string, resolve_path,
    thousands,
};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Lines read when the call gives no `limit`.
pub const DEFAULT_LIMIT_LINES: usize = 2000;
/// Lines longer than this (UTF-16 code units) are cut.
pub const MAX_LINE_LENGTH: usize = 2000;
/// Output above this many estimated tokens (4 characters each) is cut.
pub const MAX_OUTPUT_TOKENS: usize = 20_000;
/// Lines always kept when the output is cut.
const PRESERVE_START_LINES: usize = 10;

const PATH_EXAMPLE: &str = "\"/path/to/file.txt\" or \"src/index.ts\"";

/// The `Read` tool.
#[derive(Debug, Clone, Default)]
pub struct ReadTool;

impl ReadTool {
    /// The tool with the default settings.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for ReadTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute or relative path to the file to read"},
                "offset": {"type": "number", "description": "Line number to start reading from (0-indexed)"},
                "limit": {"type": "number", "description": "Maximum number of lines to read"}
            },
            "required": ["file_path"]
        });
        ToolDefinition::new(
            "Read",
            "Read the contents of a file. Returns the file content with line numbers.",
            parameters,
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        super::tool_support::blocking(arguments, ctx, run)
    }

    fn read_only(&self) -> bool {
        true
    }
}

fn run(args: &JsonObject, ctx: &ToolContext) -> ToolResult {
    let raw =
        match required_string(args, "file_path", "the path to the file you want to read", Some(PATH_EXAMPLE))
        {
            Ok(s) => s.trim_matches(js_space),
            Err(e) => return e,
        };
    if raw.is_empty() || raw == "/" || raw == "." {
        return ToolResult::error(format!(
            "Invalid file_path: \"{raw}\". Please provide a specific file path, not a directory root. Example: {PATH_EXAMPLE}"
        ))
        .with_details(json!({ "file_path": raw }));
    }
    let offset = match optional_number(args, "offset") {
        Ok(v) => v.unwrap_or(0.0).max(0.0) as usize,
        Err(e) => return e,
    };
    let limit = match optional_number(args, "limit") {
        Ok(v) => v.map(|l| l.max(0.0) as usize).unwrap_or(DEFAULT_LIMIT_LINES),
        Err(e) => return e,
    };
    let file_path = resolve_path(raw, &ctx.working_directory);

    let bytes = match std::fs::read(&file_path) {
        Ok(b) => b,
        Err(e) => return fs_error(&e, &file_path, "reading"),
    };
    let content = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = content.split('\n').collect();
    let total_lines = lines.len();
    let start = offset.min(total_lines);
    let end = total_lines.min(start.saturating_add(limit));
    let selected = &lines[start..end];

    let formatted = selected
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let n = start + i + 1;
            if js_len(line) > MAX_LINE_LENGTH {
                format!("{n:>6}→{}... [truncated]", js_prefix(line, MAX_LINE_LENGTH))
            } else {
                format!("{n:>6}→{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");

    let message = format!(
        "\n\n... [Output truncated: {total_lines} total lines, showing {} lines. Output exceeded {} token limit. \
         Use offset/limit parameters to read specific sections.]",
        selected.len(),
        thousands(MAX_OUTPUT_TOKENS as u64)
    );
    let original_tokens = estimate_tokens(js_len(&formatted));
    let (text, truncated) = if original_tokens <= MAX_OUTPUT_TOKENS as u64 {
        (formatted, false)
    } else {
        (truncate_keeping_start(&formatted, MAX_OUTPUT_TOKENS * 4, &message), true)
    };

    let mut details = json!({
        "filePath": file_path.display().to_string(),
        "totalLines": total_lines,
        "linesReturned": selected.len(),
        "startLine": start + 1,
        "endLine": end,
        "truncated": truncated,
    });
    if truncated {
        details["originalTokens"] = json!(original_tokens);
        details["finalTokens"] = json!(estimate_tokens(js_len(&text)));
    }
    ToolResult::text(text).with_details(details)
}

/// Cuts `output` to about `max_chars`, keeping its first lines whole, then as many further
/// whole lines as fit, then `message`.
fn truncate_keeping_start(output: &str, max_chars: usize, message: &str) -> String {
    let lines: Vec<&str> = output.split('\n').collect();
    let keep = PRESERVE_START_LINES.min(lines.len());
    let start_content = lines[..keep].join("\n");
    let reserved = js_len(&start_content) + js_len(message) + 2;
    if reserved >= max_chars {
        return format!("{start_content}{message}");
    }
    let remaining = max_chars - reserved;
    let mut middle = String::new();
    let mut middle_len = 0;
    for line in &lines[keep..] {
        let len = js_len(line) + 1;
        if middle_len + len > remaining {
            break;
        }
        middle.push_str(line);
        middle.push('\n');
        middle_len += len;
    }
    if middle.is_empty() {
        format!("{start_content}{message}")
    } else {
        format!("{start_content}\n{}{message}", middle.trim_end_matches(js_space))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    async fn read(v: Value, dir: &std::path::Path) -> ToolResult {
        ReadTool::new().execute(&args(v), &ToolContext::new(dir)).await
    }

    #[tokio::test]
    async fn numbers_lines_with_offset_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), "one\ntwo\nthree\nfour\n").unwrap();
        let r = read(json!({"file_path": "f.txt"}), dir.path()).await;
        assert!(!r.failed());
        assert_eq!(r.text_content(), "     1→one\n     2→two\n     3→three\n     4→four\n     5→");
        let r = read(json!({"file_path": "f.txt", "offset": 1, "limit": 2}), dir.path()).await;
        assert_eq!(r.text_content(), "     2→two\n     3→three");
        let d = r.details.unwrap();
        assert_eq!(d["totalLines"], 5);
        assert_eq!(d["linesReturned"], 2);
        assert_eq!(d["startLine"], 2);
        assert_eq!(d["endLine"], 3);
        assert_eq!(d["truncated"], false);
        let abs = dir.path().join("f.txt");
        let r = read(json!({"file_path": abs.to_str().unwrap(), "offset": 10}), dir.path()).await;
        assert!(!r.failed());
        assert_eq!(r.text_content(), "");
    }

    #[tokio::test]
    async fn long_lines_and_large_output_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("wide.txt"), "x".repeat(2500)).unwrap();
        let r = read(json!({"file_path": "wide.txt"}), dir.path()).await;
        assert_eq!(r.text_content(), format!("     1→{}... [truncated]", "x".repeat(2000)));

        let line = "y".repeat(100);
        let big = vec![line.as_str(); 1500].join("\n");
        std::fs::write(dir.path().join("big.txt"), big).unwrap();
        let r = read(json!({"file_path": "big.txt"}), dir.path()).await;
        let text = r.text_content();
        assert!(text.ends_with(
            "... [Output truncated: 1500 total lines, showing 1500 lines. Output exceeded 20,000 token limit. \
             Use offset/limit parameters to read specific sections.]"
        ));
        assert!(js_len(&text) <= 80_000);
        assert_eq!(r.details.unwrap()["truncated"], true);
    }

    #[tokio::test]
    async fn missing_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let r = read(json!({"file_path": "nope.txt"}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(r.text_content(), format!("File not found: {}", dir.path().join("nope.txt").display()));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let r = read(json!({"file_path": "sub"}), dir.path()).await;
        assert!(r.failed());
        assert!(r.text_content().starts_with("Path is a directory, not a file: "));
    }

    #[tokio::test]
    async fn bad_arguments_name_the_parameter() {
        let dir = tempfile::tempdir().unwrap();
        let r = read(json!({}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            "Missing required parameter: file_path. Please provide the path to the file you want to read. \
             Example: \"/path/to/file.txt\" or \"src/index.ts\""
        );
        let r = read(json!({"file_path": 3}), dir.path()).await;
        assert!(r.text_content().starts_with("Missing required parameter: file_path."));
        let r = read(json!({"file_path": " / "}), dir.path()).await;
        assert!(r
            .text_content()
            .starts_with("Invalid file_path: \"/\". Please provide a specific file path"));
        let r = read(json!({"file_path": "a.txt", "limit": "ten"}), dir.path()).await;
        assert!(r.failed());
        assert!(r.text_content().contains("limit"));
    }
}

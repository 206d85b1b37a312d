//! `Write`: writes a file whole, creating missing parent directories.

use serde_json::{json, Value};

use super::tool_support::{fs_error, required_string, resolve_path, truncated_call, wrong_type};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// The `Write` tool.
#[derive(Debug, Clone, Default)]
pub struct WriteTool;

impl WriteTool {
    /// The tool.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for WriteTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute or relative path to the file to write"},
                "content": {"type": "string", "description": "The content to write to the file"}
            },
            "required": ["file_path", "content"]
        });
        ToolDefinition::new(
            "Write",
            "Write content to a file. Creates parent directories if they do not exist.",
            parameters,
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        super::tool_support::blocking(arguments, ctx, run)
    }
}

fn run(args: &JsonObject, ctx: &ToolContext) -> ToolResult {
    let raw = match required_string(args, "file_path", "the path to write to", None) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let content = match args.get("content") {
        None | Some(Value::Null) => return truncated_call("content"),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return wrong_type("content", "a string", other),
    };
    let file_path = resolve_path(raw, &ctx.working_directory);
    let existed = file_path.exists();
    if let Some(parent) = file_path.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return fs_error(&e, &file_path, "writing");
        }
    }
    if let Err(e) = std::fs::write(&file_path, content) {
        return fs_error(&e, &file_path, "writing");
    }
    let bytes = content.len();
    let shown = file_path.display();
    let text = if existed {
        format!("Successfully wrote {bytes} bytes to {shown} (overwritten)")
    } else {
        format!("Successfully created {shown} with {bytes} bytes")
    };
    ToolResult::text(text).with_details(json!({
        "filePath": shown.to_string(),
        "bytesWritten": bytes,
        "created": !existed,
    }))
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

    async fn write(v: Value, dir: &std::path::Path) -> ToolResult {
        WriteTool::new().execute(&args(v), &ToolContext::new(dir)).await
    }

    #[tokio::test]
    async fn creates_directories_then_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        let r = write(json!({"file_path": "a/b/c.txt", "content": "héllo"}), dir.path()).await;
        assert!(!r.failed());
        assert_eq!(r.text_content(), format!("Successfully created {} with 6 bytes", path.display()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "héllo");
        let d = r.details.unwrap();
        assert_eq!(d["created"], true);
        assert_eq!(d["bytesWritten"], 6);

        let r = write(json!({"file_path": path.to_str().unwrap(), "content": "new"}), dir.path()).await;
        assert!(!r.failed());
        assert_eq!(
            r.text_content(),
            format!("Successfully wrote 3 bytes to {} (overwritten)", path.display())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(r.details.unwrap()["created"], false);
    }

    #[tokio::test]
    async fn writes_empty_content() {
        let dir = tempfile::tempdir().unwrap();
        let r = write(json!({"file_path": "empty.txt", "content": ""}), dir.path()).await;
        assert!(!r.failed());
        assert_eq!(std::fs::read_to_string(dir.path().join("empty.txt")).unwrap(), "");
    }

    #[tokio::test]
    async fn bad_arguments_name_the_parameter() {
        let dir = tempfile::tempdir().unwrap();
        let r = write(json!({"content": "x"}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            "Missing required parameter: file_path. Please provide the path to write to."
        );
        let r = write(json!({"file_path": "x.txt"}), dir.path()).await;
        assert!(r.failed());
        assert_eq!(
            r.text_content(),
            "Missing required parameter: content. The tool call may have been truncated."
        );
        let r = write(json!({"file_path": "x.txt", "content": 5}), dir.path()).await;
        assert!(r.failed());
        assert!(r.text_content().contains("content"));
        assert!(!dir.path().join("x.txt").exists());
    }
}

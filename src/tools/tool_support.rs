//! Helpers shared by the core tools: argument validation, path resolution, JavaScript-style
//! string lengths (UTF-16 code units, as the TypeScript server measured them), number
//! formatting and file-system error results.

use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};

use super::ToolContext;
use crate::core::tools::ToolResult;
use crate::core::wire::JsonObject;

/// The error for a required string parameter that is missing or not a string:
/// `Missing required parameter: <name>. Please provide <what>.[ Example: <example>]`.
pub(crate) fn required_string<'a>(
    args: &'a JsonObject,
    name: &str,
    what: &str,
    example: Option<&str>,
) -> Result<&'a str, ToolResult> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        other => Err(missing(name, what, example, other)),
    }
}

/// The "missing required parameter" error, with the value given (if any) in the details.
fn missing(name: &str, what: &str, example: Option<&str>, given: Option<&Value>) -> ToolResult {
    let example = example.map(|e| format!(" Example: {e}")).unwrap_or_default();
    let mut details = JsonObject::new();
    if let Some(v) = given {
        details.insert(name.to_string(), v.clone());
    }
    ToolResult::error(format!("Missing required parameter: {name}. Please provide {what}.{example}"))
        .with_details(Value::Object(details))
}

/// Like [`required_string`], with an empty string reported as missing (same message, the
/// empty value in the details), as the search tools do for `pattern`.
pub(crate) fn required_non_empty<'a>(
    args: &'a JsonObject,
    name: &str,
    what: &str,
    example: Option<&str>,
) -> Result<&'a str, ToolResult> {
    match args.get(name) {
        Some(v @ Value::String(s)) if s.is_empty() => Err(missing(name, what, example, Some(v))),
        _ => required_string(args, name, what, example),
    }
}

/// An optional directory parameter, `.` (the working directory) when absent, null or empty.
pub(crate) fn optional_dir<'a>(args: &'a JsonObject, name: &str) -> Result<&'a str, ToolResult> {
    match args.get(name) {
        None | Some(Value::Null) => Ok("."),
        Some(Value::String(s)) if s.is_empty() => Ok("."),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

/// A required parameter whose absence the TypeScript tools report as a possibly truncated
/// call: `Missing required parameter: <name>. The tool call may have been truncated.`
pub(crate) fn truncated_call(name: &str) -> ToolResult {
    ToolResult::error(format!("Missing required parameter: {name}. The tool call may have been truncated."))
}

/// The error for a parameter of the wrong JSON type.
pub(crate) fn wrong_type(name: &str, expected: &str, value: &Value) -> ToolResult {
    let mut details = JsonObject::new();
    details.insert(name.to_string(), value.clone());
    ToolResult::error(format!("Invalid parameter: {name} must be {expected}."))
        .with_details(Value::Object(details))
}

/// An optional number parameter (absent or `null` gives `None`).
pub(crate) fn optional_number(args: &JsonObject, name: &str) -> Result<Option<f64>, ToolResult> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(wrong_type(name, "a number", other)),
    }
}

/// An optional boolean parameter (absent or `null` gives `None`).
pub(crate) fn optional_bool(args: &JsonObject, name: &str) -> Result<Option<bool>, ToolResult> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(name, "a boolean", other)),
    }
}

/// Resolves `path` against `working_directory` the way Node's `path.join` does for relative
/// paths (lexically normalized); absolute paths are returned unchanged.
pub(crate) fn resolve_path(path: &str, working_directory: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut out = PathBuf::new();
    for c in working_directory.join(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Length of `s` in UTF-16 code units (JavaScript's `string.length`).
pub(crate) fn js_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The longest prefix of `s` at most `max` UTF-16 code units long (JavaScript's
/// `substring(0, max)`, never splitting a character).
pub(crate) fn js_prefix(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &s[..i];
        }
    }
    s
}

/// Whether `c` is JavaScript whitespace (`\s`, `trim`).
pub(crate) fn js_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// A non-negative integer with thousands separators (`toLocaleString()` in en-US).
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `ceil(chars / 4)`: the TypeScript tools' token estimate.
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// The Node error code for an I/O error (`ENOENT`, ...), when known.
fn error_code(err: &io::Error) -> Option<&'static str> {
    Some(match err.kind() {
        io::ErrorKind::NotFound => "ENOENT",
        io::ErrorKind::PermissionDenied => "EACCES",
        io::ErrorKind::IsADirectory => "EISDIR",
        io::ErrorKind::NotADirectory => "ENOTDIR",
        io::ErrorKind::AlreadyExists => "EEXIST",
        io::ErrorKind::DirectoryNotEmpty => "ENOTEMPTY",
        io::ErrorKind::ReadOnlyFilesystem => "EROFS",
        io::ErrorKind::StorageFull => "ENOSPC",
        _ => return None,
    })
}

/// A file-system failure as the model sees it (`File not found: <path>`, `Permission denied:
/// <path>`, ..., else `Error <operation> file: <message>`), with `{filePath, errorCode}`.
pub(crate) fn fs_error(err: &io::Error, file_path: &Path, operation: &str) -> ToolResult {
    let path = file_path.display();
    let code = error_code(err);
    let text = match code {
        Some("ENOENT") => format!("File not found: {path}"),
        Some("EACCES") => format!("Permission denied: {path}"),
        Some("EISDIR") => format!("Path is a directory, not a file: {path}"),
        Some("ENOTDIR") => format!("Path is not a directory: {path}"),
        _ => format!("Error {operation} file: {err}"),
    };
    ToolResult::error(text).with_details(json!({"filePath": path.to_string(), "errorCode": code}))
}

/// Runs a tool's blocking filesystem work on the blocking thread pool, so a slow disk never
/// stalls the async runtime that streams other sessions. A panic in `work` becomes an error
/// result.
pub(crate) fn blocking<'a>(
    arguments: &JsonObject,
    ctx: &ToolContext,
    work: fn(&JsonObject, &ToolContext) -> ToolResult,
) -> super::ToolFuture<'a> {
    let (arguments, ctx) = (arguments.clone(), ctx.clone());
    Box::pin(async move {
        tokio::task::spawn_blocking(move || work(&arguments, &ctx))
            .await
            .unwrap_or_else(|e| ToolResult::error(format!("the tool failed: {e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_lexically() {
        let wd = Path::new("/work/project");
        assert_eq!(resolve_path("a/./b/../c.txt", wd), PathBuf::from("/work/project/a/c.txt"));
        assert_eq!(resolve_path("/etc/hosts", wd), PathBuf::from("/etc/hosts"));
        assert_eq!(resolve_path("../x", wd), PathBuf::from("/work/x"));
    }

    #[test]
    fn js_string_helpers() {
        assert_eq!(js_len("a😀"), 3);
        assert_eq!(js_prefix("a😀b", 2), "a");
        assert_eq!(js_prefix("abc", 5), "abc");
        assert_eq!(thousands(10000), "10,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(estimate_tokens(40001), 10001);
    }
}

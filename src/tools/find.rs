//! `Find`: lists the files and directories under a directory whose path (relative to that
//! directory) or name matches a glob pattern.
//!
//! Owns the `Find` tool's surface (the TypeScript server's parameters: `pattern`, `path`,
//! `type`, `maxDepth` (default 10), `exclude`, `showSize`, `sortByTime`, `maxResults`
//! (default 100)), the walk, and the result text: one relative path a line, directories with a
//! trailing `/`, sizes right-aligned in 8 columns when asked for, and a notice when the limit
//! cut the list. The walk honours `.gitignore`/`.ignore` files (the `ignore` crate) and skips
//! hidden directories (`.git` included) but not hidden files, as the TypeScript tool did; it
//! runs on a blocking thread and never follows symlinks. Must not: read file contents, write
//! anything, or fail with a panic (every failure is an `isError` result).

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use globset::{Glob, GlobBuilder, GlobMatcher};
use ignore::WalkBuilder;
use serde_json::{json, Value};

use super::tool_support::{
    js_space, optional_bool, optional_dir, optional_number, required_non_empty, resolve_path, wrong_type,
};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Results returned when the call gives no `maxResults`.
pub const DEFAULT_MAX_RESULTS: usize = 100;
/// Directory levels searched below the search directory when the call gives no `maxDepth`
/// (`0` lists only the directory's own entries).
pub const DEFAULT_MAX_DEPTH: usize = 10;

const PATTERN_EXAMPLE: &str = "\"*.ts\", \"**/*.js\", or \"src/**/*.tsx\"";

/// The `Find` tool.
#[derive(Debug, Clone, Default)]
pub struct FindTool;

impl FindTool {
    /// The tool with the default settings.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for FindTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": "Glob matched against each entry's path relative to the search directory, \
                                    or its name (e.g. \"*.ts\", \"**/*.js\", \"src/**/*.tsx\")"
                },
                "path": {"type": "string", "description": "Directory to search (defaults to the working directory)"},
                "type": {
                    "type": "string",
                    "description": "Which entries to list: \"file\", \"directory\" or \"all\" (the default)",
                    "enum": ["file", "directory", "all"]
                },
                "maxDepth": {"type": "number", "description": "How many directory levels deep to search (default 10)"},
                "exclude": {
                    "type": "array",
                    "description": "Names or simple globs of entries to leave out (excluded directories are not searched)",
                    "items": {"type": "string"}
                },
                "showSize": {"type": "boolean", "description": "Prefix each file with its size"},
                "sortByTime": {"type": "boolean", "description": "List the most recently modified entries first"},
                "maxResults": {"type": "number", "description": "Most entries to return (default 100)"}
            },
            "required": ["pattern"]
        });
        ToolDefinition::new(
            "Find",
            "Find files by glob pattern. Lists matching file paths relative to the searched directory, \
                          skipping hidden and git-ignored directories.",
            parameters,
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(run(arguments, ctx))
    }

    fn read_only(&self) -> bool {
        true
    }
}

/// Which entries a search lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeFilter {
    File,
    Directory,
    All,
}

/// One validated call.
#[derive(Debug)]
struct Request {
    pattern: String,
    search_path: PathBuf,
    type_filter: TypeFilter,
    max_depth: Option<usize>,
    exclude: Vec<String>,
    show_size: bool,
    sort_by_time: bool,
    max_results: usize,
}

/// One listed entry.
#[derive(Debug)]
struct Entry {
    path: String,
    is_dir: bool,
    size: Option<u64>,
    mtime: Option<SystemTime>,
}

async fn run(args: &JsonObject, ctx: &ToolContext) -> ToolResult {
    let request = match parse(args, ctx) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match tokio::task::spawn_blocking(move || search(&request)).await {
        Ok(result) => result,
        Err(join) => ToolResult::error(format!("Search failed: {join}")),
    }
}

fn parse(args: &JsonObject, ctx: &ToolContext) -> Result<Request, ToolResult> {
    let raw = required_non_empty(args, "pattern", "a glob pattern to match files", Some(PATTERN_EXAMPLE))?;
    let pattern = raw.trim_matches(js_space);
    if pattern.is_empty() {
        return Err(ToolResult::error(
            "Invalid pattern: pattern cannot be empty. Please provide a glob pattern like \"*.ts\" or \"**/*.js\"",
        )
        .with_details(json!({ "pattern": raw })));
    }
    let path = optional_dir(args, "path")?;
    let type_filter = match args.get("type") {
        None | Some(Value::Null) => TypeFilter::All,
        Some(Value::String(s)) if s == "all" => TypeFilter::All,
        Some(Value::String(s)) if s == "file" => TypeFilter::File,
        Some(Value::String(s)) if s == "directory" => TypeFilter::Directory,
        Some(other) => return Err(wrong_type("type", "one of \"file\", \"directory\" or \"all\"", other)),
    };
    // `maxDepth` counts levels below the search directory; a negative depth finds nothing.
    let max_depth = match optional_number(args, "maxDepth")? {
        None => Some(DEFAULT_MAX_DEPTH),
        Some(d) if d < 0.0 => None,
        Some(d) => Some(d.floor() as usize),
    };
    let exclude = match args.get("exclude") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        }
        Some(other) => return Err(wrong_type("exclude", "an array of strings", other)),
    };
    let show_size = optional_bool(args, "showSize")?.unwrap_or(false);
    let sort_by_time = optional_bool(args, "sortByTime")?.unwrap_or(false);
    let max_results = match optional_number(args, "maxResults")? {
        None => DEFAULT_MAX_RESULTS,
        Some(n) => n.max(1.0).floor() as usize,
    };
    Ok(Request {
        pattern: pattern.to_owned(),
        search_path: resolve_path(path, &ctx.working_directory),
        type_filter,
        max_depth,
        exclude,
        show_size,
        sort_by_time,
        max_results,
    })
}

/// The `pattern` glob: `*` and `?` stay within one path segment, `**` crosses them.
fn compile_pattern(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern).literal_separator(true).build()?.compile_matcher())
}

/// An `exclude` entry, matched against names (`*` matches anything).
fn compile_exclude(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(pattern)?.compile_matcher())
}

fn search(req: &Request) -> ToolResult {
    let search_path = req.search_path.display().to_string();
    match std::fs::metadata(&req.search_path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return ToolResult::error(format!("Path is not a directory: {search_path}"))
                .with_details(json!({ "searchPath": search_path }));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ToolResult::error(format!("Path not found: {search_path}"))
                .with_details(json!({"searchPath": search_path, "errorCode": "ENOENT"}));
        }
        Err(e) => {
            return ToolResult::error(format!("Search failed: {e}"))
                .with_details(json!({"searchPath": search_path, "error": e.to_string()}));
        }
    }
    let matcher = match compile_pattern(&req.pattern) {
        Ok(m) => m,
        Err(e) => {
            return ToolResult::error(format!("Invalid glob pattern \"{}\": {}", req.pattern, e.kind()))
                .with_details(json!({"pattern": req.pattern, "searchPath": search_path}));
        }
    };
    let mut excludes = Vec::with_capacity(req.exclude.len());
    for pattern in &req.exclude {
        match compile_exclude(pattern) {
            Ok(m) => excludes.push((pattern.clone(), m)),
            Err(e) => {
                return ToolResult::error(format!("Invalid exclude pattern \"{pattern}\": {}", e.kind()))
                    .with_details(json!({"exclude": req.exclude, "searchPath": search_path}));
            }
        }
    }
    let Some(max_depth) = req.max_depth else {
        return no_files(req, &search_path);
    };

    let mut walker = WalkBuilder::new(&req.search_path);
    walker
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .max_depth(Some(max_depth + 1))
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let name = entry.file_name().to_string_lossy();
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir && name.starts_with('.') {
                return false;
            }
            !excludes.iter().any(|(literal, m)| name == literal.as_str() || m.is_match(name.as_ref()))
        });

    // With `sortByTime` every match is collected so the newest come first; otherwise the walk
    // stops one entry past the limit (which says the list was cut).
    let need_stats = req.show_size || req.sort_by_time;
    let mut entries = Vec::new();
    let mut truncated = false;
    for item in walker.build() {
        let Ok(entry) = item else { continue };
        if entry.depth() == 0 {
            continue;
        }
        let Some(file_type) = entry.file_type() else { continue };
        let relative = relative_path(entry.path(), &req.search_path);
        let name = entry.file_name().to_string_lossy();
        if !(matcher.is_match(&relative) || matcher.is_match(name.as_ref())) {
            continue;
        }
        let wanted = match req.type_filter {
            TypeFilter::All => true,
            TypeFilter::File => file_type.is_file(),
            TypeFilter::Directory => file_type.is_dir(),
        };
        if !wanted {
            continue;
        }
        if !req.sort_by_time && entries.len() >= req.max_results {
            truncated = true;
            break;
        }
        let (size, mtime) = match entry.metadata() {
            Ok(m) if need_stats && file_type.is_file() => (Some(m.len()), m.modified().ok()),
            _ => (None, None),
        };
        entries.push(Entry { path: relative, is_dir: file_type.is_dir(), size, mtime });
    }

    if entries.is_empty() {
        return no_files(req, &search_path);
    }
    if req.sort_by_time {
        // Newest first; entries without a time (directories) last, in walk order.
        entries.sort_by_key(|e| Reverse(e.mtime.unwrap_or(SystemTime::UNIX_EPOCH)));
        if entries.len() > req.max_results {
            entries.truncate(req.max_results);
            truncated = true;
        }
    }

    let mut text = format_entries(&entries, req.show_size);
    if truncated {
        text.push_str(&format!(
            "\n\n... [Results limited to {} entries; more match. Use maxResults or a narrower pattern or path to see more.]",
            req.max_results
        ));
    }
    ToolResult::text(text).with_details(json!({
        "pattern": req.pattern,
        "searchPath": search_path,
        "fileCount": entries.len(),
        "truncated": truncated,
    }))
}

fn no_files(req: &Request, search_path: &str) -> ToolResult {
    ToolResult::text(format!("No files found matching: {}", req.pattern)).with_details(json!({
        "pattern": req.pattern,
        "searchPath": search_path,
        "fileCount": 0,
    }))
}

/// `path` relative to `base`, with `/` separators.
fn relative_path(path: &Path, base: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn format_entries(entries: &[Entry], show_size: bool) -> String {
    entries
        .iter()
        .map(|e| {
            let mut line = e.path.clone();
            if e.is_dir {
                line.push('/');
            }
            match e.size {
                Some(size) if show_size => format!("{:>8}  {line}", format_size(size)),
                _ => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bytes as `512`, `1.5K`, `2.0M`, `1.1G`.
fn format_size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K {
        bytes.to_string()
    } else if b < K * K {
        format!("{:.1}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / (K * K))
    } else {
        format!("{:.1}G", b / (K * K * K))
    }
}

#[cfg(test)]
mod tests;

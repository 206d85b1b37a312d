//! `Grep`: searches file contents for a regular expression.
//!
//! Owns the `Grep` tool's surface (the TypeScript server's parameters `pattern`, `path`,
//! `glob`, `ignoreCase`, `context`, `maxResults` (default 100), plus an optional
//! `outputMode` of `content` (the default and the TypeScript output), `files` or `count`), the
//! search and the result text. Content output groups matching lines under a `<file>:` header
//! as `<n>: <line>` (`  <n>: <line>` when context lines are shown), with a blank line between
//! files; a cut list ends with a notice, and output above 15000 estimated tokens is cut
//! keeping its first 5 lines. Directories are walked in path order honouring
//! `.gitignore`/`.ignore` files, skipping hidden directories and the TypeScript server's
//! skip list (`node_modules`, `target`, ...); files with a binary extension, a NUL byte or
//! more than 10 MB are skipped. Searching runs on a blocking thread (`grep-searcher` with a
//! `grep-regex` matcher). Must not: write files, follow symlinks, or fail with a panic (bad
//! regexes, globs, paths and arguments are `isError` results).

use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{
    BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkContextKind, SinkMatch,
};
use ignore::WalkBuilder;
use serde_json::{json, Value};

use super::tool_support::{
    estimate_tokens, js_len, js_space, optional_bool, optional_dir, optional_number, required_non_empty,
    resolve_path, thousands, wrong_type,
};
use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// Results (matching lines, or files in the `files`/`count` modes) when the call gives no
/// `maxResults`.
pub const DEFAULT_MAX_RESULTS: usize = 100;
/// Files larger than this are not searched.
pub const MAX_FILE_SIZE_BYTES: u64 = 10 * 1024 * 1024;
/// Output above this many estimated tokens (4 characters each) is cut.
pub const MAX_OUTPUT_TOKENS: usize = 15_000;
/// Lines always kept when the output is cut.
const PRESERVE_START_LINES: usize = 5;

/// Extensions (lower case, without the dot) of files never searched: the TypeScript
/// server's default binary list.
pub const BINARY_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "webp", "svg", "pdf", "doc", "docx", "xls", "xlsx", "ppt",
    "pptx", "zip", "tar", "gz", "rar", "7z", "exe", "dll", "so", "dylib", "woff", "woff2", "ttf", "eot",
    "mp3", "mp4", "avi", "mov", "wav", "o", "a", "lib", "obj", "pyc", "class", "jar",
];

/// Directory names never searched (besides every hidden directory): the TypeScript server's
/// default skip list.
pub const SKIP_DIRECTORIES: &[&str] =
    &["node_modules", "__pycache__", "dist", "build", ".git", ".svn", ".hg", "vendor", "target"];

const PATTERN_EXAMPLE: &str = "\"function.*export\" or \"TODO\"";

/// The `Grep` tool.
#[derive(Debug, Clone, Default)]
pub struct GrepTool;

impl GrepTool {
    /// The tool with the default settings.
    pub fn new() -> Self {
        Self
    }
}

impl Tool for GrepTool {
    fn definition(&self) -> ToolDefinition {
        let parameters = json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Regular expression to look for"},
                "path": {"type": "string", "description": "File or directory to search (defaults to the working directory)"},
                "glob": {
                    "type": "string",
                    "description": "Only search files whose name matches this glob (e.g. \"*.ts\", \"*.{js,jsx}\")"
                },
                "ignoreCase": {"type": "boolean", "description": "Match regardless of case"},
                "context": {"type": "number", "description": "Lines to show before and after each match"},
                "maxResults": {
                    "type": "number",
                    "description": "Most matching lines to return (files in the files and count modes; default 100)"
                },
                "outputMode": {
                    "type": "string",
                    "description": "\"content\" (matching lines, the default), \"files\" (paths of matching files) \
                                    or \"count\" (matches per file)",
                    "enum": ["content", "files", "count"]
                }
            },
            "required": ["pattern"]
        });
        ToolDefinition::new(
            "Grep",
            "Search file contents with a regular expression. Lists matching lines with their file \
                          paths and line numbers.",
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

/// What a search reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputMode {
    /// Matching lines (and context), grouped by file.
    Content,
    /// Paths of files with at least one match.
    Files,
    /// Matching lines per file.
    Count,
}

/// One validated call.
#[derive(Debug)]
struct Request {
    pattern: String,
    search_path: PathBuf,
    glob: Option<String>,
    ignore_case: bool,
    context: usize,
    max_results: usize,
    mode: OutputMode,
}

/// A line of content output.
#[derive(Debug)]
struct Line {
    number: u64,
    text: String,
}

/// What one file gave.
#[derive(Debug)]
struct FileHits {
    path: String,
    lines: Vec<Line>,
    matches: usize,
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
    let what = "a regex pattern to search for";
    let raw = required_non_empty(args, "pattern", what, Some(PATTERN_EXAMPLE))?;
    let pattern = raw.trim_matches(js_space);
    if pattern.is_empty() {
        return Err(ToolResult::error(
            "Invalid pattern: pattern cannot be empty. Please provide a regex pattern to search for.",
        )
        .with_details(json!({ "pattern": raw })));
    }
    let path = optional_dir(args, "path")?;
    let glob = match args.get("glob") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(wrong_type("glob", "a string", other)),
    };
    let mode = match args.get("outputMode") {
        None | Some(Value::Null) => OutputMode::Content,
        Some(Value::String(s)) if s == "content" => OutputMode::Content,
        Some(Value::String(s)) if s == "files" => OutputMode::Files,
        Some(Value::String(s)) if s == "count" => OutputMode::Count,
        Some(other) => {
            return Err(wrong_type("outputMode", "one of \"content\", \"files\" or \"count\"", other))
        }
    };
    Ok(Request {
        pattern: pattern.to_owned(),
        search_path: resolve_path(path, &ctx.working_directory),
        glob,
        ignore_case: optional_bool(args, "ignoreCase")?.unwrap_or(false),
        context: optional_number(args, "context")?.unwrap_or(0.0).max(0.0).floor() as usize,
        max_results: optional_number(args, "maxResults")?
            .map(|n| n.max(1.0).floor() as usize)
            .unwrap_or(DEFAULT_MAX_RESULTS),
        mode,
    })
}

fn search(req: &Request) -> ToolResult {
    let search_path = req.search_path.display().to_string();
    let matcher = match RegexMatcherBuilder::new()
        .case_insensitive(req.ignore_case)
        .line_terminator(Some(b'\n'))
        .build(&req.pattern)
    {
        Ok(m) => m,
        Err(e) => {
            return ToolResult::error(format!("Invalid regex pattern \"{}\": {e}", req.pattern))
                .with_details(json!({"pattern": req.pattern, "searchPath": search_path}));
        }
    };
    let glob = match req.glob.as_deref().map(|g| GlobBuilder::new(g).literal_separator(true).build()) {
        None => None,
        Some(Ok(g)) => Some(g.compile_matcher()),
        Some(Err(e)) => {
            return ToolResult::error(format!(
                "Invalid glob pattern \"{}\": {}",
                req.glob.as_deref().unwrap_or(""),
                e.kind()
            ))
            .with_details(json!({"glob": req.glob, "searchPath": search_path}));
        }
    };
    let metadata = match std::fs::metadata(&req.search_path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return ToolResult::error(format!("Path not found: {search_path}"))
                .with_details(json!({"searchPath": search_path, "errorCode": "ENOENT"}));
        }
        Err(e) => {
            return ToolResult::error(format!("Search failed: {e}"))
                .with_details(json!({"searchPath": search_path, "error": e.to_string()}));
        }
    };

    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(0))
        .before_context(if req.mode == OutputMode::Content { req.context } else { 0 })
        .after_context(if req.mode == OutputMode::Content { req.context } else { 0 })
        .build();
    let mut collector = Collector { req, matcher: &matcher, hits: Vec::new(), results: 0, truncated: false };
    if metadata.is_dir() {
        for file in walk(&req.search_path, glob.as_ref()) {
            if !collector.search_file(&mut searcher, &file) {
                break;
            }
        }
    } else if !has_binary_extension(&req.search_path) && metadata.len() <= MAX_FILE_SIZE_BYTES {
        collector.search_file(&mut searcher, &req.search_path);
    }
    let Collector { hits, truncated, .. } = collector;
    report(req, &search_path, &hits, truncated)
}

/// The files under `root` to search, in path order.
fn walk(root: &Path, glob: Option<&GlobMatcher>) -> impl Iterator<Item = PathBuf> {
    let root_owned = root.to_path_buf();
    let glob = glob.cloned();
    WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if entry.depth() == 0 || !is_dir {
                return true;
            }
            let name = entry.file_name().to_string_lossy();
            !name.starts_with('.') && !SKIP_DIRECTORIES.contains(&name.as_ref())
        })
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|t| t.is_file()))
        .filter(move |entry| match &glob {
            None => true,
            Some(g) => {
                let relative = entry.path().strip_prefix(&root_owned).unwrap_or(entry.path());
                g.is_match(entry.file_name()) || g.is_match(relative)
            }
        })
        .filter(|entry| !has_binary_extension(entry.path()))
        .filter(|entry| entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE_SIZE_BYTES))
        .map(ignore::DirEntry::into_path)
}

fn has_binary_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| BINARY_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Runs the search file by file and keeps what the output mode needs, up to the limit.
struct Collector<'r> {
    req: &'r Request,
    matcher: &'r RegexMatcher,
    hits: Vec<FileHits>,
    /// Results taken so far: matching lines (content) or files (files, count).
    results: usize,
    /// A result beyond the limit was found.
    truncated: bool,
}

impl Collector<'_> {
    /// Searches one file; false once the limit is passed (stop searching).
    fn search_file(&mut self, searcher: &mut Searcher, path: &Path) -> bool {
        let content = self.req.mode == OutputMode::Content;
        let mut sink = FileSink {
            limit: if content { Some(self.req.max_results - self.results) } else { None },
            first_only: self.req.mode == OutputMode::Files,
            collect: content,
            lines: Vec::new(),
            matches: 0,
            more: false,
            binary: false,
        };
        // Unreadable and binary files are skipped, as the TypeScript tool did.
        if searcher.search_path(self.matcher, path, &mut sink).is_err() || sink.binary {
            return true;
        }
        if sink.matches == 0 {
            // A match here, with the limit already reached, means the list is cut.
            self.truncated |= sink.more;
            return !sink.more;
        }
        if !content && self.results >= self.req.max_results {
            self.truncated = true;
            return false;
        }
        self.results += if content { sink.matches } else { 1 };
        self.hits.push(FileHits {
            path: path.display().to_string(),
            lines: sink.lines,
            matches: sink.matches,
        });
        if sink.more {
            self.truncated = true;
            return false;
        }
        true
    }
}

/// Receives one file's matches and context lines.
struct FileSink {
    /// Matching lines to take; a further match sets `more` and stops the search.
    limit: Option<usize>,
    /// Stop at the first match (only whether the file matches is needed).
    first_only: bool,
    /// Keep the lines (content mode).
    collect: bool,
    lines: Vec<Line>,
    matches: usize,
    more: bool,
    binary: bool,
}

impl Sink for FileSink {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        if self.limit.is_some_and(|limit| self.matches >= limit) {
            self.more = true;
            return Ok(false);
        }
        self.matches += 1;
        if self.collect {
            self.lines.push(Line { number: mat.line_number().unwrap_or(0), text: line_text(mat.bytes()) });
        }
        Ok(!self.first_only)
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, io::Error> {
        // Lines leading up to a match past the limit are not shown.
        let past_limit = self.limit.is_some_and(|limit| self.matches >= limit);
        if self.collect && !(past_limit && *ctx.kind() == SinkContextKind::Before) {
            self.lines.push(Line { number: ctx.line_number().unwrap_or(0), text: line_text(ctx.bytes()) });
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _: u64) -> Result<bool, io::Error> {
        self.binary = true;
        Ok(false)
    }
}

/// A line without its terminator, invalid UTF-8 replaced.
fn line_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches(['\n', '\r']).to_owned()
}

fn report(req: &Request, search_path: &str, hits: &[FileHits], truncated: bool) -> ToolResult {
    let match_count: usize = hits.iter().map(|h| h.matches).sum();
    if hits.is_empty() {
        return ToolResult::text(format!("No matches found for pattern: {}", req.pattern)).with_details(
            json!({
                "pattern": req.pattern,
                "searchPath": search_path,
                "matchCount": 0,
            }),
        );
    }
    let body = match req.mode {
        OutputMode::Content => format_content(hits, req.context > 0),
        OutputMode::Files => hits.iter().map(|h| h.path.as_str()).collect::<Vec<_>>().join("\n"),
        OutputMode::Count => {
            hits.iter().map(|h| format!("{}: {}", h.path, h.matches)).collect::<Vec<_>>().join("\n")
        }
    };

    let original_tokens = estimate_tokens(js_len(&body));
    let token_cut = original_tokens > MAX_OUTPUT_TOKENS as u64;
    let mut text = if token_cut {
        let message = format!(
            "\n\n... [Results truncated: {match_count} matches found. Output exceeded {} token limit. \
             Use maxResults parameter or narrow your search.]",
            thousands(MAX_OUTPUT_TOKENS as u64)
        );
        truncate_keeping_start(&body, MAX_OUTPUT_TOKENS * 4, &message)
    } else {
        body
    };
    if truncated {
        let what = match req.mode {
            OutputMode::Content => "matches",
            OutputMode::Files | OutputMode::Count => "files",
        };
        text.push_str(&format!(
            "\n\n... [Showing the first {} {what}; more exist. Use maxResults parameter or narrow your search.]",
            req.max_results
        ));
    }

    let mut details = json!({
        "pattern": req.pattern,
        "searchPath": search_path,
        "matchCount": match_count,
        "fileCount": hits.len(),
        "truncated": truncated || token_cut,
    });
    if token_cut {
        details["originalTokens"] = json!(original_tokens);
        details["finalTokens"] = json!(estimate_tokens(js_len(&text)));
    }
    ToolResult::text(text).with_details(details)
}

/// `<file>:` then `<n>: <line>` (indented by two spaces when context is shown), a blank line
/// between files.
fn format_content(hits: &[FileHits], with_context: bool) -> String {
    let indent = if with_context { "  " } else { "" };
    hits.iter()
        .map(|h| {
            let mut block = format!("{}:", h.path);
            for line in &h.lines {
                block.push_str(&format!("\n{indent}{}: {}", line.number, line.text));
            }
            block
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Cuts `output` to about `max_chars`, keeping its first lines whole, then as many further
/// whole lines as fit, then `message`.
fn truncate_keeping_start(output: &str, max_chars: usize, message: &str) -> String {
    let lines: Vec<&str> = output.split('\n').collect();
    let keep = PRESERVE_START_LINES.min(lines.len());
    let start = lines[..keep].join("\n");
    let reserved = js_len(&start) + js_len(message) + 2;
    if reserved >= max_chars {
        return format!("{start}{message}");
    }
    let mut remaining = max_chars - reserved;
    let mut middle = Vec::new();
    for line in &lines[keep..] {
        let len = js_len(line) + 1;
        if len > remaining {
            break;
        }
        middle.push(*line);
        remaining -= len;
    }
    if middle.is_empty() {
        format!("{start}{message}")
    } else {
        format!("{start}\n{}{message}", middle.join("\n").trim_end_matches(js_space))
    }
}

#[cfg(test)]
mod tests;

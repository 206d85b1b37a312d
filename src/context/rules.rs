//! Rules files: the AGENTS.md / CLAUDE.md instructions a session's system prompt carries.
//!
//! Found where the TypeScript server looks for them (names `AGENTS.md` and `CLAUDE.md` in any
//! case; agent folders `.claude`, `.tron`, `.agent`), every rules file of a level being
//! loaded:
//! - global: the files in `<data dir>/rules/`, then in `<data dir>/` (level `global`,
//!   depth -1);
//! - project: at the repository root (the nearest folder up from the working directory that
//!   holds `.git`; the working directory when there is none), the files in its agent
//!   folders, then its own (level `project`, depth 0);
//! - directory: the same for each folder below the root down to the working directory
//!   (level `directory`, depth = folders below the root);
//! - path-scoped: every other rules file under the root (at most 10 folders deep, skipping
//!   hidden, dependency and build folders, at most 10,000 folders; standalone files only when
//!   `context.rules.discoverStandaloneFiles`), scoped to its folder (the agent folder's
//!   parent). A scoped rule joins the prompt once the session's tool calls touched a path
//!   under its folder (a `file_path` / `path` argument), until the next compaction or
//!   clear.
//!
//! Within a folder the files come in name order (`AGENTS.md` before `CLAUDE.md`); a file
//! reached twice (a symlink, or another case of the same name on a case-insensitive
//! filesystem) is loaded once. One deliberate difference from the TypeScript loader, which
//! took only the first file of each folder on the way to the working directory but every
//! file of the other folders: tron loads both `AGENTS.md` and `CLAUDE.md` everywhere, so a
//! folder's rules do not depend on whether the working directory is inside it.
//!
//! Files are read afresh for every prompt, so an edited rules file reaches the next prompt;
//! a `rules.loaded` event (the TypeScript payload) is written when the set of files or their
//! content changed since the session's last one ([`LoadedTracker`]).
//!
//! Must not: persist events (the caller does, see [`super::prompt`]) or know the wire.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::events::types::{RulesFileInfo, RulesIndexedFile, RulesIndexedPayload, RulesLoadedPayload};
use crate::events::SessionEvent;

/// Rules file names (matched in any case).
pub const RULE_FILE_NAMES: [&str; 4] = ["AGENTS.md", "agents.md", "CLAUDE.md", "claude.md"];
/// Agent folders that may hold a rules file, in order of preference.
pub const AGENT_DIRS: [&str; 3] = [".claude", ".tron", ".agent"];
/// Folders the scoped scan never enters (hidden folders are skipped too). `target` is not in
/// the TypeScript server's list; it is Rust's build folder.
pub const EXCLUDED_DIRS: [&str; 13] = [
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    "dist",
    "build",
    "out",
    ".next",
    ".nuxt",
    "coverage",
    ".nyc_output",
    "__pycache__",
    "target",
];
/// How deep the scoped scan goes below the root.
pub const MAX_DEPTH: usize = 10;
/// How many folders the scoped scan visits at most (a bound on the time a prompt spends on
/// a huge tree; not a TypeScript limit).
pub const MAX_SCANNED_DIRS: usize = 10_000;

/// Where a rules file sits in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesLevel {
    /// The data dir's.
    Global,
    /// The repository root's.
    Project,
    /// A folder below the root.
    Directory,
}

impl RulesLevel {
    /// `global`, `project` or `directory`.
    pub fn as_str(self) -> &'static str {
        match self {
            RulesLevel::Global => "global",
            RulesLevel::Project => "project",
            RulesLevel::Directory => "directory",
        }
    }
}

/// One rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Path from the repository root (`~/...` or absolute for global files), for headers.
    pub label: String,
    /// Level.
    pub level: RulesLevel,
    /// -1 global, 0 root, else folders below the root.
    pub depth: i64,
    /// The text.
    pub content: String,
    /// For path-scoped rules, the folder (from the root, `/`-separated) they apply to.
    pub scope_dir: Option<String>,
}

/// The rules of one working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// The working directory.
    pub working_dir: PathBuf,
    /// The repository root.
    pub root: PathBuf,
    /// Always in the prompt: global, project, then directory files down to the working dir.
    pub always: Vec<RuleFile>,
    /// Path-scoped rules, most specific folder first.
    pub scoped: Vec<RuleFile>,
}

/// What discovery reads besides the working directory.
#[derive(Debug, Clone)]
pub struct RulesOptions {
    /// The data dir (`~/.tron`).
    pub data_dir: PathBuf,
    /// `context.rules.discoverStandaloneFiles`: scoped rules outside agent folders too.
    pub discover_standalone: bool,
}

/// The nearest folder from `dir` up that holds `.git`, else `dir`.
pub fn repo_root(dir: &Path) -> PathBuf {
    dir.ancestors().find(|d| d.join(".git").exists()).unwrap_or(dir).to_path_buf()
}

/// Finds the rules of `working_dir` (blocking filesystem work).
pub fn discover(working_dir: &Path, opts: &RulesOptions) -> Rules {
    let root = repo_root(working_dir);
    let mut rules = Rules { working_dir: working_dir.to_owned(), root: root.clone(), ..Default::default() };
    let mut seen = HashSet::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for path in [opts.data_dir.join("rules"), opts.data_dir.clone()].iter().flat_map(|d| rule_files_in(d)) {
        let Some(content) = read_new(&path, &mut seen) else { continue };
        let label = match home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
            Some(rest) => format!("~/{}", slash(rest)),
            None => path.display().to_string(),
        };
        rules.always.push(RuleFile {
            path,
            label,
            level: RulesLevel::Global,
            depth: -1,
            content,
            scope_dir: None,
        });
    }
    // The root, then each folder down to the working directory: every rules file of the
    // folder's agent folders, then its own.
    let below: Vec<PathBuf> = working_dir
        .strip_prefix(&root)
        .map(|rel| rel.components().map(|c| PathBuf::from(c.as_os_str())).collect())
        .unwrap_or_default();
    let mut dir = root.clone();
    for depth in 0..=below.len() {
        if depth > 0 {
            dir.push(&below[depth - 1]);
        }
        let files = AGENT_DIRS.iter().map(|a| dir.join(a)).chain([dir.clone()]);
        for path in files.flat_map(|d| rule_files_in(&d)) {
            let Some(content) = read_new(&path, &mut seen) else { continue };
            let level = if depth == 0 { RulesLevel::Project } else { RulesLevel::Directory };
            let label = slash(path.strip_prefix(&root).unwrap_or(&path));
            rules.always.push(RuleFile { path, label, level, depth: depth as i64, content, scope_dir: None });
        }
    }
    let mut found = Found { seen, rules: Vec::new() };
    let mut budget = MAX_SCANNED_DIRS;
    scan(&root, &root, 0, opts.discover_standalone, &mut budget, &mut found);
    let scoped = found.rules;
    let here = slash(&below.iter().collect::<PathBuf>());
    for rule in scoped {
        // A folder on the way to the working directory: always applies.
        let scope = rule.scope_dir.as_deref().unwrap_or_default();
        if under(&here, scope) {
            rules.always.push(RuleFile { scope_dir: None, ..rule });
        } else {
            rules.scoped.push(rule);
        }
    }
    rules.always.sort_by_key(|r| if r.level == RulesLevel::Global { -2 } else { r.depth });
    rules.scoped.sort_by(|a, b| {
        let len = |r: &RuleFile| r.scope_dir.as_ref().map_or(0, String::len);
        len(b).cmp(&len(a)).then_with(|| a.label.cmp(&b.label))
    });
    rules
}

/// Scoped rules files in `dir` and below (the root's own files are not scoped). Each folder
/// is listed once; at most [`MAX_SCANNED_DIRS`] folders are visited.
fn scan(root: &Path, dir: &Path, depth: usize, standalone: bool, budget: &mut usize, found: &mut Found) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let (mut files, mut subdirs) = (Vec::new(), Vec::new());
    for e in entries.filter_map(Result::ok) {
        let (Ok(kind), Some(name)) = (e.file_type(), e.file_name().to_str().map(str::to_owned)) else {
            continue;
        };
        if kind.is_dir() && AGENT_DIRS.contains(&name.as_str()) {
            files.extend(rule_files_in(&e.path()));
        } else if kind.is_dir() && !name.starts_with('.') && !EXCLUDED_DIRS.contains(&name.as_str()) {
            subdirs.push(e.path());
        } else if standalone && is_rule_name(&name) && e.path().is_file() {
            files.push(e.path());
        }
    }
    if depth > 0 {
        files.sort();
        for path in files {
            if !found.seen.insert(canonical(&path)) {
                continue;
            }
            let Ok(content) = std::fs::read_to_string(&path) else { continue };
            found.rules.push(RuleFile {
                label: slash(path.strip_prefix(root).unwrap_or(&path)),
                path,
                level: RulesLevel::Directory,
                depth: depth as i64,
                content,
                scope_dir: Some(slash(dir.strip_prefix(root).unwrap_or(dir))),
            });
        }
    }
    if depth >= MAX_DEPTH {
        return;
    }
    subdirs.sort();
    for sub in subdirs {
        scan(root, &sub, depth + 1, standalone, budget, found);
    }
}

/// What the scoped scan collects: the files already seen (canonical paths) and the rules.
struct Found {
    seen: HashSet<PathBuf>,
    rules: Vec<RuleFile>,
}

fn is_rule_name(name: &str) -> bool {
    matches!(name.to_lowercase().as_str(), "agents.md" | "claude.md")
}

/// The rules files directly in `dir` (any case of the names; symlinks followed), sorted.
fn rule_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| e.file_name().to_str().is_some_and(is_rule_name))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// The text of the rules file at `path`, unless it is one already in `seen` (by its real
/// path: a symlink or another case of the same file on a case-insensitive filesystem) or
/// cannot be read.
fn read_new(path: &Path, seen: &mut HashSet<PathBuf>) -> Option<String> {
    if !seen.insert(canonical(path)) {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

/// A relative path with `/` separators.
fn slash(p: &Path) -> String {
    p.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Whether `path` (from the root) is `scope` or below it; the empty scope holds everything.
fn under(path: &str, scope: &str) -> bool {
    scope.is_empty() || path == scope || path.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
}

impl Rules {
    /// The scoped rules that `touched` paths (from the root, in the order touched) activate,
    /// in activation order.
    pub fn activated(&self, touched: &[String]) -> Vec<&RuleFile> {
        let mut out: Vec<&RuleFile> = Vec::new();
        for path in touched {
            for rule in &self.scoped {
                if under(path, rule.scope_dir.as_deref().unwrap_or_default()) && !out.contains(&rule) {
                    out.push(rule);
                }
            }
        }
        out
    }

    /// The rules text for the system prompt: every always-on file, then the activated ones,
    /// each under a comment naming it. Empty without rules.
    pub fn text(&self, activated: &[&RuleFile]) -> String {
        let mut parts = Vec::new();
        for r in &self.always {
            parts.push(format!("<!-- Rules: {} ({}) -->\n{}", r.label, r.level.as_str(), r.content.trim()));
        }
        for r in activated {
            parts.push(format!(
                "<!-- Rules: {} (applies to {}/) -->\n{}",
                r.label,
                r.scope_dir.as_deref().unwrap_or(""),
                r.content.trim()
            ));
        }
        parts.join("\n\n")
    }

    /// The `rules.loaded` payload for the files in the prompt.
    pub fn loaded_payload(&self, activated: &[&RuleFile]) -> RulesLoadedPayload {
        let files: Vec<RulesFileInfo> = self
            .always
            .iter()
            .chain(activated.iter().copied())
            .map(|r| RulesFileInfo {
                path: r.path.display().to_string(),
                relative_path: match r.path.strip_prefix(&self.working_dir) {
                    Ok(rel) => slash(rel),
                    Err(_) => r.path.display().to_string(),
                },
                level: r.level.as_str().to_owned(),
                depth: r.depth,
                size_bytes: r.content.len() as i64,
                extra: Default::default(),
            })
            .collect();
        RulesLoadedPayload {
            total_files: files.len() as i64,
            files,
            merged_tokens: estimate_tokens(&self.text(activated)),
            dynamic_rules_count: (!self.scoped.is_empty()).then_some(self.scoped.len() as i64),
            extra: Default::default(),
        }
    }

    /// The `rules.indexed` payload: every rules file of the project (not the global ones),
    /// each with the folder it applies to (`scopeDir`, from the root; `""` and `isGlobal`
    /// for the root's own files), as the TypeScript rules index classifies them.
    pub fn indexed_payload(&self) -> RulesIndexedPayload {
        let files: Vec<RulesIndexedFile> = self
            .always
            .iter()
            .chain(&self.scoped)
            .filter(|r| r.level != RulesLevel::Global)
            .map(|r| {
                let scope = match &r.scope_dir {
                    Some(dir) => dir.clone(),
                    None => slash(rule_folder(r.path.strip_prefix(&self.root).unwrap_or(&r.path))),
                };
                RulesIndexedFile {
                    relative_path: r.label.clone(),
                    is_global: scope.is_empty(),
                    scope_dir: scope,
                    size_bytes: r.content.len() as i64,
                    extra: Default::default(),
                }
            })
            .collect();
        let global = files.iter().filter(|f| f.is_global).count() as i64;
        RulesIndexedPayload {
            total_rules: files.len() as i64,
            global_rules: global,
            scoped_rules: files.len() as i64 - global,
            files,
            extra: Default::default(),
        }
    }

    /// A hash of the files in the prompt and their content.
    pub fn fingerprint(&self, activated: &[&RuleFile]) -> u64 {
        let mut h = DefaultHasher::new();
        for r in self.always.iter().chain(activated.iter().copied()) {
            r.path.hash(&mut h);
            r.content.hash(&mut h);
        }
        h.finish()
    }

    /// Paths (from the root, in order) that the session's tool calls touched since its last
    /// compaction or clear: the `file_path` / `filePath` / `path` argument of each `tool.call`.
    pub fn touched_paths(&self, events: &[SessionEvent]) -> Vec<String> {
        let start = events
            .iter()
            .rposition(|e| matches!(e.event_type.as_str(), "compact.boundary" | "context.cleared"))
            .map_or(0, |i| i + 1);
        let mut out: Vec<String> = Vec::new();
        for e in &events[start..] {
            if e.event_type.as_str() != "tool.call" {
                continue;
            }
            let args = &e.payload["arguments"];
            for key in ["file_path", "filePath", "path"] {
                let Some(raw) = args.get(key).and_then(Value::as_str) else { continue };
                if let Some(rel) = self.touched_path(raw) {
                    if !out.contains(&rel) {
                        out.push(rel);
                    }
                }
            }
        }
        out
    }

    /// `raw` (a path as a tool call named it: relative to the working directory, absolute,
    /// or with `~`) from the root, `/`-separated; `None` when empty or outside the root.
    pub fn touched_path(&self, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let full = normalize(&self.working_dir.join(crate::settings::paths::expand_tilde(Path::new(raw))));
        full.strip_prefix(&self.root).ok().map(slash)
    }
}

/// The folder a rules file (from the root) applies to: its own, or the agent folder's parent.
fn rule_folder(path: &Path) -> &Path {
    let dir = path.parent().unwrap_or(Path::new(""));
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(name) if AGENT_DIRS.contains(&name) => dir.parent().unwrap_or(Path::new("")),
        _ => dir,
    }
}

/// Removes `.` and `..` components without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Characters / 4, rounded up (the TypeScript server's estimate).
pub fn estimate_tokens(text: &str) -> i64 {
    (text.chars().count() as i64 + 3) / 4
}

/// Decides when a session needs a new `rules.loaded`: when its last one lists other files
/// (or sizes, or token counts) than the prompt now holds, or when the content changed since
/// this process last wrote or saw one for the session (a same-size edit). A session without
/// rules gets none until it has some.
#[derive(Debug, Default)]
pub struct LoadedTracker {
    seen: Mutex<HashMap<String, u64>>,
}

impl LoadedTracker {
    /// The process-wide tracker.
    pub fn global() -> &'static LoadedTracker {
        static TRACKER: OnceLock<LoadedTracker> = OnceLock::new();
        TRACKER.get_or_init(LoadedTracker::default)
    }

    /// Whether `payload` (with content hash `fingerprint`) must be written for `session`,
    /// whose last `rules.loaded` payload is `last`.
    pub fn needs_event(
        &self,
        session: &str,
        last: Option<&Value>,
        payload: &RulesLoadedPayload,
        fingerprint: u64,
    ) -> bool {
        let Some(last) = last else { return payload.total_files > 0 };
        let same = serde_json::from_value::<RulesLoadedPayload>(last.clone()).is_ok_and(|l| {
            l.files.len() == payload.files.len()
                && l.files.iter().zip(&payload.files).all(|(a, b)| {
                    a.path == b.path
                        && a.level == b.level
                        && a.depth == b.depth
                        && a.size_bytes == b.size_bytes
                })
                && l.merged_tokens == payload.merged_tokens
                && l.dynamic_rules_count == payload.dynamic_rules_count
        });
        let seen = self.seen.lock().map(|m| m.get(session).copied()).unwrap_or(None);
        !same || seen.is_some_and(|h| h != fingerprint)
    }

    /// Records the content hash the session's prompt now carries.
    pub fn remember(&self, session: &str, fingerprint: u64) {
        if let Ok(mut m) = self.seen.lock() {
            m.insert(session.to_owned(), fingerprint);
        }
    }
}

#[cfg(test)]
mod tests;

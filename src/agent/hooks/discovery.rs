//! Finding hook files, as the TypeScript server did.
//!
//! Searched, in order: `<working dir>/<hooks.projectDir>` (`.agent/hooks`), then
//! `<home>/<hooks.userDir>` (`.config/tron/hooks`). A file is a hook when its extension is
//! one of `hooks.extensions` (`.ts .js .mjs .sh`) and its stem names a kind
//! ([`HookKind::from_file_stem`]), optionally after a priority prefix (`100-stop.sh`:
//! priority 100; higher runs first, default 0). Its name is `<source>:<stem without
//! priority>` (`project:pre-tool-use`); a later file with the same name replaces an earlier.
//!
//! How each runs: an executable file directly (its shebang decides); a `.sh` that is not
//! executable through `bash`; `.js` / `.mjs` through `node` (or `bun`) and `.ts` through
//! `bun`, with a small bridge that imports the module and calls its handler as the
//! TypeScript server did (default export object with `handler`, `<Kind>Hook` export, or a
//! `handler` function) — skipped with a warning when no such runtime is on `PATH`.
//!
//! A module's export object may set its `priority`, `timeout` (ms) and `mode`
//! (`"background"`), as the TypeScript server read them; a priority prefix or a
//! `.background` in the file name wins over them. They are read once per file version by a
//! short run of the runtime (bounded by `hooks.discoveryTimeoutMs`); a module that cannot
//! be imported is skipped with a warning, as upstream did.
//!
//! tron additions: an executable file without an extension is a hook too
//! (`.agent/hooks/pre-tool-use`), and a stem ending in `.background`
//! (`post-tool-use.background.sh`) makes a non-blocking hook (ignored for the kinds that
//! must block: `PreToolUse`, `UserPromptSubmit`, `PreCompact`).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::HookKind;

/// Where a hook was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookSource {
    /// The project's hooks directory.
    Project,
    /// The user's hooks directory.
    User,
}

impl HookSource {
    fn as_str(self) -> &'static str {
        match self {
            HookSource::Project => "project",
            HookSource::User => "user",
        }
    }
}

/// How a hook file is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Executed directly.
    Direct,
    /// `<program> <file>` (e.g. `bash` for a `.sh` without the executable bit).
    Interpreter(PathBuf),
    /// A JavaScript/TypeScript module, imported by the bridge under this runtime.
    Module(PathBuf),
}

/// A hook file.
#[derive(Debug, Clone)]
pub struct DiscoveredHook {
    /// `<source>:<name>`, e.g. `project:pre-tool-use`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// When it runs.
    pub kind: HookKind,
    /// Where it was found.
    pub source: HookSource,
    /// Higher runs first.
    pub priority: i64,
    /// Whether it runs in the background (never for forced-blocking kinds).
    pub background: bool,
    /// Its own time limit (a module's `timeout`); `hooks.defaultTimeoutMs` when `None`.
    pub timeout: Option<Duration>,
    /// How it is started.
    pub launch: Launch,
}

/// The hooks for a session in `working_dir`, per the settings tree `settings` (`hooks.*`),
/// and what was skipped (as warnings). `home` is the user's home (`None`: no user hooks).
pub fn discover(
    working_dir: &Path,
    home: Option<&Path>,
    settings: &Value,
) -> (Vec<DiscoveredHook>, Vec<String>) {
    let text = |key: &str, default: &str| {
        settings.pointer(&format!("/hooks/{key}")).and_then(Value::as_str).unwrap_or(default).to_owned()
    };
    let extensions: Vec<String> = match settings.pointer("/hooks/extensions").and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect(),
        None => [".ts", ".js", ".mjs", ".sh"].map(String::from).to_vec(),
    };
    let describe_timeout = Duration::from_millis(
        settings.pointer("/hooks/discoveryTimeoutMs").and_then(Value::as_u64).unwrap_or(10_000),
    );
    let mut dirs = vec![(working_dir.join(text("projectDir", ".agent/hooks")), HookSource::Project)];
    if let Some(home) = home {
        dirs.push((home.join(text("userDir", ".config/tron/hooks")), HookSource::User));
    }
    let mut hooks: Vec<DiscoveredHook> = Vec::new();
    let mut warnings = Vec::new();
    for (dir, source) in dirs {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                warnings.push(format!("cannot read the hooks directory {}: {e}", dir.display()));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Some(file) = path.file_name().and_then(|f| f.to_str()).map(str::to_owned) else { continue };
            match hook_file(&path, &file, source, &extensions, describe_timeout) {
                Ok(Some(hook)) => {
                    hooks.retain(|h| h.name != hook.name);
                    hooks.push(hook);
                }
                Ok(None) => {}
                Err(warning) => warnings.push(warning),
            }
        }
    }
    for w in &warnings {
        tracing::warn!(target: "tron::hooks", "{w}");
    }
    (hooks, warnings)
}

/// The hook `file` (at `path`) is, `None` when it is not one, `Err` when it is one that
/// cannot run.
fn hook_file(
    path: &Path,
    file: &str,
    source: HookSource,
    extensions: &[String],
    describe_timeout: Duration,
) -> Result<Option<DiscoveredHook>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        _ => return Ok(None),
    };
    let executable = meta.permissions().mode() & 0o111 != 0;
    let (stem, ext) = match file.rfind('.') {
        Some(i) if i > 0 => (&file[..i], &file[i..]),
        _ => (file, ""),
    };
    if ext.is_empty() {
        if !executable {
            return Ok(None);
        }
    } else if !extensions.iter().any(|e| e == ext) {
        return Ok(None);
    }
    let (stem, background) = match stem.strip_suffix(".background") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (priority, name) = match stem.split_once('-') {
        Some((digits, rest))
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() =>
        {
            (digits.parse::<i64>().ok(), rest)
        }
        _ => (None, stem),
    };
    let Some(kind) = HookKind::from_file_stem(name) else { return Ok(None) };
    let launch = match ext {
        ".js" | ".mjs" | ".cjs" => match which("node").or_else(|| which("bun")) {
            Some(runtime) => Launch::Module(runtime),
            None => {
                return Err(format!(
                    "hook {} skipped: running {ext} hooks needs node or bun on PATH",
                    path.display()
                ))
            }
        },
        ".ts" | ".mts" => match which("bun") {
            Some(runtime) => Launch::Module(runtime),
            None => {
                return Err(format!("hook {} skipped: running .ts hooks needs bun on PATH", path.display()))
            }
        },
        _ if executable => Launch::Direct,
        ".sh" => Launch::Interpreter(PathBuf::from("bash")),
        _ => return Err(format!("hook {} skipped: it is not executable", path.display())),
    };
    let declared = match &launch {
        Launch::Module(runtime) => module_settings(runtime, path, &meta, kind, describe_timeout)
            .map_err(|e| format!("hook {} skipped: its module could not be loaded: {e}", path.display()))?,
        _ => Declared::default(),
    };
    let background = (background || declared.background) && !kind.forced_blocking();
    Ok(Some(DiscoveredHook {
        name: format!("{}:{name}", source.as_str()),
        path: path.to_owned(),
        kind,
        source,
        priority: priority.or(declared.priority).unwrap_or(0),
        background,
        timeout: declared.timeout,
        launch,
    }))
}

/// What a hook module's export object sets for itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Declared {
    priority: Option<i64>,
    timeout: Option<Duration>,
    background: bool,
}

/// The settings the module at `path` declares (see the module doc), from a cache keyed by
/// the file's modification time and size, else read with [`super::runner::describe`].
fn module_settings(
    runtime: &Path,
    path: &Path,
    meta: &std::fs::Metadata,
    kind: HookKind,
    timeout: Duration,
) -> Result<Declared, String> {
    type Cache = Mutex<HashMap<(PathBuf, HookKind), (Option<SystemTime>, u64, Declared)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let version = (meta.modified().ok(), meta.len());
    let key = (path.to_owned(), kind);
    if let Some((modified, len, declared)) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if (*modified, *len) == version {
            return Ok(*declared);
        }
    }
    let v = super::runner::describe(runtime, path, kind.as_str(), timeout)?;
    let declared = Declared {
        priority: v["priority"].as_f64().map(|p| p.floor() as i64),
        timeout: v["timeout"].as_f64().filter(|t| *t > 0.0).map(|t| Duration::from_millis(t as u64)),
        background: v["mode"] == "background",
    };
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (version.0, version.1, declared));
    Ok(declared)
}

/// `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

//! The layers: compiled defaults -> `~/.tron/settings.json` -> `TRON_*` environment
//! variables -> command-line flags, merged with figment the way the TypeScript server
//! merged them (objects key by key, lists and plain values replaced whole).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use figment::providers::Serialized;
use figment::Figment;
use serde_json::{Map, Value};

use super::check::{first_mismatch, Mismatch};
use super::locate::line_of;
use super::view::{self, Views};

/// Reads an environment variable (tests inject their own).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The compiled defaults: the TypeScript server's `DEFAULT_SETTINGS`, with two deliberate
/// changes (`server.host` is loopback, `guardrails.audit` is filled in).
pub fn defaults() -> &'static Value {
    static DEFAULTS: OnceLock<Value> = OnceLock::new();
    DEFAULTS
        .get_or_init(|| serde_json::from_str(include_str!("defaults.json")).expect("defaults.json is valid"))
}

/// How an environment variable's text becomes a value.
#[derive(Clone, Copy)]
enum Parse {
    Text,
    Integer,
    /// `true/1/yes/on` or `false/0/no/off`.
    Bool,
    /// One of a few words; anything else is ignored.
    OneOf(&'static [&'static str]),
}

/// The environment variables the TypeScript server honoured, and tron's own (`TRON_PORT`,
/// `TRON_MAX_RETRIES`, `TRON_RETRY_BASE_MS`), with the key each one sets. When two name the
/// same key, the later one wins.
const ENV: &[(&str, &str, Parse)] = &[
    ("ANTHROPIC_CLIENT_ID", "api.anthropic.clientId", Parse::Text),
    ("TRON_PORT", "server.wsPort", Parse::Integer),
    ("TRON_WS_PORT", "server.wsPort", Parse::Integer),
    ("TRON_HEALTH_PORT", "server.healthPort", Parse::Integer),
    ("TRON_HOST", "server.host", Parse::Text),
    ("TRON_DEFAULT_MODEL", "server.defaultModel", Parse::Text),
    ("TRON_DEFAULT_PROVIDER", "server.defaultProvider", Parse::Text),
    ("TRON_MAX_SESSIONS", "server.maxConcurrentSessions", Parse::Integer),
    ("TRON_HEARTBEAT_INTERVAL", "server.heartbeatIntervalMs", Parse::Integer),
    ("TRON_SESSIONS_DIR", "server.sessionsDir", Parse::Text),
    ("TRON_MEMORY_DB", "server.memoryDbPath", Parse::Text),
    ("TRON_TRANSCRIBE_ENABLED", "server.transcription.enabled", Parse::Bool),
    ("TRON_TRANSCRIBE_MANAGE_SIDECAR", "server.transcription.manageSidecar", Parse::Bool),
    ("TRON_TRANSCRIBE_URL", "server.transcription.baseUrl", Parse::Text),
    ("TRON_TRANSCRIBE_TIMEOUT_MS", "server.transcription.timeoutMs", Parse::Integer),
    ("TRON_TRANSCRIBE_MAX_BYTES", "server.transcription.maxBytes", Parse::Integer),
    (
        "TRON_TRANSCRIBE_CLEANUP_MODE",
        "server.transcription.cleanupMode",
        Parse::OneOf(&["none", "basic", "llm"]),
    ),
    ("TRON_MAX_RETRIES", "retry.maxRetries", Parse::Integer),
    ("TRON_RETRY_BASE_MS", "retry.baseDelayMs", Parse::Integer),
    ("TRON_MEMORY_LEDGER", "context.memory.ledger.enabled", Parse::Bool),
    (
        "TRON_LOG_DB_LEVEL",
        "logging.dbLogLevel",
        Parse::OneOf(&["trace", "debug", "info", "warn", "error", "fatal"]),
    ),
];

/// The environment variable names that feed settings (for `--help` texts and docs).
pub fn env_names() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENV.iter().map(|(name, key, _)| (*name, *key))
}

/// Everything that feeds the settings, lowest priority first.
#[derive(Clone)]
pub struct Sources {
    /// The settings file (`~/.tron/settings.json`); a missing file is an empty layer.
    pub file: PathBuf,
    /// Reads environment variables.
    pub env: EnvLookup,
    /// Values given on the command line, by dotted key (`server.wsPort`), highest priority.
    pub flags: Vec<(String, Value)>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("file", &self.file)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl Sources {
    /// The settings file and environment variables read through `env`.
    pub fn new(file: impl Into<PathBuf>, env: EnvLookup) -> Self {
        Self { file: file.into(), env, flags: Vec::new() }
    }

    /// The settings file alone (no environment, no flags).
    pub fn file_only(file: impl Into<PathBuf>) -> Self {
        Self { file: file.into(), env: Arc::new(|_| None), flags: Vec::new() }
    }

    /// The settings file and the process environment.
    pub fn from_env(file: impl Into<PathBuf>) -> Self {
        Self { file: file.into(), env: Arc::new(|n| std::env::var(n).ok()), flags: Vec::new() }
    }

    /// Adds a command-line value for `key` (dotted), when there is one.
    pub fn flag(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(v) = value {
            self.flags.push((key.to_owned(), v.into()));
        }
        self
    }
}

/// Why settings could not be loaded. The previous settings stay in force.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read.
    #[error("cannot read the settings file {}: {source}", file.display())]
    Read {
        /// The settings file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("the settings file {} is not valid JSON (line {line}, column {column}): {message}; fix it by hand, tron will not rewrite it", file.display())]
    Syntax {
        /// The settings file.
        file: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A value has the wrong type or is out of range.
    #[error("{}{mismatch}", at(origin, *line))]
    Type {
        /// Where the value came from: the settings file, an environment variable, a flag or
        /// a `settings.update` request.
        origin: String,
        /// The line in the settings file, when the value is written there.
        line: Option<usize>,
        /// The key, the expected and the found value.
        mismatch: Mismatch,
    },
}

fn at(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{origin} line {line}: "),
        None => format!("{origin}: "),
    }
}

impl SettingsError {
    /// The dotted key at fault, when one value is.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsError::Type { mismatch, .. } => Some(&mismatch.key),
            _ => None,
        }
    }
}

/// The settings in force: the merged tree and typed views of the parts tron uses.
#[derive(Debug, Clone)]
pub struct Settings {
    tree: Value,
    views: Views,
    /// Environment values that were ignored, and why (e.g. `TRON_WS_PORT=abc is not a whole
    /// number`); reported once by whoever loads the settings.
    pub warnings: Vec<String>,
}

impl std::ops::Deref for Settings {
    type Target = Views;
    fn deref(&self) -> &Views {
        &self.views
    }
}

impl PartialEq for Settings {
    fn eq(&self, other: &Self) -> bool {
        self.tree == other.tree
    }
}

impl Settings {
    /// The compiled defaults alone.
    pub fn defaults() -> Self {
        static DEFAULTS: OnceLock<Settings> = OnceLock::new();
        DEFAULTS
            .get_or_init(|| {
                Self::load(&Sources { file: PathBuf::new(), env: Arc::new(|_| None), flags: Vec::new() })
                    .expect("the compiled defaults are valid")
            })
            .clone()
    }

    /// Reads and merges every layer.
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let file = read_file(&sources.file)?;
        Self::merge(sources, file.as_ref().map(|(value, text)| (value, text.as_str())))
    }

    /// Merges `file` (the file's value and text, already read) with the other layers.
    pub(crate) fn merge(sources: &Sources, file: Option<(&Value, &str)>) -> Result<Self, SettingsError> {
        let origin = format!("the settings file {}", sources.file.display());
        let file_error = |mismatch: Mismatch, text: Option<&str>| SettingsError::Type {
            origin: origin.clone(),
            line: text.and_then(|t| line_of(t, mismatch.key.split('[').next().unwrap_or_default())),
            mismatch,
        };
        // The defaults layer is built once; each load starts from a copy of it.
        static BASE: OnceLock<Figment> = OnceLock::new();
        let mut figment = BASE.get_or_init(|| Figment::from(Serialized::defaults(defaults()))).clone();
        if let Some((value, text)) = file {
            if let Some(m) = first_mismatch(defaults(), value) {
                return Err(file_error(m, Some(text)));
            }
            figment = figment.merge(Serialized::defaults(value));
        }
        let (env, warnings) = env_layer(&sources.env);
        figment = figment.merge(Serialized::defaults(env));
        let mut flags = Value::Object(Map::new());
        for (key, value) in &sources.flags {
            set_path(&mut flags, key, value.clone());
        }
        if let Some(m) = first_mismatch(defaults(), &flags) {
            return Err(SettingsError::Type {
                origin: "a command-line flag".into(),
                line: None,
                mismatch: m,
            });
        }
        figment = figment.merge(Serialized::defaults(flags));

        let tree: Value = figment.extract().map_err(|e| figment_error(e, file.map(|(_, t)| t), &origin))?;
        let views = view::extract(&figment).map_err(|e| figment_error(*e, file.map(|(_, t)| t), &origin))?;
        Ok(Self { tree, views, warnings })
    }

    /// The whole merged tree.
    pub fn tree(&self) -> &Value {
        &self.tree
    }

    /// The value at a dotted key (`server.wsPort`), if there is one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        key.split('.').try_fold(&self.tree, |v, k| v.get(k))
    }
}

/// The file's JSON value and text; `None` when there is no file.
pub(crate) fn read_file(file: &Path) -> Result<Option<(Value, String)>, SettingsError> {
    if file.as_os_str().is_empty() {
        return Ok(None);
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SettingsError::Read { file: file.to_owned(), source }),
    };
    if text.trim().is_empty() {
        return Ok(Some((Value::Object(Map::new()), text)));
    }
    let value = serde_json::from_str(&text).map_err(|e| SettingsError::Syntax {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: syntax_message(&e),
    })?;
    Ok(Some((value, text)))
}

/// serde_json's message without its own " at line N column M" suffix.
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

/// A value the typed views rejected (say `server.wsPort: 70000`), as a settings error.
fn figment_error(e: figment::Error, text: Option<&str>, origin: &str) -> SettingsError {
    use figment::error::Kind;
    let key = e.path.join(".");
    let (expected, found) = match &e.kind {
        Kind::InvalidValue(actual, expected) | Kind::InvalidType(actual, expected) => {
            (view::describe_expected(expected), actual.to_string())
        }
        Kind::Message(message) => ("usable".to_owned(), message.clone()),
        other => ("valid".to_owned(), other.to_string()),
    };
    let line = text.and_then(|t| line_of(t, &key));
    let origin = if line.is_some() { origin.to_owned() } else { "settings".to_owned() };
    SettingsError::Type { origin, line, mismatch: Mismatch { key, expected, found } }
}

/// The environment layer, and the values it ignored.
fn env_layer(env: &EnvLookup) -> (Value, Vec<String>) {
    let mut layer = Value::Object(Map::new());
    let mut warnings = Vec::new();
    for &(name, key, parse) in ENV {
        let Some(raw) = env(name).filter(|v| !v.trim().is_empty()) else { continue };
        let text = raw.trim();
        let value = match parse {
            Parse::Text => Some(Value::from(text)),
            Parse::Integer => text.parse::<u64>().ok().map(Value::from),
            Parse::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
            Parse::OneOf(words) => words.contains(&text).then(|| Value::from(text)),
        };
        match value {
            Some(v) => set_path(&mut layer, key, v),
            None => {
                let wanted = match parse {
                    Parse::Text => "text".to_owned(),
                    Parse::Integer => "a whole number".to_owned(),
                    Parse::Bool => "true or false".to_owned(),
                    Parse::OneOf(words) => format!("one of {}", words.join(", ")),
                };
                warnings.push(format!("{name}={raw:?} is ignored: {key} must be {wanted}"));
            }
        }
    }
    (layer, warnings)
}

/// Sets the dotted `key` in `tree`, creating objects on the way.
pub(crate) fn set_path(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let map = node.as_object_mut().expect("made an object above");
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        node = map.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The TypeScript server's deep merge: objects merge key by key; anything else in `patch`
/// (lists, plain values, null) replaces what `base` had.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

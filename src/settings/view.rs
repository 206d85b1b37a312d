//! Typed views of the parts of the settings tron itself uses. The tree holds everything
//! (the iOS app and later versions read keys tron does not); these structs are what code
//! reads, so a typo in a key name is a compile error rather than a silent default.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use figment::Figment;
use serde::{Deserialize, Deserializer};

use crate::core::retry::{Jitter, RetryPolicy};

/// The views, extracted together from one merged figment.
#[derive(Debug, Clone)]
pub struct Views {
    /// `server.*`
    pub server: ServerSettings,
    /// `models.*`
    pub models: ModelSettings,
    /// `agent.*`
    pub agent: AgentSettings,
    /// `retry.*`
    pub retry: RetrySettings,
    /// `tools.bash.*`
    pub bash: BashSettings,
    /// `logging.*`
    pub logging: LoggingSettings,
    /// `context.compactor.*` (what compaction reads of it)
    pub compactor: CompactorSettings,
    /// `context.rules.*`
    pub rules: RulesSettings,
}

pub(super) fn extract(figment: &Figment) -> Result<Views, Box<figment::Error>> {
    Ok(Views {
        server: inner(figment, "server")?,
        models: inner(figment, "models")?,
        agent: inner(figment, "agent")?,
        retry: inner(figment, "retry")?,
        bash: inner(figment, "tools.bash")?,
        logging: inner(figment, "logging")?,
        compactor: inner(figment, "context.compactor")?,
        rules: inner(figment, "context.rules")?,
    })
}

/// `figment.extract_inner(prefix)`, with the error's key in order: figment 0.10 appends
/// the prefix after the inner key (`wsPort.server`).
fn inner<'a, T: Deserialize<'a>>(figment: &Figment, prefix: &str) -> Result<T, Box<figment::Error>> {
    figment.extract_inner(prefix).map_err(|mut e| {
        let parts = prefix.split('.').count();
        if e.path.len() >= parts
            && e.path[e.path.len() - parts..].iter().map(String::as_str).eq(prefix.split('.'))
        {
            let inner = e.path.split_off(e.path.len() - parts);
            e.path.splice(0..0, inner);
        }
        Box::new(e)
    })
}

/// `server.*`: where `tron serve` listens and how it treats sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSettings {
    /// WebSocket port (8080).
    pub ws_port: u16,
    /// Health port of the TypeScript server (8081); tron serves `/health` on the WebSocket
    /// port and keeps this key for compatibility.
    pub health_port: u16,
    /// Address to listen on (tron: `127.0.0.1`; anything else needs a token).
    pub host: String,
    /// Milliseconds between heartbeat pings.
    pub heartbeat_interval_ms: u64,
    /// Sessions the server runs at once (reported to the app).
    pub max_concurrent_sessions: u32,
    /// Model of a new session that names none.
    pub default_model: String,
    /// Working directory the app offers for new sessions.
    #[serde(default)]
    pub default_workspace: Option<String>,
}

impl ServerSettings {
    /// `heartbeatIntervalMs` as a duration (at least one second).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(1000))
    }
}

/// `models.*`: defaults for `tron chat` and subagents.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSettings {
    /// The model `tron chat` uses when `--model` is not given.
    pub default: String,
    /// The model subagents use.
    pub subagent: String,
}

/// `agent.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSettings {
    /// Model calls one prompt may make before the run stops.
    pub max_turns: u32,
}

/// `retry.*`: how provider calls are retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry (ms).
    pub base_delay_ms: u64,
    /// Cap on any delay (ms).
    pub max_delay_ms: u64,
    /// ± share of each delay that is random (0.2 = ±20 %).
    pub jitter_factor: f64,
}

impl RetrySettings {
    /// The retry policy these settings describe.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base_delay: Duration::from_millis(self.base_delay_ms),
            max_delay: Duration::from_millis(self.max_delay_ms.max(self.base_delay_ms)),
            jitter: Jitter::Proportional(self.jitter_factor.clamp(0.0, 1.0)),
        }
    }
}

/// `tools.bash.*`: the Bash tool's limits and the commands it refuses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BashSettings {
    /// Timeout when a call gives none (ms).
    pub default_timeout_ms: u64,
    /// Largest timeout a call may ask for (ms).
    pub max_timeout_ms: u64,
    /// Output longer than this (UTF-16 code units) is cut.
    pub max_output_length: usize,
    /// Commands matching any of these (case-insensitively) are refused.
    pub dangerous_patterns: DangerousPatterns,
}

impl Default for BashSettings {
    fn default() -> Self {
        super::Settings::defaults().bash.clone()
    }
}

/// Compiled `tools.bash.dangerousPatterns`.
#[derive(Clone)]
pub struct DangerousPatterns {
    sources: Vec<String>,
    set: Arc<regex::RegexSet>,
}

impl DangerousPatterns {
    /// Compiles `patterns` (JavaScript regular expressions of the TypeScript settings; the
    /// common syntax is the same), matched case-insensitively.
    pub fn new(patterns: Vec<String>) -> Result<Self, String> {
        // Settings are loaded at every start and reload, nearly always with the same list:
        // compile each distinct list once.
        static COMPILED: Mutex<Vec<DangerousPatterns>> = Mutex::new(Vec::new());
        let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = compiled.iter().find(|c| c.sources == patterns) {
            return Ok(hit.clone());
        }
        let set = match regex::RegexSetBuilder::new(&patterns).case_insensitive(true).build() {
            Ok(set) => set,
            Err(e) => return Err(Self::explain(&patterns).unwrap_or_else(|| e.to_string())),
        };
        let made = Self { sources: patterns, set: Arc::new(set) };
        if compiled.len() >= 8 {
            compiled.remove(0);
        }
        compiled.push(made.clone());
        Ok(made)
    }

    /// Which pattern does not compile, and why.
    fn explain(patterns: &[String]) -> Option<String> {
        patterns.iter().enumerate().find_map(|(i, p)| {
            let e = regex::RegexBuilder::new(p).case_insensitive(true).build().err()?;
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim_start_matches("error: ").to_owned();
            Some(format!("pattern {i} ({p:?}) is not a regular expression tron can use: {why}"))
        })
    }

    /// Whether `command` matches any pattern.
    pub fn is_match(&self, command: &str) -> bool {
        self.set.is_match(command)
    }

    /// The patterns as written.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

impl std::fmt::Debug for DangerousPatterns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.sources).finish()
    }
}

impl<'de> Deserialize<'de> for DangerousPatterns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DangerousPatterns::new(Vec::<String>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `logging.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingSettings {
    /// Lowest level stored in the database's `logs` table (`info`).
    pub db_log_level: String,
}

/// `context.compactor.*`: when automatic compaction starts and what it keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactorSettings {
    /// Share of the model's context window at which a prompt compacts first (0.70).
    pub trigger_token_threshold: f64,
    /// Most recent turns kept as they were (5).
    pub preserve_recent_count: usize,
    /// Compact after every run (for testing the compaction; false).
    pub force_always: bool,
    /// Share of the window from which the shorter run fallback applies (0.50).
    pub alert_zone_threshold: f64,
    /// Runs since the last compaction after which a run compacts (8).
    pub default_turn_fallback: usize,
    /// The same in the alert zone (5).
    pub alert_turn_fallback: usize,
}

/// `context.rules.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesSettings {
    /// Whether rule files outside agent folders (`.claude`, `.tron`, `.agent`) are scanned.
    pub discover_standalone_files: bool,
}

/// figment's "expected" words, said the way the settings errors say things.
pub(super) fn describe_expected(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" => "a whole number, zero or more".into(),
        "f32" | "f64" => "a number".into(),
        other => other.to_owned(),
    }
}

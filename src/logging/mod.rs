//! Logging: the one tracing subscriber of the process, the SQLite sink of the TypeScript
//! server, secret redaction, and reading the stored logs back.
//!
//! Owns: the subscriber set up by [`init`] (readable text or JSON lines on stderr, levels
//! from `TRON_LOG`, then `RUST_LOG`, else a per-command default), the `logs` / `logs_fts`
//! rows written by the sink ([`attach_sqlite`], [`sink`]), the [`redact`] function every
//! line and record passes through, and the query behind `tron events logs` ([`query`]).
//!
//! Must not: write to stdout (it carries command output), block the async runtime or the
//! caller (the sink writes on its own thread and drops, counting, when its queue is full),
//! log through itself from the sink (a failing sink reports once on stderr), or let a
//! secret through: everything written passes through [`redact::redact`].
//!
//! Levels and their stored numbers are the TypeScript server's (pino): trace 10, debug 20,
//! info 30, warn 40, error 50, fatal 60 (tracing has no fatal; it is read back only).

pub mod layer;
pub mod query;
pub mod redact;
pub mod sink;
pub mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use layer::{SinkSlot, SqliteLayer};
pub use redact::redact;
pub use sink::{LogRecord, SinkConfig, SinkGuard, SinkHandle};

/// Default filter of `tron serve`.
pub const SERVE_DEFAULT: &str = "info";
/// Default filter of every other subcommand.
pub const CLI_DEFAULT: &str = "warn";

/// What can go wrong setting up or reading logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `TRON_LOG` / `RUST_LOG` is not a valid filter.
    #[error("invalid {var} {value:?}: {message} (expected e.g. `info`, `debug`, `tron::rpc=trace,warn`)")]
    Filter { var: &'static str, value: String, message: String },
    /// A subscriber was already installed in this process.
    #[error("logging is already initialised")]
    AlreadyInitialised,
    /// The sink could not start (database could not be opened, thread failed).
    #[error("cannot store logs: {0}")]
    Sink(String),
    /// A bad filter for reading logs (level, time, search).
    #[error("{0}")]
    Invalid(String),
    /// Reading the logs failed.
    #[error("cannot read logs: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A log level with the TypeScript server's name and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// `trace`, `debug`, `info`, `warn`, `error`, `fatal`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// 10, 20, 30, 40, 50, 60 (the `level_num` column).
    pub fn num(self) -> i64 {
        match self {
            Level::Trace => 10,
            Level::Debug => 20,
            Level::Info => 30,
            Level::Warn => 40,
            Level::Error => 50,
            Level::Fatal => 60,
        }
    }
}

impl From<tracing::Level> for Level {
    fn from(l: tracing::Level) -> Self {
        match l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Error,
        }
    }
}

impl FromStr for Level {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, LogError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" | "10" => Ok(Level::Trace),
            "debug" | "20" => Ok(Level::Debug),
            "info" | "30" => Ok(Level::Info),
            "warn" | "warning" | "40" => Ok(Level::Warn),
            "error" | "50" => Ok(Level::Error),
            "fatal" | "60" => Ok(Level::Fatal),
            _ => Err(LogError::Invalid(format!(
                "unknown log level {s:?} (expected trace, debug, info, warn, error or fatal)"
            ))),
        }
    }
}

/// How lines look on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Readable text (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = LogError;

    fn from_str(s: &str) -> Result<Self, LogError> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(LogError::Invalid(format!("unknown log format {s:?} (expected text or json)"))),
        }
    }
}

/// How [`init`] sets up the subscriber.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    pub format: LogFormat,
    /// The filter when neither `TRON_LOG` nor `RUST_LOG` is set ([`SERVE_DEFAULT`],
    /// [`CLI_DEFAULT`]).
    pub default_filter: &'static str,
}

/// The process's sink slot (set by [`init`]).
static SLOT: OnceLock<Arc<SinkSlot>> = OnceLock::new();

/// Keeps logging alive; dropping it flushes the SQLite sink (if one was attached) and
/// joins its thread, and reports dropped records on stderr.
#[derive(Debug)]
#[must_use = "dropping the guard stops the SQLite sink"]
pub struct LogGuard {
    slot: Arc<SinkSlot>,
}

impl std::fmt::Debug for SinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSlot").field("dropped", &self.dropped()).finish()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let guard = self.slot.guard.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(guard);
        let dropped = self.slot.dropped();
        if dropped > 0 {
            eprintln!("tron: {dropped} log records were not stored (the log queue was full)");
        }
    }
}

/// The filter from `TRON_LOG`, else `RUST_LOG`, else `default`.
pub fn env_filter(default: &str) -> Result<EnvFilter, LogError> {
    for var in ["TRON_LOG", "RUST_LOG"] {
        if let Ok(value) = std::env::var(var) {
            if value.trim().is_empty() {
                continue;
            }
            return EnvFilter::try_new(&value).map_err(|e| LogError::Filter {
                var,
                value: value.clone(),
                message: e.to_string(),
            });
        }
    }
    EnvFilter::try_new(default).map_err(|e| LogError::Filter {
        var: "default",
        value: default.into(),
        message: e.to_string(),
    })
}

/// The filter of the records stored in the database: the terminal's ([`env_filter`]), plus
/// the guardrail audit (`tron::guardrails` at info: every rule hit, also in `tron chat`,
/// whose terminal shows warnings only) when the filter neither names `tron::guardrails` nor
/// lets everything through at info or more verbose already.
pub fn database_filter(default: &str) -> Result<EnvFilter, LogError> {
    let filter = env_filter(default)?;
    let spec = ["TRON_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| default.to_owned());
    let verbose =
        spec.split(',').any(|d| ["trace", "debug", "info"].contains(&d.trim().to_ascii_lowercase().as_str()));
    Ok(match spec.contains("tron::guardrails") || verbose {
        true => filter,
        false => filter.add_directive("tron::guardrails=info".parse().expect("a valid directive")),
    })
}

/// Installs the process's subscriber: stderr (text or JSON, redacted; [`env_filter`]) plus
/// the SQLite layer ([`database_filter`]), which stores nothing until [`attach_sqlite`].
/// Call once; keep the guard.
pub fn init(opts: LogOptions) -> Result<LogGuard, LogError> {
    let filter = env_filter(opts.default_filter)?;
    let slot = Arc::new(SinkSlot::default());
    SLOT.set(slot.clone()).map_err(|_| LogError::AlreadyInitialised)?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let terminal = match opts.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer::RedactingStderr)
            .with_ansi(ansi)
            .with_target(true)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer::RedactingStderr)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(terminal.with_filter(filter))
        .with(SqliteLayer::new(slot.clone()).with_filter(database_filter(opts.default_filter)?))
        .try_init()
        .map_err(|_| LogError::AlreadyInitialised)?;
    Ok(LogGuard { slot })
}

/// Starts the SQLite sink on the event database at `path` and attaches it to the process's
/// subscriber. Fails when [`init`] has not run, a sink is already attached, or the
/// database cannot be opened.
pub fn attach_sqlite(path: &Path, config: SinkConfig) -> Result<(), LogError> {
    let slot = SLOT.get().ok_or_else(|| LogError::Sink("logging is not initialised".into()))?;
    let (handle, guard) = sink::start(path, config)?;
    if !slot.attach(handle, Some(guard)) {
        return Err(LogError::Sink("a log database is already attached".into()));
    }
    Ok(())
}

/// Log records dropped so far by the process's sink (queue full or writer stopped).
pub fn dropped_records() -> u64 {
    SLOT.get().map_or(0, |s| s.dropped())
}

/// Waits until every record queued so far by the process's sink is committed.
pub fn flush() {
    if let Some(slot) = SLOT.get() {
        slot.flush();
    }
}

#[cfg(test)]
mod tests;

//! The SQLite sink: log records go through a bounded queue to one dedicated std thread that
//! owns its own connection to the event database and writes them in batches, one
//! transaction per batch, into `logs` (and, through the schema's trigger, `logs_fts`).
//!
//! The caller never blocks: [`SinkHandle::send`] uses `try_send`, and a full queue (or a
//! stopped writer) drops the record and counts it ([`SinkHandle::dropped`]). The writer
//! serialises the fields and applies [`redact`] before anything reaches the database.
//! [`SinkGuard`] flushes and joins the thread when dropped.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use super::redact::redact;
use super::{Level, LogError};
use crate::events::db::{self, OpenMode};

/// Records the queue holds before new ones are dropped.
pub const DEFAULT_CAPACITY: usize = 32_768;
/// Most records written in one transaction.
pub const DEFAULT_BATCH: usize = 512;

/// How the sink is set up.
#[derive(Debug, Clone, Copy)]
pub struct SinkConfig {
    /// Queue size (records); beyond it records are dropped and counted.
    pub capacity: usize,
    /// Most records per transaction.
    pub batch: usize,
    /// The least severe level that is stored (the TypeScript server stores from `trace`).
    pub min_level: Level,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self { capacity: DEFAULT_CAPACITY, batch: DEFAULT_BATCH, min_level: Level::Trace }
    }
}

/// One log record as the caller hands it over: fields are still unserialised and
/// unredacted (the writer thread does both).
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    /// ISO 8601 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
    pub timestamp: String,
    pub level: Level,
    pub component: String,
    pub message: String,
    pub session_id: Option<String>,
    pub workspace_id: Option<String>,
    pub event_id: Option<String>,
    pub turn: Option<i64>,
    pub trace_id: Option<String>,
    pub parent_trace_id: Option<String>,
    pub depth: i64,
    pub error_message: Option<String>,
    /// Every other field (stored as JSON in `data`, NULL when empty).
    pub fields: Map<String, Value>,
}

enum Msg {
    Record(Box<LogRecord>),
    Flush(SyncSender<()>),
    Stop,
}

/// The caller's side of the sink: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SinkHandle {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    min_level: Level,
}

impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkHandle").field("dropped", &self.dropped()).finish()
    }
}

impl SinkHandle {
    /// Queues a record; when the queue is full or the writer has stopped, the record is
    /// dropped and counted.
    pub fn send(&self, record: LogRecord) {
        match self.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped so far (queue full, writer stopped, or a failed write).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The least severe level this sink stores.
    pub fn min_level(&self) -> Level {
        self.min_level
    }
}

/// Owns the writer thread: [`SinkGuard::flush`] waits for everything queued so far, and
/// dropping the guard flushes and joins the thread.
pub struct SinkGuard {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for SinkGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkGuard").field("dropped", &self.dropped()).finish()
    }
}

impl SinkGuard {
    /// Blocks until every record queued before this call is committed.
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the writer thread on the existing event database at `path` (its schema is
/// migrated by the open). Fails when the database cannot be opened.
pub fn start(path: &Path, config: SinkConfig) -> Result<(SinkHandle, SinkGuard), LogError> {
    let (tx, rx) = mpsc::sync_channel(config.capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready) = mpsc::sync_channel(1);
    let path = path.to_path_buf();
    let batch = config.batch.max(1);
    let counter = dropped.clone();
    let thread = std::thread::Builder::new()
        .name("tron-log-sink".into())
        .spawn(move || match db::open(&path, OpenMode::Existing) {
            Ok(conn) => {
                let _ = ready_tx.send(Ok(()));
                writer_loop(conn, rx, batch, &counter);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
            }
        })
        .map_err(|e| LogError::Sink(format!("cannot start the log writer thread: {e}")))?;
    match ready.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(LogError::Sink(e));
        }
        Err(_) => return Err(LogError::Sink("the log writer thread stopped at start".into())),
    }
    let handle = SinkHandle { tx: tx.clone(), dropped: dropped.clone(), min_level: config.min_level };
    Ok((handle, SinkGuard { tx, thread: Some(thread), dropped }))
}

fn writer_loop(mut conn: Connection, rx: Receiver<Msg>, batch: usize, dropped: &AtomicU64) {
    // The schema of this tron keeps logs_fts in sync with a trigger; an older database
    // without it gets the FTS row written here, as the TypeScript server did.
    let fts_trigger = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'logs_fts_insert'",
            [],
            |_| Ok(()),
        )
        .is_ok();
    let mut records: Vec<LogRecord> = Vec::with_capacity(batch);
    let mut acks: Vec<SyncSender<()>> = Vec::new();
    let mut reported = false;
    loop {
        let mut stop = match rx.recv() {
            Ok(msg) => take(msg, &mut records, &mut acks),
            Err(_) => return,
        };
        while records.len() < batch && !stop {
            match rx.try_recv() {
                Ok(msg) => stop = take(msg, &mut records, &mut acks),
                Err(_) => break,
            }
        }
        if !records.is_empty() {
            if let Err(e) = write_batch(&mut conn, &records, fts_trigger) {
                dropped.fetch_add(records.len() as u64, Ordering::Relaxed);
                if !reported {
                    // Not through tracing: that would feed the sink from its own failure.
                    eprintln!("tron: cannot write logs to the event database: {e}");
                    reported = true;
                }
            }
            records.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if stop {
            return;
        }
    }
}

/// Files one message; true when it asks the writer to stop.
fn take(msg: Msg, records: &mut Vec<LogRecord>, acks: &mut Vec<SyncSender<()>>) -> bool {
    match msg {
        Msg::Record(r) => records.push(*r),
        Msg::Flush(ack) => acks.push(ack),
        Msg::Stop => return true,
    }
    false
}

const INSERT: &str = "INSERT INTO logs (timestamp, level, level_num, component, message, session_id, \
     workspace_id, event_id, turn, trace_id, parent_trace_id, depth, data, error_message, error_stack) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL)";

const INSERT_FTS: &str =
    "INSERT INTO logs_fts (log_id, session_id, component, message, error_message) VALUES (?1, ?2, ?3, ?4, ?5)";

fn write_batch(conn: &mut Connection, records: &[LogRecord], fts_trigger: bool) -> rusqlite::Result<()> {
    // IMMEDIATE: take the write lock up front, waiting (busy timeout) for the event writer
    // rather than failing with "database is locked" on a read-to-write upgrade.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for r in records {
            let message = redact(&r.message);
            let error = r.error_message.as_deref().map(redact);
            let data = if r.fields.is_empty() {
                None
            } else {
                serde_json::to_string(&r.fields).ok().map(|json| redact(&json).into_owned())
            };
            insert.execute(params![
                r.timestamp,
                r.level.name(),
                r.level.num(),
                r.component,
                message,
                r.session_id,
                r.workspace_id,
                r.event_id,
                r.turn,
                r.trace_id,
                r.parent_trace_id,
                r.depth,
                data,
                error,
            ])?;
            if !fts_trigger {
                let id = tx.last_insert_rowid();
                tx.prepare_cached(INSERT_FTS)?.execute(params![
                    id,
                    r.session_id,
                    r.component,
                    message,
                    error.as_deref().unwrap_or("")
                ])?;
            }
        }
    }
    tx.commit()
}

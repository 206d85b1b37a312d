//! `tron events`: inspect, search, fork, rewind, export and import the event database.

use std::fs::File;
use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use tron::events::{transfer, EventStore, ListOptions, OpenMode, SearchOptions, SessionEvent, SessionRow};
use tron::logging::query::{parse_since, query_logs, LogQuery};
use tron::settings::Paths;

use crate::output::{print_json, print_out, stdout_is_tty};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The event database [default: $TRON_EVENT_STORE_DB, else $TRON_DATA_DIR/db/prod.db, else ~/.tron/db/prod.db]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Sessions, most recently active first
    List {
        /// Include archived sessions
        #[arg(long)]
        all: bool,
        /// Only sessions in this working directory
        #[arg(long, value_name = "DIR")]
        workspace: Option<String>,
        /// At most this many sessions
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A readable timeline of one session's events
    Show { session: String },
    /// The messages the model sees at the session head (or at --at EVENT_ID)
    Messages {
        session: String,
        /// Reconstruct at this event instead of the head
        #[arg(long, value_name = "EVENT_ID")]
        at: Option<String>,
    },
    /// Full-text search over message text, tool names and tool arguments
    Search {
        /// Words to find (all must match; `word*` for a prefix)
        query: String,
        /// Only this session
        #[arg(long)]
        session: Option<String>,
        /// Only these event types (repeatable), e.g. --type message.user
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// At most this many hits
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Pass the query to SQLite FTS5 unchanged (AND, OR, NOT, NEAR, "phrases")
        #[arg(long)]
        raw: bool,
    },
    /// Start a new session from any event of another
    Fork {
        event_id: String,
        /// Title of the new session
        #[arg(long)]
        title: Option<String>,
    },
    /// Move a session's head back to an earlier event (nothing is deleted)
    Rewind { session: String, event_id: String },
    /// Write a session out as JSON Lines, JSON or Markdown
    Export {
        session: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file instead of stdout
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Import sessions from a JSON Lines export (all or nothing)
    Import { file: PathBuf },
    /// The server's logs stored in the database (newest last)
    Logs {
        /// Only this level and more severe: trace, debug, info, warn, error, fatal
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        /// Only records of this session
        #[arg(long, value_name = "SESSION_ID")]
        session: Option<String>,
        /// Only records of this component and those below it (e.g. tron::guardrails: the
        /// guardrail audit log)
        #[arg(long, value_name = "NAME")]
        component: Option<String>,
        /// Only records since an age (30s, 10m, 2h, 1d, 1w) or an ISO time
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Words that must all appear in the message, component or error (`word*`: prefix)
        #[arg(long, value_name = "WORDS")]
        search: Option<String>,
        /// The newest this many records (0: all)
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Jsonl,
    Json,
    Md,
}

pub fn run(args: EventsArgs) -> Result<()> {
    let json = args.json;
    let explicit = args.db.is_some() || std::env::var_os("TRON_EVENT_STORE_DB").is_some();
    let db = args.db.unwrap_or_else(|| Paths::from_env().event_db);
    if !explicit && !db.exists() && matches!(args.command, EventsCommand::List { .. }) {
        // A new user with no database yet simply has no sessions; a path they named and
        // that does not exist is an error (below).
        if json {
            return print_json(&json!({ "sessions": [] }));
        }
        eprintln!("no sessions yet (no event database at {})", db.display());
        return Ok(());
    }
    let mode = if matches!(args.command, EventsCommand::Import { .. }) {
        OpenMode::Create
    } else {
        OpenMode::Existing
    };
    let store = EventStore::open(&db, mode)?;
    match args.command {
        EventsCommand::List { all, workspace, limit } => list(&store, json, all, workspace, limit),
        EventsCommand::Show { session } => show(&store, json, &session),
        EventsCommand::Messages { session, at } => messages(&store, json, &session, at.as_deref()),
        EventsCommand::Search { query, session, types, limit, raw } => {
            let opts =
                SearchOptions { session_id: session, workspace_id: None, types, limit: Some(limit), raw };
            search(&store, json, &query, &opts)
        }
        EventsCommand::Fork { event_id, title } => {
            let fork = store.fork(&event_id, title, None)?;
            if json {
                print_json(&fork)
            } else {
                print_out(format_args!("{}\n", fork.new_session_id))
            }
        }
        EventsCommand::Rewind { session, event_id } => {
            let row = store.rewind(&session, &event_id)?;
            if json {
                print_json(&json!({"sessionId": row.id, "headEventId": row.head_event_id}))
            } else {
                print_out(format_args!("{} head is now {}\n", row.id, event_id))
            }
        }
        EventsCommand::Export { session, format, out } => export(&store, &session, format, out),
        EventsCommand::Import { file } => import(&store, json, &file),
        EventsCommand::Logs { level, session, component, since, search, limit } => {
            let query = LogQuery {
                min_level: level.as_deref().map(str::parse).transpose()?,
                session_id: session,
                component,
                since: since.as_deref().map(|s| parse_since(s, chrono::Utc::now())).transpose()?,
                search,
                limit,
            };
            logs(&store, json, &query)
        }
    }
}

fn logs(store: &EventStore, json: bool, query: &LogQuery) -> Result<()> {
    let rows = query_logs(store.connection(), query)?;
    if json {
        return print_json(&json!({ "logs": rows }));
    }
    let tty = stdout_is_tty();
    let mut out = std::io::stdout().lock();
    for r in &rows {
        // 2026-01-02T03:04:05.678Z -> 2026-01-02 03:04:05.678
        let time = r.timestamp.trim_end_matches('Z').replacen('T', " ", 1);
        let level = r.level.to_uppercase();
        let level = match (tty, r.level_num) {
            (true, 50..) => format!("\x1b[31m{level:<5}\x1b[0m"),
            (true, 40..) => format!("\x1b[33m{level:<5}\x1b[0m"),
            _ => format!("{level:<5}"),
        };
        let mut line = format!("{time}  {level}  {}", r.component);
        if let Some(s) = &r.session_id {
            line.push_str(&format!("  {s}"));
        }
        line.push_str(&format!("  {}", r.message));
        if let Some(e) = &r.error_message {
            line.push_str(&format!("  error={e}"));
        }
        if let Some(Value::Object(data)) = &r.data {
            for (k, v) in data {
                match v {
                    Value::String(s) => line.push_str(&format!(" {k}={s}")),
                    other => line.push_str(&format!(" {k}={other}")),
                }
            }
        }
        writeln!(out, "{line}")?;
    }
    if tty && rows.is_empty() {
        writeln!(out, "(no logs)")?;
    }
    Ok(())
}

fn list(store: &EventStore, json: bool, all: bool, workspace: Option<String>, limit: usize) -> Result<()> {
    let opts = ListOptions {
        include_archived: all,
        working_directory: workspace,
        limit: Some(limit),
        ..Default::default()
    };
    let sessions = store.list_sessions(&opts)?;
    if json {
        return print_json(&json!({ "sessions": sessions }));
    }
    let mut table = Table::new(&[
        "SESSION",
        "TITLE",
        "MODEL",
        "WORKSPACE",
        "CREATED",
        "LAST ACTIVITY",
        "EVENTS",
        "TOKENS",
        "COST",
    ]);
    for s in &sessions {
        table.row(vec![
            s.id.to_string(),
            s.title.clone().unwrap_or_default(),
            s.latest_model.clone(),
            s.working_directory.clone(),
            short_time(&s.created_at),
            short_time(&s.last_activity_at),
            s.event_count.to_string(),
            format!("{}/{}", s.total_input_tokens, s.total_output_tokens),
            format!("${:.4}", s.total_cost),
        ]);
    }
    table.print(&[(1, 32), (3, 40)])
}

fn show(store: &EventStore, json: bool, session: &str) -> Result<()> {
    let row = store.session(session)?;
    let events = store.events(session)?;
    if json {
        return print_json(&json!({ "session": row, "events": events }));
    }
    // The session's own events on the chain from its head (walked over the events already
    // loaded; links into a fork's source session end the walk).
    let parents: std::collections::HashMap<&str, Option<&str>> =
        events.iter().map(|e| (e.id.as_str(), e.parent_id.as_deref())).collect();
    let mut on_head = std::collections::HashSet::new();
    let mut cursor = row.head_event_id.as_deref();
    while let Some(id) = cursor.filter(|id| on_head.insert(*id)) {
        cursor = parents.get(id).copied().flatten();
    }
    let tty = stdout_is_tty();
    let mut out = std::io::stdout().lock();
    header(&mut out, &row, tty)?;
    for e in &events {
        let off = if on_head.contains(e.id.as_str()) { " " } else { "~" };
        let summary = summarize(e);
        let summary = if tty { clip(&summary, 100) } else { summary };
        writeln!(
            out,
            "{off}{:>5}  {}  {:<22} {}  {}",
            e.sequence,
            short_time(&e.timestamp),
            e.event_type.as_str(),
            e.id,
            summary
        )?;
    }
    if events.iter().any(|e| !on_head.contains(e.id.as_str())) {
        writeln!(out, "\n~ marks events not on the current head chain (rewound or branched away)")?;
    }
    Ok(())
}

fn header(out: &mut impl Write, row: &SessionRow, tty: bool) -> std::io::Result<()> {
    let title = row.title.clone().unwrap_or_else(|| "(untitled)".into());
    if tty {
        writeln!(out, "\x1b[1m{}\x1b[0m  {}", row.id, title)?;
    } else {
        writeln!(out, "{}  {}", row.id, title)?;
    }
    writeln!(
        out,
        "model {}  dir {}  events {}  messages {}  tokens {}/{}  cost ${:.4}\n",
        row.latest_model,
        row.working_directory,
        row.event_count,
        row.message_count,
        row.total_input_tokens,
        row.total_output_tokens,
        row.total_cost
    )
}

/// One line that says what an event is about.
fn summarize(e: &SessionEvent) -> String {
    let p = &e.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let one_line = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    match e.event_type.as_str() {
        "message.user" | "message.assistant" | "message.system" => {
            one_line(&tron::events::store::content_text(p.get("content")))
        }
        "tool.call" => format!(
            "{} {}",
            s("name"),
            one_line(&p.get("arguments").map(Value::to_string).unwrap_or_default())
        ),
        "tool.result" => {
            let err = if p.get("isError").and_then(Value::as_bool) == Some(true) { "error: " } else { "" };
            let text: String =
                tron::events::store::content_text(p.get("content")).chars().take(300).collect();
            format!("{err}{}", one_line(&text))
        }
        "session.start" => format!("{} in {}", s("model"), s("workingDirectory")),
        "session.fork" => format!("from {} at {}", s("sourceSessionId"), s("sourceEventId")),
        "config.model_switch" => format!("{} -> {}", s("previousModel"), s("newModel")),
        "message.deleted" => format!("deleted {}", s("targetEventId")),
        "compact.summary" => one_line(&s("summary")),
        _ => one_line(&p.to_string()),
    }
}

fn messages(store: &EventStore, json: bool, session: &str, at: Option<&str>) -> Result<()> {
    let rec = match at {
        Some(event) => {
            let head = store.session(session)?.head_event_id;
            let in_session = store.event(event)?.session_id.as_str() == session
                || match head {
                    Some(h) => store.ancestors(&h)?.iter().any(|x| x.id.as_str() == event),
                    None => false,
                };
            anyhow::ensure!(in_session, "event {event} is not part of session {session}");
            store.messages_at(event)?
        }
        None => store.messages(session)?,
    };
    if json {
        return print_json(&rec);
    }
    let row = store.session(session)?;
    print_out(format_args!("{}", transfer::markdown(&row, &rec)))
}

fn search(store: &EventStore, json: bool, query: &str, opts: &SearchOptions) -> Result<()> {
    let hits = store.search(query, opts)?;
    if json {
        return print_json(&json!({ "results": hits, "totalCount": hits.len() }));
    }
    let tty = stdout_is_tty();
    let mut out = std::io::stdout().lock();
    for h in &hits {
        let snippet = h.snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet = if tty {
            snippet.replace("<mark>", "\x1b[1;33m").replace("</mark>", "\x1b[0m")
        } else {
            snippet.replace("<mark>", "").replace("</mark>", "")
        };
        writeln!(
            out,
            "{}  {}  {:<18} {}  {}",
            h.session_id,
            short_time(&h.timestamp),
            h.event_type,
            h.event_id,
            snippet
        )?;
    }
    if tty {
        writeln!(out, "{} hit{}", hits.len(), if hits.len() == 1 { "" } else { "s" })?;
    }
    Ok(())
}

fn export(store: &EventStore, session: &str, format: ExportFormat, out: Option<PathBuf>) -> Result<()> {
    let row = store.session(session)?;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        ExportFormat::Jsonl => transfer::write_jsonl(&store.events(session)?, &mut sink)?,
        ExportFormat::Json => {
            serde_json::to_writer_pretty(
                &mut sink,
                &json!({ "session": row, "events": store.events(session)? }),
            )?;
            writeln!(sink)?;
        }
        ExportFormat::Md => write!(sink, "{}", transfer::markdown(&row, &store.messages(session)?))?,
    }
    sink.flush()?;
    Ok(())
}

fn import(store: &EventStore, json: bool, file: &PathBuf) -> Result<()> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let events = transfer::read_jsonl(BufReader::new(f)).with_context(|| format!("{}", file.display()))?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(events.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("importing {bar:40} {pos}/{len} events")
            .expect("valid template"),
    );
    let summary = store
        .import(&events, |done, _| bar.set_position(done as u64))
        .with_context(|| format!("{}", file.display()))?;
    bar.finish_and_clear();
    if json {
        print_json(&summary)
    } else {
        print_out(format_args!(
            "imported {} events in {} sessions into {}\n",
            summary.events,
            summary.sessions,
            store.path().display()
        ))
    }
}

fn short_time(iso: &str) -> String {
    // 2026-01-02T03:04:05.678Z -> 2026-01-02 03:04:05
    iso.get(..19).map(|s| s.replace('T', " ")).unwrap_or_else(|| iso.to_owned())
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A table: aligned columns with a bold header on a terminal, tab-separated when piped.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints; on a terminal the given columns are clipped to a width.
    fn print(&self, clip_to: &[(usize, usize)]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        if !stdout_is_tty() {
            writeln!(out, "{}", self.header.join("\t"))?;
            for r in &self.rows {
                writeln!(out, "{}", r.join("\t"))?;
            }
            return Ok(());
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, c)| match clip_to.iter().find(|(col, _)| *col == i) {
                        Some((_, w)) => clip(c, *w),
                        None => c.clone(),
                    })
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                rows.iter().map(|r| r[i].chars().count()).chain([self.header[i].len()]).max().unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        writeln!(out, "\x1b[1m{}\x1b[0m", line(&self.header))?;
        for r in &rows {
            writeln!(out, "{}", line(r))?;
        }
        if rows.is_empty() {
            writeln!(out, "(no sessions)")?;
        }
        Ok(())
    }
}

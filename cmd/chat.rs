//! `tron chat`: one prompt to the agent, streamed to stdout, every event persisted.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use tron::agent::{provider_for, run_turn, Agent, AgentEvent, TurnError, TurnOutcome, TurnSettings};
use tron::context::prompt::PromptSetup;
use tron::core::stream::StreamEvent;
use tron::events::{EventStore, ListOptions, NewSession, OpenMode, StoreHandle};
use tron::llm::models::{self, ModelInfo};
use tron::settings::{Paths, Settings, Sources};
use tron::tools::{ToolContext, ToolRegistry};

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The prompt ("-" or nothing: read it from stdin)
    prompt: Option<String>,
    /// Model id (see the registry; unknown ids name the closest known ones) [settings:
    /// models.default; default claude-opus-4-6]
    #[arg(long, short)]
    model: Option<String>,
    /// Continue this session instead of starting a new one
    #[arg(long, visible_alias = "session", value_name = "SESSION_ID", conflicts_with = "continue_latest")]
    resume: Option<String>,
    /// Continue the most recent session of the working directory
    #[arg(long = "continue", short = 'c')]
    continue_latest: bool,
    /// Working directory [default: the current directory; a resumed session keeps its own]
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Extended-thinking budget in tokens (models that support thinking)
    #[arg(long, value_name = "TOKENS")]
    thinking: Option<u64>,
    /// System prompt: replaces the core prompt and any SYSTEM.md (rules files and skills are
    /// still added)
    #[arg(long)]
    system: Option<String>,
    /// Offer only these tools (comma-separated, e.g. Read,Edit)
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    allowed_tools: Vec<String>,
    /// Never offer these tools (comma-separated, e.g. Bash)
    #[arg(long, value_delimiter = ',', value_name = "TOOLS")]
    disallowed_tools: Vec<String>,
    /// Offer no tools at all (answer only)
    #[arg(long)]
    no_tools: bool,
    /// Most model calls for this prompt (each tool round trip is one) [settings:
    /// agent.maxTurns; default 100]
    #[arg(long)]
    max_turns: Option<u32>,
    /// The event database [default: $TRON_EVENT_STORE_DB, else ~/.tron/db/prod.db]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// text: the answer; json: one object at the end; stream-json: every event as a JSON line
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
    StreamJson,
}

pub fn run(args: ChatArgs) -> Result<()> {
    let started = Instant::now();
    let prompt = read_prompt(args.prompt.as_deref())?;
    let paths = Paths::from_env();
    let sources = Sources::from_env(paths.settings_file())
        .flag("models.default", args.model.clone())
        .flag("agent.maxTurns", args.max_turns);
    let settings = Settings::load(&sources)?;
    for warning in &settings.warnings {
        eprintln!("tron chat: {warning}");
    }
    let model = models::lookup(&settings.models.default)?;
    let provider =
        provider_for(model, &paths.auth_file(), |n| std::env::var(n).ok(), settings.retry.policy())?;
    let tools = tools_for(&args, &settings)?;
    let db = args.db.clone().unwrap_or_else(|| paths.event_db.clone());
    // Continuing a session needs its database; a new session may create it.
    let resuming = args.resume.is_some() || args.continue_latest;
    let store = EventStore::open(&db, if resuming { OpenMode::Existing } else { OpenMode::Create })?;
    // Log records from `logging.dbLogLevel` up also go to the database's `logs` table.
    let min_level = settings.logging.db_log_level.parse().unwrap_or(tron::logging::Level::Info);
    tron::logging::attach_sqlite(&db, tron::logging::SinkConfig { min_level, ..Default::default() })?;
    let cwd = match &args.cwd {
        Some(dir) => dir
            .canonicalize()
            .with_context(|| format!("cannot use {} as working directory", dir.display()))?,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let (session, cwd) = if let Some(id) = &args.resume {
        let row = store.session(id)?;
        (row.id.into_string(), PathBuf::from(row.working_directory))
    } else if args.continue_latest {
        let dir = cwd.display().to_string();
        let opts = ListOptions { working_directory: Some(dir.clone()), limit: Some(1), ..Default::default() };
        match store.list_sessions(&opts)?.pop() {
            Some(row) => (row.id.into_string(), cwd),
            None => bail!("no session to continue in {dir} (start one without --continue)"),
        }
    } else {
        let new = NewSession {
            working_directory: cwd.display().to_string(),
            model: model.id.to_owned(),
            provider: Some(model.provider.to_string()),
            ..Default::default()
        };
        (store.create_session(new)?.0.id.into_string(), cwd)
    };

    let store = StoreHandle::spawn(store);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The system prompt (core, provider part, rules, skills; --system replaces the core
    // prompt) and the tools active skills deny, as `tron serve` builds them.
    let setup = PromptSetup {
        working_dir: cwd.clone(),
        data_dir: paths.data_dir.clone(),
        provider: model.provider,
        prompt: prompt.clone(),
        skills: Vec::new(),
        spells: Vec::new(),
        system_override: args.system.clone(),
        discover_standalone: settings.rules.discover_standalone_files,
        available_tools: tools.names(),
    };
    let prepared = runtime.block_on(tron::context::prompt::prepare(&store, &session, setup))?;
    runtime.block_on(prepared.persist(&store, &session))?;
    let mut tools = tools;
    if task_manager_wanted(&args) {
        tools.register(std::sync::Arc::new(tron::tools::task_manager::TaskManagerTool::new(
            store.clone(),
            &session,
        )));
    }
    tools.retain(|name| !prepared.denied_tools.iter().any(|d| d == name));
    // Hooks and guardrails (tron::agent::hooks, tron::agent::guardrails).
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let gate = tron::agent::Gate::load(settings.tree(), &cwd, home.as_deref(), &paths.data_dir);
    for warning in gate.warnings() {
        eprintln!("tron chat: {warning}");
    }
    // Automatic compaction, as in `tron serve` (see tron::context).
    let summarizer =
        tron::context::summarizer_for(&settings, model, &paths.auth_file(), |n| std::env::var(n).ok());
    let settings = TurnSettings {
        model,
        max_tokens: None,
        thinking_budget: args.thinking,
        system: Some(prepared.system.clone()),
        max_turns: settings.agent.max_turns,
        run_id: None,
        model_name: None,
        user_fields: Default::default(),
        compaction: Some(tron::context::Compaction::from_settings(&settings, summarizer)),
    };
    let ctx = ToolContext::new(cwd);
    let agent = Agent {
        store: &store,
        provider: provider.as_ref(),
        tools: &tools,
        ctx: &ctx,
        settings: &settings,
        gate: Some(&gate),
    };
    let output = args.output;
    let progress = output == Output::Text && std::io::stderr().is_terminal();
    let mut answer = String::new();
    let result = runtime.block_on(async {
        tokio::spawn(abort_on_signal(ctx.cancel.clone()));
        let result = run_turn(agent, &session, &prompt, |event| {
            if let AgentEvent::Stream(StreamEvent::TextDelta { delta }) = &event {
                answer.push_str(delta);
            }
            print_event(event, output, progress)
        })
        .await;
        // Background hooks end (or get 30 s) before the process exits.
        gate.wait_background(std::time::Duration::from_secs(30)).await;
        result
    });
    let duration_ms = started.elapsed().as_millis() as u64;
    let mut out = std::io::stdout().lock();
    match result {
        Ok(outcome) => {
            match output {
                Output::Text => writeln!(out)?,
                Output::Json | Output::StreamJson => {
                    writeln!(out, "{}", result_json(&session, model, &outcome, &answer, duration_ms))?
                }
            }
            out.flush()?;
            if progress {
                let cost = outcome.cost.map_or("cost unavailable".to_owned(), |c| format!("${c:.4}"));
                eprintln!(
                    "\x1b[2m{session} · {} in / {} out · {cost}\x1b[0m",
                    outcome.usage.input_tokens, outcome.usage.output_tokens
                );
            }
            Ok(())
        }
        Err(e) => {
            let message = match &e {
                TurnError::Aborted => {
                    format!("interrupted; everything up to the interrupt is saved in {session}")
                }
                TurnError::ToolsUnavailable(_) | TurnError::TooManyTurns(_) => {
                    format!("{e}; everything so far is saved in {session}")
                }
                TurnError::PromptBlocked(_) => format!("{e} (nothing was sent; session {session})"),
                _ => format!("{e} (the prompt is saved in session {session})"),
            };
            match output {
                Output::Text => writeln!(out)?,
                Output::Json | Output::StreamJson => {
                    let mut line = json!({"type": "result", "isError": true, "error": message,
                        "sessionId": session, "model": model.id, "durationMs": duration_ms});
                    if matches!(e, TurnError::Aborted) {
                        line["interrupted"] = json!(true);
                    }
                    writeln!(out, "{line}")?;
                }
            }
            out.flush()?;
            if matches!(e, TurnError::Aborted) {
                return Err(Interrupted(message).into());
            }
            bail!(message)
        }
    }
}

/// The run was aborted by a signal: `tron` exits 130, as a shell does after Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(String);

/// Cancels the run on the first Ctrl-C (SIGINT) or SIGTERM, so the agent persists what it
/// has and stops; a second signal exits at once with 130.
async fn abort_on_signal(cancel: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    cancel.cancel();
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    std::process::exit(130);
}

/// The tools offered, after `--no-tools`, `--allowed-tools` and `--disallowed-tools`.
fn tools_for(args: &ChatArgs, settings: &Settings) -> Result<ToolRegistry> {
    if args.no_tools {
        return Ok(ToolRegistry::new());
    }
    let mut tools = tron::tools::core_tools(settings);
    let mut known = tools.names();
    known.push(TASK_MANAGER.to_owned());
    for name in args.allowed_tools.iter().chain(&args.disallowed_tools) {
        if !known.iter().any(|k| k == name) {
            bail!("unknown tool {name:?} (tools: {})", known.join(", "));
        }
    }
    if !args.allowed_tools.is_empty() {
        tools.retain(|name| args.allowed_tools.iter().any(|a| a == name));
    }
    tools.retain(|name| !args.disallowed_tools.iter().any(|d| d == name));
    Ok(tools)
}

const TASK_MANAGER: &str = "TaskManager";

/// Whether `TaskManager` (registered once the session and store exist) passes the tool flags.
fn task_manager_wanted(args: &ChatArgs) -> bool {
    !args.no_tools
        && (args.allowed_tools.is_empty() || args.allowed_tools.iter().any(|a| a == TASK_MANAGER))
        && !args.disallowed_tools.iter().any(|d| d == TASK_MANAGER)
}

/// The final JSON object of `--output json` / `stream-json`.
fn result_json(
    session: &str,
    model: &ModelInfo,
    outcome: &TurnOutcome,
    answer: &str,
    duration_ms: u64,
) -> Value {
    json!({
        "type": "result",
        "isError": false,
        "result": answer,
        "sessionId": session,
        "model": model.id,
        "turns": outcome.model_calls,
        "toolCalls": outcome.tool_calls,
        "stopReason": outcome.stop_reason,
        "usage": outcome.usage,
        "cost": outcome.cost,
        "durationMs": duration_ms,
    })
}

fn read_prompt(arg: Option<&str>) -> Result<String> {
    let prompt = match arg {
        Some(p) if p != "-" => p.to_owned(),
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("no prompt: pass it as an argument or pipe it on stdin");
            }
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the prompt from stdin")?;
            text
        }
    };
    if prompt.trim().is_empty() {
        bail!("the prompt is empty");
    }
    Ok(prompt)
}

/// Text output streams the answer to stdout (thinking and tool activity dimmed on a
/// terminal's stderr); stream-json prints every event as a JSON line; json prints nothing
/// until the end.
fn print_event(event: AgentEvent<'_>, output: Output, progress: bool) {
    match output {
        Output::Json => {}
        Output::StreamJson => {
            let line = match event {
                AgentEvent::Stream(e) => serde_json::to_value(e).ok(),
                AgentEvent::ToolStart { id, name, arguments } => Some(
                    json!({"type": "tool_start", "toolCallId": id, "name": name, "arguments": arguments}),
                ),
                AgentEvent::ToolEnd { id, name, result, duration_ms } => Some(json!({"type": "tool_end",
                    "toolCallId": id, "name": name, "isError": result.is_error.unwrap_or(false),
                    "durationMs": duration_ms, "output": result.text_content()})),
                AgentEvent::ToolOutput { id, chunk } => {
                    Some(json!({"type": "tool_output", "toolCallId": id, "output": chunk}))
                }
                AgentEvent::Persisted(_) => None,
            };
            if let Some(line) = line {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
        Output::Text => match event {
            AgentEvent::Stream(StreamEvent::TextDelta { delta }) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(delta.as_bytes());
                let _ = out.flush();
            }
            AgentEvent::Stream(StreamEvent::ThinkingDelta { delta }) if progress => {
                eprint!("\x1b[2m{delta}\x1b[0m");
            }
            AgentEvent::Stream(StreamEvent::ThinkingEnd { .. }) if progress => eprintln!(),
            AgentEvent::Stream(StreamEvent::Retry { attempt, max_retries, delay_ms, error }) => {
                eprintln!(
                    "retrying ({attempt}/{max_retries}) in {:.1} s: {}",
                    *delay_ms as f64 / 1000.0,
                    error.message
                );
            }
            AgentEvent::ToolStart { name, arguments, .. } if progress => {
                let summary: String = arguments.to_string().chars().take(120).collect();
                eprintln!("\x1b[2m▸ {name} {summary}\x1b[0m");
            }
            AgentEvent::ToolEnd { name, result, duration_ms, .. } if progress => {
                let mark = if result.is_error.unwrap_or(false) { "✗" } else { "✓" };
                eprintln!("\x1b[2m{mark} {name} ({:.1} s)\x1b[0m", duration_ms as f64 / 1000.0);
            }
            _ => {}
        },
    }
}

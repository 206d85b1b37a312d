//! `tron chat`: one prompt to the agent, streamed to stdout, every event persisted.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use tron::agent::runner::{known_tools, prepare_run, RunSpec, ToolChoice};
use tron::agent::subagents::{ChildEnv, SubagentEvent, SubagentSink, Subagents};
use tron::agent::{provider_for, AgentEvent, TurnError, TurnOutcome};
use tron::core::stream::StreamEvent;
use tron::events::{EventStore, ListOptions, NewSession, OpenMode, StoreHandle};
use tron::llm::models::{self, ModelInfo};
use tron::settings::{Paths, Settings, Sources};

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
    /// Write no memory ledger entry for this run (saves the small model's call after the
    /// answer; settings: context.memory.ledger.enabled)
    #[arg(long)]
    no_memory: bool,
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
    // Credentials are checked (and a stored OAuth token refreshed) before anything is
    // written, so a missing sign-in leaves no empty session behind.
    provider_for(
        model,
        &paths.auth_file(),
        |n| std::env::var(n).ok(),
        settings.retry.policy(),
        tron::agent::setup::anthropic_account(&settings),
    )?;
    let tools = tool_choice(&args, &settings)?;
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
    let settings = std::sync::Arc::new(settings);
    let env: tron::settings::EnvLookup = std::sync::Arc::new(|n: &str| std::env::var(n).ok());
    let output = args.output;
    let progress = output == Output::Text && std::io::stderr().is_terminal();
    let cancel = tokio_util::sync::CancellationToken::new();
    // Subagents the run spawns: children of this chat, aborted with it (Ctrl-C).
    let subagents = {
        let settings = std::sync::Arc::clone(&settings);
        let child_env = ChildEnv {
            store: store.clone(),
            settings: std::sync::Arc::new(move || std::sync::Arc::clone(&settings)),
            data_dir: paths.data_dir.clone(),
            env: env.clone(),
        };
        let sink: SubagentSink = std::sync::Arc::new(move |_: &str, event: SubagentEvent<'_>| {
            print_subagent_event(&event, output, progress)
        });
        Subagents::new(&session, child_env, sink, cancel.child_token())
    };
    // BrowseTheWeb's browser (started on the model's first call; nobody watches frames).
    let browser = tron::platform::browser::BrowserService::new(
        tron::platform::browser::BrowserConfig::from_env(&*env),
        None,
    );
    // The same setup as `tron serve`: system prompt (core, provider part, rules, skills;
    // --system replaces the core prompt), tools, hooks and guardrails, compaction.
    let spec = RunSpec {
        store: store.clone(),
        settings: std::sync::Arc::clone(&settings),
        data_dir: paths.data_dir.clone(),
        env,
        session: session.clone(),
        working_dir: cwd,
        model,
        model_name: None,
        prompt: prompt.clone(),
        skills: Vec::new(),
        spells: Vec::new(),
        system_override: args.system.clone(),
        tools,
        max_turns: None,
        thinking_budget: args.thinking,
        run_id: None,
        user_fields: Default::default(),
        subagents: Some(std::sync::Arc::clone(&subagents)),
        browser: Some(browser.clone()),
        interactive: None,
        cancel: cancel.clone(),
        memory: !args.no_memory,
        failures: tron::agent::turn::FailureLog::Chat,
    };
    // Every log record of the run carries its session.
    let span = tracing::info_span!("chat", session_id = %session);
    let _entered = span.enter();
    let mut prepared = runtime.block_on(prepare_run(spec))?;
    for warning in prepared.warnings() {
        eprintln!("tron chat: {warning}");
    }
    runtime.block_on(prepared.persist_setup(|event| print_event(event, output, progress)))?;
    let mut answer = String::new();
    let result = runtime.block_on(async {
        tokio::spawn(abort_on_signal(cancel.clone()));
        let result = prepared
            .run(|event| {
                if let AgentEvent::Stream(StreamEvent::TextDelta { delta }) = &event {
                    answer.push_str(delta);
                }
                print_event(event, output, progress)
            })
            .await;
        // Subagents spawned without waiting finish (Ctrl-C aborts them) before the process
        // exits, so their results are in the session's log.
        if subagents.running() > 0 {
            if progress {
                eprintln!(
                    "\x1b[2mwaiting for {} subagent(s) to finish (Ctrl-C aborts them)\x1b[0m",
                    subagents.running()
                );
            }
            subagents.wait_idle().await;
        }
        // Background hooks (the memory ledger entry of this run, written by the `Stop` hook
        // `builtin:memory-ledger`) end, or get their time, before the process exits.
        prepared.wait_background(tron::agent::hooks::engine::DRAIN_TIMEOUT).await;
        browser.close_all().await;
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

/// The tools to offer, from `--no-tools`, `--allowed-tools` and `--disallowed-tools`
/// (unknown names are refused).
fn tool_choice(args: &ChatArgs, settings: &Settings) -> Result<ToolChoice> {
    let known = known_tools(settings);
    for name in args.allowed_tools.iter().chain(&args.disallowed_tools) {
        if !known.iter().any(|k| k == name) {
            bail!("unknown tool {name:?} (tools: {})", known.join(", "));
        }
    }
    Ok(ToolChoice {
        none: args.no_tools,
        allowed: args.allowed_tools.clone(),
        denied: args.disallowed_tools.clone(),
    })
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

/// Subagents: a dimmed line on a terminal's stderr when one starts and ends; with
/// stream-json, a `subagent` line.
fn print_subagent_event(event: &SubagentEvent<'_>, output: Output, progress: bool) {
    let line = match event {
        SubagentEvent::Spawned { child, task, model, .. } => {
            json!({"type": "subagent_spawned", "sessionId": child, "task": task, "model": model})
        }
        SubagentEvent::Completed { child, payload } => {
            json!({"type": "subagent_completed", "sessionId": child, "resultSummary": payload["resultSummary"],
                   "totalTurns": payload["totalTurns"], "duration": payload["duration"]})
        }
        SubagentEvent::Failed { child, payload } => {
            json!({"type": "subagent_failed", "sessionId": child, "error": payload["error"],
                   "completionType": payload["completionType"]})
        }
        _ => return,
    };
    match output {
        Output::StreamJson => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        Output::Text if progress => match event {
            SubagentEvent::Spawned { child, task, .. } => {
                let task: String = task.chars().take(80).collect();
                eprintln!("\x1b[2m▸ subagent {child}: {task}\x1b[0m")
            }
            SubagentEvent::Completed { child, .. } => eprintln!("\x1b[2m✓ subagent {child} completed\x1b[0m"),
            SubagentEvent::Failed { child, payload } => {
                eprintln!(
                    "\x1b[2m✗ subagent {child} failed: {}\x1b[0m",
                    payload["error"].as_str().unwrap_or("")
                )
            }
            _ => {}
        },
        _ => {}
    }
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
                AgentEvent::CompactionStarted { .. } | AgentEvent::Persisted(_) => None,
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

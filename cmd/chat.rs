//! `tron chat`: one prompt to the agent, streamed to stdout, every event persisted.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use tron::agent::{run_turn, Agent, AgentEvent, TurnError, TurnSettings};
use tron::core::stream::StreamEvent;
use tron::events::{EventStore, NewSession, OpenMode, StoreHandle};
use tron::llm::anthropic::AnthropicProvider;
use tron::llm::google::GoogleProvider;
use tron::llm::models::{self, ProviderKind};
use tron::llm::openai::OpenAiChatProvider;
use tron::llm::Provider;
use tron::settings::Paths;
use tron::tools::{ToolContext, ToolRegistry};

/// The model used when `--model` is not given.
const DEFAULT_MODEL: &str = "claude-sonnet-4-5";

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The prompt ("-" or nothing: read it from stdin)
    prompt: Option<String>,
    /// Model id (see the registry; unknown ids name the closest known ones)
    #[arg(long, short, default_value = DEFAULT_MODEL)]
    model: String,
    /// Continue this session instead of starting a new one
    #[arg(long, value_name = "SESSION_ID")]
    session: Option<String>,
    /// Working directory of a new session [default: the current directory]
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Extended-thinking budget in tokens (models that support thinking)
    #[arg(long, value_name = "TOKENS")]
    thinking: Option<u64>,
    /// System prompt
    #[arg(long)]
    system: Option<String>,
    /// Offer no tools to the model (answer only)
    #[arg(long)]
    no_tools: bool,
    /// Most model calls for this prompt (each tool round trip is one)
    #[arg(long, default_value_t = 50)]
    max_turns: u32,
    /// The event database [default: $TRON_EVENT_STORE_DB, else ~/.tron/db/prod.db]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print every stream event as a JSON line, then a final `result` line
    #[arg(long)]
    json: bool,
}

pub fn run(args: ChatArgs) -> Result<()> {
    let prompt = read_prompt(args.prompt.as_deref())?;
    let model = models::lookup(&args.model)?;
    let provider: Box<dyn Provider> = match model.provider {
        ProviderKind::Anthropic => Box::new(AnthropicProvider::from_env()?),
        ProviderKind::OpenAi => Box::new(OpenAiChatProvider::from_env()?),
        ProviderKind::Google => Box::new(GoogleProvider::from_env()?),
        ProviderKind::OpenAiCodex => {
            bail!(
                "{} needs a ChatGPT sign-in, which arrives with `tron auth login openai` (issue 8)",
                model.id
            )
        }
    };
    let db = args.db.clone().unwrap_or_else(|| Paths::from_env().event_db);
    // Continuing a session needs its database; a new session may create it.
    let mode = if args.session.is_some() { OpenMode::Existing } else { OpenMode::Create };
    let store = EventStore::open(&db, mode)?;
    let (session, cwd) = match &args.session {
        Some(id) => {
            let row = store.session(id)?;
            (row.id.into_string(), PathBuf::from(row.working_directory))
        }
        None => {
            let cwd = match &args.cwd {
                Some(dir) => dir
                    .canonicalize()
                    .with_context(|| format!("cannot use {} as working directory", dir.display()))?,
                None => std::env::current_dir().context("cannot read the current directory")?,
            };
            let new = NewSession {
                working_directory: cwd.display().to_string(),
                model: model.id.to_owned(),
                provider: Some(model.provider.to_string()),
                ..Default::default()
            };
            (store.create_session(new)?.0.id.into_string(), cwd)
        }
    };
    let store = StoreHandle::spawn(store);
    let settings = TurnSettings {
        model,
        max_tokens: None,
        thinking_budget: args.thinking,
        system: args.system.clone(),
        max_turns: args.max_turns,
    };
    let tools = if args.no_tools { ToolRegistry::new() } else { tron::tools::core_tools() };
    let ctx = ToolContext::new(cwd);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let json = args.json;
    let tty = std::io::stdout().is_terminal();
    let show_thinking = !json && std::io::stderr().is_terminal();
    let agent =
        Agent { store: &store, provider: provider.as_ref(), tools: &tools, ctx: &ctx, settings: &settings };
    let result =
        runtime.block_on(run_turn(agent, &session, &prompt, |event| print_event(event, json, show_thinking)));
    let mut out = std::io::stdout().lock();
    match result {
        Ok(outcome) => {
            if json {
                let line = json!({"type": "result", "sessionId": session, "turn": outcome.turn,
                    "stopReason": outcome.stop_reason, "usage": outcome.message.usage, "cost": outcome.cost,
                    "toolCalls": outcome.tool_calls});
                writeln!(out, "{line}")?;
            } else {
                writeln!(out)?;
                if tty || std::io::stderr().is_terminal() {
                    let usage = outcome.message.usage.unwrap_or_default();
                    let cost = outcome.cost.map_or("cost unavailable".to_owned(), |c| format!("${c:.4}"));
                    eprintln!(
                        "\x1b[2m{session} · {} in / {} out · {cost}\x1b[0m",
                        usage.input_tokens, usage.output_tokens
                    );
                }
            }
            out.flush()?;
            Ok(())
        }
        Err(e @ (TurnError::ToolsUnavailable(_) | TurnError::TooManyTurns(_))) => {
            writeln!(out)?;
            bail!("{e}; everything so far is saved in {session}")
        }
        Err(e) => bail!("{e} (the prompt is saved in session {session})"),
    }
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

/// Streams text to stdout as it arrives (thinking and tool activity dimmed on a terminal's
/// stderr), or every event as a JSON line with `--json`.
fn print_event(event: AgentEvent<'_>, json: bool, show_progress: bool) {
    if json {
        let line = match event {
            AgentEvent::Stream(e) => serde_json::to_value(e).ok(),
            AgentEvent::ToolStart { id, name, arguments } => {
                Some(json!({"type": "tool_start", "toolCallId": id, "name": name, "arguments": arguments}))
            }
            AgentEvent::ToolEnd { id, name, result, duration_ms } => Some(json!({"type": "tool_end",
                "toolCallId": id, "name": name, "isError": result.is_error.unwrap_or(false),
                "durationMs": duration_ms, "output": result.text_content()})),
        };
        if let Some(line) = line {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        return;
    }
    match event {
        AgentEvent::Stream(StreamEvent::TextDelta { delta }) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
        AgentEvent::Stream(StreamEvent::ThinkingDelta { delta }) if show_progress => {
            eprint!("\x1b[2m{delta}\x1b[0m");
        }
        AgentEvent::Stream(StreamEvent::ThinkingEnd { .. }) if show_progress => eprintln!(),
        AgentEvent::Stream(StreamEvent::Retry { attempt, max_retries, delay_ms, error }) => {
            eprintln!(
                "retrying ({attempt}/{max_retries}) in {:.1} s: {}",
                *delay_ms as f64 / 1000.0,
                error.message
            );
        }
        AgentEvent::ToolStart { name, arguments, .. } if show_progress => {
            let summary: String = arguments.to_string().chars().take(120).collect();
            eprintln!("\x1b[2m▸ {name} {summary}\x1b[0m");
        }
        AgentEvent::ToolEnd { name, result, duration_ms, .. } if show_progress => {
            let mark = if result.is_error.unwrap_or(false) { "✗" } else { "✓" };
            eprintln!("\x1b[2m{mark} {name} ({:.1} s)\x1b[0m", duration_ms as f64 / 1000.0);
        }
        _ => {}
    }
}

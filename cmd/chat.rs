//! `tron chat`: one prompt to the agent, streamed to stdout, every event persisted.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use tron::agent::{run_turn, TurnError, TurnSettings};
use tron::core::stream::StreamEvent;
use tron::events::{EventStore, NewSession, OpenMode, StoreHandle};
use tron::llm::anthropic::AnthropicProvider;
use tron::llm::google::GoogleProvider;
use tron::llm::models::{self, ProviderKind};
use tron::llm::openai::OpenAiChatProvider;
use tron::llm::Provider;
use tron::settings::Paths;

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
    let session = match &args.session {
        Some(id) => store.session(id)?.id.into_string(),
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
            store.create_session(new)?.0.id.into_string()
        }
    };
    let store = StoreHandle::spawn(store);
    let settings =
        TurnSettings { model, max_tokens: None, thinking_budget: args.thinking, system: args.system.clone() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let json = args.json;
    let tty = std::io::stdout().is_terminal();
    let show_thinking = !json && std::io::stderr().is_terminal();
    let result =
        runtime.block_on(run_turn(&store, provider.as_ref(), &session, &prompt, &settings, |event| {
            print_event(event, json, show_thinking)
        }));
    let mut out = std::io::stdout().lock();
    match result {
        Ok(outcome) => {
            if json {
                let line = json!({"type": "result", "sessionId": session, "turn": outcome.turn,
                    "stopReason": outcome.stop_reason, "usage": outcome.message.usage, "cost": outcome.cost});
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
        Err(TurnError::ToolsUnavailable(tool)) => {
            writeln!(out)?;
            bail!("the model called the tool `{tool}`, but tools are not built yet in this version (issue 5); the answer so far is saved in {session}")
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

/// Streams text to stdout as it arrives (thinking dimmed on a terminal's stderr), or every
/// event as a JSON line with `--json`.
fn print_event(event: &StreamEvent, json: bool, show_thinking: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        return;
    }
    match event {
        StreamEvent::TextDelta { delta } => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(delta.as_bytes());
            let _ = out.flush();
        }
        StreamEvent::ThinkingDelta { delta } if show_thinking => {
            eprint!("\x1b[2m{delta}\x1b[0m");
        }
        StreamEvent::ThinkingEnd { .. } if show_thinking => eprintln!(),
        StreamEvent::Retry { attempt, max_retries, delay_ms, error } => {
            eprintln!(
                "retrying ({attempt}/{max_retries}) in {:.1} s: {}",
                *delay_ms as f64 / 1000.0,
                error.message
            );
        }
        _ => {}
    }
}

//! The `tron` binary: flag parsing and dispatch only. Each subcommand lives in its own file
//! and calls into the library.

mod auth;
mod chat;
mod embed;
mod events;
mod output;
mod replay;
mod serve;
mod worktree;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tron: a coding-agent server and CLI (drop-in for the TypeScript Tron server).
#[derive(Debug, Parser)]
#[command(name = "tron", version = env!("TRON_VERSION_LINE"), about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log lines on stderr: readable text or JSON lines (levels: TRON_LOG, else RUST_LOG)
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the WebSocket JSON-RPC server the Tron iOS app talks to
    Serve(serve::ServeArgs),
    /// Send one prompt to the agent: stream the answer, run tools, persist every event
    Chat(chat::ChatArgs),
    /// Inspect, search, fork, rewind, export and import the SQLite event log
    Events(events::EventsArgs),
    /// Sign in with OAuth, manage API keys and the auth file (~/.tron/auth.json)
    Auth(auth::AuthArgs),
    /// Local ONNX embeddings: vectors for texts, memory indexing and semantic memory search
    Embed(embed::EmbedArgs),
    /// Git worktrees that isolate sessions: list, create, commit, merge, remove, prune
    Worktree(worktree::WorktreeArgs),
    /// Replay recorded WebSocket sessions and diff the answers
    Replay(replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One subscriber for the process; the guard flushes the SQLite log sink on the way out.
    let default_filter = match cli.command {
        Command::Serve(_) => tron::logging::SERVE_DEFAULT,
        _ => tron::logging::CLI_DEFAULT,
    };
    let format = cli.log_format.parse().unwrap_or_default();
    let _log_guard = match tron::logging::init(tron::logging::LogOptions { format, default_filter }) {
        Ok(guard) => guard,
        Err(e) => {
            output::print_error(&e.into());
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Events(args) => events::run(args),
        Command::Auth(args) => auth::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Worktree(args) => worktree::run(args),
        Command::Replay(args) => replay::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `tron events show X | head`: the reader went away; that is not a failure.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<chat::Interrupted>() => {
            output::print_error(&e);
            ExitCode::from(130)
        }
        Err(e) => {
            output::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

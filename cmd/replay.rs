//! `tron replay`: replay recorded WebSocket sessions and diff the answers; `tron replay
//! record` / `tron replay shadow` (the recorder proxy and the shadow mirror).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;

use tron::replay::{self, Recording, ReplayOptions};
use tron::testing::MockLlm;

/// Replay recordings (the default) or record / mirror a live session.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Each recording (recordings/NAME.jsonl) is replayed against a fresh tron server started in \
                  process (temp data dir, the mock LLM playing the recording's script), or against --target. \
                  Frames are compared after normalisation (ids, times, durations, key order, interleaving \
                  across sessions); a difference is shown as a unified diff and the paths that differ. \
                  Exits 1 when any recording failed."
)]
pub struct ReplayArgs {
    #[command(subcommand)]
    command: Option<ReplayCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum ReplayCommand {
    /// Record a session: a WebSocket proxy in front of a server that writes every frame to a recording
    Record(RecordArgs),
    /// Mirror a client's frames to a second server and report where its answers differ
    Shadow(ShadowArgs),
    /// Serve a recording's script as a mock LLM (for a server replayed with --target)
    MockLlm(MockLlmArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Recordings (NAME.jsonl) or folders searched for *.jsonl
    #[arg(value_name = "PATH", default_value = "recordings")]
    paths: Vec<PathBuf>,
    /// Replay against this running server (ws://HOST:PORT) instead of tron in process; it must
    /// run with the recordings' settings, and its providers must point at --mock-llm
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// With --target: serve each recording's script as a mock LLM on ADDR (start the target
    /// with TRON_ANTHROPIC_BASE_URL=http://ADDR) before replaying it
    #[arg(long, value_name = "ADDR", requires = "target")]
    mock_llm: Option<SocketAddr>,
    /// Machine-readable output: one JSON object with every result
    #[arg(long)]
    json: bool,
    /// Rewrite the recordings that differ with what the server answered now (refused for a
    /// replay that timed out); recordedAgainst then says which server produced the frames
    #[arg(long)]
    update: bool,
    /// Only recordings whose path contains SUBSTRING
    #[arg(long, value_name = "SUBSTRING")]
    filter: Option<String>,
    /// Seconds to wait for the frames a send depends on
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Debug, Args)]
struct RecordArgs {
    /// Address the proxy listens on (point the client here)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The server to forward to (ws://HOST:PORT)
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// The recording to write (NAME.jsonl)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also proxy the provider (LLM) traffic, to capture the script
    #[arg(long)]
    provider_proxy: bool,
    /// The settings.json the upstream server runs with, copied into the header so the replay
    /// runs with the same settings
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MockLlmArgs {
    /// The recording whose header script to serve
    #[arg(value_name = "RECORDING")]
    recording: PathBuf,
    /// Address to listen on (port 0: any free port); the base URL is printed on stdout
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[derive(Debug, Args)]
struct ShadowArgs {
    /// Address the mirror listens on (point the client here)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The server whose answers the client gets (ws://HOST:PORT)
    #[arg(long, value_name = "URL")]
    primary: String,
    /// The server that gets a copy of every client frame; its answers are only compared
    #[arg(long, value_name = "URL")]
    secondary: String,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    match args.command {
        None => replay_all(args.run),
        Some(ReplayCommand::Record(a)) => record(a),
        Some(ReplayCommand::Shadow(a)) => shadow(a),
        Some(ReplayCommand::MockLlm(a)) => mock_llm(a),
    }
}

fn record(args: RecordArgs) -> Result<()> {
    let settings = match &args.settings {
        Some(path) => replay::proxy::read_settings(path)?,
        None => serde_json::json!({}),
    };
    let options = replay::proxy::RecordOptions {
        listen: args.listen,
        upstream: args.upstream,
        out: args.out,
        provider_proxy: args.provider_proxy,
        settings,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(replay::proxy::record(options))?;
    Ok(())
}

fn mock_llm(args: MockLlmArgs) -> Result<()> {
    let recording = Recording::load(&args.recording)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let mock = MockLlm::start_on(args.listen, recording.header.script.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        println!("{}", mock.base_url());
        std::io::stdout().flush()?;
        eprintln!(
            "serving the script of {} ({} responses) until Ctrl-C: start the server with TRON_ANTHROPIC_BASE_URL={} (and TRON_OPENAI_BASE_URL / TRON_GOOGLE_BASE_URL)",
            args.recording.display(),
            recording.header.script.responses.len(),
            mock.base_url()
        );
        if recording.header.settings.as_object().is_some_and(|m| !m.is_empty()) {
            eprintln!("and with these settings (settings.json): {}", recording.header.settings);
        }
        tokio::signal::ctrl_c().await?;
        Ok(())
    })
}

fn shadow(args: ShadowArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(replay::proxy::shadow(args.listen, args.primary, args.secondary))?;
    Ok(())
}

/// One recording's result, as printed with `--json`.
#[derive(Debug, Serialize)]
struct Outcome {
    path: PathBuf,
    description: String,
    ok: bool,
    updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    differences: Vec<String>,
    notes: Vec<String>,
    diff: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    passed: usize,
    failed: usize,
    updated: usize,
    recordings: Vec<Outcome>,
}

fn replay_all(args: RunArgs) -> Result<()> {
    let mut paths = replay::format::discover(&args.paths)?;
    if let Some(f) = &args.filter {
        paths.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    if paths.is_empty() {
        anyhow::bail!("no recordings found (looked for *.jsonl in the given paths, filter included)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mock_llm = match args.mock_llm {
        Some(addr) => Some(Arc::new(
            runtime
                .block_on(MockLlm::start_on(addr, Default::default()))
                .map_err(|e| anyhow::anyhow!("--mock-llm: cannot listen on {addr}: {e}"))?,
        )),
        None => None,
    };
    let options = ReplayOptions {
        target: args.target.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
        mock_llm,
        ..Default::default()
    };
    let mut outcomes = Vec::new();
    for path in &paths {
        let outcome = runtime.block_on(one(path, &options, args.update));
        if !args.json {
            print_outcome(&outcome);
        }
        outcomes.push(outcome);
    }
    let passed = outcomes.iter().filter(|o| o.ok).count();
    let updated = outcomes.iter().filter(|o| o.updated).count();
    let failed = outcomes.len() - passed - updated;
    if args.json {
        crate::output::print_json(&Summary { passed, failed, updated, recordings: outcomes })?;
    } else if args.update {
        println!("{passed} passed, {failed} failed, {updated} updated");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} recordings failed", paths.len());
    }
    Ok(())
}

async fn one(path: &Path, options: &ReplayOptions, update: bool) -> Outcome {
    let mut outcome = Outcome {
        path: path.to_owned(),
        description: String::new(),
        ok: false,
        updated: false,
        error: None,
        differences: Vec::new(),
        notes: Vec::new(),
        diff: String::new(),
    };
    let recording = match Recording::load(path) {
        Ok(r) => r,
        Err(e) => {
            outcome.error = Some(e.to_string());
            return outcome;
        }
    };
    outcome.description = recording.header.description.clone();
    if options.target.is_some() {
        if options.mock_llm.is_none() && !recording.header.script.responses.is_empty() {
            eprintln!(
                "warning: {}: its script is not served to --target (add --mock-llm ADDR and point the server's providers at it)",
                path.display()
            );
        }
        if recording.header.settings.as_object().is_some_and(|m| !m.is_empty()) {
            eprintln!(
                "note: {}: --target must run with these settings: {}",
                path.display(),
                recording.header.settings
            );
        }
    }
    let checked = match replay::check(&recording, options).await {
        Ok(c) => c,
        Err(e) => {
            outcome.error = Some(e.to_string());
            return outcome;
        }
    };
    outcome.ok = checked.comparison.ok;
    outcome.differences = checked.comparison.differences;
    outcome.diff = checked.comparison.diff;
    outcome.notes = checked.transcript.notes.clone();
    if update && !outcome.ok {
        match checked.transcript.updated(&recording, &options.source()).and_then(|r| r.save(path)) {
            Ok(()) => outcome.updated = true,
            Err(e) => outcome.error = Some(format!("cannot update {}: {e}", path.display())),
        }
    }
    outcome
}

fn print_outcome(o: &Outcome) {
    let name = o.path.display();
    if o.ok {
        println!("ok      {name}");
        return;
    }
    if o.updated {
        println!("updated {name}");
    } else {
        println!("FAIL    {name}");
    }
    if let Some(e) = &o.error {
        println!("  error: {e}");
    }
    for note in &o.notes {
        println!("  note: {note}");
    }
    for d in &o.differences {
        println!("  differs: {d}");
    }
    if !o.updated && !o.diff.is_empty() {
        for line in o.diff.lines() {
            println!("  {line}");
        }
    }
}

//! `tron embed`: local ONNX embeddings. `fetch` downloads the model, `text` prints vectors,
//! `index` backfills the vectors of memory entries, `search` finds the memory entries nearest
//! to a query.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    json: bool,
    /// The model directory [default: $TRON_EMBEDDING_MODEL_DIR, else <context.memory.embedding.cacheDir>/<model>, i.e. ~/.tron/mods/models/onnx-community/Qwen3-Embedding-0.6B-ONNX]
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// The ONNX file's dtype: picks onnx/model_<dtype>.onnx [default: context.memory.embedding.dtype, q4]
    #[arg(long, global = true, value_name = "DTYPE")]
    dtype: Option<String>,
    /// The ONNX Runtime library [default: $TRON_ONNXRUNTIME_PATH, $ORT_DYLIB_PATH, else searched: model dir, ~/.tron/mods/onnxruntime, pip's onnxruntime, system]
    #[arg(long, global = true, value_name = "PATH")]
    runtime: Option<PathBuf>,
    /// Vector size after Matryoshka truncation [default: context.memory.embedding.dimensions, 512]
    #[arg(long, global = true, value_name = "N")]
    dimensions: Option<usize>,
    /// Pooling: last-token, mean or cls [default: the model's 1_Pooling/config.json, else last-token]
    #[arg(long, global = true, value_name = "POOLING")]
    pooling: Option<String>,
    /// Longest text in tokens; longer ones are truncated
    #[arg(long, global = true, value_name = "N", default_value_t = 512)]
    max_tokens: usize,
    /// The event database [default: $TRON_EVENT_STORE_DB, else $TRON_DATA_DIR/db/prod.db, else ~/.tron/db/prod.db]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: EmbedCommand,
}

#[derive(Debug, Subcommand)]
enum EmbedCommand {
    /// Download the model's files (tokenizer.json, onnx/model_<dtype>.onnx, ...) into the
    /// model directory from a Hugging Face hub (the only `tron embed` command that uses the network)
    Fetch {
        /// The model repository [default: context.memory.embedding.model, onnx-community/Qwen3-Embedding-0.6B-ONNX]
        #[arg(long, value_name = "ORG/NAME")]
        model: Option<String>,
        /// The hub or a mirror [default: $HF_ENDPOINT, else https://huggingface.co]
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// A branch, tag or commit of the repository
        #[arg(long, default_value = "main")]
        revision: String,
        /// Download files that are already there again
        #[arg(long)]
        force: bool,
    },
    /// Print the embedding vector of each text as a JSON array
    Text {
        /// The texts (one vector each)
        #[arg(required = true)]
        texts: Vec<String>,
    },
    /// Embed every memory entry (memory.ledger event) that has no vector yet
    Index {
        /// Texts per model run
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Drop every stored vector of this size first and embed everything again
        #[arg(long)]
        rebuild: bool,
    },
    /// The memory entries nearest to a query, with their similarity scores
    Search {
        /// What to look for
        query: String,
        /// At most this many entries
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Only entries of this workspace id
        #[arg(long, value_name = "ID")]
        workspace: Option<String>,
    },
}

/// Runs `tron embed`.
pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    if let EmbedCommand::Fetch { model, endpoint, revision, force } = &args.command {
        return fetch(&args, model.as_deref(), endpoint.as_deref(), revision, *force);
    }
    run_model(args)
}

#[cfg(not(feature = "embed"))]
fn run_model(_args: EmbedArgs) -> anyhow::Result<()> {
    Err(tron::embed::EmbedError::NotBuilt { feature: "embed" }.into())
}

#[cfg(feature = "embed")]
use built::run as run_model;

/// `tron embed fetch`: the model's files into the model directory, with a progress bar on a
/// terminal.
fn fetch(
    args: &EmbedArgs,
    model: Option<&str>,
    endpoint: Option<&str>,
    revision: &str,
    force: bool,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;

    use anyhow::Context;
    use tron::embed::fetch::{self, Source, DEFAULT_ENDPOINT};
    use tron::embed::locate::{ModelSpec, SETTINGS_KEY};
    use tron::settings::{Paths, Settings, Sources};

    let paths = Paths::from_env();
    let settings = Settings::load(&Sources::from_env(paths.settings_file()))?;
    let mut spec = ModelSpec::from_settings(&settings);
    let configured =
        settings.get(&format!("{SETTINGS_KEY}.model")).and_then(|v| v.as_str()).map(str::to_owned);
    let model = model
        .map(str::to_owned)
        .or(configured)
        .unwrap_or_else(|| "onnx-community/Qwen3-Embedding-0.6B-ONNX".to_owned());
    if !model.split('/').all(|p| !p.is_empty() && p != ".." && p != ".") || model.matches('/').count() != 1 {
        anyhow::bail!(
            "--model must be ORG/NAME, e.g. onnx-community/Qwen3-Embedding-0.6B-ONNX (got {model:?})"
        );
    }
    let env_dir = std::env::var_os("TRON_EMBEDDING_MODEL_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
    let dir = match args.model_dir.clone().or(env_dir) {
        Some(d) => d,
        None => spec.dir.parent().map(|p| p.join(&model)).unwrap_or(spec.dir.clone()),
    };
    if let Some(dtype) = &args.dtype {
        spec.dtype = dtype.clone();
    }
    let endpoint = endpoint
        .map(str::to_owned)
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let source = Source { endpoint, model: model.clone(), revision: revision.to_owned() };
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})")
            .expect("valid template"),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let files = fetch::files_for(&spec.dtype);
    let fetched = rt
        .block_on(fetch::fetch(&source, &files, &dir, force, &mut |name, done, total| {
            if done == 0 {
                bar.set_message(name.to_owned());
                bar.set_length(total.unwrap_or(0));
            }
            bar.set_position(done);
        }))
        .with_context(|| format!("fetching {model} into {}", dir.display()))?;
    bar.finish_and_clear();
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "model": model, "dir": dir, "revision": revision, "files": fetched,
        }));
    }
    for f in &fetched {
        let detail = match f.status {
            "downloaded" => format!(
                "downloaded, {} bytes{}",
                f.bytes,
                if f.sha256.is_some() { ", SHA-256 checked" } else { "" }
            ),
            "present" => "already there (--force downloads it again)".to_owned(),
            _ => "not in this model (optional)".to_owned(),
        };
        crate::output::print_out(format_args!("{:<32} {detail}\n", f.path))?;
    }
    crate::output::print_out(format_args!("model ready in {}\n", dir.display()))
}

#[cfg(feature = "embed")]
mod built {
    use std::io::IsTerminal;

    use anyhow::{Context, Result};
    use serde_json::json;

    use tron::embed::model::{load_configured, Embedder, Overrides};
    use tron::embed::Pooling;
    use tron::settings::{Paths, Settings, Sources};

    use super::{EmbedArgs, EmbedCommand};
    use crate::output::{print_json, print_out};

    pub fn run(args: EmbedArgs) -> Result<()> {
        let paths = Paths::from_env();
        let settings = Settings::load(&Sources::from_env(paths.settings_file()))?;
        let embedder = load(&args, &paths, &settings)?;
        match &args.command {
            EmbedCommand::Text { texts } => text(&args, &embedder, texts),
            EmbedCommand::Index { batch_size, rebuild } => {
                index(&args, &paths, &embedder, *batch_size, *rebuild)
            }
            EmbedCommand::Search { query, limit, workspace } => {
                search(&args, &paths, &embedder, query, *limit, workspace.as_deref())
            }
            EmbedCommand::Fetch { .. } => unreachable!("fetch needs no model"),
        }
    }

    fn load(args: &EmbedArgs, paths: &Paths, settings: &Settings) -> Result<Embedder> {
        let over = Overrides {
            model_dir: args.model_dir.clone(),
            dtype: args.dtype.clone(),
            runtime: args.runtime.clone().map(|p| (p, "--runtime".to_owned())),
            dimensions: args.dimensions,
            pooling: args
                .pooling
                .as_deref()
                .map(str::parse::<Pooling>)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            max_tokens: Some(args.max_tokens),
        };
        Ok(load_configured(settings, &|k| std::env::var(k).ok(), &paths.data_dir, over)?)
    }

    fn text(args: &EmbedArgs, embedder: &Embedder, texts: &[String]) -> Result<()> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs)?;
        if args.json {
            let embeddings: Vec<_> =
                texts.iter().zip(&vectors).map(|(t, v)| json!({ "text": t, "vector": v })).collect();
            return print_json(&json!({
                "model": embedder.files().model,
                "pooling": embedder.pooling().as_str(),
                "dimensions": embedder.dimensions(),
                "embeddings": embeddings,
            }));
        }
        for v in &vectors {
            print_out(format_args!("{}\n", serde_json::to_string(v)?))?;
        }
        Ok(())
    }

    #[cfg(feature = "vector-search")]
    fn open_store(args: &EmbedArgs, paths: &Paths) -> Result<tron::events::EventStore> {
        // sqlite-vec must be registered before the connection is opened.
        tron::embed::store::register();
        let db = args.db.clone().unwrap_or_else(|| paths.event_db.clone());
        Ok(tron::events::EventStore::open(&db, tron::events::OpenMode::Existing)?)
    }

    #[cfg(not(feature = "vector-search"))]
    fn index(_: &EmbedArgs, _: &Paths, _: &Embedder, _: usize, _: bool) -> Result<()> {
        Err(tron::embed::EmbedError::NotBuilt { feature: "vector-search" }.into())
    }

    #[cfg(not(feature = "vector-search"))]
    fn search(_: &EmbedArgs, _: &Paths, _: &Embedder, _: &str, _: usize, _: Option<&str>) -> Result<()> {
        Err(tron::embed::EmbedError::NotBuilt { feature: "vector-search" }.into())
    }

    #[cfg(feature = "vector-search")]
    fn index(
        args: &EmbedArgs,
        paths: &Paths,
        embedder: &Embedder,
        batch_size: usize,
        rebuild: bool,
    ) -> Result<()> {
        let store = open_store(args, paths)?;
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "embedding {bar:40} {pos}/{len} memory entries ({per_sec})",
            )
            .expect("valid template"),
        );
        let report =
            tron::embed::index::backfill(&store, embedder, batch_size, rebuild, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .with_context(|| format!("indexing memory entries of {}", store.path().display()))?;
        bar.finish_and_clear();
        if args.json {
            return print_json(&report);
        }
        print_out(format_args!(
            "indexed {} memory entries into {} ({} already indexed, {} skipped, {} in total)\n",
            report.indexed, report.table, report.already_indexed, report.skipped, report.entries
        ))
    }

    #[cfg(feature = "vector-search")]
    fn search(
        args: &EmbedArgs,
        paths: &Paths,
        embedder: &Embedder,
        query: &str,
        limit: usize,
        workspace: Option<&str>,
    ) -> Result<()> {
        let store = open_store(args, paths)?;
        let hits = tron::embed::index::search(&store, embedder, query, limit, workspace)?;
        if args.json {
            let results: Vec<_> = hits
                .iter()
                .map(|h| {
                    json!({
                        "eventId": h.entry.event_id,
                        "sessionId": h.entry.session_id,
                        "workspaceId": h.entry.workspace_id,
                        "timestamp": h.entry.timestamp,
                        "score": h.score,
                        "distance": h.distance,
                        "title": h.entry.payload.title,
                        "entryType": h.entry.payload.entry_type,
                        "text": h.entry.text(),
                    })
                })
                .collect();
            return print_json(&json!({ "query": query, "results": results }));
        }
        if hits.is_empty() {
            eprintln!("no indexed memory entries (run `tron embed index` first)");
        }
        for h in &hits {
            print_out(format_args!(
                "{:.3}  {}  {}  ({})\n",
                h.score,
                h.entry.timestamp.get(..10).unwrap_or(&h.entry.timestamp),
                h.entry.payload.title,
                h.entry.event_id
            ))?;
        }
        Ok(())
    }
}

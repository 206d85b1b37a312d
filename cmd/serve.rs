//! `tron serve`: the WebSocket JSON-RPC server the Tron iOS app talks to.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use tron::events::{EventStore, OpenMode, StoreHandle};
use tron::rpc::ServerState;
use tron::server::{self, ServerConfig};
use tron::settings::{Paths, SettingsHandle, Sources};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --token [settings: server.host, env:
    /// TRON_HOST; default 127.0.0.1]
    #[arg(long)]
    host: Option<IpAddr>,
    /// WebSocket port (the app connects to ws://HOST:PORT/ws); 0 picks a free one [settings:
    /// server.wsPort, env: TRON_WS_PORT or TRON_PORT; default 8080]
    #[arg(long, short)]
    port: Option<u16>,
    /// Token clients must present (Authorization: Bearer, or ?token=)
    #[arg(long, env = "TRON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The event database [default: $TRON_EVENT_STORE_DB, else ~/.tron/db/prod.db]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Seconds between heartbeat pings (a client that misses one is dropped) [settings:
    /// server.heartbeatIntervalMs; default 30]
    #[arg(long, value_name = "SECONDS")]
    heartbeat: Option<u64>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let paths = Paths::from_env();
    let db = args.db.clone().unwrap_or_else(|| paths.event_db.clone());
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // sqlite-vec on the server's connection, for the memory vectors (as the TypeScript server
    // loads it at startup).
    #[cfg(feature = "vector-search")]
    tron::embed::store::register();
    let store = EventStore::open(&db, OpenMode::Create)?;
    // Worktrees left by a crash or by sessions that ended are pruned (work committed first).
    match tron::platform::worktree::recovery::recover(&store) {
        Ok(report) => {
            for p in &report.pruned {
                let outcome =
                    p.error.as_deref().map_or_else(|| "pruned".to_owned(), |e| format!("left in place: {e}"));
                eprintln!("tron serve: orphan worktree {} {outcome}", p.finding.path);
            }
        }
        Err(e) => eprintln!("tron serve: could not look for orphan worktrees: {e}"),
    }
    let sources = Sources::from_env(paths.settings_file())
        .flag("server.host", args.host.map(|h| h.to_string()))
        .flag("server.wsPort", args.port)
        .flag("server.heartbeatIntervalMs", args.heartbeat.map(|s| s.max(1) * 1000));
    let settings = SettingsHandle::load(sources)?;
    let current = settings.current();
    for warning in &current.warnings {
        eprintln!("tron serve: {warning}");
    }
    // Every log record from `logging.dbLogLevel` up also goes to the `logs` table of this
    // database, as the TypeScript server did (its own thread; flushed when main's log guard
    // drops).
    let min_level = current.logging.db_log_level.parse().unwrap_or(tron::logging::Level::Info);
    tron::logging::attach_sqlite(&db, tron::logging::SinkConfig { min_level, ..Default::default() })?;
    let host: IpAddr = current.server.host.parse().map_err(|_| {
        anyhow::anyhow!("server.host must be an IP address such as 127.0.0.1, not {:?}", current.server.host)
    })?;
    let config = ServerConfig {
        addr: SocketAddr::new(host, current.server.ws_port),
        token: args.token.filter(|t| !t.is_empty()),
        heartbeat: current.server.heartbeat(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Edits of settings.json reach the running server (a failed watch only loses that).
        let _watcher = settings
            .watch()
            .map_err(|e| {
                eprintln!("tron serve: settings changes need a restart (cannot watch the file: {e})")
            })
            .ok();
        let env = Arc::new(|n: &str| std::env::var(n).ok());
        let state = ServerState::new(StoreHandle::spawn(store), paths, env, settings);
        let listening = server::bind(config, state).await?;
        // One line on stdout, so scripts (and tests) can find the port.
        println!(
            "tron serve: listening on ws://{}/ws (health: http://{}/health), events in {}",
            listening.addr,
            listening.addr,
            db.display()
        );
        tracing::info!(addr = %listening.addr, db = %db.display(), "listening");
        listening.serve(shutdown_signal()).await.context("the server failed")?;
        tracing::info!("stopped");
        eprintln!("tron serve: stopped");
        Ok(())
    })
}

/// Completes on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!("tron serve: shutting down (aborting running turns; signal again to quit at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        std::process::exit(130);
    });
}

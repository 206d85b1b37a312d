//! `tron serve`: the WebSocket JSON-RPC server the Tron iOS app talks to.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use tron::events::{EventStore, OpenMode, StoreHandle};
use tron::rpc::ServerState;
use tron::server::{self, ServerConfig};
use tron::settings::Paths;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --token
    #[arg(long, default_value = "127.0.0.1", env = "TRON_HOST")]
    host: IpAddr,
    /// WebSocket port (the app connects to ws://HOST:PORT/ws); 0 picks a free one
    #[arg(long, short, default_value_t = server::DEFAULT_PORT, env = "TRON_PORT")]
    port: u16,
    /// Token clients must present (Authorization: Bearer, or ?token=)
    #[arg(long, env = "TRON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The event database [default: $TRON_EVENT_STORE_DB, else ~/.tron/db/prod.db]
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Seconds between heartbeat pings (a client that misses one is dropped)
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    heartbeat: u64,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let paths = Paths::from_env();
    let db = args.db.clone().unwrap_or_else(|| paths.event_db.clone());
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let store = EventStore::open(&db, OpenMode::Create)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let state =
            ServerState::new(StoreHandle::spawn(store), paths, Arc::new(|n: &str| std::env::var(n).ok()));
        let config = ServerConfig {
            addr: SocketAddr::new(args.host, args.port),
            token: args.token.filter(|t| !t.is_empty()),
            heartbeat: Duration::from_secs(args.heartbeat.max(1)),
        };
        let listening = server::bind(config, state).await?;
        // One line on stdout, so scripts (and tests) can find the port.
        println!(
            "tron serve: listening on ws://{}/ws (health: http://{}/health), events in {}",
            listening.addr,
            listening.addr,
            db.display()
        );
        listening.serve(shutdown_signal()).await.context("the server failed")?;
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

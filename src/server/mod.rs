//! The HTTP + WebSocket gateway behind `tron serve`.
//!
//! Owns: listening (WebSocket at `/ws`, `GET /health`), the token check at the upgrade for
//! non-loopback binds, each connection's read/write loop (heartbeat pings, the frame size
//! limit, fan-out of pushed events to the clients that want them, telling a lagging client
//! it missed events), and graceful shutdown (stop accepting, abort running turns so they
//! persist what they have, send close frames). Must not: interpret methods or shape wire
//! payloads (rpc/), or touch the store directly.

mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::rpc::ServerState;

/// The TypeScript server's default WebSocket port.
pub const DEFAULT_PORT: u16 = 8080;

/// Largest frame a client may send (requests carry images as base64).
pub const MAX_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// Bytes read from a client socket at a time. The WebSocket layer's default (128 KiB) is
/// zero-filled on every read attempt and kept per connection: it cost 128 KiB of RSS per
/// idle connection, and with many connections woken for every pushed event most of the
/// server's CPU went to clearing it (benches/serve.rs). Large frames are still accepted up
/// to [`MAX_FRAME_BYTES`]; they are just read in more pieces.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (`127.0.0.1:8080` by default; port 0 picks one).
    pub addr: SocketAddr,
    /// Required as `Authorization: Bearer <token>` or `?token=` at the upgrade when set.
    /// Binding a non-loopback address without one is refused.
    pub token: Option<String>,
    /// Ping interval; a client that has not answered by the next ping is dropped, and so is
    /// one that takes more than two intervals to accept a frame (it stopped reading).
    pub heartbeat: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback address without a token.
    #[error("refusing to listen on {0} without a token: set --token or TRON_TOKEN (or bind 127.0.0.1)")]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct App {
    state: Arc<ServerState>,
    token: Option<Arc<str>>,
    heartbeat: Duration,
    shutdown: watch::Receiver<bool>,
}

/// A server that is listening.
pub struct Listening {
    /// The bound address (the real port when 0 was asked).
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    app: App,
    stop: watch::Sender<bool>,
}

/// Binds `config.addr`. Nothing is served until [`Listening::serve`].
pub async fn bind(config: ServerConfig, state: Arc<ServerState>) -> Result<Listening, ServeError> {
    if !config.addr.ip().is_loopback() && config.token.as_deref().is_none_or(str::is_empty) {
        return Err(ServeError::TokenRequired(config.addr));
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.addr, source })?;
    let (stop, shutdown) = watch::channel(false);
    let app = App { state, token: config.token.map(Arc::from), heartbeat: config.heartbeat, shutdown };
    Ok(Listening { addr, listener, app, stop })
}

impl Listening {
    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, aborts
    /// the running turns and waits until they have persisted what they produced, sends every
    /// client a close frame.
    pub async fn serve(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Listening { listener, app, stop, .. } = self;
        let state = Arc::clone(&app.state);
        // A managed transcription sidecar starts with the server (its model warms up).
        let env = state.env.clone();
        let transcription = crate::platform::transcribe::TranscriptionConfig::from_settings(
            &state.settings.current(),
            &move |n| env(n),
        );
        state.transcription.warm_up(transcription);
        let router = Router::new().route("/ws", get(upgrade)).route("/health", get(health)).with_state(app);
        let graceful = async move {
            signal.await;
            state.abort_all().await;
            state.transcription.shutdown().await;
            let _ = stop.send(true);
        };
        axum::serve(listener, router).with_graceful_shutdown(graceful).await
    }
}

async fn health(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": app.state.started.elapsed().as_millis() as u64,
        "activeSessions": app.state.running(),
    }))
}

async fn upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(token) = &app.token {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let given = bearer.or(query.get("token").map(String::as_str));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return (StatusCode::UNAUTHORIZED, "missing or wrong token").into_response();
        }
    }
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| ws::connection(socket, app.state, app.heartbeat, app.shutdown))
}

/// Compares without stopping at the first difference, so the time taken does not tell how
/// much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}

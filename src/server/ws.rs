//! One WebSocket connection: greeting, requests in order, pushed events, heartbeat, close.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::rpc::frames::{error_response, ok_response, parse_request, system_error};
use crate::rpc::{dispatch, Connection, Event, ServerState};

/// Close code sent at shutdown ("going away").
const GOING_AWAY: u16 = 1001;

/// Serves one connection until the client leaves, stops answering pings, or the server
/// shuts down.
pub(super) async fn connection(
    socket: WebSocket,
    state: Arc<ServerState>,
    heartbeat: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut conn = Connection::new();
    let mut events = state.subscribe();
    // The last persisted sequence this client was sent, per session, to catch up after a lag.
    let mut seen: std::collections::HashMap<String, i64> = Default::default();
    let hello = Event::new("system.connected", None, json!({ "clientId": conn.client_id }));
    if sink.send(Message::Text(hello.to_json().into())).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut awaiting_pong = false;
    loop {
        let out: Option<String> = tokio::select! {
            msg = stream.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => Some(answer(&state, &mut conn, text.as_bytes()).await),
                Some(Ok(Message::Binary(bytes))) => Some(answer(&state, &mut conn, &bytes).await),
                Some(Ok(Message::Pong(_))) => {
                    awaiting_pong = false;
                    None
                }
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_))) => None,
            },
            event = events.recv() => match event {
                Ok(out) if conn.wants(out.session_id.as_deref()) => {
                    if let (Some(session), Some(sequence)) = (&out.session_id, out.sequence) {
                        seen.insert(session.clone(), sequence);
                    }
                    Some(out.json.clone())
                }
                Ok(_) => None,
                Err(RecvError::Lagged(missed)) => Some(catch_up(&state, &conn, &seen, missed).await),
                Err(RecvError::Closed) => break,
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    break;
                }
                awaiting_pong = true;
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                None
            }
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: GOING_AWAY, reason: "server shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if let Some(text) = out {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    }
}

/// The response (or `system.error` event) for one client frame.
async fn answer(state: &Arc<ServerState>, conn: &mut Connection, bytes: &[u8]) -> String {
    match parse_request(bytes) {
        Err(e) => system_error(&e).to_json(),
        Ok(req) => match dispatch(state, conn, &req).await {
            Ok(result) => ok_response(&req.id, result),
            Err(e) => error_response(&req.id, &e),
        },
    }
}

/// After the client fell behind the event buffer: the persisted events of its session it
/// has not been sent, as one `events.batch {events, sessionId, syncCursor}` frame (stream
/// deltas in between are gone; the persisted messages hold their text).
async fn catch_up(
    state: &ServerState,
    conn: &Connection,
    seen: &std::collections::HashMap<String, i64>,
    missed: u64,
) -> String {
    let Some(session) = conn.bound.clone() else {
        let data = json!({ "code": "EVENTS_LAGGED", "message": format!("missed {missed} events; resync with events.getSince") });
        return Event::new("system.error", None, data).to_json();
    };
    let after = seen.get(&session).copied().unwrap_or(-1);
    let id = session.clone();
    match state.store.run(move |s| s.events_since(&id, after, None)).await {
        Ok(events) => {
            let cursor = events.last().map(|e| e.id.clone());
            Event::new(
                "events.batch",
                Some(&session),
                json!({ "events": events, "sessionId": session, "syncCursor": cursor }),
            )
            .to_json()
        }
        Err(e) => {
            let data = json!({ "code": "EVENTS_LAGGED", "message": format!("missed {missed} events and could not reload them: {e}") });
            Event::new("system.error", Some(&session), data).to_json()
        }
    }
}

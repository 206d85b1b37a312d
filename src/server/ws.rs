//! One WebSocket connection: greeting, requests in order, pushed events, heartbeat, close.
//!
//! A client that lags (falls more than the event buffer behind) is sent the persisted events
//! it missed as one `events.batch`: those after the watermark of the last frame it was sent
//! (a run's frames carry the session's last persisted sequence, see
//! [`Outgoing::watermark`]). `event.new` frames still buffered for events that batch already
//! held are then skipped, so no persisted event reaches it twice. A client that
//! takes more than two heartbeats to accept a frame (it stopped reading) is dropped like one
//! that stopped answering pings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;

use crate::rpc::frames::{error_response, ok_response, parse_request, system_error};
use crate::rpc::{dispatch, Connection, Event, Outgoing, ServerState};

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
    // Per session, the watermark of the last frame this client was sent (the persisted
    // events it has heard of), to catch up after a lag.
    let mut seen: HashMap<String, i64> = Default::default();
    let send_limit = heartbeat.saturating_mul(2);
    tracing::debug!(component = "server", client_id = %conn.client_id, "client connected");
    let hello = Event::new("system.connected", None, json!({ "clientId": conn.client_id }));
    if !send(&mut sink, Message::Text(hello.to_json().into()), send_limit).await {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut awaiting_pong = false;
    loop {
        // Frames to send, in order; `answered` when the last one is a response.
        let (frames, answered): (Vec<String>, bool) = tokio::select! {
            msg = stream.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => {
                    let response = answer(&state, &mut conn, text.as_bytes()).await;
                    (queued_then(&mut events, &state, &mut conn, &mut seen, response).await, true)
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let response = answer(&state, &mut conn, &bytes).await;
                    (queued_then(&mut events, &state, &mut conn, &mut seen, response).await, true)
                }
                Some(Ok(Message::Pong(_))) => {
                    awaiting_pong = false;
                    (Vec::new(), false)
                }
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_))) => (Vec::new(), false),
            },
            event = events.recv() => match event {
                Ok(out) => (forward(&out, &mut conn, &mut seen).into_iter().collect(), false),
                Err(RecvError::Lagged(missed)) => (vec![lagged(&state, &mut conn, &mut seen, missed).await], false),
                Err(RecvError::Closed) => break,
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    break;
                }
                awaiting_pong = true;
                if !send(&mut sink, Message::Ping(Default::default()), send_limit).await {
                    break;
                }
                (Vec::new(), false)
            }
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: GOING_AWAY, reason: "server shutting down".into() };
                let _ = send(&mut sink, Message::Close(Some(frame)), send_limit).await;
                break;
            }
        };
        let mut failed = false;
        for text in frames {
            if !send(&mut sink, Message::Text(text.into()), send_limit).await {
                failed = true;
                break;
            }
        }
        if answered {
            conn.response_sent();
        }
        if failed {
            break;
        }
    }
    for id in conn.subscriptions.drain(..) {
        state.ui.unsubscribe(&id);
    }
    tracing::debug!(component = "server", client_id = %conn.client_id, "client disconnected");
}

/// Sends one frame; `false` when the connection failed or the client did not take the frame
/// within `limit` (it stopped reading).
async fn send(sink: &mut SplitSink<WebSocket, Message>, msg: Message, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, sink.send(msg)).await, Ok(Ok(())))
}

/// The frame of a pushed event for this client, if it wants it and does not have it yet.
fn forward(out: &Outgoing, conn: &mut Connection, seen: &mut HashMap<String, i64>) -> Option<String> {
    if !conn.wants(out.session_id.as_deref()) {
        return None;
    }
    if let (Some(session), Some(sequence)) = (&out.session_id, out.sequence) {
        if conn.has(session, sequence) {
            return None;
        }
    }
    if let (Some(session), Some(watermark)) = (&out.session_id, out.watermark) {
        let last = seen.entry(session.clone()).or_insert(watermark);
        *last = (*last).max(watermark);
    }
    Some(out.json.clone())
}

/// After the client fell behind: the catch-up frame, and what it now has.
async fn lagged(
    state: &ServerState,
    conn: &mut Connection,
    seen: &mut HashMap<String, i64>,
    missed: u64,
) -> String {
    let (frame, last) = catch_up(state, conn, seen, missed).await;
    if let (Some(session), Some(last)) = (conn.bound.clone(), last) {
        seen.insert(session.clone(), last);
        conn.mark_synced(&session, last);
    }
    frame
}

/// The events already published while a request was handled (e.g. `session.created`),
/// then its response: what a handler announced goes out before its answer, as with the
/// TypeScript server.
async fn queued_then(
    events: &mut broadcast::Receiver<Arc<Outgoing>>,
    state: &ServerState,
    conn: &mut Connection,
    seen: &mut HashMap<String, i64>,
    response: String,
) -> Vec<String> {
    let mut frames = Vec::new();
    loop {
        match events.try_recv() {
            Ok(out) => frames.extend(forward(&out, conn, seen)),
            Err(TryRecvError::Lagged(missed)) => frames.push(lagged(state, conn, seen, missed).await),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    if let Some(session) = conn.rebind.take() {
        conn.bound = Some(session);
    }
    frames.push(response);
    frames
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
/// deltas in between are gone; the persisted messages hold their text), and the sequence
/// of the last event in it.
async fn catch_up(
    state: &ServerState,
    conn: &Connection,
    seen: &HashMap<String, i64>,
    missed: u64,
) -> (String, Option<i64>) {
    let Some(session) = conn.bound.clone() else {
        let data = json!({ "code": "EVENTS_LAGGED", "message": format!("missed {missed} events; resync with events.getSince") });
        return (Event::new("system.error", None, data).to_json(), None);
    };
    let after = seen.get(&session).copied().unwrap_or(-1);
    let id = session.clone();
    match state.store.run(move |s| s.events_since(&id, after, None)).await {
        Ok(events) => {
            let cursor = events.last().map(|e| e.id.clone());
            let last = events.last().map(|e| e.sequence);
            let frame = Event::new(
                "events.batch",
                Some(&session),
                json!({ "events": events, "sessionId": session, "syncCursor": cursor }),
            );
            (frame.to_json(), last)
        }
        Err(e) => {
            let data = json!({ "code": "EVENTS_LAGGED", "message": format!("missed {missed} events and could not reload them: {e}") });
            (Event::new("system.error", Some(&session), data).to_json(), None)
        }
    }
}

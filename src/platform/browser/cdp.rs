//! One Chrome DevTools Protocol connection over a WebSocket (tokio-tungstenite): commands
//! with ids matched to their answers, events fanned out to subscribers, and page targets
//! reached through flattened sessions (`sessionId` on each message).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::{BrowserError, Result};

/// An event the browser pushed.
#[derive(Debug)]
pub struct CdpEvent {
    /// The flattened session it belongs to (`None`: the browser itself).
    pub session_id: Option<String>,
    /// E.g. `Page.loadEventFired`.
    pub method: String,
    /// Its parameters.
    pub params: Value,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;

/// A live CDP connection (see the module doc). Dropping it closes the socket.
#[derive(Debug)]
pub struct Cdp {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    events: broadcast::Sender<Arc<CdpEvent>>,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    timeout: Duration,
}

impl Cdp {
    /// Connects to a DevTools WebSocket URL; every command waits at most `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self> {
        let connecting = tokio_tungstenite::connect_async_with_config(
            url,
            Some(
                tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                    .max_message_size(Some(256 << 20))
                    .max_frame_size(Some(256 << 20)),
            ),
            false,
        );
        let (ws, _) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| BrowserError::Timeout(format!("connecting to {url}"), timeout.as_millis()))?
            .map_err(|e| BrowserError::Connection(format!("{url}: {e}")))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<Message>();
        let pending: Pending = Arc::default();
        let (events, _) = broadcast::channel(512);
        let closed = Arc::new(AtomicBool::new(false));
        let (p, ev, cl) = (pending.clone(), events.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(m) => if sink.send(m).await.is_err() { break },
                        None => { let _ = sink.close().await; break }
                    },
                    msg = stream.next() => match msg {
                        Some(Ok(Message::Text(t))) => dispatch(t.as_bytes(), &p, &ev),
                        Some(Ok(Message::Binary(b))) => dispatch(&b, &p, &ev),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            cl.store(true, Ordering::SeqCst);
            for (_, tx) in p.lock().unwrap_or_else(|e| e.into_inner()).drain() {
                let _ = tx.send(Err(BrowserError::Connection("the browser closed the connection".into())));
            }
        });
        Ok(Self { out, pending, events, next_id: AtomicU64::new(1), closed, timeout })
    }

    /// Whether the connection has closed (the browser exited or crashed).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A subscription to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CdpEvent>> {
        self.events.subscribe()
    }

    /// Sends `method` (to the page session `session`, or the browser) and waits for its
    /// result.
    pub async fn call(&self, method: &str, params: Value, session: Option<&str>) -> Result<Value> {
        self.call_within(method, params, session, self.timeout).await
    }

    /// [`Cdp::call`] with its own time limit.
    pub async fn call_within(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> Result<Value> {
        if self.is_closed() {
            return Err(BrowserError::Connection("the browser closed the connection".into()));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        if self.out.send(Message::Text(msg.to_string().into())).is_err() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(BrowserError::Connection("the browser connection is gone".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result.map_err(|e| match e {
                BrowserError::Protocol { message, .. } => {
                    BrowserError::Protocol { method: method.into(), message }
                }
                other => other,
            }),
            Ok(Err(_)) => Err(BrowserError::Connection("the browser connection is gone".into())),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                Err(BrowserError::Timeout(format!("browser command {method}"), timeout.as_millis()))
            }
        }
    }
}

fn dispatch(text: &[u8], pending: &Pending, events: &broadcast::Sender<Arc<CdpEvent>>) {
    let Ok(mut v) = serde_json::from_slice::<Value>(text) else { return };
    if let Some(id) = v.get("id").and_then(Value::as_u64) {
        let Some(tx) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) else { return };
        let result = match v.get_mut("error") {
            Some(err) => Err(BrowserError::Protocol {
                method: String::new(),
                message: err.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_owned(),
            }),
            None => Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null)),
        };
        let _ = tx.send(result);
    } else if let Some(method) = v.get("method").and_then(Value::as_str) {
        let event = CdpEvent {
            session_id: v.get("sessionId").and_then(Value::as_str).map(str::to_owned),
            method: method.to_owned(),
            params: v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
        };
        // No subscriber is fine.
        let _ = events.send(Arc::new(event));
    }
}

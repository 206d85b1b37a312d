//! `browser.startStream|stopStream|getStatus`, and the `browser.frame` / `browser.closed`
//! events a session's browser pushes (see [`crate::platform::browser`]).
//!
//! As in the TypeScript server, `startStream` starts the session's browser when it has
//! none, a browser that cannot start is a result `{success: false, error}` (not an RPC
//! error), and `stopStream` of a session without a browser succeeds.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::core::errors::RpcError;
use crate::platform::browser::{BrowserEvent, BrowserFrame, ScreencastOptions};
use crate::rpc::frames::Event;
use crate::rpc::params::{opt_str, opt_usize, required_str, Params};
use crate::rpc::ServerState;

/// `browser.startStream` / `browser.stopStream` result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserStreamResult {
    /// Whether it worked.
    pub success: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `browser.getStatus` result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserGetStatusResult {
    /// Whether the session has a browser.
    pub has_browser: bool,
    /// Whether it streams frames.
    pub is_streaming: bool,
    /// Its active tab's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_url: Option<String>,
}

fn stream_result(r: crate::platform::browser::Result<()>) -> Value {
    let out = match r {
        Ok(()) => BrowserStreamResult { success: true, error: None },
        Err(e) => {
            tracing::warn!(error = %e, "browser stream failed");
            BrowserStreamResult { success: false, error: Some(e.to_string()) }
        }
    };
    json!(out)
}

/// The screencast options of `browser.startStream` (`format`, `quality`, `maxWidth`,
/// `maxHeight`, `everyNthFrame`), checked.
fn options(p: &Params) -> Result<ScreencastOptions, RpcError> {
    let mut o = ScreencastOptions::default();
    if let Some(f) = opt_str(p, "format")? {
        if !matches!(f, "jpeg" | "png") {
            return Err(RpcError::invalid_params(format!("format must be \"jpeg\" or \"png\", not {f:?}")));
        }
        o.format = f.to_owned();
    }
    let bounded = |name: &str, min: usize, max: usize| -> Result<Option<u32>, RpcError> {
        match opt_usize(p, name)? {
            Some(n) if n < min || n > max => {
                Err(RpcError::invalid_params(format!("{name} must be between {min} and {max}, not {n}")))
            }
            n => Ok(n.map(|n| n as u32)),
        }
    };
    if let Some(q) = bounded("quality", 0, 100)? {
        o.quality = q;
    }
    if let Some(w) = bounded("maxWidth", 1, 10_000)? {
        o.max_width = w;
    }
    if let Some(h) = bounded("maxHeight", 1, 10_000)? {
        o.max_height = h;
    }
    if let Some(n) = bounded("everyNthFrame", 1, 1_000)? {
        o.every_nth_frame = n;
    }
    Ok(o)
}

/// `browser.startStream`.
pub async fn start_stream(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let options = options(p)?;
    Ok(stream_result(state.browser().start_stream(session, options).await))
}

/// `browser.stopStream`.
pub async fn stop_stream(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    Ok(stream_result(state.browser().stop_stream(session).await))
}

/// `browser.getStatus`.
pub async fn get_status(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?;
    let s = state.browser().status(session).await;
    Ok(json!(BrowserGetStatusResult {
        has_browser: s.has_browser,
        is_streaming: s.is_streaming,
        current_url: s.current_url,
    }))
}

/// The pushed event for a browser event: `browser.frame` with data `{sessionId, data,
/// frameId, timestamp, metadata}` (the iOS `BrowserFrameEvent`), or `browser.closed` with
/// empty data.
pub fn event_of(event: &BrowserEvent) -> Event {
    match event {
        BrowserEvent::Frame(f) => Event::new("browser.frame", Some(&f.session_id), frame_data(f)),
        BrowserEvent::Closed { session_id } => Event::new("browser.closed", Some(session_id), json!({})),
    }
}

fn frame_data(f: &BrowserFrame) -> Value {
    let m = &f.metadata;
    let mut metadata = serde_json::Map::new();
    for (k, v) in [
        ("offsetTop", m.offset_top),
        ("pageScaleFactor", m.page_scale_factor),
        ("deviceWidth", m.device_width),
        ("deviceHeight", m.device_height),
        ("scrollOffsetX", m.scroll_offset_x),
        ("scrollOffsetY", m.scroll_offset_y),
    ] {
        if let Some(v) = v {
            metadata.insert(k.into(), json!(v));
        }
    }
    json!({
        "sessionId": f.session_id,
        "data": f.data,
        "frameId": f.frame_id,
        "timestamp": f.timestamp,
        "metadata": metadata,
    })
}

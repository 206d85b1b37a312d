//! `canvas.get {canvasId}` -> `{found, canvas?}` (the TypeScript server's method: the
//! canvas `RenderAppUI` saved, `{canvasId, sessionId, title?, ui, state?, savedAt}`), and two
//! methods of tron's own: `canvas.list {sessionId?}` -> `{canvases: [{canvasId, sessionId,
//! title?, savedAt}]}` and `canvas.export {canvasId, format: json|markdown|pdf}` ->
//! `{canvasId, format, mimeType, fileName, encoding: utf8|base64, content}` (the PDF as
//! base64).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::core::errors::{RpcError, RpcErrorCode};
use crate::platform::canvas::export::{self, Format};
use crate::platform::canvas::{valid_id, CanvasArtifact, CanvasError, CanvasStore};
use crate::rpc::params::{opt_str, required_str, Params};
use crate::rpc::ServerState;

fn canvas_error(e: CanvasError) -> RpcError {
    match e {
        CanvasError::InvalidId(_) => RpcError::invalid_params(e.to_string()),
        _ => RpcError::new(RpcErrorCode::CanvasError, e.to_string()),
    }
}

fn canvas_id(p: &Params) -> Result<String, RpcError> {
    let id = required_str(p, "canvasId")?;
    if !valid_id(id) {
        return Err(canvas_error(CanvasError::InvalidId(id.to_owned())));
    }
    Ok(id.to_owned())
}

async fn load(state: &Arc<ServerState>, id: String) -> Result<Option<CanvasArtifact>, RpcError> {
    let store = CanvasStore::new(&state.paths.data_dir);
    tokio::task::spawn_blocking(move || store.load(&id))
        .await
        .map_err(|e| RpcError::new(RpcErrorCode::InternalError, e.to_string()))?
        .map_err(canvas_error)
}

/// `canvas.get`.
pub async fn get(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = canvas_id(p)?;
    Ok(match load(state, id).await? {
        Some(canvas) => json!({ "found": true, "canvas": canvas }),
        None => json!({ "found": false }),
    })
}

/// `canvas.list`.
pub async fn list(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = opt_str(p, "sessionId")?.map(str::to_owned);
    let store = CanvasStore::new(&state.paths.data_dir);
    let canvases = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, CanvasError> {
        let mut out = Vec::new();
        for id in store.list()? {
            // A file that does not parse is skipped here (canvas.get names it).
            let Ok(Some(c)) = store.load(&id) else { continue };
            if session.as_ref().is_none_or(|s| *s == c.session_id) {
                let mut v =
                    json!({"canvasId": c.canvas_id, "sessionId": c.session_id, "savedAt": c.saved_at});
                if let Some(t) = c.title {
                    v["title"] = json!(t);
                }
                out.push(v);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| RpcError::new(RpcErrorCode::InternalError, e.to_string()))?
    .map_err(canvas_error)?;
    Ok(json!({ "canvases": canvases }))
}

/// `canvas.export`.
pub async fn export(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let id = canvas_id(p)?;
    let name = required_str(p, "format")?;
    let format = Format::parse(name).ok_or_else(|| {
        RpcError::invalid_params(format!("format must be json, markdown or pdf, got {name:?}"))
    })?;
    let canvas = load(state, id.clone())
        .await?
        .ok_or_else(|| RpcError::new(RpcErrorCode::NotFound, format!("no canvas {id}")))?;
    let bytes = tokio::task::spawn_blocking(move || export::export(&canvas, format))
        .await
        .map_err(|e| RpcError::new(RpcErrorCode::InternalError, e.to_string()))?;
    let (encoding, content) = match format {
        Format::Pdf => ("base64", base64(&bytes)),
        _ => ("utf8", String::from_utf8_lossy(&bytes).into_owned()),
    };
    let format_name = match format {
        Format::Json => "json",
        Format::Markdown => "markdown",
        Format::Pdf => "pdf",
    };
    Ok(json!({
        "canvasId": id,
        "format": format_name,
        "mimeType": format.mime_type(),
        "fileName": format!("{id}.{}", format.extension()),
        "encoding": encoding,
        "content": content,
    }))
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}

//! `transcribe.audio`, `transcribe.listModels`, `voiceNotes.save|list|delete`: audio to text
//! through the transcription sidecar (see [`crate::platform::transcribe`]) and the voice
//! notes kept under the data dir, with the TypeScript server's params, results and error
//! codes (`TRANSCRIPTION_ERROR`, `VOICE_NOTE_ERROR`, `FILE_NOT_FOUND`, `INVALID_PARAMS`).

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use crate::core::errors::{RpcError, RpcErrorCode};
use crate::platform::transcribe::{notes, AudioRequest, AudioTranscriber, Transcript, TranscriptionConfig};
use crate::rpc::params::{opt_str, opt_usize, required_str, Params};
use crate::rpc::ServerState;

/// The audio of `audioBase64` (a `data:` URL prefix is dropped, as upstream does).
fn audio(p: &Params) -> Result<Vec<u8>, RpcError> {
    let raw = required_str(p, "audioBase64")?.trim();
    let b64 = raw.split_once(',').map_or(raw, |(_, rest)| rest);
    let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| RpcError::invalid_params(format!("audioBase64 is not valid base64: {e}")))
}

fn request(p: &Params) -> Result<AudioRequest, RpcError> {
    let text = |name: &str| opt_str(p, name).map(|v| v.map(str::to_owned));
    let one_of = |name: &str, allowed: &[&str]| -> Result<Option<String>, RpcError> {
        match opt_str(p, name)? {
            Some(v) if !allowed.contains(&v) => {
                Err(RpcError::invalid_params(format!("{name} must be one of {}", allowed.join(", "))))
            }
            v => Ok(v.map(str::to_owned)),
        }
    };
    Ok(AudioRequest {
        audio: audio(p)?,
        mime_type: text("mimeType")?,
        file_name: text("fileName")?,
        model_id: text("transcriptionModelId")?,
        quality: one_of("transcriptionQuality", &["faster", "better"])?,
        cleanup_mode: one_of("cleanupMode", &["none", "basic", "llm"])?,
        language: text("language")?,
        prompt: text("prompt")?,
        task: one_of("task", &["transcribe", "translate"])?,
    })
}

fn config(state: &ServerState) -> TranscriptionConfig {
    let settings = state.settings.current();
    let env = state.env.clone();
    TranscriptionConfig::from_settings(&settings, &move |n| env(n))
}

async fn run(state: &ServerState, req: AudioRequest) -> Result<Transcript, String> {
    let transcriber = state.transcription.get(config(state));
    transcriber.transcribe(req).await.map_err(|e| e.to_string())
}

/// `transcribe.audio {audioBase64, mimeType?, fileName?, transcriptionModelId?,
/// transcriptionQuality?, cleanupMode?, language?, prompt?, task?, sessionId?}` ->
/// `{text, rawText, language, durationSeconds, processingTimeMs, model, device,
/// computeType, cleanupMode}`.
pub async fn audio_method(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let req = request(p)?;
    let t = run(state, req).await.map_err(|m| RpcError::new(RpcErrorCode::TranscriptionError, m))?;
    Ok(serde_json::to_value(t).unwrap_or(Value::Null))
}

/// `transcribe.listModels` -> `{models: [{id, label, description}], defaultModelId}`.
pub fn list_models(state: &Arc<ServerState>) -> Value {
    let (models, default) = state.transcription.get(config(state)).models();
    json!({ "models": models, "defaultModelId": default })
}

/// `voiceNotes.save {audioBase64, mimeType?, fileName?, transcriptionModelId?}` ->
/// `{success, filename, filepath, transcription: {text, durationSeconds, language}}`.
/// Nothing is written when the transcription fails.
pub async fn save_note(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let full = request(p)?;
    // Upstream passes only these four on to the transcriber.
    let req = AudioRequest {
        audio: full.audio,
        mime_type: full.mime_type,
        file_name: full.file_name,
        model_id: full.model_id,
        ..AudioRequest::default()
    };
    let voice_error = |m: String| RpcError::new(RpcErrorCode::VoiceNoteError, m);
    let t = run(state, req).await.map_err(voice_error)?;
    let dir = notes::notes_dir(&state.paths.data_dir);
    let saved = {
        let t = t.clone();
        tokio::task::spawn_blocking(move || notes::save(&dir, &t))
            .await
            .map_err(|e| voice_error(e.to_string()))?
            .map_err(|e| voice_error(format!("saving the voice note failed: {e}")))?
    };
    Ok(json!({
        "success": true,
        "filename": saved.0,
        "filepath": saved.1.display().to_string(),
        "transcription": { "text": t.text, "durationSeconds": t.duration_seconds, "language": t.language },
    }))
}

/// `voiceNotes.list {limit?: 50, offset?: 0}` -> `{notes, totalCount, hasMore}`, newest
/// first.
pub async fn list_notes(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let limit = opt_usize(p, "limit")?.unwrap_or(50);
    let offset = opt_usize(p, "offset")?.unwrap_or(0);
    let dir = notes::notes_dir(&state.paths.data_dir);
    let (list, total, more) = tokio::task::spawn_blocking(move || notes::list(&dir, limit, offset))
        .await
        .map_err(|e| RpcError::new(RpcErrorCode::VoiceNoteError, e.to_string()))?
        .map_err(|e| {
            RpcError::new(RpcErrorCode::VoiceNoteError, format!("listing voice notes failed: {e}"))
        })?;
    Ok(json!({ "notes": list, "totalCount": total, "hasMore": more }))
}

/// `voiceNotes.delete {filename}` -> `{success, filename}`; `INVALID_PARAMS` for anything
/// but a bare file name, `FILE_NOT_FOUND` for a note that does not exist.
pub async fn delete_note(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let filename = required_str(p, "filename")?.to_owned();
    let dir = notes::notes_dir(&state.paths.data_dir);
    let name = filename.clone();
    let outcome = tokio::task::spawn_blocking(move || notes::delete(&dir, &name))
        .await
        .map_err(|e| RpcError::new(RpcErrorCode::VoiceNoteError, e.to_string()))?;
    match outcome {
        Ok(_) => Ok(json!({ "success": true, "filename": filename })),
        Err(e @ notes::DeleteError::Invalid) => Err(RpcError::invalid_params(e.to_string())),
        Err(e @ notes::DeleteError::NotFound(_)) => {
            Err(RpcError::new(RpcErrorCode::FileNotFound, e.to_string()))
        }
        Err(e) => Err(RpcError::new(RpcErrorCode::VoiceNoteError, e.to_string())),
    }
}

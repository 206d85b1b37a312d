//! The HTTP call to the sidecar: one multipart `POST` per audio file (upstream's form fields
//! and endpoints), its JSON answer read into a [`Transcript`] accepting both the sidecar's
//! snake_case and camelCase spellings, as upstream does.

use serde_json::Value;

use super::sidecar::Sidecar;
use super::{model_for, AudioRequest, TranscribeError, Transcript, TranscriptionConfig};

/// A `multipart/form-data` body.
struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    fn new() -> Self {
        Self { boundary: format!("tron-{}", uuid::Uuid::new_v4().simple()), body: Vec::new() }
    }

    fn text(&mut self, name: &str, value: &str) {
        self.part(name, None, None, value.as_bytes());
    }

    fn part(&mut self, name: &str, file_name: Option<&str>, mime: Option<&str>, data: &[u8]) {
        let clean = |s: &str| s.replace(['"', '\r', '\n'], "_");
        self.body.extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", clean(name));
        if let Some(f) = file_name {
            disposition.push_str(&format!("; filename=\"{}\"", clean(f)));
        }
        self.body.extend_from_slice(disposition.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        if let Some(m) = mime {
            self.body.extend_from_slice(format!("Content-Type: {}\r\n", clean(m)).as_bytes());
        }
        self.body.extend_from_slice(b"\r\n");
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
    }

    fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (format!("multipart/form-data; boundary={}", self.boundary), self.body)
    }
}

fn cleanup_mode(requested: Option<&str>, fallback: &str) -> Option<String> {
    let ok = |m: &str| matches!(m, "none" | "basic" | "llm");
    requested.filter(|m| ok(m)).or(Some(fallback).filter(|m| ok(m))).map(str::to_owned)
}

/// Sends `request` to the running sidecar.
pub async fn transcribe(
    sidecar: &Sidecar,
    config: &TranscriptionConfig,
    request: &AudioRequest,
) -> Result<Transcript, TranscribeError> {
    let model = model_for(request.model_id.as_deref(), request.quality.as_deref());
    let cleanup = cleanup_mode(request.cleanup_mode.as_deref(), &config.cleanup_mode);
    let mut form = Form::new();
    form.part(
        "audio",
        Some(request.file_name.as_deref().unwrap_or("audio.m4a")),
        Some(request.mime_type.as_deref().unwrap_or("audio/m4a")),
        &request.audio,
    );
    for (name, value) in
        [("language", &request.language), ("task", &request.task), ("prompt", &request.prompt)]
    {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            form.text(name, v);
        }
    }
    if let Some(c) = &cleanup {
        form.text("cleanup_mode", c);
    }
    form.text("backend", model.backend);
    form.text("model_name", model.model_name);
    form.text("device", model.device);
    form.text("compute_type", model.compute_type);
    let (content_type, body) = form.finish();
    let url = format!("{}{}", sidecar.base_url(), model.endpoint);
    let call = sidecar.http().post(url).header("Content-Type", content_type).body(body).send();
    let response = match tokio::time::timeout(config.timeout, call).await {
        Err(_) => return Err(TranscribeError::Timeout),
        Ok(Err(e)) if e.is_connect() => {
            return Err(TranscribeError::NotReachable(sidecar.base_url().to_owned()))
        }
        Ok(Err(e)) => return Err(TranscribeError::SidecarFailed(e.to_string())),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| TranscribeError::SidecarFailed(e.to_string()))?;
    if !(200..300).contains(&status) {
        let detail = if text.is_empty() { "unknown error".to_owned() } else { text };
        return Err(TranscribeError::Sidecar { status, detail });
    }
    let data: Value = serde_json::from_str(&text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| TranscribeError::BadResponse(text.chars().take(200).collect()))?;
    let s = |a: &str, b: &str| {
        data.get(a)
            .or_else(|| data.get(b))
            .map_or(String::new(), |v| v.as_str().map_or(v.to_string(), str::to_owned))
    };
    let n = |a: &str, b: &str| data.get(a).or_else(|| data.get(b)).and_then(Value::as_f64).unwrap_or(0.0);
    let cleanup_used = match s("cleanup_mode", "cleanupMode") {
        c if c.is_empty() => cleanup.unwrap_or_default(),
        c => c,
    };
    Ok(Transcript {
        text: s("text", "text"),
        raw_text: s("raw_text", "rawText"),
        language: s("language", "language"),
        duration_seconds: n("duration_s", "durationSeconds"),
        processing_time_ms: n("processing_time_ms", "processingTimeMs").max(0.0).round() as u64,
        model: s("model", "model"),
        device: s("device", "device"),
        compute_type: s("compute_type", "computeType"),
        cleanup_mode: cleanup_used,
    })
}

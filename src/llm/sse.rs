//! Server-sent events over HTTP, shared by the providers.
//!
//! A provider sends its request, then hands the [`reqwest::Response`] to [`open`]:
//! - a non-2xx status becomes [`LlmError::Http`] with the provider's own error message taken
//!   from its JSON body (`{"error": {"type", "message"}}`, `{"error": "..."}` or
//!   `{"message": "..."}`) and the wait it asked for (`retry-after-ms` / `retry-after`);
//! - a 2xx body becomes an [`SseStream`] of [`SseEvent`]s, decoded with
//!   [`SseEvent::json`]. Bytes that are not an event stream, and data that is not the
//!   expected JSON, are [`LlmError::Protocol`]; a connection lost mid-body is
//!   [`LlmError::Stream`] with kind [`CONNECTION_LOST`]. Nothing here panics on input.
//!
//! [`connect_error`] turns a failed send into [`LlmError::Connect`] naming the URL and the
//! underlying cause (`Connection refused`, DNS, TLS, ...).

use std::pin::Pin;
use std::time::SystemTime;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::header::HeaderMap;
use reqwest::Response;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::provider::LlmError;

/// [`LlmError::Stream`] kind for a connection that broke (or ended) in the middle of a body.
pub const CONNECTION_LOST: &str = "connection_error";

/// Longest excerpt of a non-JSON error body kept in an error message.
const BODY_EXCERPT_CHARS: usize = 500;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name (empty when the server sent none).
    pub event: String,
    /// The `data:` payload (multiple `data:` lines joined with `\n`).
    pub data: String,
}

impl SseEvent {
    /// Decodes the data as JSON of type `T`; anything else is [`LlmError::Protocol`] quoting
    /// the start of the data.
    pub fn json<T: DeserializeOwned>(&self, provider: &'static str) -> Result<T, LlmError> {
        serde_json::from_str(&self.data).map_err(|e| LlmError::Protocol {
            provider,
            message: format!(
                "{}event data is not the expected JSON ({e}): {}",
                if self.event.is_empty() { String::new() } else { format!("`{}` ", self.event) },
                excerpt(&self.data, 200)
            ),
        })
    }

    /// True for OpenAI-style `data: [DONE]` end markers.
    pub fn is_done_marker(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// A response body as server-sent events.
pub type SseStream = Pin<Box<dyn Stream<Item = Result<SseEvent, LlmError>> + Send>>;

/// Checks the status and, for a 2xx answer, returns its body as events.
/// A 2xx answer whose `content-type` is set but is not `text/event-stream` (a proxy's page, a
/// non-streaming JSON answer) is [`LlmError::Protocol`] quoting the start of its body.
pub async fn open(provider: &'static str, response: Response) -> Result<SseStream, LlmError> {
    let response = check_status(provider, response).await?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase());
    if let Some(ct) = content_type.filter(|ct| !ct.contains("event-stream")) {
        let body = response.text().await.unwrap_or_default();
        return Err(LlmError::Protocol {
            provider,
            message: format!(
                "expected an event stream, got `{ct}`: {}",
                excerpt(body.trim(), BODY_EXCERPT_CHARS)
            ),
        });
    }
    Ok(events(provider, response))
}

/// Returns the response if its status is 2xx; otherwise reads the body and returns
/// [`LlmError::Http`] with the provider's message and requested wait.
pub async fn check_status(provider: &'static str, response: Response) -> Result<Response, LlmError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after_secs(response.headers(), SystemTime::now());
    let body = response.text().await.unwrap_or_default();
    let message = error_message(&body).unwrap_or_else(|| {
        let text = body.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("no error message").to_owned()
        } else {
            excerpt(text, BODY_EXCERPT_CHARS)
        }
    });
    Err(LlmError::Http { provider, status: status.as_u16(), message, retry_after })
}

/// The body of a (2xx) response as server-sent events.
pub fn events(provider: &'static str, response: Response) -> SseStream {
    Box::pin(response.bytes_stream().eventsource().map(move |item| match item {
        Ok(e) => Ok(SseEvent { event: e.event, data: e.data }),
        Err(EventStreamError::Transport(e)) => Err(LlmError::Stream {
            provider,
            kind: CONNECTION_LOST.to_owned(),
            message: format!("connection lost while streaming: {}", error_chain(&e)),
        }),
        Err(EventStreamError::Utf8(e)) => {
            Err(LlmError::Protocol { provider, message: format!("event stream is not UTF-8: {e}") })
        }
        Err(EventStreamError::Parser(e)) => {
            Err(LlmError::Protocol { provider, message: format!("not a server-sent event stream: {e}") })
        }
    }))
}

/// [`LlmError::Connect`] for a request that could not be sent to `url`, with the cause chain
/// (e.g. `... : tcp connect error: Connection refused`).
pub fn connect_error(provider: &'static str, url: &str, err: &reqwest::Error) -> LlmError {
    let message =
        if err.is_timeout() { format!("timed out ({})", error_chain(err)) } else { error_chain(err) };
    LlmError::Connect { provider, url: url.to_owned(), message }
}

/// An error and its sources joined with `: `, repeated texts skipped.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// The error message in a provider's JSON error body:
/// `{"error": {"type", "message"}}` (Anthropic, OpenAI, Google) as `type: message`,
/// `{"error": "text"}`, or a top-level `message` / `detail`. `None` for anything else.
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let error = v.get("error");
    if let Some(text) = error.and_then(Value::as_str) {
        return Some(text.to_owned());
    }
    let message = error
        .and_then(|e| e.get("message"))
        .or_else(|| v.get("message"))
        .or_else(|| v.get("detail"))
        .and_then(Value::as_str)?;
    let kind = error.and_then(|e| e.get("type").or_else(|| e.get("status"))).and_then(Value::as_str);
    Some(match kind {
        Some(k) if !k.is_empty() && !message.contains(k) => format!("{k}: {message}"),
        _ => message.to_owned(),
    })
}

/// The wait a response asks for, in seconds: `retry-after-ms` (milliseconds), else
/// `retry-after` as seconds (fractions allowed) or an HTTP date.
pub fn retry_after_secs(headers: &HeaderMap, now: SystemTime) -> Option<f64> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(ms / 1000.0);
        }
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    crate::core::retry::parse_retry_after(value, now).map(|d| d.as_secs_f64())
}

/// At most `max` characters of `text`, with `…` when cut.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn error_messages_from_bodies() {
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"},"request_id":"req_1"}"#;
        assert_eq!(error_message(anthropic).unwrap(), "invalid_request_error: max_tokens: too big");
        let google = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_message(google).unwrap(), "RESOURCE_EXHAUSTED: Quota exceeded");
        assert_eq!(error_message(r#"{"error":"bad key"}"#).unwrap(), "bad key");
        assert_eq!(error_message(r#"{"detail":"nope"}"#).unwrap(), "nope");
        assert_eq!(error_message(r#"{"error":{"type":"x"}}"#), None);
        assert_eq!(error_message("<html>502</html>"), None);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after_secs(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after_secs(&h, now), Some(7.0));
        h.insert("retry-after", HeaderValue::from_static("1.5"));
        assert_eq!(retry_after_secs(&h, now), Some(1.5));
        h.insert("retry-after", HeaderValue::from_static("Sun, 09 Sep 2001 01:46:50 GMT"));
        assert_eq!(retry_after_secs(&h, now), Some(10.0));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after_secs(&h, now), Some(0.25));
        h.insert("retry-after-ms", HeaderValue::from_static("soon"));
        h.insert("retry-after", HeaderValue::from_static("-3"));
        assert_eq!(retry_after_secs(&h, now), None);
    }

    #[test]
    fn json_decoding_errors_are_protocol_errors() {
        let e = SseEvent { event: "message_start".into(), data: "{not json".into() };
        let err = e.json::<Value>("anthropic").unwrap_err();
        assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains("`message_start`"), "{err}");
        assert!(SseEvent { event: String::new(), data: " [DONE]".into() }.is_done_marker());
        assert_eq!(excerpt("ééé", 2), "éé…");
    }
}

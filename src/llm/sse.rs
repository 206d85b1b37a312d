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
    events_from(provider, response.bytes_stream())
}

/// Any byte stream as server-sent events, decoded exactly as a response body is by
/// [`events`] (a transport error is [`LlmError::Stream`] with kind [`CONNECTION_LOST`]).
/// This is how [`events`] works; it is public so that benches and tests can feed recorded or
/// generated bodies through the real decoding path without HTTP.
///
/// Parsing follows the HTML event-stream rules: lines end in CRLF, CR or LF; a leading BOM is skipped; `:` lines are comments; `data` lines append
/// to the data (joined with `\n`), `event` sets the name (`message` when none was sent),
/// other fields are ignored; a blank line dispatches the event unless its data is empty. A
/// partial line or event at the end of the body is dropped. A line that is not UTF-8 is
/// [`LlmError::Protocol`].
pub fn events_from<S, B, E>(provider: &'static str, bytes: S) -> SseStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]>,
    E: std::error::Error + Send + 'static,
{
    let state = (Box::pin(bytes), Parser::default(), false);
    Box::pin(futures_util::stream::unfold(state, move |(mut bytes, mut parser, mut ended)| async move {
        loop {
            match parser.next_event() {
                Ok(Some(event)) => return Some((Ok(event), (bytes, parser, ended))),
                Ok(None) => {}
                Err(e) => {
                    let e =
                        LlmError::Protocol { provider, message: format!("event stream is not UTF-8: {e}") };
                    return Some((Err(e), (bytes, Parser::default(), true)));
                }
            }
            if ended {
                return None;
            }
            match bytes.next().await {
                Some(Ok(chunk)) => parser.push(chunk.as_ref()),
                Some(Err(e)) => {
                    let e = LlmError::Stream {
                        provider,
                        kind: CONNECTION_LOST.to_owned(),
                        message: format!("connection lost while streaming: {}", error_chain(&e)),
                    };
                    return Some((Err(e), (bytes, Parser::default(), true)));
                }
                None => {
                    ended = true;
                    if let Err(e) = parser.finish() {
                        let e = LlmError::Protocol {
                            provider,
                            message: format!("event stream is not UTF-8: {e}"),
                        };
                        return Some((Err(e), (bytes, Parser::default(), true)));
                    }
                }
            }
        }
    }))
}

/// An incremental event-stream parser: bytes in ([`Parser::push`]), events out
/// ([`Parser::next_event`]). Bytes are kept until a whole line arrived, and consumed lines
/// are dropped from the buffer once per chunk, so decoding is linear in the body's size.
#[derive(Debug, Default)]
struct Parser {
    /// Received bytes; `buf[pos..]` is not parsed yet.
    buf: Vec<u8>,
    pos: usize,
    /// A chunk arrived (so a BOM is no longer expected).
    started: bool,
    /// The event being built.
    event: String,
    data: String,
}

impl Parser {
    /// Appends a chunk of the body.
    fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = chunk;
        if !self.started && !chunk.is_empty() {
            self.started = true;
            chunk = chunk.strip_prefix("\u{feff}".as_bytes()).unwrap_or(chunk);
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event in the bytes received so far.
    fn next_event(&mut self) -> Result<Option<SseEvent>, std::str::Utf8Error> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(eol) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return Ok(None);
            };
            let len = match (rest[eol], rest.get(eol + 1)) {
                (b'\r', Some(b'\n')) => 2,
                // A CR ending the bytes so far may be the first half of a CRLF.
                (b'\r', None) => return Ok(None),
                _ => 1,
            };
            let line = std::str::from_utf8(&rest[..eol])?;
            self.pos += eol + len;
            if line.is_empty() {
                let event = std::mem::take(&mut self.event);
                let mut data = std::mem::take(&mut self.data);
                if data.is_empty() {
                    continue;
                }
                data.pop(); // The `\n` after the last data line.
                let event = if event.is_empty() { "message".to_owned() } else { event };
                return Ok(Some(SseEvent { event, data }));
            }
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = match line.split_once(':') {
                Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match name {
                "data" => {
                    self.data.push_str(value);
                    self.data.push('\n');
                }
                "event" => value.clone_into(&mut self.event),
                _ => {}
            }
        }
    }

    /// The body ended: what is left is an unfinished line or event, dropped; an error when
    /// it is not UTF-8.
    fn finish(&mut self) -> Result<(), std::str::Utf8Error> {
        std::str::from_utf8(&self.buf[self.pos..])?;
        *self = Parser { started: true, ..Parser::default() };
        Ok(())
    }
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

    /// Feeds `chunks` to a parser; the events, and whether a UTF-8 error ended it.
    fn parse(chunks: &[&[u8]]) -> (Vec<(String, String)>, bool) {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            loop {
                match parser.next_event() {
                    Ok(Some(e)) => out.push((e.event, e.data)),
                    Ok(None) => break,
                    Err(_) => return (out, true),
                }
            }
        }
        (out, parser.finish().is_err())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn parser_follows_the_event_stream_rules() {
        let body = "\u{feff}: comment\nevent: a\ndata: 1\ndata:2\nid: 9\nretry: 5\n\n\
                    data: {\"x\": \"é\"}\r\n\r\nevent: empty\n\ndata\n\nevent: b\rdata:  two\r\rdata: tail";
        let expected = pairs(&[("a", "1\n2"), ("message", "{\"x\": \"é\"}"), ("message", ""), ("b", " two")]);
        assert_eq!(parse(&[body.as_bytes()]), (expected.clone(), false));
        // The same body in every split, down to one byte at a time (CRLF and `é` split too).
        let bytes = body.as_bytes();
        for size in [1, 2, 3, 7, 64] {
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(parse(&chunks), (expected.clone(), false), "chunks of {size}");
        }
    }

    #[test]
    fn parser_rejects_bytes_that_are_not_utf8() {
        assert_eq!(parse(&[b"data: ok\n\ndata: \xff\n\n"]), (pairs(&[("message", "ok")]), true));
        assert_eq!(parse(&[b"data: ok\n\ndata: \xe2\x82"]), (pairs(&[("message", "ok")]), true));
    }
}

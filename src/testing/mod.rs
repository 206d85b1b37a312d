//! Test support: owns the mock servers that tests, replay and benches talk to instead of the
//! real model providers.
//!
//! [`MockLlm`] is a local HTTP server that answers a [`Script`] of responses, one per request,
//! in each provider's real streaming format, so a provider implementation can be exercised
//! end to end (HTTP, SSE framing, event order, errors, cut connections, malformed frames,
//! slow streams) without a network.
//!
//! Owns: the scripted response types and the per-provider wire renderings.
//! Must not: be used as a fallback at run time. Nothing outside tests, replay and benches
//! may point a provider at a [`MockLlm`]; a missing credential or an unreachable provider is
//! an error, never a reason to answer from a script.
//!
//! - [`mock_llm`]: the server, the [`Script`] types and the recorded requests.
//! - [`anthropic`]: Anthropic Messages (`POST /v1/messages`).
//! - [`openai_chat`]: OpenAI Chat Completions (`POST /v1/chat/completions`).
//! - [`openai_responses`]: OpenAI Responses (`POST /v1/responses`, `/codex/responses`).
//! - [`google`]: Gemini (`POST /v1beta/models/{model}:streamGenerateContent?alt=sse`), and
//!   the Code Assist API a Google sign-in uses (`POST /v1internal:streamGenerateContent`,
//!   `/v1internal:loadCodeAssist`).
//!
//! One module per wire format, each documenting the exact frames it sends; a new format is
//! one more module plus a route in [`mock_llm`].

pub mod anthropic;
pub mod google;
pub mod mock_llm;
pub mod openai_chat;
pub mod openai_responses;

pub use mock_llm::{MockLlm, RecordedRequest, Responder, Script, ScriptedResponse, Step};

/// Splits raw server-sent-event text into `(event name, data)` pairs, for tests. The name is
/// empty for unnamed frames; data that is not JSON (`[DONE]`) comes back as a JSON string.
#[cfg(test)]
pub(crate) fn parse_sse(text: &str) -> Vec<(String, serde_json::Value)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                } else {
                    panic!("unexpected SSE line {line:?} in frame {frame:?}");
                }
            }
            let value = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
            (event, value)
        })
        .collect()
}

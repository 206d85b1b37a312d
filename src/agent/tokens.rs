//! The `tokenRecord` the TypeScript server attaches to `message.assistant`, `stream.turn_end`
//! and `agent.turn_end`: the provider's raw counts (`source`), the context window they imply
//! (`computed`) and where they belong (`meta`). The iOS app decodes every field of it, and
//! builds its token statistics from it alone.
//!
//! `contextWindowTokens` is input + cache read + cache write for Anthropic (its three counts
//! do not overlap, `calculationMethod: "anthropic_cache_aware"`), and the input count for
//! every other provider (`"direct"`). `newInputTokens` is the growth over the previous
//! call's window (all of it on the first call, 0 when the window shrank).

use serde_json::{json, Value};

use crate::core::messages::TokenUsage;
use crate::llm::models::ProviderKind;

/// The record for one model call.
pub(crate) fn token_record(
    provider: ProviderKind,
    usage: &TokenUsage,
    previous_window: u64,
    turn: i64,
    session: &str,
) -> Value {
    let now = crate::events::now_iso();
    let (read, write) = (usage.cache_read_tokens.unwrap_or(0), usage.cache_creation_tokens.unwrap_or(0));
    let (window, method) = match provider {
        ProviderKind::Anthropic => (usage.input_tokens + read + write, "anthropic_cache_aware"),
        _ => (usage.input_tokens, "direct"),
    };
    let new_input = if previous_window == 0 { window } else { window.saturating_sub(previous_window) };
    json!({
        "source": {
            "provider": provider.as_str(),
            "timestamp": now,
            "rawInputTokens": usage.input_tokens,
            "rawOutputTokens": usage.output_tokens,
            "rawCacheReadTokens": read,
            "rawCacheCreationTokens": write,
        },
        "computed": {
            "contextWindowTokens": window,
            "newInputTokens": new_input,
            "previousContextBaseline": previous_window,
            "calculationMethod": method,
        },
        "meta": { "turn": turn, "sessionId": session, "extractedAt": now, "normalizedAt": now },
    })
}

/// The context window a record reports (`computed.contextWindowTokens`), 0 when absent.
pub(crate) fn window_of(record: &Value) -> u64 {
    record["computed"]["contextWindowTokens"].as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, read: u64, write: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: 7,
            cache_read_tokens: Some(read),
            cache_creation_tokens: Some(write),
            ..Default::default()
        }
    }

    #[test]
    fn anthropic_windows_add_the_cache_counts_and_others_do_not() {
        let r = token_record(ProviderKind::Anthropic, &usage(500, 8000, 100), 0, 1, "sess_1");
        assert_eq!(r["computed"]["contextWindowTokens"], 8600);
        assert_eq!(r["computed"]["newInputTokens"], 8600);
        assert_eq!(r["computed"]["calculationMethod"], "anthropic_cache_aware");
        assert_eq!(r["source"]["rawOutputTokens"], 7);
        assert_eq!(r["meta"]["sessionId"], "sess_1");
        let r = token_record(ProviderKind::OpenAi, &usage(9000, 8000, 0), 8600, 2, "sess_1");
        assert_eq!(r["computed"]["contextWindowTokens"], 9000);
        assert_eq!(r["computed"]["newInputTokens"], 400);
        assert_eq!(r["computed"]["calculationMethod"], "direct");
    }

    #[test]
    fn a_shrunk_window_adds_nothing() {
        let r = token_record(ProviderKind::Google, &usage(100, 0, 0), 5000, 3, "s");
        assert_eq!(r["computed"]["newInputTokens"], 0);
        assert_eq!(window_of(&r), 100);
    }
}

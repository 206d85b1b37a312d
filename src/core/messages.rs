//! Conversation messages, token usage and stop reasons, in the TypeScript JSON shapes.
//!
//! A message is an object tagged by `role`:
//! - `"user"`: `{role, content: string | blocks, timestamp?}`
//! - `"assistant"`: `{role, content: blocks, usage?, cost?, stopReason?, thinking?}`
//! - `"toolResult"`: `{role, toolCallId, content: string | blocks, isError?}`
//!
//! Fields not modelled are kept in each message's `extra` map (other TypeScript versions add
//! e.g. `toolName`, `timestamp`, `errorMessage`). A message with another role, or one whose
//! known fields have an unexpected JSON type, is kept verbatim as [`Message::Unknown`].

use serde::{Deserialize, Serialize};

use super::content::{ContentBlock, MessageContent};
use super::wire::{wire_enum, wire_enum_deserialize, JsonObject};

wire_enum! {
    /// Why the model stopped generating (`stopReason`).
    pub enum StopReason {
        /// The model finished its turn.
        EndTurn => "end_turn",
        /// The model wants tool results before continuing.
        ToolUse => "tool_use",
        /// The output token limit was reached.
        MaxTokens => "max_tokens",
        /// A stop sequence was produced.
        StopSequence => "stop_sequence",
        /// The model refused.
        Refusal => "refusal",
        /// The context window is full.
        ModelContextWindowExceeded => "model_context_window_exceeded",
        @unknown
        /// A value this version does not know, kept as written.
        Unknown
    }
}
wire_enum_deserialize!(StopReason);

wire_enum! {
    /// Provider family, used to interpret token counts (`providerType`).
    pub enum ProviderType {
        /// Anthropic: `inputTokens` excludes cached tokens.
        Anthropic => "anthropic",
        /// OpenAI: `inputTokens` is the full context.
        OpenAi => "openai",
        /// OpenAI Codex: `inputTokens` is the full context.
        OpenAiCodex => "openai-codex",
        /// Google Gemini: `inputTokens` is the full context.
        Google => "google",
        @unknown
        /// A value this version does not know, kept as written.
        Unknown
    }
}
wire_enum_deserialize!(ProviderType);

/// Token counts reported for one model response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens (see [`ProviderType`] for what they include).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// Which provider reported the counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<ProviderType>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Cost of a response, in `currency` (USD in practice).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Cost of the input tokens.
    #[serde(with = "super::wire::js_number")]
    pub input_cost: f64,
    /// Cost of the output tokens.
    #[serde(with = "super::wire::js_number")]
    pub output_cost: f64,
    /// Total cost.
    #[serde(with = "super::wire::js_number")]
    pub total: f64,
    /// Currency code, e.g. `USD`.
    pub currency: String,
}

/// A message from the user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserMessage {
    /// The prompt: a string, or blocks (text, images, documents, tool results).
    pub content: MessageContent,
    /// Milliseconds since the Unix epoch, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A message from the model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantMessage {
    /// Text, thinking and tool-use blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Token usage of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TokenUsage>,
    /// Cost of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Convenience copy of the thinking text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The result of one tool call, sent back to the model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultMessage {
    /// Id of the tool call this answers.
    pub tool_call_id: String,
    /// The result: a string, or text/image blocks.
    pub content: MessageContent,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Fields not modelled here (e.g. `toolName`), kept verbatim.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A conversation message, tagged by `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role")]
pub enum Message {
    /// `"role": "user"`.
    #[serde(rename = "user")]
    User(UserMessage),
    /// `"role": "assistant"`.
    #[serde(rename = "assistant")]
    Assistant(AssistantMessage),
    /// `"role": "toolResult"`.
    #[serde(rename = "toolResult")]
    ToolResult(ToolResultMessage),
    /// Any other object (another role, or a known role in a shape not modelled), verbatim.
    #[serde(untagged)]
    Unknown(JsonObject),
}

impl Message {
    /// A user message with text content.
    pub fn user(text: impl Into<String>) -> Self {
        Self::User(UserMessage { content: MessageContent::Text(text.into()), ..Default::default() })
    }

    /// An assistant message with the given blocks.
    pub fn assistant(content: Vec<ContentBlock>) -> Self {
        Self::Assistant(AssistantMessage { content, ..Default::default() })
    }

    /// A tool-result message with text content.
    pub fn tool_result(tool_call_id: impl Into<String>, text: impl Into<String>, is_error: bool) -> Self {
        Self::ToolResult(ToolResultMessage {
            tool_call_id: tool_call_id.into(),
            content: MessageContent::Text(text.into()),
            is_error: Some(is_error),
            extra: JsonObject::new(),
        })
    }

    /// The `role` string (for [`Message::Unknown`], its `role` if it is a string).
    pub fn role(&self) -> &str {
        match self {
            Self::User(_) => "user",
            Self::Assistant(_) => "assistant",
            Self::ToolResult(_) => "toolResult",
            Self::Unknown(obj) => obj.get("role").and_then(serde_json::Value::as_str).unwrap_or(""),
        }
    }

    /// The message's text: text blocks joined with `\n` (a string content as is).
    pub fn text(&self) -> String {
        match self {
            Self::User(m) => m.content.text(),
            Self::Assistant(m) => m.text(),
            Self::ToolResult(m) => m.content.text(),
            Self::Unknown(_) => String::new(),
        }
    }
}

impl AssistantMessage {
    /// The text blocks joined with `\n`.
    pub fn text(&self) -> String {
        self.content.iter().filter_map(ContentBlock::as_text).collect::<Vec<_>>().join("\n")
    }

    /// The tool-use blocks, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &super::content::ToolUseBlock> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn round_trip(v: Value) -> Message {
        let m: Message = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), v, "round trip changed {m:?}");
        m
    }

    #[test]
    fn user_message_string_and_blocks() {
        let m = round_trip(json!({"role": "user", "content": "hi", "timestamp": 1738000000000_i64}));
        assert_eq!(m.text(), "hi");
        let m = round_trip(json!({"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "data": "eA==", "mimeType": "image/png"},
            {"type": "document", "data": "eA==", "mimeType": "application/pdf", "fileName": "f.pdf"}
        ]}));
        assert!(
            matches!(m, Message::User(UserMessage { content: MessageContent::Blocks(ref b), .. }) if b.len() == 3)
        );
    }

    #[test]
    fn assistant_message_full() {
        let v = json!({
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "plan", "signature": "sig"},
                {"type": "text", "text": "Running it"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "arguments": {"command": "ls"}}
            ],
            "usage": {"inputTokens": 10, "outputTokens": 5, "cacheReadTokens": 100, "cacheCreationTokens": 0,
                      "providerType": "anthropic"},
            "cost": {"inputCost": 0.0003, "outputCost": 0, "total": 0.0003, "currency": "USD"},
            "stopReason": "tool_use",
            "thinking": "plan"
        });
        let Message::Assistant(a) = round_trip(v) else { panic!() };
        assert_eq!(a.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(a.tool_uses().count(), 1);
        assert_eq!(a.text(), "Running it");
        assert_eq!(a.usage.as_ref().unwrap().provider_type, Some(ProviderType::Anthropic));
    }

    #[test]
    fn tool_result_message() {
        let m = round_trip(
            json!({"role": "toolResult", "toolCallId": "toolu_1", "content": "out", "isError": false}),
        );
        assert_eq!(m.role(), "toolResult");
        round_trip(json!({"role": "toolResult", "toolCallId": "t", "toolName": "Bash",
            "content": [{"type": "text", "text": "x"}], "isError": true, "timestamp": 5}));
        assert_eq!(
            serde_json::to_value(Message::tool_result("t1", "done", false)).unwrap(),
            json!({"role": "toolResult", "toolCallId": "t1", "content": "done", "isError": false})
        );
    }

    #[test]
    fn unknown_fields_and_roles_are_preserved() {
        let Message::Assistant(a) = round_trip(
            json!({"role": "assistant", "content": [], "model": "claude-x",
            "stopReason": "pause_turn", "usage": {"inputTokens": 1, "outputTokens": 2, "cacheCreation5mTokens": 3}}),
        ) else {
            panic!()
        };
        assert_eq!(a.stop_reason, Some(StopReason::Unknown("pause_turn".into())));
        assert_eq!(a.extra["model"], "claude-x");
        assert!(matches!(round_trip(json!({"role": "system", "content": "s"})), Message::Unknown(_)));
        assert!(matches!(round_trip(json!({"role": "user"})), Message::Unknown(_)));
        assert!(matches!(round_trip(json!({"content": "no role"})), Message::Unknown(_)));
    }

    #[test]
    fn stop_reason_strings() {
        for s in StopReason::KNOWN {
            let r: StopReason = serde_json::from_value(json!(s)).unwrap();
            assert!(r.is_known());
            assert_eq!(serde_json::to_value(&r).unwrap(), json!(s));
        }
        assert_eq!(StopReason::from("end_turn"), StopReason::EndTurn);
        assert_eq!(StopReason::from("weird").to_string(), "weird");
    }

    #[test]
    fn cost_serializes_like_javascript() {
        let c = Cost { input_cost: 0.0, output_cost: 1.5, total: 2.0, currency: "USD".into() };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"inputCost":0,"outputCost":1.5,"total":2,"currency":"USD"}"#
        );
    }

    #[test]
    fn constructors() {
        assert_eq!(
            serde_json::to_value(Message::user("q")).unwrap(),
            json!({"role": "user", "content": "q"})
        );
        assert_eq!(
            serde_json::to_value(Message::assistant(vec![ContentBlock::text("a")])).unwrap(),
            json!({"role": "assistant", "content": [{"type": "text", "text": "a"}]})
        );
    }
}

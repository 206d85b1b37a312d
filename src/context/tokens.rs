//! Token estimates: about four characters per token, as the TypeScript server estimates
//! (its `estimateMessageTokens`: the role plus ten characters of structure, then each
//! block's text; images by their data size).

use crate::core::content::{ContentBlock, MessageContent};
use crate::core::messages::Message;

/// Characters per estimated token.
const CHARS_PER_TOKEN: usize = 4;

/// Estimated tokens of a text (characters / 4, rounded up).
pub fn estimate_text_tokens(text: &str) -> u64 {
    chars_to_tokens(text.len())
}

fn chars_to_tokens(chars: usize) -> u64 {
    chars.div_ceil(CHARS_PER_TOKEN) as u64
}

/// Estimated tokens of one message.
pub fn estimate_message_tokens(message: &Message) -> u64 {
    let mut chars = message.role().len() + 10;
    chars += match message {
        Message::User(m) => content_chars(&m.content),
        Message::Assistant(m) => m.content.iter().map(block_chars).sum(),
        Message::ToolResult(m) => m.tool_call_id.len() + content_chars(&m.content),
        Message::Unknown(obj) => serde_json::to_string(obj).map_or(0, |s| s.len()),
    };
    chars_to_tokens(chars)
}

fn content_chars(content: &MessageContent) -> usize {
    match content {
        MessageContent::Text(s) => s.len(),
        MessageContent::Blocks(blocks) => blocks.iter().map(block_chars).sum(),
    }
}

fn block_chars(block: &ContentBlock) -> usize {
    match block {
        ContentBlock::Text(t) => t.text.len(),
        ContentBlock::Thinking(t) => t.thinking.len(),
        ContentBlock::ToolUse(t) => {
            let args = if t.arguments.is_empty() {
                0
            } else {
                serde_json::to_string(&t.arguments).map_or(0, |s| s.len())
            };
            t.id.len() + t.name.len() + args
        }
        ContentBlock::ToolResult(r) => r.tool_call_id.len() + content_chars(&r.content),
        // Base64 data: bytes * 5 "pixels" / 750 per token, at least 85 tokens (the TypeScript
        // estimate), in characters.
        ContentBlock::Image(i) => {
            let tokens = ((i.data.len() as f64 * 0.75 * 5.0) / 750.0).ceil() as usize;
            tokens.max(85) * CHARS_PER_TOKEN
        }
        ContentBlock::Document(d) => d.data.len(),
        ContentBlock::Unknown(obj) => serde_json::to_string(obj).map_or(0, |s| s.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_count_their_role_structure_and_text() {
        assert_eq!(estimate_text_tokens(""), 0);
        assert_eq!(estimate_text_tokens("abcde"), 2);
        // "user" (4) + 10 + 26 = 40 chars = 10 tokens.
        assert_eq!(estimate_message_tokens(&Message::user("abcdefghijklmnopqrstuvwxyz")), 10);
        // "toolResult" (10) + 10 + id (2) + 2 = 24 chars = 6 tokens.
        assert_eq!(estimate_message_tokens(&Message::tool_result("t1", "ok", false)), 6);
    }
}

//! What a response had streamed so far, kept so that an aborted run can persist it.
//!
//! Only content a provider would accept back is kept: text (complete blocks and the block
//! being streamed), thinking blocks once they are complete (a half-streamed thinking block
//! has no signature, and Anthropic rejects unsigned thinking), and tool calls once their
//! arguments are complete.

use crate::core::content::ContentBlock;
use crate::core::stream::StreamEvent;
use crate::core::tools::ToolCall;

/// The content of a response that has not finished streaming.
#[derive(Debug, Default)]
pub(crate) struct Partial {
    blocks: Vec<ContentBlock>,
    calls: Vec<ToolCall>,
    text: String,
}

impl Partial {
    /// Takes in one stream event.
    pub(crate) fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta { delta } => self.text.push_str(delta),
            StreamEvent::TextEnd { text, .. } => {
                self.text.clear();
                if !text.is_empty() {
                    self.blocks.push(ContentBlock::text(text.clone()));
                }
            }
            StreamEvent::ThinkingStart | StreamEvent::ToolCallStart { .. } | StreamEvent::TextStart => {
                self.flush_text()
            }
            StreamEvent::ThinkingEnd { thinking, signature } => {
                self.blocks.push(ContentBlock::thinking(thinking.clone(), signature.clone()));
            }
            StreamEvent::ToolCallEnd { tool_call } => {
                self.flush_text();
                self.blocks.push(tool_call.to_api_block());
                self.calls.push(tool_call.clone());
            }
            _ => {}
        }
    }

    /// The tool calls whose arguments were complete.
    pub(crate) fn calls(&self) -> &[ToolCall] {
        &self.calls
    }

    /// Everything kept, in stream order.
    pub(crate) fn into_content(mut self) -> Vec<ContentBlock> {
        self.flush_text();
        self.blocks
    }

    fn flush_text(&mut self) {
        if !self.text.is_empty() {
            self.blocks.push(ContentBlock::text(std::mem::take(&mut self.text)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::JsonObject;

    fn text_of(blocks: &[ContentBlock]) -> Vec<String> {
        blocks.iter().map(|b| format!("{}:{}", b.kind(), b.as_text().unwrap_or(""))).collect()
    }

    #[test]
    fn keeps_streamed_text_complete_blocks_and_complete_tool_calls_only() {
        let mut p = Partial::default();
        for e in [
            StreamEvent::ThinkingStart,
            StreamEvent::ThinkingDelta { delta: "hm".into() },
            StreamEvent::ThinkingEnd { thinking: "hmm".into(), signature: Some("sig".into()) },
            StreamEvent::TextStart,
            StreamEvent::TextDelta { delta: "Let me ".into() },
            StreamEvent::TextDelta { delta: "look".into() },
            StreamEvent::TextEnd { text: "Let me look".into(), signature: None },
            StreamEvent::ToolCallStart { tool_call_id: "t1".into(), name: "Read".into() },
            StreamEvent::ToolCallEnd { tool_call: ToolCall::new("t1", "Read", JsonObject::new()) },
            StreamEvent::ToolCallStart { tool_call_id: "t2".into(), name: "Bash".into() },
            StreamEvent::ToolCallDelta { tool_call_id: "t2".into(), arguments_delta: "{\"comm".into() },
        ] {
            p.observe(&e);
        }
        assert_eq!(p.calls().len(), 1);
        let blocks = p.into_content();
        assert_eq!(text_of(&blocks), ["thinking:", "text:Let me look", "tool_use:"]);
    }

    #[test]
    fn an_unsigned_half_thought_is_dropped_and_unfinished_text_kept() {
        let mut p = Partial::default();
        p.observe(&StreamEvent::ThinkingStart);
        p.observe(&StreamEvent::ThinkingDelta { delta: "half a tho".into() });
        assert!(Partial::default().into_content().is_empty());
        p.observe(&StreamEvent::TextDelta { delta: "The answer is".into() });
        assert_eq!(text_of(&p.into_content()), ["text:The answer is"]);
    }
}

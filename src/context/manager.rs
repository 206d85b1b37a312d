//! A session's context as the next model call would see it: the reconstructed messages,
//! the system prompt and the tools, with token counts, the model's limit, and the results
//! of the TypeScript `ContextManager` (`getSnapshot`, `getDetailedSnapshot`, `canAcceptTurn`).
//!
//! Current tokens are the context window the provider reported for the session's last model
//! call (`tokenRecord.computed.contextWindowTokens` of the last `message.assistant`) when no
//! compaction or clear came after it, else the estimate (system prompt + tools + messages,
//! characters / 4), as in the TypeScript server.

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::prompt::PromptParts;
use super::tokens::{estimate_message_tokens, estimate_text_tokens};
use crate::core::content::{ContentBlock, MessageContent};
use crate::core::messages::Message;
use crate::core::tools::ToolDefinition;
use crate::events::reconstruct::COMPACTION_SUMMARY_PREFIX;
use crate::events::{StoreError, StoreHandle};
use crate::llm::models::ModelInfo;
use crate::settings::Settings;

/// How full the context is (the TypeScript thresholds: 50 % warning, 70 % alert, 85 %
/// critical, 95 % exceeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdLevel {
    Normal,
    Warning,
    Alert,
    Critical,
    Exceeded,
}

impl ThresholdLevel {
    /// The level of `tokens` out of `limit`.
    pub fn of(tokens: u64, limit: u64) -> Self {
        let ratio = if limit == 0 { 1.0 } else { tokens as f64 / limit as f64 };
        match ratio {
            r if r >= 0.95 => Self::Exceeded,
            r if r >= 0.85 => Self::Critical,
            r if r >= 0.70 => Self::Alert,
            r if r >= 0.50 => Self::Warning,
            _ => Self::Normal,
        }
    }
}

/// Token counts by part of the context. The rules, the workspace memory, the skills and the
/// removed-skills notice sit inside the system prompt; `system_prompt` counts the rest of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub system_prompt: u64,
    pub tools: u64,
    pub rules: u64,
    pub memory: u64,
    pub skill_context: u64,
    pub skill_removal: u64,
    pub messages: u64,
}

impl Breakdown {
    /// Every part but the messages: what the context holds with no conversation.
    pub fn overhead(&self) -> u64 {
        self.system_prompt + self.tools + self.rules + self.memory + self.skill_context + self.skill_removal
    }
}

/// The `context.getSnapshot` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub current_tokens: u64,
    pub context_limit: u64,
    /// `currentTokens / contextLimit` (a ratio, as the TypeScript server reports it).
    pub usage_percent: f64,
    pub threshold_level: ThresholdLevel,
    pub breakdown: Breakdown,
}

/// One message in `context.getDetailedSnapshot`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageInfo {
    pub index: usize,
    pub role: String,
    pub tokens: u64,
    pub summary: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// A tool call inside an assistant message of the detailed snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCallInfo {
    pub id: String,
    pub name: String,
    pub tokens: u64,
    pub arguments: String,
}

/// The `context.canAcceptTurn` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnCheck {
    pub can_proceed: bool,
    pub needs_compaction: bool,
    pub would_exceed_limit: bool,
    pub current_tokens: u64,
    pub estimated_after_turn: u64,
    pub context_limit: u64,
}

/// A session's context.
#[derive(Debug, Clone)]
pub struct ContextManager {
    /// The model the next call goes to.
    pub model: &'static ModelInfo,
    /// The system prompt ("" when none).
    pub system_prompt: String,
    /// The parts of the system prompt counted apart (see [`ContextManager::with_parts`]).
    pub parts: PromptParts,
    /// The tools offered.
    pub tools: Vec<ToolDefinition>,
    /// The reconstructed messages.
    pub messages: Vec<Message>,
    /// The first event of each message (`None` for synthesised ones).
    pub event_ids: Vec<Option<String>>,
    /// The provider-reported context window, when still valid (0: none).
    pub api_tokens: u64,
    /// `context.compactor.triggerTokenThreshold`.
    pub threshold: f64,
    /// `context.compactor.preserveRecentCount` (user turns kept through a compaction).
    pub preserve_recent: usize,
}

impl ContextManager {
    /// The context of `session` for a call to `model` with `system` and `tools`.
    pub async fn load(
        store: &StoreHandle,
        session: &str,
        model: &'static ModelInfo,
        system: Option<String>,
        tools: Vec<ToolDefinition>,
        settings: &Settings,
    ) -> Result<Self, StoreError> {
        let api_tokens = provider_window(store, session).await?;
        let id = session.to_owned();
        let rec = store.run(move |s| s.messages(&id)).await?;
        let (messages, event_ids) = rec
            .messages_with_event_ids
            .iter()
            .map(|m| {
                let id = m.event_ids.iter().flatten().next().map(|e| e.as_str().to_owned());
                (m.message.to_message(), id)
            })
            .unzip();
        Ok(Self {
            model,
            system_prompt: system.or(rec.system_prompt).unwrap_or_default(),
            parts: PromptParts::default(),
            tools,
            messages,
            event_ids,
            api_tokens,
            threshold: settings.compactor.trigger_token_threshold,
            preserve_recent: settings.compactor.preserve_recent_count,
        })
    }

    /// Counts `parts` of the system prompt apart in [`ContextManager::breakdown`]; each must
    /// be text of the system prompt (see [`PromptParts`]).
    pub fn with_parts(mut self, parts: PromptParts) -> Self {
        self.parts = parts;
        self
    }

    /// The model's context window.
    pub fn context_limit(&self) -> u64 {
        self.model.context_window
    }

    /// Tokens of the system prompt and of the tools.
    pub fn overhead(&self) -> u64 {
        self.breakdown().overhead()
    }

    /// Token counts by part (estimates: characters / 4, rounded up, per part).
    pub fn breakdown(&self) -> Breakdown {
        let tools: usize = self.tools.iter().map(|t| serde_json::to_string(t).map_or(0, |s| s.len())).sum();
        let p = &self.parts;
        let apart = p.rules.len() + p.memory.len() + p.skills.len() + p.removed_skills.len();
        Breakdown {
            system_prompt: self.system_prompt.len().saturating_sub(apart).div_ceil(4) as u64,
            tools: tools.div_ceil(4) as u64,
            rules: estimate_text_tokens(&p.rules),
            memory: estimate_text_tokens(&p.memory),
            skill_context: estimate_text_tokens(&p.skills),
            skill_removal: estimate_text_tokens(&p.removed_skills),
            messages: self.messages.iter().map(estimate_message_tokens).sum(),
        }
    }

    /// The tokens the context holds: the provider's count when valid, else the estimate.
    pub fn current_tokens(&self) -> u64 {
        if self.api_tokens > 0 {
            return self.api_tokens;
        }
        let b = self.breakdown();
        b.overhead() + b.messages
    }

    /// Whether `extra` more tokens (e.g. the next prompt) take the context over the threshold.
    pub fn should_compact_with(&self, extra: u64) -> bool {
        let limit = self.context_limit();
        limit > 0 && (self.current_tokens() + extra) as f64 / limit as f64 >= self.threshold
    }

    /// Whether the context is over the threshold.
    pub fn should_compact(&self) -> bool {
        self.should_compact_with(0)
    }

    /// The `context.getSnapshot` result.
    pub fn snapshot(&self) -> Snapshot {
        let current = self.current_tokens();
        let limit = self.context_limit();
        Snapshot {
            current_tokens: current,
            context_limit: limit,
            usage_percent: if limit == 0 { 0.0 } else { current as f64 / limit as f64 },
            threshold_level: ThresholdLevel::of(current, limit),
            breakdown: self.breakdown(),
        }
    }

    /// The messages of `context.getDetailedSnapshot`.
    pub fn message_infos(&self) -> Vec<MessageInfo> {
        let short = |s: &str| super::summarizer::clip(s, 100);
        self.messages
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let tokens = estimate_message_tokens(m);
                let event_id = self.event_ids.get(index).cloned().flatten();
                let mut info = MessageInfo {
                    index,
                    role: m.role().to_owned(),
                    tokens,
                    summary: String::new(),
                    content: String::new(),
                    event_id,
                    tool_calls: None,
                    tool_call_id: None,
                    is_error: None,
                };
                match m {
                    Message::Assistant(a) => {
                        let calls: Vec<ToolCallInfo> = a
                            .content
                            .iter()
                            .filter_map(|b| match b {
                                ContentBlock::ToolUse(t) => {
                                    let args = serde_json::to_string_pretty(&t.arguments).unwrap_or_default();
                                    Some(ToolCallInfo {
                                        id: t.id.clone(),
                                        name: t.name.clone(),
                                        tokens: (t.name.len() + args.len()).div_ceil(4) as u64,
                                        arguments: args,
                                    })
                                }
                                _ => None,
                            })
                            .collect();
                        info.content = a.text();
                        info.summary = if calls.is_empty() {
                            short(&info.content)
                        } else {
                            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
                            let text = if info.content.is_empty() { "" } else { " + text" };
                            format!("{}{text}", names.join(", "))
                        };
                        info.tool_calls = (!calls.is_empty()).then_some(calls);
                    }
                    Message::ToolResult(r) => {
                        info.content = r.content.text();
                        info.summary = short(&info.content);
                        info.tool_call_id = Some(r.tool_call_id.clone());
                        info.is_error = Some(r.is_error.unwrap_or(false));
                    }
                    other => {
                        info.content = other.text();
                        info.summary = short(&info.content);
                    }
                }
                info
            })
            .collect()
    }

    /// The `context.canAcceptTurn` result for a response of `response_tokens`.
    pub fn can_accept_turn(&self, response_tokens: u64) -> TurnCheck {
        let current = self.current_tokens();
        let limit = self.context_limit();
        let level = ThresholdLevel::of(current, limit);
        let estimated = current + response_tokens;
        TurnCheck {
            can_proceed: !matches!(level, ThresholdLevel::Critical | ThresholdLevel::Exceeded),
            needs_compaction: matches!(
                level,
                ThresholdLevel::Alert | ThresholdLevel::Critical | ThresholdLevel::Exceeded
            ),
            would_exceed_limit: estimated > limit,
            current_tokens: current,
            estimated_after_turn: estimated,
            context_limit: limit,
        }
    }

    /// Where compaction cuts: messages before the index are summarised, the rest (the last
    /// `preserve_recent` user turns, each a user prompt and everything up to the next one)
    /// are kept. A compaction summary does not count as a turn. 0 when there are no more
    /// turns than are kept (nothing to summarise).
    pub fn split_point(&self) -> usize {
        if self.preserve_recent == 0 {
            return self.messages.len();
        }
        let mut seen = 0;
        for (i, m) in self.messages.iter().enumerate().rev() {
            if is_real_user_turn(m) {
                seen += 1;
                if seen == self.preserve_recent {
                    return i;
                }
            }
        }
        0
    }
}

/// The context window the provider reported for `session`'s last model call, when no
/// compaction or clear came after it (0 otherwise).
pub async fn provider_window(store: &StoreHandle, session: &str) -> Result<u64, StoreError> {
    let id = session.to_owned();
    store
        .run(move |s| {
            let window: Option<i64> = s
                .connection()
                .prepare_cached(
                    "SELECT json_extract(a.payload, '$.tokenRecord.computed.contextWindowTokens') FROM events a
                     WHERE a.session_id = ?1 AND a.type = 'message.assistant' AND json_valid(a.payload)
                       AND NOT EXISTS (SELECT 1 FROM events c WHERE c.session_id = ?1
                           AND c.type IN ('compact.summary', 'context.cleared') AND c.sequence > a.sequence)
                     ORDER BY a.sequence DESC LIMIT 1",
                )?
                .query_row([&id], |r| r.get::<_, Option<i64>>(0))
                .optional()?
                .flatten();
            Ok(window.unwrap_or(0).max(0) as u64)
        })
        .await
}

/// A user message that starts a turn: not a compaction summary, and not the legacy shape
/// of tool results (a user message of `tool_result` blocks only).
pub(crate) fn is_real_user_turn(m: &Message) -> bool {
    let Message::User(u) = m else { return false };
    let only_results = match &u.content {
        MessageContent::Blocks(blocks) => {
            !blocks.is_empty() && blocks.iter().all(|b| matches!(b, ContentBlock::ToolResult(_)))
        }
        MessageContent::Text(_) => false,
    };
    !only_results && !u.content.text().starts_with(COMPACTION_SUMMARY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::models;

    fn manager(messages: Vec<Message>, preserve: usize) -> ContextManager {
        ContextManager {
            model: models::lookup("claude-sonnet-4-5").unwrap(),
            system_prompt: "x".repeat(400),
            parts: PromptParts::default(),
            tools: Vec::new(),
            event_ids: vec![None; messages.len()],
            messages,
            api_tokens: 0,
            threshold: 0.7,
            preserve_recent: preserve,
        }
    }

    #[test]
    fn levels_follow_the_typescript_thresholds() {
        assert_eq!(ThresholdLevel::of(49, 100), ThresholdLevel::Normal);
        assert_eq!(ThresholdLevel::of(50, 100), ThresholdLevel::Warning);
        assert_eq!(ThresholdLevel::of(70, 100), ThresholdLevel::Alert);
        assert_eq!(ThresholdLevel::of(85, 100), ThresholdLevel::Critical);
        assert_eq!(ThresholdLevel::of(95, 100), ThresholdLevel::Exceeded);
    }

    #[test]
    fn provider_counts_win_over_estimates_and_turns_are_judged_by_level() {
        let mut m = manager(vec![Message::user("hi")], 1);
        assert_eq!(m.current_tokens(), 100 + 4);
        let limit = m.context_limit();
        m.api_tokens = limit * 9 / 10;
        assert_eq!(m.current_tokens(), limit * 9 / 10);
        assert!(m.should_compact());
        let check = m.can_accept_turn(limit);
        assert!(!check.can_proceed && check.needs_compaction && check.would_exceed_limit);
        assert_eq!(m.snapshot().threshold_level, ThresholdLevel::Critical);
    }

    #[test]
    fn rules_memory_and_skills_are_counted_apart_from_the_rest_of_the_prompt() {
        let m = manager(vec![], 1);
        let whole = m.breakdown();
        let (rules, skills) = ("r".repeat(80), "s".repeat(41));
        let mut m = m.with_parts(PromptParts { rules, skills, ..Default::default() });
        m.system_prompt = "x".repeat(400 - 80 - 41) + &m.parts.rules + &m.parts.skills;
        let b = m.breakdown();
        assert_eq!((b.rules, b.skill_context, b.memory, b.skill_removal), (20, 11, 0, 0));
        assert_eq!(b.system_prompt, 70, "279 characters are left");
        assert_eq!(b.overhead(), whole.overhead() + 1, "the parts only add their rounding");
    }

    #[test]
    fn the_split_keeps_the_last_turns_whole() {
        let msgs = vec![
            Message::user(format!("{COMPACTION_SUMMARY_PREFIX}\n\nold")),
            Message::assistant(vec![]),
            Message::user("one"),
            Message::assistant(vec![]),
            Message::tool_result("t", "r", false),
            Message::user("two"),
            Message::assistant(vec![]),
        ];
        assert_eq!(manager(msgs.clone(), 1).split_point(), 5);
        assert_eq!(manager(msgs.clone(), 2).split_point(), 2);
        assert_eq!(manager(msgs.clone(), 3).split_point(), 0);
        assert_eq!(manager(msgs, 0).split_point(), 7);
    }
}

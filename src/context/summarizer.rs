//! Summarisers: what compaction replaces older messages with.
//!
//! [`KeywordSummarizer`] needs no model: it extracts topics, the files tools touched, the
//! tools used and the first sentences of thinking (the TypeScript server's fallback
//! summariser). [`LlmSummarizer`] asks a small model through the [`Provider`] trait for a
//! narrative summary and falls back to the keyword one when the call fails or answers
//! nothing, so a summary is always produced.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::Serialize;

use crate::core::content::ContentBlock;
use crate::core::messages::Message;
use crate::core::stream::StreamEvent;
use crate::llm::models::{self, ModelInfo};
use crate::llm::{Provider, Request};
use crate::settings::Settings;

/// What a summariser extracted (the TypeScript `ExtractedData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedData {
    pub current_goal: String,
    pub completed_steps: Vec<String>,
    pub pending_tasks: Vec<String>,
    pub key_decisions: Vec<KeyDecision>,
    pub files_modified: Vec<String>,
    pub topics_discussed: Vec<String>,
    pub user_preferences: Vec<String>,
    pub important_context: Vec<String>,
    pub thinking_insights: Vec<String>,
}

/// A decision and why it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyDecision {
    pub decision: String,
    pub reason: String,
}

/// A summary: the narrative that replaces the messages, and what was extracted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryResult {
    pub narrative: String,
    pub extracted_data: ExtractedData,
}

/// Summarises a run of messages. Never fails: a summariser that can fail falls back to one
/// that cannot.
pub trait Summarizer: Send + Sync + std::fmt::Debug {
    /// The summary of `messages`.
    fn summarize<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, SummaryResult>;
}

/// Longest piece of text the keyword summariser quotes (goal, insight).
const QUOTE_CHARS: usize = 300;
/// Most items of each list in a summary.
const LIST_ITEMS: usize = 10;

/// The summariser without a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeywordSummarizer;

impl KeywordSummarizer {
    /// The summary, computed at once.
    pub fn summarize_now(&self, messages: &[Message]) -> SummaryResult {
        let data = extract(messages);
        let narrative = narrative(&data, messages.len());
        SummaryResult { narrative, extracted_data: data }
    }
}

impl Summarizer for KeywordSummarizer {
    fn summarize<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, SummaryResult> {
        Box::pin(std::future::ready(self.summarize_now(messages)))
    }
}

/// At most `max` characters of `text` (cut at a character boundary, with `...` when cut).
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}...", &text[..at]),
    }
}

fn push_unique(list: &mut Vec<String>, seen: &mut HashSet<String>, item: String, max: usize) {
    if list.len() < max && seen.insert(item.clone()) {
        list.push(item);
    }
}

const COMMON_WORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "before",
    "being",
    "between",
    "could",
    "create",
    "doing",
    "during",
    "example",
    "everything",
    "following",
    "going",
    "making",
    "nothing",
    "please",
    "really",
    "second",
    "should",
    "something",
    "anything",
    "thanks",
    "things",
    "third",
    "through",
    "within",
    "without",
];

fn extract(messages: &[Message]) -> ExtractedData {
    let (mut files, mut seen_files) = (Vec::new(), HashSet::new());
    let (mut tools, mut seen_tools) = (Vec::new(), HashSet::new());
    let (mut topics, mut seen_topics) = (Vec::new(), HashSet::new());
    let mut insights = Vec::new();
    let mut goal = None;
    for message in messages {
        if let Message::Assistant(m) = message {
            for block in &m.content {
                match block {
                    ContentBlock::ToolUse(t) => {
                        push_unique(&mut tools, &mut seen_tools, t.name.clone(), LIST_ITEMS);
                        for key in ["file_path", "path"] {
                            if let Some(p) = t.arguments.get(key).and_then(|v| v.as_str()) {
                                push_unique(&mut files, &mut seen_files, clip(p, QUOTE_CHARS), LIST_ITEMS);
                            }
                        }
                    }
                    ContentBlock::Thinking(t) if t.thinking.len() > 20 && insights.len() < 5 => {
                        let first = t.thinking.split(['.', '!', '?']).next().unwrap_or_default();
                        insights.push(clip(first.trim(), 200));
                    }
                    _ => {}
                }
            }
        }
        let text = match message {
            Message::ToolResult(_) | Message::Unknown(_) => continue,
            m => m.text(),
        };
        if matches!(message, Message::User(_)) && !text.trim().is_empty() {
            goal = Some(clip(text.trim(), QUOTE_CHARS));
        }
        for word in text.split_whitespace() {
            if topics.len() >= LIST_ITEMS {
                break;
            }
            let word = word.to_lowercase();
            if word.len() > 5
                && word.bytes().all(|b| b.is_ascii_lowercase())
                && !COMMON_WORDS.contains(&&*word)
            {
                push_unique(&mut topics, &mut seen_topics, word, LIST_ITEMS);
            }
        }
    }
    ExtractedData {
        current_goal: goal.unwrap_or_else(|| "Continue working on the task".into()),
        completed_steps: vec![format!("Processed {} messages", messages.len())],
        files_modified: files,
        topics_discussed: topics,
        important_context: if tools.is_empty() {
            vec![]
        } else {
            vec![format!("Tools used: {}", tools.join(", "))]
        },
        thinking_insights: insights,
        ..Default::default()
    }
}

fn narrative(data: &ExtractedData, count: usize) -> String {
    let mut parts = vec![format!("Last request: {}", data.current_goal)];
    if !data.topics_discussed.is_empty() {
        parts.push(format!(
            "Topics discussed: {}",
            data.topics_discussed[..data.topics_discussed.len().min(5)].join(", ")
        ));
    }
    if !data.files_modified.is_empty() {
        parts.push(format!(
            "Files touched: {}",
            data.files_modified[..data.files_modified.len().min(5)].join(", ")
        ));
    }
    parts.extend(data.important_context.iter().cloned());
    if !data.thinking_insights.is_empty() {
        parts.push(format!(
            "Key reasoning: {}",
            data.thinking_insights[..data.thinking_insights.len().min(3)].join("; ")
        ));
    }
    parts.push(format!("({count} messages summarized)"));
    parts.join("\n")
}

/// What the summarising model is asked to do.
const SUMMARY_PROMPT: &str = "You condense a coding session so that work can continue \
without the original messages. Write a compact summary with these parts: the user's goal, \
what has been done (files read, created or changed, commands run and their outcome), \
decisions made and why, open problems and next steps, and any preference or constraint the \
user stated. Keep names, paths, identifiers and error messages exact. Answer with the \
summary only.";

/// Longest tool result quoted to the summarising model.
const TRANSCRIPT_RESULT_CHARS: usize = 2_000;
/// Longest transcript sent to the summarising model (its end is kept).
const TRANSCRIPT_CHARS: usize = 200_000;

/// Messages as plain text for a summarising model.
pub(crate) fn transcript(messages: &[Message], result_chars: usize) -> String {
    let mut out = String::new();
    for message in messages {
        match message {
            Message::User(m) => out.push_str(&format!("User: {}\n\n", m.content.text())),
            Message::Assistant(m) => {
                for block in &m.content {
                    match block {
                        ContentBlock::Text(t) => out.push_str(&format!("Assistant: {}\n\n", t.text)),
                        ContentBlock::ToolUse(t) => out.push_str(&format!(
                            "Assistant called {} {}\n\n",
                            t.name,
                            clip(&serde_json::Value::Object(t.arguments.clone()).to_string(), result_chars)
                        )),
                        _ => {}
                    }
                }
            }
            Message::ToolResult(m) => {
                let failed = if m.is_error == Some(true) { " (failed)" } else { "" };
                out.push_str(&format!("Tool result{failed}: {}\n\n", clip(&m.content.text(), result_chars)));
            }
            Message::Unknown(_) => {}
        }
    }
    out
}

/// A summariser that asks a model, falling back to [`KeywordSummarizer`].
pub struct LlmSummarizer {
    provider: Arc<dyn Provider>,
    model: &'static ModelInfo,
}

impl std::fmt::Debug for LlmSummarizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSummarizer").field("model", &self.model.id).finish_non_exhaustive()
    }
}

impl LlmSummarizer {
    /// Summaries by `model` through `provider`.
    pub fn new(provider: Arc<dyn Provider>, model: &'static ModelInfo) -> Self {
        Self { provider, model }
    }

    async fn ask(&self, messages: &[Message]) -> Option<String> {
        let mut text = transcript(messages, TRANSCRIPT_RESULT_CHARS);
        if text.len() > TRANSCRIPT_CHARS {
            let mut cut = text.len() - TRANSCRIPT_CHARS;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text = format!("[earlier part of the session left out]\n\n{}", &text[cut..]);
        }
        let request = Request {
            model: self.model.id.to_owned(),
            system: Some(SUMMARY_PROMPT.to_owned()),
            messages: vec![Message::user(format!("Summarize this session:\n\n{text}"))],
            tools: Vec::new(),
            max_tokens: self.model.max_output.min(4_096),
            thinking_budget: None,
        };
        let mut stream = self.provider.stream(request);
        while let Some(item) = stream.next().await {
            match item {
                Ok(StreamEvent::Done { message, .. }) => {
                    let summary = message.text().trim().to_owned();
                    return (!summary.is_empty()).then_some(summary);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the summarising model failed; using the keyword summary");
                    return None;
                }
            }
        }
        None
    }
}

impl Summarizer for LlmSummarizer {
    fn summarize<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, SummaryResult> {
        Box::pin(async move {
            let keyword = KeywordSummarizer.summarize_now(messages);
            if messages.is_empty() {
                return keyword;
            }
            match self.ask(messages).await {
                Some(narrative) => SummaryResult { narrative, extracted_data: keyword.extracted_data },
                None => keyword,
            }
        })
    }
}

/// The summariser a session compacts with: the model `models.subagent` (else the session's
/// own `session_model`) through its provider, falling back to the keyword summariser; the
/// keyword summariser alone when neither model has credentials. The provider is set up the
/// first time a summary is asked for, so a prompt that does not compact pays nothing.
pub fn summarizer_for(
    settings: &Settings,
    session_model: &'static ModelInfo,
    auth_file: &Path,
    env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> Arc<dyn Summarizer> {
    let small = models::lookup(&settings.models.subagent).ok();
    Arc::new(Deferred {
        models: small.into_iter().chain([session_model]).collect(),
        auth_file: auth_file.to_owned(),
        retry: settings.retry.policy(),
        account: crate::agent::setup::anthropic_account(settings).map(str::to_owned),
        env: Box::new(env),
        resolved: std::sync::OnceLock::new(),
    })
}

type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// [`summarizer_for`]'s summariser, resolved on first use.
struct Deferred {
    models: Vec<&'static ModelInfo>,
    auth_file: std::path::PathBuf,
    retry: crate::core::retry::RetryPolicy,
    /// `server.anthropicAccount`.
    account: Option<String>,
    env: Box<EnvFn>,
    resolved: std::sync::OnceLock<Arc<dyn Summarizer>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let models: Vec<&str> = self.models.iter().map(|m| m.id).collect();
        f.debug_struct("Deferred").field("models", &models).finish_non_exhaustive()
    }
}

impl Deferred {
    fn resolve(&self) -> Arc<dyn Summarizer> {
        Arc::clone(self.resolved.get_or_init(|| {
            let found = crate::agent::setup::first_available(
                &self.models,
                &self.auth_file,
                &*self.env,
                &self.retry,
                self.account.as_deref(),
            );
            if let Some((provider, model)) = found {
                return Arc::new(LlmSummarizer::new(Arc::from(provider), model));
            }
            Arc::new(KeywordSummarizer)
        }))
    }
}

impl Summarizer for Deferred {
    fn summarize<'a>(&'a self, messages: &'a [Message]) -> BoxFuture<'a, SummaryResult> {
        Box::pin(async move { self.resolve().summarize(messages).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assistant_with_tool(path: &str) -> Message {
        let block: ContentBlock = serde_json::from_value(
            json!({"type":"tool_use","id":"t1","name":"Write","arguments":{"file_path": path}}),
        )
        .unwrap();
        Message::assistant(vec![block])
    }

    #[test]
    fn keyword_summaries_name_the_request_topics_files_and_tools() {
        let messages = vec![
            Message::user("Please refactor the database migrations"),
            assistant_with_tool("/src/migrate.rs"),
            Message::tool_result("t1", "written", false),
        ];
        let s = KeywordSummarizer.summarize_now(&messages);
        assert!(s.narrative.contains("refactor the database migrations"), "{}", s.narrative);
        assert!(s.narrative.contains("database"));
        assert!(s.narrative.contains("/src/migrate.rs"));
        assert!(s.narrative.contains("Tools used: Write"));
        assert!(s.narrative.ends_with("(3 messages summarized)"));
        assert_eq!(s.extracted_data.files_modified, vec!["/src/migrate.rs"]);
    }

    #[test]
    fn clipping_respects_character_boundaries() {
        assert_eq!(clip("héllo", 2), "hé...");
        assert_eq!(clip("abc", 3), "abc");
    }

    proptest::proptest! {
        #[test]
        fn keyword_summaries_never_panic_and_stay_bounded(texts in proptest::collection::vec(".{0,400}", 0..40)) {
            let messages: Vec<Message> = texts.iter().enumerate().map(|(i, t)| match i % 3 {
                0 => Message::user(t.clone()),
                1 => Message::assistant(vec![ContentBlock::Text(crate::core::content::TextBlock { text: t.clone(), extra: Default::default() })]),
                _ => Message::tool_result("t", t.clone(), false),
            }).collect();
            let s = KeywordSummarizer.summarize_now(&messages);
            proptest::prop_assert!(s.narrative.len() <= 6_000, "{}", s.narrative.len());
            proptest::prop_assert!(s.extracted_data.topics_discussed.len() <= LIST_ITEMS);
        }
    }
}

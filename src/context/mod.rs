//! The context a model call is sent with, how full it is, and compaction.
//!
//! Owns: token estimates of a session's context (system prompt + tools + the reconstructed
//! messages; the last provider-reported context window when it is still valid, else
//! characters / 4 as the TypeScript server estimates), the model's context limit (from the
//! registry), the snapshots `context.getSnapshot` / `getDetailedSnapshot` report
//! ([`manager`]), the summarisers ([`summarizer`]: a keyword one without a model and one
//! through the [`crate::llm::Provider`] trait that falls back to it), and compaction
//! ([`compaction`]): automatic when the context crosses
//! `context.compactor.triggerTokenThreshold` of the model's window, or on request;
//! persisted as `compact.boundary` then `compact.summary` (and `context.clear` as
//! `context.cleared`) with the TypeScript payload fields; and after a run when the
//! [`trigger`] asks for it (`forceAlways`, progress signals, run-count fallbacks). Also the
//! system prompt ([`prompt`]: core prompt, provider part, `SYSTEM.md` overrides, rules,
//! workspace memory and skills, each counted apart in the snapshot), the rules files
//! ([`rules`]: AGENTS.md / CLAUDE.md discovery, path-scoped rules, `rules.loaded`,
//! `rules.indexed`),
//! and the memory ledger ([`memory`]: a `memory.ledger` entry a small model writes after a run).
//!
//! Must not: rebuild messages itself (that is [`crate::events::reconstruct`]; compaction only
//! appends the events reconstruction reads, so a restarted server sends the same context),
//! shape wire frames (rpc/), or touch SQLite directly (everything goes through
//! [`crate::events::StoreHandle`]).
//!
//! One deliberate difference from the TypeScript server: it keeps the most recent turns
//! (`preserveRecentCount`) as messages in memory only, and loses them when a session is
//! reconstructed from its events. tron puts them, as text, at the end of the persisted
//! summary, so the context after a restart is the one the model saw before it.

pub mod compaction;
pub mod manager;
pub mod memory;
pub mod prompt;
pub mod rules;
pub mod summarizer;
mod tokens;
pub mod trigger;

pub use compaction::{
    auto_compact, clear, compact, compact_for_run, preview, Compaction, CompactionOutcome, ContextError,
};
pub use manager::{ContextManager, ThresholdLevel};
pub use summarizer::{
    summarizer_for, ExtractedData, KeywordSummarizer, LlmSummarizer, Summarizer, SummaryResult,
};
pub use tokens::{estimate_message_tokens, estimate_text_tokens};

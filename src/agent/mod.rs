//! The agent: runs a prompt through a model and records every step in the event store.
//!
//! Owns: the turn loop (user message -> provider stream -> assistant message -> tool calls
//! -> next call), the order in which events are persisted, and the events a run writes (the
//! TypeScript server's `message.user`, `stream.turn_start`, `message.assistant`,
//! `tool.call`, `tool.result`, `stream.turn_end`, `error.provider`, and on abort
//! `notification.interrupted`), running tool calls (read-only ones concurrently), tool
//! result limits and blobs, and aborting a run through the context's cancellation token.
//! Must not: know a provider's wire format (llm/), print or shape wire frames (cmd/, rpc/),
//! or touch SQLite directly (it goes through [`crate::events::StoreHandle`]).
//!
//! Hooks and guardrails: [`hooks`] (and its [`Gate`], the seam the turn loop and the tool
//! executor call) and [`guardrails`].
//!
//! Skills: [`skills`] (SKILL.md discovery, frontmatter, per-session activation, tool
//! denials; the system prompt they join is built in [`crate::context::prompt`]).
//!
//! Compaction: a run first calls [`crate::context::auto_compact`] (when
//! [`TurnSettings::compaction`] is set), which may persist `compact.boundary` and
//! `compact.summary` before the prompt.
//!
//! One run's setup, shared by `tron serve`, `tron chat` and subagents: [`runner`].
//! Subagents (child sessions spawned by a run's tools): [`subagents`]. Plan mode and the
//! todo list, read back from events: [`plan`].

pub mod guardrails;
pub mod hooks;
mod partial;
pub mod plan;
pub mod runner;
pub mod setup;
pub mod skills;
pub mod subagents;
mod tokens;
pub mod tool_calls;
pub mod turn;

pub use hooks::Gate;
pub use setup::{provider_for, SetupError};
pub use turn::{run_turn, Agent, AgentEvent, TurnError, TurnOutcome, TurnSettings};

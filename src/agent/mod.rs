//! The agent: runs a prompt through a model and records every step in the event store.
//!
//! Owns: the turn loop (user message -> provider stream -> assistant message -> tool calls
//! -> next call), the order in which events are persisted, and the events a run writes (the
//! TypeScript server's `message.user`, `stream.turn_start`, `message.assistant`,
//! `tool.call`, `tool.result`, `stream.turn_end`, `error.provider`). Must not: know a provider's wire format (llm/), print or shape wire
//! frames (cmd/, rpc/), or touch SQLite directly (it goes through [`crate::events::StoreHandle`]).
//!
//! Not built yet (issue 5): hooks, skills, guardrails, compaction, subagents, abort.

pub mod turn;

pub use turn::{run_turn, Agent, AgentEvent, TurnError, TurnOutcome, TurnSettings};

//! Guardrails: rules checked before every tool call, that block it, warn, or only audit.
//!
//! Owns: the rule model ([`rules`]: kinds pattern / path / resource / context / composite,
//! severities block / warn / audit, tiers core / standard / custom), the built-in rules
//! ([`builtin`], the TypeScript server's `DEFAULT_RULES` plus tron's `core.ssh-protection`),
//! rules from settings ([`custom`]: `guardrails.rules.<id>.enabled` overrides and
//! `guardrails.customRules`), evaluation ([`engine`]) and the in-memory audit log
//! ([`audit`], bounded by `guardrails.audit.maxEntries`, each entry also a tracing event).
//!
//! Core rules cannot be turned off: an override that disables one is ignored with a
//! warning, and settings cannot add or replace a core rule. A blocked call never runs; the
//! model gets `Tool execution blocked: <reason>` as an error result (see
//! [`crate::agent::hooks::Gate`], which calls [`GuardrailEngine::evaluate`]).
//!
//! Must not: run tools, touch the event store or the filesystem (evaluation is pure; the
//! caller gives the home and data directories).

pub mod audit;
pub mod builtin;
pub mod custom;
pub mod engine;
pub mod rules;

pub use audit::{AuditEntry, AuditLog};
pub use engine::{EvalContext, Evaluation, GuardrailEngine, RuleHit};
pub use rules::{Rule, RuleKind, Severity, Tier};

#[cfg(test)]
mod tests;

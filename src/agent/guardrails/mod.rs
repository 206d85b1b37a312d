//! Guardrails: rules checked before every tool call, that block it, warn, or only audit.
//!
//! Owns: the rule model ([`rules`]: kinds pattern / path / resource / context / composite,
//! severities block / warn / audit, tiers core / standard / custom), the built-in rules
//! ([`builtin`]: the TypeScript server's `DEFAULT_RULES`, `session.plan-mode` included, plus
//! tron's `core.tron-data-protection` (the whole data dir) and `core.ssh-protection`), the
//! reading of Bash commands ([`shell`]: what a command writes to, whether it wipes the
//! system), rules from settings ([`custom`]: `guardrails.rules.<id>.enabled` overrides and
//! `guardrails.customRules`), evaluation ([`engine`]) and the audit log ([`audit`]: in
//! memory per run, bounded by `guardrails.audit.maxEntries`; every entry is also a tracing
//! event, and the `logs` table those land in is the durable audit log).
//!
//! Core rules cannot be turned off: an override that disables one is ignored with a
//! warning, and settings cannot add or replace a core rule. A blocked call never runs; the
//! model gets `Tool execution blocked: <reason>` as an error result (see
//! [`crate::agent::hooks::Gate`], which calls [`GuardrailEngine::evaluate`]).
//!
//! Must not: run tools, touch the event store, or write anything (the caller gives the
//! home and data directories and the session's state). Evaluation reads the filesystem only
//! to resolve symlinks in the paths it compares.

pub mod audit;
pub mod builtin;
pub mod custom;
pub mod engine;
pub mod rules;
pub mod shell;

pub use audit::{AuditEntry, AuditLog};
pub use engine::{EvalContext, Evaluation, GuardrailEngine, RuleHit};
pub use rules::{Rule, RuleKind, Severity, Tier};

#[cfg(test)]
mod tests;

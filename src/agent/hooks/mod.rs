//! Hooks: user scripts and built-in hooks run at points of a run, that can refuse a tool
//! call or a prompt.
//!
//! Owns: hook kinds ([`HookKind`]), discovery from the TypeScript server's locations and
//! file names ([`discovery`]: `<project>/.agent/hooks` then `~/.config/tron/hooks`, per
//! `hooks.projectDir` / `hooks.userDir`; files named by kind, e.g. `pre-tool-use.sh`, an
//! optional priority prefix `100-pre-tool-use.sh`), running one hook as a subprocess
//! ([`runner`]: the context as JSON on stdin and in `HOOK_CONTEXT`, a result as JSON on
//! stdout, killed at `hooks.defaultTimeoutMs`), the built-in hooks ([`builtin`]), the engine
//! ([`engine`]: one priority order for files and built-ins, blocking vs background hooks,
//! result aggregation, background tracking per session), and the seam the
//! agent calls ([`Gate`], in [`gate`]): guardrails then `PreToolUse` hooks before each
//! tool call, `PostToolUse` after, `UserPromptSubmit` before a prompt, `Stop` after a run,
//! persisting `hook.triggered` / `hook.completed` / `hook.background_started` /
//! `hook.background_completed` with the TypeScript payloads.
//!
//! Fail-open, as upstream: a hook that fails, exits non-zero, prints no JSON or times out
//! counts as `continue` (a warning is logged); only an explicit `{"action": "block"}`
//! refuses.
//!
//! Must not: touch SQLite except through [`crate::events::StoreHandle`]; print.
//!
//! When each kind runs (the TypeScript agent's order): `SessionStart` at the start of every
//! run (with `workingDirectory`), `UserPromptSubmit` before the prompt, `PreToolUse` /
//! `PostToolUse` around each tool call, `PreCompact` before an automatic compaction
//! (`currentTokens`, `targetTokens` = 70% of the window), `Stop` when the run ends however it
//! ends (`stopReason`: `completed`, `error`, `interrupted` or `blocked`; the model's own
//! reason in `data.stoppedReason`), then `SessionEnd` (`messageCount`, `toolCallCount`);
//! `SubagentStop` in the parent when a subagent completes ([`crate::agent::subagents`]).
//!
//! After an abort, `Stop`, `SessionEnd` and `SubagentStop` hooks still run (bounded by
//! their timeout, `stopReason: "interrupted"`); the hooks that guard the run are stopped by
//! it ([`gate::guards_the_run`]).
//!
//! Built-in hooks ([`builtin`]), registered in the engine beside the files and reported in
//! `hookNames` like them: `builtin:post-tool-use` (tracks the file a tool call touched; the
//! run activates path-scoped rules from it before its next model call), `builtin:pre-compact`
//! (a continuation note in the compaction summary from 80% of the target on) and
//! `builtin:memory-ledger` (the background `Stop` hook that writes the memory ledger). The
//! TypeScript server registered only the ledger (its `registerBuiltinHooks` was never called
//! by the server, and its `post-tool-use` read the path from an always-empty `data`, so it
//! never tracked anything); tron registers all three, the first two switchable with
//! `hooks.builtin.postToolUse.enabled` / `hooks.builtin.preCompact.enabled`. The TypeScript
//! `builtin:session-start` / `builtin:session-end` only logged and are not ported. A
//! session's next run waits for its background hooks ([`engine::wait_background`], as the
//! later upstream drained them before a prompt), so the ledger entry of one run never
//! interleaves with the next run's events.

pub mod builtin;
pub mod discovery;
pub mod engine;
pub mod gate;
pub mod runner;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use discovery::{discover, DiscoveredHook, HookSource};
pub use engine::{HookEngine, HookRun};
pub use gate::Gate;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookKind {
    /// Before a tool call (can block it or change its arguments).
    PreToolUse,
    /// After a tool call.
    PostToolUse,
    /// When a session starts.
    SessionStart,
    /// When a session ends.
    SessionEnd,
    /// When a run ends.
    Stop,
    /// When a subagent ends.
    SubagentStop,
    /// Before a prompt goes to the model (can refuse it).
    UserPromptSubmit,
    /// Before context compaction.
    PreCompact,
}

impl HookKind {
    /// Every kind.
    pub const ALL: [HookKind; 8] = [
        HookKind::PreToolUse,
        HookKind::PostToolUse,
        HookKind::SessionStart,
        HookKind::SessionEnd,
        HookKind::Stop,
        HookKind::SubagentStop,
        HookKind::UserPromptSubmit,
        HookKind::PreCompact,
    ];

    /// The TypeScript name (`PreToolUse`, ...), as in `hookEvent`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::PreToolUse => "PreToolUse",
            HookKind::PostToolUse => "PostToolUse",
            HookKind::SessionStart => "SessionStart",
            HookKind::SessionEnd => "SessionEnd",
            HookKind::Stop => "Stop",
            HookKind::SubagentStop => "SubagentStop",
            HookKind::UserPromptSubmit => "UserPromptSubmit",
            HookKind::PreCompact => "PreCompact",
        }
    }

    /// The kind a file stem names (lower case, `_` as `-`): `pre-tool-use` or `pre-tool`,
    /// `post-tool-use` or `post-tool`, `session-start`, `session-end`, `stop`,
    /// `subagent-stop`, `user-prompt-submit` or `user-prompt`, `pre-compact`.
    pub fn from_file_stem(stem: &str) -> Option<HookKind> {
        Some(match stem.to_lowercase().replace('_', "-").as_str() {
            "pre-tool-use" | "pre-tool" => HookKind::PreToolUse,
            "post-tool-use" | "post-tool" => HookKind::PostToolUse,
            "session-start" => HookKind::SessionStart,
            "session-end" => HookKind::SessionEnd,
            "stop" => HookKind::Stop,
            "subagent-stop" => HookKind::SubagentStop,
            "user-prompt-submit" | "user-prompt" => HookKind::UserPromptSubmit,
            "pre-compact" => HookKind::PreCompact,
            _ => return None,
        })
    }

    /// Kinds whose hooks always block (they can change what happens next), as upstream.
    pub fn forced_blocking(self) -> bool {
        matches!(self, HookKind::PreToolUse | HookKind::UserPromptSubmit | HookKind::PreCompact)
    }
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a hook asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HookAction {
    /// Go on.
    #[default]
    Continue,
    /// Stop the tool call or prompt (with a reason).
    Block,
    /// Go on with changes (`modifications`, e.g. tool arguments).
    Modify,
}

impl HookAction {
    /// `continue`, `block` or `modify` (the `result` of `hook.completed`).
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Continue => "continue",
            HookAction::Block => "block",
            HookAction::Modify => "modify",
        }
    }
}

/// A hook's answer (the TypeScript `HookResult`): `{action, reason?, message?,
/// modifications?}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookResult {
    /// What to do.
    pub action: HookAction,
    /// Why (for a block).
    pub reason: Option<String>,
    /// Extra text the hook printed.
    pub message: Option<String>,
    /// Changes (for a modify).
    pub modifications: Map<String, Value>,
}

impl HookResult {
    /// Go on.
    pub fn proceed() -> Self {
        Self::default()
    }

    /// Reads a hook's stdout: a JSON object `{action, reason, message, modifications}`
    /// (`"deny"` is read as `block`); anything else is `continue` with the text as message.
    pub fn parse(stdout: &str) -> Self {
        let text = stdout.trim();
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
            return HookResult { message: (!text.is_empty()).then(|| text.to_owned()), ..Self::default() };
        };
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let action = match s("action").as_deref() {
            Some("block" | "deny") => HookAction::Block,
            Some("modify") => HookAction::Modify,
            _ => HookAction::Continue,
        };
        HookResult {
            action,
            reason: s("reason"),
            message: s("message"),
            modifications: o.get("modifications").and_then(Value::as_object).cloned().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;

//! The rule model (the TypeScript server's guardrail types, with the same field names).

use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::engine::EvalContext;

/// What a triggered rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The call does not run.
    Block,
    /// The call runs; the warning is logged and audited.
    Warn,
    /// The call runs; the hit is only audited.
    Audit,
}

/// Whether settings can turn a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Built in, always on.
    Core,
    /// Built in (or from settings), can be disabled.
    Standard,
    /// From settings.
    Custom,
}

/// How a composite rule combines its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operator {
    /// Every child triggered.
    And,
    /// Any child triggered.
    Or,
    /// The first child did not trigger.
    Not,
}

/// A built-in check over a Bash command as [`super::shell`] reads it (tron's; settings
/// cannot ask for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellCheck {
    /// A simple command that wipes the system: recursive `rm` (or `chmod -R`, `chown -R`,
    /// `mv`, `find -delete`) of `/`, `/*`, a top-level system directory, the home or a parent
    /// of it, any `rm --no-preserve-root`, `mkfs`, `dd` onto a disk; after `sudo` and its
    /// options, in any flag order, anywhere in a command list.
    Destructive,
}

/// A context rule's condition over the call and the session.
pub type Condition = Arc<dyn Fn(&EvalContext<'_>) -> bool + Send + Sync>;

/// What a rule checks.
#[derive(Clone)]
pub enum RuleKind {
    /// Regexes over one string argument (e.g. Bash's `command`). For `command`, each
    /// simple command of it is matched too (so `^rm` also finds `cd x && rm`), and
    /// built-in rules may add [`ShellCheck`]s.
    Pattern { target_argument: String, patterns: Vec<Regex>, shell: Vec<ShellCheck> },
    /// Paths in arguments: protected locations (a trailing `/**` means "and below"; `~`
    /// is the home; relative ones are below the working directory), `..` sequences, hidden
    /// names. Paths are compared by components, after `.`/`..` and symlinks of existing
    /// parts are resolved. For the `command` argument, every place the command writes to
    /// (see [`super::shell`]) is checked against the protected paths.
    Path {
        path_arguments: Vec<String>,
        protected_paths: Vec<String>,
        block_traversal: bool,
        block_hidden: bool,
    },
    /// A numeric argument's bounds.
    Resource { target_argument: String, max_value: Option<f64>, min_value: Option<f64> },
    /// A condition over the call and the session.
    Context { condition: Condition, block_message: String },
    /// Other rules (by id) combined.
    Composite { operator: Operator, child_rules: Vec<String> },
}

impl RuleKind {
    /// The TypeScript `type` name.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Pattern { .. } => "pattern",
            RuleKind::Path { .. } => "path",
            RuleKind::Resource { .. } => "resource",
            RuleKind::Context { .. } => "context",
            RuleKind::Composite { .. } => "composite",
        }
    }
}

impl std::fmt::Debug for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One guardrail rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, e.g. `core.destructive-commands`.
    pub id: String,
    /// Display name (used in reasons).
    pub name: String,
    /// What it protects against.
    pub description: String,
    /// What happens when it triggers.
    pub severity: Severity,
    /// Whether it can be disabled.
    pub tier: Tier,
    /// Tools it applies to (empty: all).
    pub tools: Vec<String>,
    /// Higher runs first.
    pub priority: i64,
    /// On unless disabled (core rules are always on).
    pub enabled: bool,
    /// What it checks.
    pub kind: RuleKind,
}

impl Rule {
    /// Whether the rule applies to `tool`.
    pub fn applies_to(&self, tool: &str) -> bool {
        self.tools.is_empty() || self.tools.iter().any(|t| t == tool)
    }
}

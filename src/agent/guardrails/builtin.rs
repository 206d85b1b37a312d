//! The built-in rules: the TypeScript server's `DEFAULT_RULES` (same ids, names,
//! descriptions, tools, priorities, patterns and messages, `session.plan-mode` included),
//! plus tron's own core rules and coverage:
//!
//! - `core.tron-data-protection`: no writes anywhere in tron's data directory (`~/.tron`,
//!   and `TRON_DATA_DIR` when it moves it): settings, rules, skills, `SYSTEM.md`, mods (the
//!   APNS key), credentials, the database. Reading stays allowed. Upstream protected only
//!   `app/`, `db/` and `auth.json` (those rules are kept, so their messages still come
//!   first for those places).
//! - `core.ssh-protection`: no writes into `~/.ssh`.
//! - `core.destructive-commands` also reads the command ([`ShellCheck::Destructive`]): a
//!   recursive `rm` of `/`, `/*`, a system directory, the home (`~`, `$HOME`, `${HOME}`) or
//!   everything in it, with the flags in any order or split (`-fr`, `-r -f`, `-R`,
//!   `--recursive --force`), any `--no-preserve-root`, behind `sudo` and its options, after
//!   `;`, `&&`, `||`, `|` or a newline; `mkfs`, `dd` onto a disk.
//! - Bash commands are checked against protected paths by what they write to (see
//!   [`super::shell`]), with `~`, `$HOME`, `${HOME}` expanded, relative paths resolved
//!   against the session's working directory, paths compared by components (upstream
//!   treated any target containing `.tron` as protected, which blocked a project's own
//!   `.tron/SYSTEM.md`; tron does not).
//!
//! tron keeps its database in `db/`, the TypeScript server in `database/`; both are
//! protected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;

use super::engine::{EvalContext, GuardrailEngine};
use super::rules::{Rule, RuleKind, Severity, ShellCheck, Tier};

/// Ids of the core rules (they cannot be disabled, and settings cannot define one).
pub const CORE_RULE_IDS: &[&str] = &[
    "core.destructive-commands",
    "core.tron-no-delete",
    "core.tron-app-protection",
    "core.tron-db-protection",
    "core.tron-auth-protection",
    "core.synology-drive-protection",
    "core.tron-data-protection",
    "core.ssh-protection",
];

/// Tools plan mode blocks when the session names none (the TypeScript
/// `planModeBlockedTools` default).
pub const PLAN_MODE_BLOCKED_TOOLS: [&str; 3] = ["Write", "Edit", "Bash"];

/// The core rules alone, for the process's home and data directory (read once): what
/// still applies when a caller runs an agent without a gate.
pub fn core_engine() -> &'static GuardrailEngine {
    static CORE: std::sync::OnceLock<GuardrailEngine> = std::sync::OnceLock::new();
    CORE.get_or_init(|| {
        let paths = crate::settings::Paths::from_env();
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| paths.data_dir.parent().unwrap_or(Path::new("/")).to_owned());
        let rules =
            default_rules(&home, &paths.data_dir).into_iter().filter(|r| r.tier == Tier::Core).collect();
        GuardrailEngine::new(rules, &home, None).with_data_dir(&paths.data_dir)
    })
}

/// Whether `id` names a core rule.
pub fn is_core(id: &str) -> bool {
    CORE_RULE_IDS.contains(&id)
}

fn regexes(patterns: &[&str]) -> Vec<Regex> {
    patterns.iter().map(|p| Regex::new(p).expect("built-in patterns compile")).collect()
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

fn core(id: &str, name: &str, description: &str, tools: &[&str], kind: RuleKind) -> Rule {
    Rule {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        severity: Severity::Block,
        tier: Tier::Core,
        tools: tools.iter().map(|t| (*t).to_owned()).collect(),
        priority: 1000,
        enabled: true,
        kind,
    }
}

fn protect(paths: Vec<PathBuf>) -> RuleKind {
    let mut protected = Vec::new();
    for p in paths {
        protected.push(show(&p));
        protected.push(format!("{}/**", show(&p)));
    }
    protected.dedup();
    RuleKind::Path {
        path_arguments: vec!["file_path".into(), "path".into(), "command".into()],
        protected_paths: protected,
        block_traversal: false,
        block_hidden: false,
    }
}

/// Every built-in rule, for a user whose home is `home` and whose tron data lives in
/// `data_dir`.
pub fn default_rules(home: &Path, data_dir: &Path) -> Vec<Rule> {
    let tron = home.join(".tron");
    let mut tron_dirs = vec![tron.clone()];
    if data_dir != tron {
        tron_dirs.push(data_dir.to_owned());
    }
    let each = |sub: &[&str]| -> Vec<PathBuf> {
        tron_dirs.iter().flat_map(|d| sub.iter().map(move |s| d.join(s))).collect()
    };
    let mut no_delete = vec![r"(?i)rm\s+.*~/\.tron".to_owned(), r"(?i)rm\s+.*\$HOME/\.tron".to_owned()];
    no_delete.push(r"(?i)trash\s+.*~/\.tron".to_owned());
    for dir in &tron_dirs {
        let literal = regex::escape(&show(dir));
        no_delete.push(format!(r"(?i)rm\s+.*{literal}"));
        no_delete.push(format!(r"(?i)trash\s+.*{literal}"));
    }
    let no_delete: Vec<&str> = no_delete.iter().map(String::as_str).collect();
    let synology = home.join("Library").join("CloudStorage").join("SynologyDrive-SynologyDrive");
    let write_tools = ["Write", "Edit", "Bash"];
    vec![
        core(
            "core.destructive-commands",
            "Destructive Commands",
            "Blocks extremely dangerous shell commands that could destroy the system",
            &["Bash"],
            RuleKind::Pattern {
                shell: vec![ShellCheck::Destructive],
                target_argument: "command".into(),
                patterns: regexes(&[
                    r"(?i)^(sudo\s+)?rm\s+(-rf?|--force)\s+/\s*$",
                    r"(?i)^(sudo\s+)?rm\s+-rf?\s+/\s*$",
                    r"(?i)(sudo\s+)?rm\s+-rf?\s+/\*",
                    r"^:\(\)\s*\{\s*:\|\s*:\s*&\s*\}\s*;\s*:",
                    r"(?i)(sudo\s+)?dd\s+if=.*of=/dev/[sh]d[a-z]",
                    r"(?i)>\s*/dev/[sh]d[a-z]",
                    r"(?i)^(sudo\s+)?mkfs\.",
                    r"(?i)^(sudo\s+)?chmod\s+777\s+/\s*$",
                    r"(?i)^sudo\s+rm\s+-rf?\s+/(usr|var|etc|boot|bin|sbin|lib)\b",
                ]),
            },
        ),
        core(
            "core.tron-no-delete",
            "Tron No Delete",
            "Prevents deletion of any files in ~/.tron directory",
            &["Bash"],
            RuleKind::Pattern {
                target_argument: "command".into(),
                patterns: regexes(&no_delete),
                shell: Vec::new(),
            },
        ),
        core(
            "core.tron-app-protection",
            "Tron App Protection",
            "Protects the ~/.tron/app directory from agent modifications",
            &write_tools,
            protect(each(&["app"])),
        ),
        core(
            "core.tron-db-protection",
            "Tron DB Protection",
            "Protects the ~/.tron/db directory from agent modifications",
            &write_tools,
            protect(each(&["database", "db"])),
        ),
        core(
            "core.tron-auth-protection",
            "Tron Auth Protection",
            "Protects the ~/.tron/auth.json file from agent modifications",
            &write_tools,
            RuleKind::Path {
                path_arguments: vec!["file_path".into(), "path".into(), "command".into()],
                protected_paths: each(&["auth.json"]).iter().map(|p| show(p)).collect(),
                block_traversal: false,
                block_hidden: false,
            },
        ),
        core(
            "core.synology-drive-protection",
            "Synology Drive Protection",
            "Protects Synology Drive cloud storage from agent modifications",
            &write_tools,
            protect(vec![synology]),
        ),
        core(
            "core.tron-data-protection",
            "Tron Data Protection",
            "Protects tron's data directory (~/.tron or TRON_DATA_DIR: settings, rules, skills, \
             SYSTEM.md, mods, credentials, database) from agent modifications",
            &write_tools,
            protect(tron_dirs.clone()),
        ),
        core(
            "core.ssh-protection",
            "SSH Protection",
            "Protects ~/.ssh (keys, authorized_keys, config) from agent modifications",
            &write_tools,
            protect(vec![home.join(".ssh")]),
        ),
        Rule {
            id: "path.traversal".into(),
            name: "Path Traversal".into(),
            description: "Blocks path traversal sequences (..) in file paths".into(),
            severity: Severity::Block,
            tier: Tier::Standard,
            tools: vec!["Write".into(), "Edit".into(), "Read".into()],
            priority: 800,
            enabled: true,
            kind: RuleKind::Path {
                path_arguments: vec!["file_path".into(), "path".into()],
                protected_paths: Vec::new(),
                block_traversal: true,
                block_hidden: false,
            },
        },
        Rule {
            id: "path.hidden-mkdir".into(),
            name: "Hidden Directory Creation".into(),
            description: "Blocks creation of hidden directories via mkdir".into(),
            severity: Severity::Block,
            tier: Tier::Standard,
            tools: vec!["Bash".into()],
            priority: 700,
            enabled: true,
            // As upstream: for `command` only protected paths are checked, and there are
            // none, so this rule never triggers.
            kind: RuleKind::Path {
                path_arguments: vec!["command".into()],
                protected_paths: Vec::new(),
                block_traversal: false,
                block_hidden: true,
            },
        },
        Rule {
            id: "bash.timeout".into(),
            name: "Bash Timeout Limit".into(),
            description: "Enforces maximum timeout for bash commands (10 minutes)".into(),
            severity: Severity::Block,
            tier: Tier::Standard,
            tools: vec!["Bash".into()],
            priority: 500,
            enabled: true,
            kind: RuleKind::Resource {
                target_argument: "timeout".into(),
                max_value: Some(600_000.0),
                min_value: None,
            },
        },
        Rule {
            id: "session.plan-mode".into(),
            name: "Plan Mode Restrictions".into(),
            description: "Blocks Write/Edit/Bash tools during plan mode".into(),
            severity: Severity::Block,
            tier: Tier::Standard,
            tools: Vec::new(),
            priority: 600,
            enabled: true,
            kind: RuleKind::Context {
                condition: Arc::new(plan_mode_blocks),
                block_message: "Tool blocked during plan mode. Exit plan mode to use this tool.".into(),
            },
        },
    ]
}

/// `session.plan-mode`'s condition: the session is in plan mode and the tool is one it
/// blocks (the tools named when it was entered, else [`PLAN_MODE_BLOCKED_TOOLS`]).
fn plan_mode_blocks(ctx: &EvalContext<'_>) -> bool {
    let Some(plan) = ctx.plan_mode else { return false };
    if plan.blocked_tools.is_empty() {
        PLAN_MODE_BLOCKED_TOOLS.contains(&ctx.tool_name)
    } else {
        plan.blocked_tools.iter().any(|t| t == ctx.tool_name)
    }
}

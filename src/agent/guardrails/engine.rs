//! Evaluating a tool call against the rules (the TypeScript `GuardrailEngine`'s semantics).
//!
//! Applicable rules (their `tools` name the call's tool, or are empty) are checked from the
//! highest priority down; every one is checked even after a block, so the audit shows all
//! hits. The first block gives the reason; warnings are collected; audit hits are only
//! recorded.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use regex::Regex;
use serde::Serialize;
use serde_json::{json, Value};

use super::audit::AuditLog;
use super::builtin::is_core;
use super::rules::{Operator, Rule, RuleKind, Severity, Tier};
use crate::core::wire::JsonObject;

/// The call being checked.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The tool's name (`Bash`, `Write`, ...).
    pub tool_name: &'a str,
    /// Its arguments.
    pub arguments: &'a JsonObject,
    /// The session's working directory (relative paths resolve against it).
    pub working_directory: &'a Path,
    /// The session, for the audit log.
    pub session_id: Option<&'a str>,
    /// The call, for the audit log.
    pub tool_call_id: Option<&'a str>,
}

/// One rule's verdict (only triggered ones are kept).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleHit {
    /// The rule.
    pub rule_id: String,
    /// Always true in an evaluation's list.
    pub triggered: bool,
    /// The rule's severity.
    pub severity: Severity,
    /// Why, for the model and the log.
    pub reason: String,
    /// What matched.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

/// The verdict over every applicable rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Whether the call must not run.
    pub blocked: bool,
    /// Why (the first blocking rule's reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    /// Every rule that triggered.
    pub triggered_rules: Vec<RuleHit>,
    /// Whether a warn rule triggered.
    pub has_warnings: bool,
    /// The warn rules' reasons.
    pub warnings: Vec<String>,
    /// When it was evaluated.
    pub timestamp: String,
    /// How long it took.
    pub duration_ms: u64,
}

/// The rules, the settings' overrides and the audit log.
#[derive(Debug)]
pub struct GuardrailEngine {
    /// By priority, highest first.
    rules: Vec<Rule>,
    /// `guardrails.rules.<id>.enabled` (core rules are not in here).
    overrides: HashMap<String, bool>,
    audit: Option<AuditLog>,
    home: PathBuf,
    /// What settings asked for that was refused or could not be used.
    warnings: Vec<String>,
}

impl GuardrailEngine {
    /// An engine with `rules` (core-tier rules must have a core id), the user's home for `~`.
    pub fn new(rules: Vec<Rule>, home: &Path, audit: Option<AuditLog>) -> Self {
        let mut engine = GuardrailEngine {
            rules: Vec::new(),
            overrides: HashMap::new(),
            audit,
            home: home.to_owned(),
            warnings: Vec::new(),
        };
        for rule in rules {
            engine.register(rule);
        }
        engine
    }

    /// Adds (or replaces) a rule. A rule claiming the core tier without a core id, or one
    /// that would replace a core rule, is refused with a warning.
    pub fn register(&mut self, rule: Rule) {
        if rule.tier == Tier::Core && !is_core(&rule.id) {
            self.warn(format!(
                "guardrail rule {:?} cannot be core (only built-in rules are); ignored",
                rule.id
            ));
            return;
        }
        if let Some(i) = self.rules.iter().position(|r| r.id == rule.id) {
            if self.rules[i].tier == Tier::Core && rule.tier != Tier::Core {
                self.warn(format!(
                    "guardrail rule {:?} is a core rule and cannot be replaced; ignored",
                    rule.id
                ));
                return;
            }
            self.rules.remove(i);
        }
        let at = self.rules.iter().position(|r| r.priority < rule.priority).unwrap_or(self.rules.len());
        self.rules.insert(at, rule);
    }

    /// Applies `guardrails.rules.<id>.enabled`; core rules stay on (with a warning).
    pub fn set_enabled(&mut self, id: &str, enabled: bool) {
        if is_core(id) {
            if !enabled {
                self.warn(format!(
                    "guardrails.rules.{id}.enabled=false is ignored: core rules cannot be disabled"
                ));
            }
            return;
        }
        self.overrides.insert(id.to_owned(), enabled);
    }

    /// Records a settings problem (also logged).
    pub(crate) fn warn(&mut self, message: String) {
        tracing::warn!(target: "tron::guardrails", "{message}");
        self.warnings.push(message);
    }

    /// What settings asked for that was refused or could not be used.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The rules, highest priority first.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The audit log, when auditing is on.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Whether the rule `id` is on (core rules always are).
    pub fn is_enabled(&self, id: &str) -> bool {
        let Some(rule) = self.rules.iter().find(|r| r.id == id) else { return false };
        if rule.tier == Tier::Core {
            return true;
        }
        self.overrides.get(id).copied().unwrap_or(rule.enabled)
    }

    /// Checks one call; the result is audited.
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Evaluation {
        let started = Instant::now();
        let mut eval = Evaluation {
            blocked: false,
            block_reason: None,
            triggered_rules: Vec::new(),
            has_warnings: false,
            warnings: Vec::new(),
            timestamp: crate::events::now_iso(),
            duration_ms: 0,
        };
        for rule in self.rules.iter().filter(|r| r.applies_to(ctx.tool_name)) {
            if !self.is_enabled(&rule.id) {
                continue;
            }
            let Some(hit) = self.check(rule, ctx, 0) else { continue };
            match hit.severity {
                Severity::Block if !eval.blocked => {
                    eval.blocked = true;
                    eval.block_reason = Some(hit.reason.clone());
                }
                Severity::Warn => eval.warnings.push(hit.reason.clone()),
                _ => {}
            }
            eval.triggered_rules.push(hit);
        }
        eval.has_warnings = !eval.warnings.is_empty();
        eval.duration_ms = started.elapsed().as_millis() as u64;
        if let Some(audit) = &self.audit {
            audit.record(ctx, &eval);
        }
        eval
    }

    /// `rule`'s hit, if it triggers (`depth` bounds composite nesting).
    fn check(&self, rule: &Rule, ctx: &EvalContext<'_>, depth: usize) -> Option<RuleHit> {
        let hit = |reason: String, details: Value| RuleHit {
            rule_id: rule.id.clone(),
            triggered: true,
            severity: rule.severity,
            reason,
            details,
        };
        match &rule.kind {
            RuleKind::Pattern { target_argument, patterns } => {
                let value = ctx.arguments.get(target_argument)?.as_str()?;
                let matched = patterns.iter().find(|p| p.is_match(value))?;
                Some(hit(
                    format!("{}: Potentially destructive command pattern detected", rule.name),
                    json!({ "matchedPattern": matched.as_str() }),
                ))
            }
            RuleKind::Path { path_arguments, protected_paths, block_traversal, block_hidden } => {
                for arg in path_arguments {
                    let Some(value) = ctx.arguments.get(arg).and_then(Value::as_str) else { continue };
                    if arg == "command" {
                        if command_touches(value, protected_paths, &self.home) {
                            let shown: String = value.chars().take(200).collect();
                            return Some(hit(
                                format!("{}: Command would modify protected path", rule.name),
                                json!({ "command": shown }),
                            ));
                        }
                        continue;
                    }
                    if *block_traversal && value.contains("..") {
                        return Some(hit(
                            format!("{}: Path traversal not allowed", rule.name),
                            json!({ "path": value }),
                        ));
                    }
                    if *block_hidden
                        && Path::new(value).file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    {
                        return Some(hit(
                            format!("{}: Hidden paths not allowed", rule.name),
                            json!({ "path": value }),
                        ));
                    }
                    let expanded = expand_tilde(value, &self.home);
                    let absolute = normalize(&ctx.working_directory.join(expanded));
                    for protected in protected_paths {
                        if within(&absolute, &protected_root(protected, &self.home)) {
                            return Some(hit(
                                format!("{}: Cannot modify protected path", rule.name),
                                json!({ "path": value, "protectedPath": protected }),
                            ));
                        }
                    }
                }
                None
            }
            RuleKind::Resource { target_argument, max_value, min_value } => {
                let value = ctx.arguments.get(target_argument)?.as_f64()?;
                if let Some(max) = max_value.filter(|m| value > *m) {
                    return Some(hit(
                        format!("{}: Value {} exceeds maximum {}", rule.name, num(value), num(max)),
                        json!({ "value": value, "maxValue": max }),
                    ));
                }
                let min = min_value.filter(|m| value < *m)?;
                Some(hit(
                    format!("{}: Value {} below minimum {}", rule.name, num(value), num(min)),
                    json!({ "value": value, "minValue": min }),
                ))
            }
            RuleKind::Context { condition, block_message } => {
                condition(ctx).then(|| hit(block_message.clone(), Value::Null))
            }
            RuleKind::Composite { operator, child_rules } => {
                if depth > 8 {
                    return None;
                }
                let children: Vec<bool> = child_rules
                    .iter()
                    .filter_map(|id| self.rules.iter().find(|r| &r.id == id))
                    .map(|child| self.check(child, ctx, depth + 1).is_some())
                    .collect();
                let triggered = match operator {
                    Operator::And => !children.is_empty() && children.iter().all(|t| *t),
                    Operator::Or => children.iter().any(|t| *t),
                    Operator::Not => children.first().is_some_and(|t| !t),
                };
                triggered.then(|| {
                    hit(
                        format!("Composite rule {} triggered", rule.name),
                        json!({ "childRules": child_rules }),
                    )
                })
            }
        }
    }
}

/// A number as JavaScript prints it (`600000`, `1.5`).
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn expand_tilde(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix('~') {
        Some("") => home.to_owned(),
        Some(rest) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(p),
    }
}

/// A protected path without its trailing `**`, `~` expanded, normalised.
fn protected_root(protected: &str, home: &Path) -> PathBuf {
    let trimmed = protected.strip_suffix("**").unwrap_or(protected);
    let trimmed = trimmed.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(trimmed);
    normalize(&expand_tilde(trimmed, home))
}

/// `p` with `.` and `..` resolved lexically (no filesystem access).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether `path` is `root` or below it.
fn within(path: &Path, root: &Path) -> bool {
    path == root || path.starts_with(root)
}

/// Whether a shell command writes to (or removes) something under a protected path: the
/// targets of `>`/`>>`, `tee`, `cp`/`mv` destinations and `rm` (the TypeScript heuristic).
fn command_touches(command: &str, protected: &[String], home: &Path) -> bool {
    static WRITES: std::sync::OnceLock<Vec<Regex>> = std::sync::OnceLock::new();
    let writes = WRITES.get_or_init(|| {
        [
            r">>\s*([^\s;|&]+)",
            r">\s*([^\s;|&]+)",
            r"tee\s+(?:-a\s+)?([^\s;|&]+)",
            r"(?:cp|mv)\s+[^\s]+\s+([^\s;|&]+)",
            r"rm\s+(?:-rf?\s+)?([^\s;|&]+)",
        ]
        .iter()
        .map(|p| Regex::new(p).expect("compiles"))
        .collect()
    });
    for protected in protected {
        let root = protected_root(protected, home);
        let root_text = root.display().to_string();
        for re in writes {
            for cap in re.captures_iter(command) {
                let Some(target) = cap.get(1).map(|m| m.as_str()) else { continue };
                let expanded = expand_tilde(target, home);
                let target_path = if expanded.is_absolute() { normalize(&expanded) } else { expanded };
                if target_path.display().to_string().starts_with(&root_text) {
                    return true;
                }
                // As upstream, a write to anything named `.tron` counts for the tron rules.
                if root_text.contains("/.tron") && target.contains(".tron") {
                    return true;
                }
            }
        }
    }
    false
}

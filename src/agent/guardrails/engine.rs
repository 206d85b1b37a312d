//! Evaluating a tool call against the rules (the TypeScript `GuardrailEngine`'s semantics).
//!
//! Applicable rules (their `tools` name the call's tool, or are empty) are checked from the
//! highest priority down; every one is checked even after a block, so the audit shows all
//! hits. The first block gives the reason; warnings are collected; audit hits are only
//! recorded. A Bash command is read once per evaluation ([`super::shell`]) for every rule
//! that looks at it.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};

use super::audit::AuditLog;
use super::builtin::is_core;
use super::rules::{Operator, Rule, RuleKind, Severity, ShellCheck, Tier};
use super::shell::{self, names, normalize, Loc, ShellEnv, Simple, Target};
use crate::agent::plan::PlanMode;
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
    /// The session's plan mode, when it is in one (the TypeScript `sessionState`).
    pub plan_mode: Option<&'a PlanMode>,
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
    /// tron's data directory (`$TRON_DATA_DIR` in commands).
    data_dir: Option<PathBuf>,
    /// The protected paths with their symlinks resolved, as first seen (they are checked
    /// on every call; the agent cannot change them).
    real_roots: std::sync::Mutex<HashMap<PathBuf, Option<PathBuf>>>,
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
            data_dir: None,
            real_roots: Default::default(),
            warnings: Vec::new(),
        };
        for rule in rules {
            engine.register(rule);
        }
        engine
    }

    /// Names tron's data directory (what `$TRON_DATA_DIR` is in a command).
    pub fn with_data_dir(mut self, data_dir: &Path) -> Self {
        self.data_dir = Some(data_dir.to_owned());
        self
    }

    /// Whether an enabled context rule applies to `tool` (the caller then gives the
    /// session's state, e.g. its plan mode).
    pub fn needs_session_state(&self, tool: &str) -> bool {
        self.rules.iter().any(|r| {
            matches!(r.kind, RuleKind::Context { .. }) && r.applies_to(tool) && self.is_enabled(&r.id)
        })
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
        let scratch = Scratch::default();
        for rule in self.rules.iter().filter(|r| r.applies_to(ctx.tool_name)) {
            if !self.is_enabled(&rule.id) {
                continue;
            }
            let Some(hit) = self.check(rule, ctx, &scratch, 0) else { continue };
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

    /// The simple commands of a Bash `command`, read once per evaluation.
    fn commands<'s>(&self, ctx: &EvalContext<'_>, command: &str, scratch: &'s Scratch) -> &'s [Simple] {
        scratch.commands.get_or_init(|| {
            let env =
                ShellEnv { home: &self.home, cwd: ctx.working_directory, data_dir: self.data_dir.as_deref() };
            shell::analyze(command, &env)
        })
    }

    /// `rule`'s hit, if it triggers (`depth` bounds composite nesting).
    fn check(&self, rule: &Rule, ctx: &EvalContext<'_>, scratch: &Scratch, depth: usize) -> Option<RuleHit> {
        let hit = |reason: String, details: Value| RuleHit {
            rule_id: rule.id.clone(),
            triggered: true,
            severity: rule.severity,
            reason,
            details,
        };
        match &rule.kind {
            RuleKind::Pattern { target_argument, patterns, shell } => {
                let value = ctx.arguments.get(target_argument)?.as_str()?;
                let destructive = |details: Value| {
                    hit(format!("{}: Potentially destructive command pattern detected", rule.name), details)
                };
                if let Some(matched) = patterns.iter().find(|p| p.is_match(value)) {
                    return Some(destructive(json!({ "matchedPattern": matched.as_str() })));
                }
                if target_argument != "command" {
                    return None;
                }
                let commands = self.commands(ctx, value, scratch);
                for simple in commands {
                    if let Some(matched) = patterns.iter().find(|p| p.is_match(&simple.text)) {
                        return Some(destructive(
                            json!({ "matchedPattern": matched.as_str(), "matchedCommand": simple.text }),
                        ));
                    }
                }
                if shell.contains(&ShellCheck::Destructive) {
                    if let Some((simple, why)) =
                        commands.iter().find_map(|s| s.destructive.as_ref().map(|why| (s, why)))
                    {
                        return Some(destructive(json!({ "matchedCommand": simple.text, "why": why })));
                    }
                }
                None
            }
            RuleKind::Path { path_arguments, protected_paths, block_traversal, block_hidden } => {
                let roots: Vec<PathBuf> = protected_paths
                    .iter()
                    .map(|p| protected_root(p, &self.home, ctx.working_directory))
                    .collect();
                for arg in path_arguments {
                    let Some(value) = ctx.arguments.get(arg).and_then(Value::as_str) else { continue };
                    if arg == "command" {
                        if roots.is_empty() {
                            continue;
                        }
                        let commands = self.commands(ctx, value, scratch);
                        let touched = commands.iter().flat_map(|s| &s.writes).find_map(|target| {
                            roots
                                .iter()
                                .position(|root| self.touches(target, root, scratch))
                                .map(|i| (target, i))
                        });
                        if let Some((target, i)) = touched {
                            let shown: String = value.chars().take(200).collect();
                            let path = match &target.loc {
                                Loc::Path(p) => p.display().to_string(),
                                Loc::Below(p) => format!(".../{}", p.display()),
                            };
                            return Some(hit(
                                format!("{}: Command would modify protected path", rule.name),
                                json!({ "command": shown, "path": path, "protectedPath": protected_paths[i] }),
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
                    let absolute = normalize(&ctx.working_directory.join(expand_home(value, &self.home)));
                    let target = Target { loc: Loc::Path(absolute), recursive: false };
                    if let Some(i) =
                        roots.iter().position(|root| self.touches_literal(&target, root, scratch))
                    {
                        return Some(hit(
                            format!("{}: Cannot modify protected path", rule.name),
                            json!({ "path": value, "protectedPath": protected_paths[i] }),
                        ));
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
                    .map(|child| self.check(child, ctx, scratch, depth + 1).is_some())
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

    /// Whether a command's write `target` reaches into `root` (globs in the target match,
    /// as the shell would expand them).
    fn touches(&self, target: &Target, root: &Path, scratch: &Scratch) -> bool {
        self.reaches(target, root, true, scratch)
    }

    /// [`Self::touches`] for a tool's path argument (taken literally, no globs).
    fn touches_literal(&self, target: &Target, root: &Path, scratch: &Scratch) -> bool {
        self.reaches(target, root, false, scratch)
    }

    /// [`real_path`] of a protected path, remembered.
    fn real_root(&self, root: &Path) -> Option<PathBuf> {
        let mut known = self.real_roots.lock().unwrap_or_else(|e| e.into_inner());
        known.entry(root.to_owned()).or_insert_with(|| real_path(root)).clone()
    }

    fn reaches(&self, target: &Target, root: &Path, glob: bool, scratch: &Scratch) -> bool {
        match &target.loc {
            Loc::Path(p) => {
                if covers(p, root, glob) || (target.recursive && leads_to(p, root, glob)) {
                    return true;
                }
                // Symlinks among the parts that exist (a link into `~/.ssh`, a data dir
                // reached through a link).
                let (real, real_root) = (scratch.real_path(p), self.real_root(root));
                let (p, root) = (real.as_deref().unwrap_or(p), real_root.as_deref().unwrap_or(root));
                covers(p, root, glob) || (target.recursive && leads_to(p, root, glob))
            }
            // Below something unknown: the tail is compared with the protected path's place
            // in the home (`$X/.ssh/key` may well be `~/.ssh/key`; `rm -r "$X"/*` is not
            // taken for a parent of everything).
            Loc::Below(tail) => match root.strip_prefix(&self.home) {
                Ok(rel) if !rel.as_os_str().is_empty() => covers(tail, rel, glob),
                _ => false,
            },
        }
    }
}

/// What one evaluation reads once for all rules.
#[derive(Default)]
struct Scratch {
    commands: OnceCell<Vec<Simple>>,
    /// [`real_path`] of each path compared so far.
    real: RefCell<HashMap<PathBuf, Option<PathBuf>>>,
}

impl Scratch {
    fn real_path(&self, p: &Path) -> Option<PathBuf> {
        if let Some(known) = self.real.borrow().get(p) {
            return known.clone();
        }
        let real = real_path(p);
        self.real.borrow_mut().insert(p.to_owned(), real.clone());
        real
    }
}

/// Whether `p` is `root` or below it, component by component (`p`'s components may be
/// globs when `glob`).
fn covers(p: &Path, root: &Path, glob: bool) -> bool {
    let (p, root) = (names(p), names(root));
    p.len() >= root.len() && root.iter().zip(&p).all(|(r, pat)| component_matches(pat, r, glob))
}

/// Whether `p` is a parent of `root` (removing or linking it reaches `root`).
fn leads_to(p: &Path, root: &Path, glob: bool) -> bool {
    let (p, root) = (names(p), names(root));
    p.len() < root.len() && p.iter().zip(&root).all(|(pat, r)| component_matches(pat, r, glob))
}

fn component_matches(pattern: &str, name: &str, glob: bool) -> bool {
    if !glob || !pattern.contains(['*', '?', '[', '{']) {
        return pattern == name;
    }
    braces(pattern).iter().any(|alt| glob_match(alt.as_bytes(), name.as_bytes()))
}

/// `a{b,c}d` as `abd`, `acd` (at most 64 alternatives).
fn braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_braces(pattern, &mut out);
    out
}

fn expand_braces(pattern: &str, out: &mut Vec<String>) {
    if out.len() >= 64 {
        return;
    }
    let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) else {
        out.push(pattern.to_owned());
        return;
    };
    if close < open {
        out.push(pattern.to_owned());
        return;
    }
    let (head, body, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    for alt in body.split(',') {
        expand_braces(&format!("{head}{alt}{tail}"), out);
    }
}

/// Shell glob matching of one name: `*`, `?`, `[...]` (`[!...]`, ranges); a leading `.`
/// is only matched by a `.`. Linear in practice (one `*` backtrack point at a time).
fn glob_match(p: &[u8], n: &[u8]) -> bool {
    if n.first() == Some(&b'.') && p.first() != Some(&b'.') {
        return false;
    }
    let (mut pi, mut ni) = (0, 0);
    // After the last `*`: where the pattern goes on, and the name position it took.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if let Some(&c) = p.get(pi) {
            let step = match c {
                b'*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                b'?' => Some(1),
                b'[' => match class(&p[pi..], n[ni]) {
                    Some((len, true)) => Some(len),
                    Some((_, false)) => None,
                    None => (n[ni] == b'[').then_some(1),
                },
                c => (c == n[ni]).then_some(1),
            };
            if let Some(len) = step {
                pi += len;
                ni += 1;
                continue;
            }
        }
        match star {
            Some((after, taken)) => {
                pi = after;
                ni = taken + 1;
                star = Some((after, taken + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// A `[...]` class at the start of `p`: its length and whether `c` is in it (`None`: no
/// closing `]`, so a literal `[`).
fn class(p: &[u8], c: u8) -> Option<(usize, bool)> {
    let end = p.iter().skip(2).position(|b| *b == b']')? + 2;
    let set = &p[1..end];
    let (negate, set) = match set.first() {
        Some(b'!' | b'^') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut hit = false;
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == b'-' {
            hit |= (set[i]..=set[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= set[i] == c;
            i += 1;
        }
    }
    Some((end + 1, hit != negate))
}

/// `p` with the symlinks of its existing part resolved (a dangling link at the end is
/// followed too), or `None` when nothing of it exists or it is not absolute.
fn real_path(p: &Path) -> Option<PathBuf> {
    real_path_depth(p, 0)
}

fn real_path_depth(p: &Path, depth: usize) -> Option<PathBuf> {
    if !p.is_absolute() || depth > 8 {
        return None;
    }
    if let Ok(link) = std::fs::read_link(p) {
        let next = normalize(&p.parent().unwrap_or(Path::new("/")).join(link));
        return real_path_depth(&next, depth + 1).or(Some(next));
    }
    let mut rest = Vec::new();
    let mut base = p;
    loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return Some(out);
        }
        rest.push(base.file_name()?.to_owned());
        base = base.parent()?;
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

/// A tool's path with `~`, `$HOME` and `${HOME}` at its start expanded.
fn expand_home(p: &str, home: &Path) -> PathBuf {
    for prefix in ["~", "$HOME", "${HOME}"] {
        match p.strip_prefix(prefix) {
            Some("") => return home.to_owned(),
            Some(rest) if rest.starts_with('/') => return home.join(&rest[1..]),
            _ => {}
        }
    }
    PathBuf::from(p)
}

/// A protected path without its trailing `**`, `~` expanded, relative ones below `cwd`,
/// normalised.
fn protected_root(protected: &str, home: &Path, cwd: &Path) -> PathBuf {
    let trimmed = protected.strip_suffix("**").unwrap_or(protected);
    let trimmed = trimmed.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(trimmed);
    normalize(&cwd.join(expand_home(trimmed, home)))
}

#[cfg(test)]
mod glob_tests {
    use super::{braces, glob_match};

    #[test]
    fn globs_match_names_as_the_shell_does() {
        let cases = [
            ("*", "a", true),
            ("*", ".ssh", false),
            (".*", ".ssh", true),
            (".s?h", ".ssh", true),
            ("[.]ssh", ".ssh", false),
            ("*.rs", "main.rs", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[x", "[x", true),
            ("", "", true),
            ("a", "", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), n.as_bytes()), want, "{p:?} {n:?}");
        }
        // No blow-up on many stars.
        let name = "a".repeat(10_000);
        assert!(!glob_match(format!("{}b", "*a".repeat(50)).as_bytes(), name.as_bytes()));
        assert_eq!(braces("x{a,b}y{1,2}"), ["xay1", "xay2", "xby1", "xby2"]);
        assert_eq!(braces(&"{a,b}".repeat(10)).len(), 64, "bounded");
    }
}

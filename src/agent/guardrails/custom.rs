//! The engine as settings configure it: `guardrails.rules` (per-rule `enabled` overrides),
//! `guardrails.customRules` (the TypeScript `CustomGuardrailRule` shape: `id`, `type`
//! pattern / path / resource, `tier` standard / custom, `severity`, `tools`, `priority`,
//! `targetArgument`, `patterns` (regex strings), `protectedPaths`, `maxValue`; tron also
//! reads `minValue`, `name`, `description`, `enabled`, and for `type: "composite"`,
//! `operator` AND / OR / NOT and `childRules`), and `guardrails.audit` (`enabled`,
//! `maxEntries`).
//!
//! A custom rule that cannot be used (unknown type, bad regex, `tier: "core"`, a `context`
//! rule, which needs code) is skipped with a warning ([`GuardrailEngine::warnings`]).

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::audit::AuditLog;
use super::builtin::default_rules;
use super::engine::GuardrailEngine;
use super::rules::{Operator, Rule, RuleKind, Severity, Tier};

/// The engine for the settings tree `settings` (the whole tree; `guardrails` is read), for
/// a user whose home is `home` and whose tron data is in `data_dir`.
pub fn from_settings(settings: &Value, home: &Path, data_dir: &Path) -> GuardrailEngine {
    let g = settings.get("guardrails").cloned().unwrap_or(Value::Null);
    let audit_on = g.pointer("/audit/enabled").and_then(Value::as_bool).unwrap_or(true);
    let max = g.pointer("/audit/maxEntries").and_then(Value::as_u64).unwrap_or(1000) as usize;
    let mut engine =
        GuardrailEngine::new(default_rules(home, data_dir), home, audit_on.then(|| AuditLog::new(max)))
            .with_data_dir(data_dir);
    for raw in g.get("customRules").and_then(Value::as_array).into_iter().flatten() {
        match custom_rule(raw) {
            Ok(rule) => engine.register(rule),
            Err(why) => {
                let id = raw.get("id").and_then(Value::as_str).unwrap_or("?");
                engine.warn(format!("guardrails.customRules {id:?} is ignored: {why}"));
            }
        }
    }
    if let Some(rules) = g.get("rules").and_then(Value::as_object) {
        for (id, o) in rules {
            if let Some(enabled) = o.get("enabled").and_then(Value::as_bool) {
                engine.set_enabled(id, enabled);
            }
        }
    }
    engine
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// One `customRules` entry as a rule.
pub fn custom_rule(v: &Value) -> Result<Rule, String> {
    let id = v.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or("it has no `id`")?;
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    let severity = match text("severity").unwrap_or("block") {
        "block" => Severity::Block,
        "warn" => Severity::Warn,
        "audit" => Severity::Audit,
        other => return Err(format!("unknown severity {other:?} (block, warn or audit)")),
    };
    let tier = match text("tier").unwrap_or("custom") {
        "custom" => Tier::Custom,
        "standard" => Tier::Standard,
        "core" => return Err("settings cannot define core rules".into()),
        other => return Err(format!("unknown tier {other:?} (standard or custom)")),
    };
    let target = || text("targetArgument").map(str::to_owned).ok_or("it has no `targetArgument`");
    let kind = match text("type").unwrap_or("") {
        "pattern" => {
            let patterns = strings(v, "patterns")
                .iter()
                .map(|p| Regex::new(p).map_err(|e| format!("pattern {p:?} does not compile: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if patterns.is_empty() {
                return Err("it has no `patterns`".into());
            }
            RuleKind::Pattern { target_argument: target()?, patterns, shell: Vec::new() }
        }
        "path" => {
            let mut args = strings(v, "pathArguments");
            if args.is_empty() {
                args = vec!["file_path".into(), "path".into(), "command".into()];
            }
            RuleKind::Path {
                path_arguments: args,
                protected_paths: strings(v, "protectedPaths"),
                block_traversal: v.get("blockTraversal").and_then(Value::as_bool).unwrap_or(false),
                block_hidden: v.get("blockHidden").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        "resource" => RuleKind::Resource {
            target_argument: target()?,
            max_value: v.get("maxValue").and_then(Value::as_f64),
            min_value: v.get("minValue").and_then(Value::as_f64),
        },
        "composite" => RuleKind::Composite {
            operator: match text("operator").unwrap_or("") {
                "AND" => Operator::And,
                "OR" => Operator::Or,
                "NOT" => Operator::Not,
                other => return Err(format!("unknown operator {other:?} (AND, OR or NOT)")),
            },
            child_rules: strings(v, "childRules"),
        },
        "context" => return Err("context rules need code (a condition) and cannot come from settings".into()),
        other => return Err(format!("unknown type {other:?} (pattern, path, resource or composite)")),
    };
    Ok(Rule {
        id: id.to_owned(),
        name: text("name").unwrap_or(id).to_owned(),
        description: text("description").unwrap_or_default().to_owned(),
        severity,
        tier,
        tools: strings(v, "tools"),
        priority: v.get("priority").and_then(Value::as_i64).unwrap_or(0),
        enabled: v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        kind,
    })
}

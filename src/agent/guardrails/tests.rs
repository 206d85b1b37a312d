//! Unit tests: core rules, tiers and overrides, custom rules, the kinds, the audit log.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::core::wire::JsonObject;

const HOME: &str = "/home/u";

fn engine(guardrails: Value) -> GuardrailEngine {
    let mut settings = crate::settings::defaults().clone();
    settings["guardrails"] = guardrails;
    custom::from_settings(&settings, Path::new(HOME), &Path::new(HOME).join(".tron"))
}

fn check(engine: &GuardrailEngine, tool: &str, args: Value) -> Evaluation {
    let args: JsonObject = args.as_object().unwrap().clone();
    engine.evaluate(&EvalContext {
        tool_name: tool,
        arguments: &args,
        working_directory: Path::new("/work"),
        session_id: Some("sess"),
        tool_call_id: Some("call"),
    })
}

#[test]
fn core_rules_block_destructive_commands_and_protected_writes() {
    let e = engine(json!({}));
    let rm = check(&e, "Bash", json!({"command": "rm -rf /"}));
    assert!(rm.blocked);
    assert_eq!(
        rm.block_reason.as_deref(),
        Some("Destructive Commands: Potentially destructive command pattern detected")
    );
    assert_eq!(rm.triggered_rules[0].rule_id, "core.destructive-commands");
    for cmd in ["sudo rm -rf /*", "mkfs.ext4 /dev/sda1", "dd if=/dev/zero of=/dev/sda", "rm -rf ~/.tron/db"] {
        assert!(check(&e, "Bash", json!({"command": cmd})).blocked, "{cmd}");
    }
    for cmd in ["ls -la", "rm -rf ./build", "echo hi > out.txt"] {
        assert!(!check(&e, "Bash", json!({"command": cmd})).blocked, "{cmd}");
    }
    let ssh = check(&e, "Write", json!({"file_path": "~/.ssh/authorized_keys", "content": "k"}));
    assert_eq!(ssh.block_reason.as_deref(), Some("SSH Protection: Cannot modify protected path"));
    let abs = check(&e, "Edit", json!({"file_path": "/home/u/.tron/auth.json"}));
    assert_eq!(abs.triggered_rules[0].rule_id, "core.tron-auth-protection");
    let db = check(&e, "Bash", json!({"command": "echo x > /home/u/.tron/db/prod.db"}));
    assert!(db.blocked, "{db:?}");
    assert!(!check(&e, "Write", json!({"file_path": "/home/u/project/a.txt"})).blocked);
    assert!(!check(&e, "Read", json!({"file_path": "/home/u/.ssh/config"})).blocked, "reads are not writes");
}

#[test]
fn core_rules_cannot_be_disabled_but_standard_ones_can() {
    let e = engine(json!({"rules": {
        "core.destructive-commands": {"enabled": false},
        "core.ssh-protection": {"enabled": false},
        "path.traversal": {"enabled": false}
    }}));
    assert!(check(&e, "Bash", json!({"command": "rm -rf /"})).blocked);
    assert!(check(&e, "Write", json!({"file_path": "/home/u/.ssh/id_rsa"})).blocked);
    assert!(!check(&e, "Read", json!({"file_path": "../x"})).blocked);
    assert!(e
        .warnings()
        .iter()
        .any(|w| w.contains("core.destructive-commands") && w.contains("cannot be disabled")));
    let plain = engine(json!({}));
    assert_eq!(
        check(&plain, "Read", json!({"file_path": "../x"})).block_reason.as_deref(),
        Some("Path Traversal: Path traversal not allowed")
    );
}

#[test]
fn settings_cannot_add_or_replace_core_rules() {
    let e = engine(json!({"customRules": [
        {"id": "core.destructive-commands", "type": "pattern", "tier": "custom", "severity": "audit",
         "targetArgument": "command", "patterns": ["^never$"]},
        {"id": "mine", "type": "pattern", "tier": "core", "severity": "block", "targetArgument": "command", "patterns": ["x"]},
        {"id": "bad-regex", "type": "pattern", "severity": "block", "targetArgument": "command", "patterns": ["("]},
        {"id": "ctx", "type": "context", "severity": "block"}
    ]}));
    assert!(check(&e, "Bash", json!({"command": "rm -rf /"})).blocked);
    assert!(!check(&e, "Bash", json!({"command": "x"})).blocked);
    assert_eq!(e.warnings().len(), 4, "{:?}", e.warnings());
}

#[test]
fn custom_rules_of_each_severity_kind_and_composite() {
    let e = engine(json!({"customRules": [
        {"id": "no-curl", "type": "pattern", "severity": "block", "tools": ["Bash"], "targetArgument": "command", "patterns": ["\\bcurl\\b"]},
        {"id": "warn-git", "type": "pattern", "severity": "warn", "targetArgument": "command", "patterns": ["^git push"]},
        {"id": "audit-ls", "type": "pattern", "severity": "audit", "targetArgument": "command", "patterns": ["^ls"]},
        {"id": "secrets", "type": "path", "severity": "block", "protectedPaths": ["/work/secrets/**"]},
        {"id": "short", "type": "resource", "severity": "block", "targetArgument": "timeout", "minValue": 10},
        {"id": "both", "type": "composite", "operator": "AND", "severity": "warn", "childRules": ["warn-git", "audit-ls"]},
        {"id": "not-ls", "type": "composite", "operator": "NOT", "severity": "audit", "tools": ["Bash"], "childRules": ["audit-ls"]}
    ]}));
    let curl = check(&e, "Bash", json!({"command": "curl http://x"}));
    assert_eq!(
        curl.block_reason.as_deref(),
        Some("no-curl: Potentially destructive command pattern detected")
    );
    let push = check(&e, "Bash", json!({"command": "git push"}));
    assert!(!push.blocked && push.has_warnings);
    assert_eq!(push.warnings, ["warn-git: Potentially destructive command pattern detected"]);
    let ls = check(&e, "Bash", json!({"command": "ls"}));
    assert!(!ls.blocked && !ls.has_warnings);
    assert_eq!(ls.triggered_rules.iter().map(|r| r.rule_id.as_str()).collect::<Vec<_>>(), ["audit-ls"]);
    assert!(check(&e, "Write", json!({"file_path": "secrets/key.pem"})).blocked);
    assert_eq!(
        check(&e, "Bash", json!({"command": "true", "timeout": 5})).block_reason.as_deref(),
        Some("short: Value 5 below minimum 10")
    );
    assert_eq!(
        check(&e, "Bash", json!({"command": "x", "timeout": 700000})).block_reason.as_deref(),
        Some("Bash Timeout Limit: Value 700000 exceeds maximum 600000")
    );
    let not = check(&e, "Bash", json!({"command": "pwd"}));
    assert!(not.triggered_rules.iter().any(|r| r.rule_id == "not-ls"));
}

#[test]
fn context_rules_and_the_audit_log() {
    let mut e = GuardrailEngine::new(Vec::new(), Path::new(HOME), Some(AuditLog::new(2)));
    e.register(Rule {
        id: "ctx.tmp-only".into(),
        name: "Tmp only".into(),
        description: String::new(),
        severity: Severity::Block,
        tier: Tier::Custom,
        tools: Vec::new(),
        priority: 0,
        enabled: true,
        kind: RuleKind::Context {
            condition: Arc::new(|c: &EvalContext<'_>| !c.working_directory.starts_with("/tmp")),
            block_message: "only in /tmp".into(),
        },
    });
    let r = check(&e, "Write", json!({"file_path": "a", "api_token": "sekret"}));
    assert_eq!(r.block_reason.as_deref(), Some("only in /tmp"));
    check(&e, "Read", json!({"file_path": "b"}));
    check(&e, "Read", json!({"file_path": "c"}));
    let entries = e.audit().unwrap().entries();
    assert_eq!(entries.len(), 2, "bounded by maxEntries");
    assert_eq!(entries[0].id, "audit-2");
    assert_eq!(e.audit().unwrap().triggered("ctx.tmp-only").len(), 2);
    let first = check(&e, "Write", json!({"api_token": "sekret"}));
    assert!(first.blocked);
    let last = e.audit().unwrap().entries().pop().unwrap();
    assert_eq!(last.tool_arguments["api_token"], "[REDACTED]");
    assert_eq!(serde_json::to_value(&last).unwrap()["evaluation"]["blockReason"], "only in /tmp");
}

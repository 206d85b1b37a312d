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
        plan_mode: None,
    })
}

/// [`check`] with the working directory `cwd`.
fn check_in(engine: &GuardrailEngine, cwd: &str, tool: &str, args: Value) -> Evaluation {
    let args: JsonObject = args.as_object().unwrap().clone();
    engine.evaluate(&EvalContext {
        tool_name: tool,
        arguments: &args,
        working_directory: Path::new(cwd),
        session_id: Some("sess"),
        tool_call_id: Some("call"),
        plan_mode: None,
    })
}

/// The rule that blocked a Bash `command` run in `cwd`, if one did.
fn bash_blocker(e: &GuardrailEngine, cwd: &str, command: &str) -> Option<String> {
    let r = check_in(e, cwd, "Bash", json!({ "command": command }));
    r.blocked
        .then(|| r.triggered_rules.iter().find(|h| h.severity == Severity::Block).unwrap().rule_id.clone())
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
fn rm_rf_of_the_system_or_the_home_is_blocked_in_all_its_forms() {
    let e = engine(json!({"rules": {"core.destructive-commands": {"enabled": false}}}));
    let blocked = [
        "rm -rf /",
        "rm -fr /",
        "rm -r -f /",
        "rm -f -r /",
        "rm -R /",
        "rm -Rf /",
        "rm -rfv /",
        "rm --recursive --force /",
        "rm --force --recursive /",
        "rm -rf --no-preserve-root /",
        "rm --no-preserve-root -rf /",
        "rm --no-preserve-root /",
        "rm -rf -- /",
        "rm -rf /.",
        "rm -rf //",
        "rm -rf /*",
        "rm -rf / *",
        "sudo rm -rf /",
        "sudo -E rm -rf /",
        "sudo -u root rm -rf /",
        "sudo -n -E -- rm -rf /",
        "sudo env FOO=1 rm -rf /",
        "doas rm -rf /",
        "  rm -rf /",
        "\trm -rf /",
        "cd /tmp && rm -rf /",
        "true; rm -rf /",
        "false || rm -rf /",
        "echo y | rm -rf /",
        "sleep 1 & rm -rf /",
        "echo hi\nrm -rf /",
        "(rm -rf /)",
        "{ rm -rf /; }",
        "if true; then rm -rf /; fi",
        "echo $(rm -rf /)",
        "echo `rm -rf /`",
        "bash -c 'rm -rf /'",
        "sh -lc \"rm -rf /\"",
        "eval rm -rf /",
        "env rm -rf /",
        "nohup rm -rf / &",
        "timeout 10 rm -rf /",
        "nice -n 5 rm -rf /",
        "FOO=bar rm -rf /",
        "/bin/rm -rf /",
        "\\rm -rf /",
        "'rm' -rf /",
        "rm -rf ~",
        "rm -rf ~/",
        "rm -rf ~/*",
        "rm -rf ~/.*",
        "rm -rf $HOME",
        "rm -rf ${HOME}",
        "rm -rf \"$HOME\"",
        "rm -rf \"$HOME/\"",
        "rm -rf $HOME/*",
        "rm -rf /home/u",
        "rm -rf /home",
        "rm -rf /usr",
        "sudo rm -rf /etc",
        "rm -rf /Users",
        "cd / && rm -rf *",
        "cd ~ && rm -rf *",
        "cd; rm -rf ./*",
        "find / -delete",
        "find ~ -exec rm -rf {} +",
        "chmod -R 777 /",
        "sudo chown -R nobody /",
        "mv ~ /tmp/gone",
        "sudo -E mkfs.ext4 /dev/sda1",
        "mkfs.ext4 /dev/sda1",
        "sudo dd if=/dev/zero of=/dev/sda bs=1M",
        "dd if=/dev/zero of=/dev/nvme0n1",
        ":(){ :|:& };:",
    ];
    for cmd in blocked {
        assert_eq!(bash_blocker(&e, "/work", cmd).as_deref(), Some("core.destructive-commands"), "{cmd:?}");
    }
    let allowed = [
        "rm -rf ./build",
        "rm -rf build/ dist",
        "rm -rf /tmp/build",
        "rm -rf /work/target",
        "rm -f /tmp/x.log",
        "rm -r ~/project/tmp",
        "rm -rf \"$BUILD_DIR\"/*",
        "rm /",
        "git rm -r --cached .",
        "ls -la /",
        "echo 'rm -rf /' > notes.txt",
        "grep -r 'rm -rf /' docs",
        "cat > notes.md <<'EOF'\nrm -rf /\nEOF",
        "chmod -R 755 ./dist",
        "find . -name '*.o' -delete",
        "cd / && ls",
        "mv build /tmp/old-build",
        "dd if=/dev/zero of=./disk.img bs=1M count=1",
    ];
    for cmd in allowed {
        assert_eq!(bash_blocker(&e, "/work", cmd), None, "{cmd:?}");
    }
    // The upstream message and details.
    let r = check(&e, "Bash", json!({"command": "sudo -E rm -fr --no-preserve-root /"}));
    assert_eq!(
        r.block_reason.as_deref(),
        Some("Destructive Commands: Potentially destructive command pattern detected")
    );
    assert_eq!(r.triggered_rules[0].details["matchedCommand"], "sudo -E rm -fr --no-preserve-root /");
}

#[test]
fn writes_into_ssh_are_blocked_for_write_edit_and_bash_in_all_their_forms() {
    let e = engine(json!({}));
    let ssh = Some("core.ssh-protection");
    let cases: &[(&str, &str)] = &[
        ("/work", "echo k >> ~/.ssh/authorized_keys"),
        ("/work", "echo k >> $HOME/.ssh/authorized_keys"),
        ("/work", "echo k >> ${HOME}/.ssh/authorized_keys"),
        ("/work", "echo k >> \"$HOME\"/.ssh/authorized_keys"),
        ("/work", "echo k>~/.ssh/authorized_keys"),
        ("/work", "echo k 2>~/.ssh/authorized_keys"),
        ("/work", "echo k &>> ~/.ssh/authorized_keys"),
        ("/work", "echo k >| /home/u/.ssh/authorized_keys"),
        ("/work", "echo k > /home/u/./.ssh/../.ssh/authorized_keys"),
        ("/home/u", "echo k >> .ssh/authorized_keys"),
        ("/home/u/project", "echo k >> ../.ssh/authorized_keys"),
        ("/work", "cd ~ && echo k >> .ssh/authorized_keys"),
        ("/work", "cd $HOME/.ssh; echo k >> authorized_keys"),
        ("/work", "cp -f key ~/.ssh/authorized_keys"),
        ("/work", "cp -- key ~/.ssh/"),
        ("/work", "cp -t ~/.ssh key.pub"),
        ("/work", "install -m 600 key ~/.ssh/authorized_keys"),
        ("/work", "mv ~/.ssh/id_rsa /tmp/"),
        ("/work", "mv key ~/.ssh/id_rsa"),
        ("/work", "sed -i 's/a/b/' ~/.ssh/config"),
        ("/work", "sed -i.bak -e 's/a/b/' ~/.ssh/config"),
        ("/work", "sed --in-place 's/a/b/' ~/.ssh/config"),
        ("/work", "perl -pi -e 's/a/b/' ~/.ssh/config"),
        ("/work", "ln -sf /tmp/k ~/.ssh/authorized_keys"),
        ("/work", "ln -s ~/.ssh sshlink"),
        ("/work", "ln -s ~ homelink"),
        ("/work", "dd if=/tmp/k of=/home/u/.ssh/authorized_keys"),
        ("/work", "truncate -s 0 ~/.ssh/known_hosts"),
        ("/work", "touch ~/.ssh/x"),
        ("/work", "chmod 777 ~/.ssh/id_rsa"),
        ("/work", "chown -R nobody ~/.ssh"),
        ("/work", "mkdir -p ~/.ssh/new"),
        ("/work", "tee -a ~/.ssh/authorized_keys < k"),
        ("/work", "echo k | sudo tee ~/.ssh/authorized_keys"),
        ("/work", "rm -rf ~/.ssh"),
        ("/work", "rm ~/.ssh/known_hosts"),
        ("/work", "curl -o ~/.ssh/authorized_keys http://x"),
        ("/work", "wget -O ~/.ssh/authorized_keys http://x"),
        ("/work", "tar -xzf k.tgz -C ~/.ssh"),
        ("/work", "find ~/.ssh -name '*.pub' -delete"),
        ("/work", "bash -c \"echo k >> ~/.ssh/authorized_keys\""),
        ("/work", "echo $(echo k > ~/.ssh/authorized_keys)"),
        ("/work", "echo k > \"$SOMEWHERE/.ssh/authorized_keys\""),
        ("/work", "cat >> ~/.ssh/authorized_keys <<EOF\nssh-ed25519 AAAA\nEOF"),
        ("/work", "ls && cp k ~/.ssh/authorized_keys"),
        ("/work", "echo k > ~/.s?h/authorized_keys"),
        ("/work", "cp k ~/.{ssh,x}/authorized_keys"),
        ("/work", "vim ~/.ssh/config"),
        ("/work", "cd ~u && echo k >> .ssh/authorized_keys"),
        ("/work", "cd \"$(echo ~)\" && echo k >> .ssh/authorized_keys"),
        ("/work", "echo k >> /home/$USER/.ssh/authorized_keys"),
    ];
    for (cwd, cmd) in cases {
        let r = check_in(&e, cwd, "Bash", json!({ "command": cmd }));
        // (`ln -s ~ x` leads into `~/.tron` too: another core rule may come first.)
        assert!(
            r.blocked && r.triggered_rules.iter().any(|h| Some(h.rule_id.as_str()) == ssh),
            "{cmd:?} in {cwd}: {r:?}"
        );
    }
    for (tool, path) in [
        ("Write", "~/.ssh/authorized_keys"),
        ("Write", "$HOME/.ssh/authorized_keys"),
        ("Edit", "/home/u/.ssh/config"),
        ("Write", "/home/u/.ssh"),
        ("Write", "../../home/u/.ssh/id_rsa"),
    ] {
        let r = check(&e, tool, json!({"file_path": path, "content": "k"}));
        assert!(r.triggered_rules.iter().any(|h| h.rule_id == "core.ssh-protection"), "{tool} {path}: {r:?}");
    }
    let relative =
        check_in(&e, "/home/u", "Write", json!({"file_path": ".ssh/authorized_keys", "content": "k"}));
    assert_eq!(relative.block_reason.as_deref(), Some("SSH Protection: Cannot modify protected path"));
    let bash = check(&e, "Bash", json!({"command": "cp -f key ~/.ssh/authorized_keys"}));
    assert_eq!(bash.block_reason.as_deref(), Some("SSH Protection: Command would modify protected path"));
    assert_eq!(bash.triggered_rules[0].details["path"], "/home/u/.ssh/authorized_keys");

    // Reading stays allowed, and neighbours are not `~/.ssh`.
    for (cwd, cmd) in [
        ("/work", "cat ~/.ssh/id_rsa.pub"),
        ("/work", "cp ~/.ssh/id_rsa.pub /tmp/"),
        ("/work", "tar -czf backup.tgz ~/.ssh"),
        ("/work", "ssh-keygen -l -f ~/.ssh/id_ed25519"),
        ("/work", "echo k > ~/.sshx/file"),
        ("/work", "echo k > ~/.ssh.bak"),
        ("/work", "echo k > .ssh/authorized_keys"),
        ("/work", "diff ~/.ssh/config ./config > out.txt 2>&1"),
        ("/work", "ls ~/.ssh >/dev/null 2>&1"),
        ("/work", "cat <<EOF > notes.txt\necho k >> ~/.ssh/authorized_keys\nEOF"),
        ("/work", "(cd ~ && ls) && echo k > .ssh/authorized_keys"),
    ] {
        assert_eq!(bash_blocker(&e, cwd, cmd), None, "{cmd:?} in {cwd}");
    }
    assert!(!check(&e, "Read", json!({"file_path": "~/.ssh/config"})).blocked);
    assert!(!check(&e, "Write", json!({"file_path": "/home/u/.sshx/a"})).blocked);
}

#[test]
fn the_whole_tron_data_dir_is_protected_but_a_projects_own_tron_dir_is_not() {
    let e = engine(json!({"rules": {"core.tron-data-protection": {"enabled": false}}}));
    let data = Some("core.tron-data-protection");
    for (tool, path) in [
        ("Write", "~/.tron/settings.json"),
        ("Edit", "/home/u/.tron/mods/apns/config.json"),
        ("Write", "/home/u/.tron/mods/apns/AuthKey_ABC.p8"),
        ("Write", "~/.tron/rules/AGENTS.md"),
        ("Write", "~/.tron/AGENTS.md"),
        ("Write", "~/.tron/skills/evil/SKILL.md"),
        ("Write", "~/.tron/SYSTEM.md"),
        ("Write", "~/.tron/notes/x.md"),
        ("Write", "~/.tron"),
    ] {
        let r = check(&e, tool, json!({"file_path": path, "content": "x"}));
        assert_eq!(r.triggered_rules.first().map(|h| h.rule_id.as_str()), data, "{tool} {path}: {r:?}");
        assert_eq!(r.block_reason.as_deref(), Some("Tron Data Protection: Cannot modify protected path"));
    }
    // Upstream's narrower rules still come first for their places.
    let auth = check(&e, "Write", json!({"file_path": "~/.tron/auth.json", "content": "{}"}));
    assert_eq!(auth.block_reason.as_deref(), Some("Tron Auth Protection: Cannot modify protected path"));
    for cmd in [
        "echo '{}' > ~/.tron/settings.json",
        "cp evil.md ~/.tron/SYSTEM.md",
        "sed -i 's/true/false/' $HOME/.tron/settings.json",
        "mkdir -p ~/.tron/skills/evil",
        "tee ~/.tron/rules/AGENTS.md",
        "cd ~/.tron && echo x > settings.json",
        "ln -sf /tmp/evil ~/.tron/SYSTEM.md",
    ] {
        assert_eq!(bash_blocker(&e, "/work", cmd).as_deref(), data, "{cmd:?}");
    }
    // Reading is fine; a project's `.tron` is the project's.
    assert!(!check(&e, "Read", json!({"file_path": "~/.tron/settings.json"})).blocked);
    for cmd in ["cat ~/.tron/settings.json", "ls ~/.tron/skills", "grep x ~/.tron/settings.json > /tmp/out"] {
        assert_eq!(bash_blocker(&e, "/work", cmd), None, "{cmd:?}");
    }
    assert!(!check(&e, "Write", json!({"file_path": "/work/.tron/SYSTEM.md", "content": "x"})).blocked);
    assert!(!check(&e, "Write", json!({"file_path": ".tron/skills/a/SKILL.md", "content": "x"})).blocked);
    assert!(!check(&e, "Write", json!({"file_path": "/home/u/.tronx/a", "content": "x"})).blocked);
    for cmd in [
        "echo x > .tron/SYSTEM.md",
        "mkdir -p .tron/skills",
        "cp a.md ./.tron/rules/AGENTS.md",
        "echo x > ~/.tron.bak",
    ] {
        assert_eq!(bash_blocker(&e, "/work", cmd), None, "{cmd:?}");
    }

    // A data dir moved by TRON_DATA_DIR is protected too, `$TRON_DATA_DIR` included.
    let moved = custom::from_settings(crate::settings::defaults(), Path::new(HOME), Path::new("/srv/tron"));
    assert!(check(&moved, "Write", json!({"file_path": "/srv/tron/settings.json"})).blocked);
    assert_eq!(bash_blocker(&moved, "/work", "echo x > $TRON_DATA_DIR/settings.json").as_deref(), data);
    assert_eq!(bash_blocker(&moved, "/srv", "echo x > tron/skills/a.md").as_deref(), data);
    assert!(check(&moved, "Write", json!({"file_path": "~/.tron/settings.json"})).blocked);
}

#[test]
fn symlinks_into_protected_places_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(home.join(".ssh"), work.join("keys")).unwrap();
    std::os::unix::fs::symlink(home.join(".ssh/authorized_keys"), work.join("dangling")).unwrap();
    let e = custom::from_settings(crate::settings::defaults(), &home, &home.join(".tron"));
    let cwd = work.to_str().unwrap();
    let w = check_in(&e, cwd, "Write", json!({"file_path": "keys/authorized_keys", "content": "k"}));
    assert_eq!(w.block_reason.as_deref(), Some("SSH Protection: Cannot modify protected path"));
    assert!(check_in(&e, cwd, "Write", json!({"file_path": "dangling", "content": "k"})).blocked);
    assert_eq!(
        bash_blocker(&e, cwd, "echo k >> keys/authorized_keys").as_deref(),
        Some("core.ssh-protection")
    );
    assert!(!check_in(&e, cwd, "Write", json!({"file_path": "notes.txt", "content": "k"})).blocked);
}

#[test]
fn plan_mode_blocks_its_tools_as_upstream_session_plan_mode() {
    let e = engine(json!({}));
    let rule = e.rules().iter().find(|r| r.id == "session.plan-mode").unwrap();
    assert_eq!((rule.tier, rule.priority, rule.kind.name()), (Tier::Standard, 600, "context"));
    let eval = |e: &GuardrailEngine, tool: &str, plan: Option<&crate::agent::plan::PlanMode>| {
        let args: JsonObject = json!({"file_path": "a.txt", "command": "ls"}).as_object().unwrap().clone();
        e.evaluate(&EvalContext {
            tool_name: tool,
            arguments: &args,
            working_directory: Path::new("/work"),
            session_id: None,
            tool_call_id: None,
            plan_mode: plan,
        })
    };
    let default = crate::agent::plan::PlanMode { skill_name: "plan".into(), blocked_tools: Vec::new() };
    for tool in ["Write", "Edit", "Bash"] {
        assert!(e.needs_session_state(tool));
        assert_eq!(
            eval(&e, tool, Some(&default)).block_reason.as_deref(),
            Some("Tool blocked during plan mode. Exit plan mode to use this tool."),
            "{tool}"
        );
        assert!(!eval(&e, tool, None).blocked, "{tool} outside plan mode");
    }
    assert!(!eval(&e, "Read", Some(&default)).blocked);
    let named = crate::agent::plan::PlanMode {
        skill_name: "plan".into(),
        blocked_tools: vec!["NotebookEdit".into(), "Bash".into()],
    };
    assert!(eval(&e, "Bash", Some(&named)).blocked);
    assert!(eval(&e, "NotebookEdit", Some(&named)).blocked);
    assert!(!eval(&e, "Write", Some(&named)).blocked, "the session's own list replaces the default");
    // A standard rule: settings can turn it off, and then nobody needs the session state.
    let off = engine(json!({"rules": {"session.plan-mode": {"enabled": false}}}));
    assert!(!eval(&off, "Write", Some(&default)).blocked);
    assert!(!off.needs_session_state("Write"));
}

#[test]
fn without_a_gate_the_core_rules_still_apply() {
    let core = builtin::core_engine();
    assert!(core.rules().iter().all(|r| r.tier == Tier::Core));
    assert!(core.rules().iter().any(|r| r.id == "core.tron-data-protection"));
    assert!(check(core, "Bash", json!({"command": "sudo rm -fr /"})).blocked);
    assert!(!check(core, "Read", json!({"file_path": "../x"})).blocked, "no standard rules");
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
        {"id": "force", "type": "pattern", "severity": "audit", "targetArgument": "command", "patterns": ["--force\\b"]},
        {"id": "both", "type": "composite", "operator": "AND", "severity": "warn", "childRules": ["warn-git", "force"]},
        {"id": "either", "type": "composite", "operator": "OR", "severity": "audit", "tools": ["Bash"], "childRules": ["audit-ls", "force"]},
        {"id": "not-ls", "type": "composite", "operator": "NOT", "severity": "audit", "tools": ["Bash"], "childRules": ["audit-ls"]}
    ]}));
    let curl = check(&e, "Bash", json!({"command": "curl http://x"}));
    assert_eq!(
        curl.block_reason.as_deref(),
        Some("no-curl: Potentially destructive command pattern detected")
    );
    let ids = |r: &Evaluation| r.triggered_rules.iter().map(|h| h.rule_id.clone()).collect::<Vec<_>>();
    let push = check(&e, "Bash", json!({"command": "git push"}));
    assert!(!push.blocked && push.has_warnings);
    assert_eq!(push.warnings, ["warn-git: Potentially destructive command pattern detected"]);
    assert_eq!(ids(&push), ["warn-git", "not-ls"], "AND needs both children, OR one of its own");
    // AND: both children trigger on one command.
    let forced = check(&e, "Bash", json!({"command": "git push --force"}));
    assert_eq!(ids(&forced), ["warn-git", "force", "both", "either", "not-ls"]);
    assert_eq!(
        forced.warnings,
        ["warn-git: Potentially destructive command pattern detected", "Composite rule both triggered"]
    );
    // OR: either child is enough.
    let ls = check(&e, "Bash", json!({"command": "ls"}));
    assert!(!ls.blocked && !ls.has_warnings);
    assert_eq!(ids(&ls), ["audit-ls", "either"]);
    assert_eq!(ids(&check(&e, "Bash", json!({"command": "cp --force a b"}))), ["force", "either", "not-ls"]);
    assert!(ids(&check(&e, "Bash", json!({"command": "pwd"}))).iter().all(|i| i != "either" && i != "both"));
    // A pattern rule on `command` also matches each simple command (`^git push` after `cd`).
    assert_eq!(ids(&check(&e, "Bash", json!({"command": "cd repo && git push"})))[0], "warn-git");
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

mod reader {
    use std::path::Path;

    use proptest::prelude::*;

    use super::super::shell::{analyze, ShellEnv};

    fn env() -> ShellEnv<'static> {
        ShellEnv {
            home: Path::new("/home/u"),
            cwd: Path::new("/work"),
            data_dir: Some(Path::new("/home/u/.tron")),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text is read without a panic or a hang (unbalanced quotes, stray operators,
        /// unterminated here-documents and substitutions).
        #[test]
        fn any_text_is_read(command in "\\PC{0,200}") {
            let _ = analyze(&command, &env());
        }

        #[test]
        fn any_shell_like_text_is_read(command in "[a-z~$/ .;&|<>()'\"`\\\\{}*?\\[\\]!=#\n\t0-9-]{0,160}") {
            let _ = analyze(&command, &env());
        }
    }

    #[test]
    fn long_commands_are_read_in_one_pass() {
        let long = format!("echo {} > out.txt", "word ".repeat(100_000));
        let read = analyze(&long, &env());
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].program.as_deref(), Some("echo"));
    }
}

/// A library caller that runs an agent without a gate still gets the core rules: the call
/// never reaches the tool and its result is the refusal.
#[tokio::test]
async fn an_agent_without_a_gate_still_refuses_what_core_rules_refuse() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::agent::{Agent, TurnSettings};
    use crate::core::content::{ArgumentsKey, ToolUseBlock};
    use crate::core::tools::{ToolDefinition, ToolResult};
    use crate::events::{EventStore, NewSession, StoreHandle};
    use crate::llm::anthropic::{AnthropicAuth, AnthropicProvider};
    use crate::tools::{Tool, ToolContext, ToolFuture, ToolRegistry};

    /// A `Bash` that only counts its runs.
    struct Counting(Arc<AtomicUsize>);
    impl Tool for Counting {
        fn definition(&self) -> ToolDefinition {
            ToolDefinition { name: "Bash".into(), description: String::new(), parameters: JsonObject::new() }
        }
        fn execute<'a>(&'a self, _: &'a JsonObject, _: &'a ToolContext) -> ToolFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { ToolResult::text("ran") })
        }
    }

    let store = EventStore::open_in_memory().unwrap();
    let new = NewSession { working_directory: "/tmp".into(), model: "m".into(), ..Default::default() };
    let session = store.create_session(new).unwrap().0.id.into_string();
    let store = StoreHandle::spawn(store);
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tools = ToolRegistry::new();
    tools.register(Arc::new(Counting(runs.clone())));
    let provider = AnthropicProvider::new("http://127.0.0.1:9", AnthropicAuth::ApiKey("k".into()));
    let settings = TurnSettings {
        model: crate::llm::models::lookup("claude-sonnet-4-5").unwrap(),
        max_tokens: None,
        thinking_budget: None,
        system: None,
        max_turns: 1,
        run_id: None,
        model_name: None,
        user_fields: Default::default(),
        compaction: None,
        failures: Default::default(),
    };
    let ctx = ToolContext::new("/tmp");
    let agent = Agent {
        store: &store,
        provider: &provider,
        tools: &tools,
        ctx: &ctx,
        settings: &settings,
        gate: None,
        live: None,
    };
    let call = |id: &str, command: &str| ToolUseBlock {
        id: id.into(),
        name: "Bash".into(),
        arguments: json!({ "command": command }).as_object().unwrap().clone(),
        arguments_key: ArgumentsKey::Input,
        thought_signature: None,
        extra: JsonObject::new(),
    };
    let calls = [call("t_rm", "sudo rm -fr --no-preserve-root /"), call("t_ls", "ls")];
    crate::agent::tool_calls::run_calls(agent, &session, 1, &calls, &mut |_| {}).await.unwrap();

    assert_eq!(runs.load(Ordering::SeqCst), 1, "only `ls` ran");
    let results: Vec<Value> = store
        .run(move |s| s.events(&session))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type.as_str() == "tool.result")
        .map(|e| e.payload)
        .collect();
    assert_eq!(
        results[0]["content"],
        "Tool execution blocked: Destructive Commands: Potentially destructive command pattern detected"
    );
    assert_eq!(results[1]["content"], "ran");
}

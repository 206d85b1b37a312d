use std::fs;

use serde_json::json;

use super::*;
use crate::events::SessionEvent;

fn write_skill(root: &Path, name: &str, text: &str) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(SKILL_FILE), text).unwrap();
    dir
}

#[test]
fn frontmatter_subset_is_parsed() {
    let (fm, body) = parse_skill_md(
        "---\nname: \"Code Review\"\ndescription: Reviews diffs # a comment\nversion: 1.2\n\
         tags: [review, 'rust']\nautoInject: true\ndeniedTools:\n  - Bash\n  - \"Write\"\n\
         subagent: ask\nsubagentModel: claude-haiku-4-5\nunknown: x\n---\n# Title\n\nBody text.\n",
    );
    assert_eq!(fm.name.as_deref(), Some("Code Review"));
    assert_eq!(fm.description.as_deref(), Some("Reviews diffs"));
    assert_eq!(fm.version.as_deref(), Some("1.2"));
    assert_eq!(fm.tags, Some(vec!["review".to_owned(), "rust".to_owned()]));
    assert!(fm.auto_inject);
    assert_eq!(fm.denied_tools, Some(vec!["Bash".to_owned(), "Write".to_owned()]));
    assert_eq!(fm.subagent, SubagentMode::Ask);
    assert_eq!(fm.subagent_model.as_deref(), Some("claude-haiku-4-5"));
    assert_eq!(body, "# Title\n\nBody text.");

    let (fm, body) = parse_skill_md("No frontmatter here.\n");
    assert_eq!(fm, Frontmatter::default());
    assert_eq!(body, "No frontmatter here.\n");
    let (fm, _) = parse_skill_md("---\ndescription: >\n  folded\n  lines\nallowedTools: Read\n---\nx");
    assert_eq!(fm.description.as_deref(), Some("folded lines"));
    assert_eq!(fm.allowed_tools, Some(vec!["Read".to_owned()]));
    // Never closed: all content.
    assert_eq!(parse_skill_md("---\nname: x\n").0, Frontmatter::default());
}

#[test]
fn discovery_prefers_project_skills_and_reads_files() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    write_skill(&data.path().join("skills"), "shared", "---\ndescription: global one\n---\nG");
    write_skill(&data.path().join("skills"), "global-only", "# Heading\n\n---\nFirst real line.\nmore");
    let p = write_skill(&project.path().join(".claude/skills"), "shared", "---\nname: Shared\n---\nP");
    fs::write(p.join("helper.sh"), "echo").unwrap();
    write_skill(&project.path().join(".tron/skills"), "shared", "shadowed by .claude");
    fs::create_dir_all(project.path().join(".tron/skills/not-a-skill")).unwrap();
    let big = "x".repeat(MAX_SKILL_FILE_BYTES as usize + 1);
    write_skill(&project.path().join(".tron/skills"), "too-big", &big);

    let reg = SkillRegistry::discover(data.path(), &[project.path()]);
    assert_eq!(reg.names(), ["global-only", "shared"]);
    let shared = reg.get("shared").unwrap();
    assert_eq!(shared.source, SkillSource::Project);
    assert_eq!(shared.display_name, "Shared");
    assert_eq!(shared.content, "P");
    assert_eq!(shared.additional_files, ["helper.sh"]);
    assert_eq!(reg.get("global-only").unwrap().description, "First real line.");
    assert_eq!(reg.errors.len(), 1, "{:?}", reg.errors);
    assert_eq!(reg.list(Some(SkillSource::Global)).len(), 1);

    let info = reg.get("global-only").unwrap().info_json();
    assert_eq!(
        info,
        json!({"name": "global-only", "displayName": "global-only", "description": "First real line.",
               "source": "global", "autoInject": false})
    );
    let meta = shared.metadata_json();
    assert_eq!(meta["additionalFiles"], json!(["helper.sh"]));
    assert_eq!(meta["content"], "P");

    // Without a project only global skills.
    let reg = SkillRegistry::discover(data.path(), &[]);
    assert_eq!(reg.get("shared").unwrap().source, SkillSource::Global);
}

#[test]
fn mentions_skip_code_and_emails() {
    let prompt =
        "@review please, mail me@host.com\n`@inline` and ``\n```\n@fenced\n```\n(@two) @review @3x @a_b-c";
    assert_eq!(mentions(prompt), ["review", "two", "a_b-c"]);
}

fn event(id: &str, kind: &str, payload: serde_json::Value) -> SessionEvent {
    serde_json::from_value(json!({
        "id": id, "parentId": null, "sessionId": "sess_1", "workspaceId": "ws_1",
        "timestamp": "2026-01-01T00:00:00.000Z", "type": kind, "sequence": 1, "payload": payload,
    }))
    .unwrap()
}

#[test]
fn session_skills_replay_added_removed_and_clears() {
    let events = [
        event("e1", "skill.added", json!({"skillName": "a", "source": "global", "addedVia": "explicit"})),
        event("e2", "skill.added", json!({"skillName": "b", "source": "project", "addedVia": "mention"})),
        event("e3", "skill.removed", json!({"skillName": "a", "removedVia": "manual"})),
    ];
    let s = SessionSkills::from_events(&events);
    assert_eq!(s.active.len(), 1);
    assert_eq!(
        s.active[0],
        ActiveSkill {
            name: "b".into(),
            source: "project".into(),
            added_via: "mention".into(),
            event_id: "e2".into()
        }
    );
    assert_eq!(s.removed, ["a"]);
    assert!(s.has("b") && !s.has("a"));
    let mut more = events.to_vec();
    more.push(event("e4", "compact.boundary", json!({})));
    assert_eq!(SessionSkills::from_events(&more), SessionSkills::default());
    more.push(event(
        "e5",
        "skill.added",
        json!({"skillName": "a", "source": "global", "addedVia": "explicit"}),
    ));
    let s = SessionSkills::from_events(&more);
    assert!(s.has("a") && s.removed.is_empty());
}

#[test]
fn skills_block_and_denials() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("skills");
    write_skill(&root, "nobash", "---\ndeniedTools: [Bash]\n---\nNo shell.");
    write_skill(&root, "readonly", "---\nallowedTools: [Read, Grep]\nsubagent: yes\n---\nOnly look.");
    write_skill(&root, "polite", "---\nallowedTools: [Read]\nsubagent: ask\n---\nBe polite.");
    let reg = SkillRegistry::discover(data.path(), &[]);
    let all: Vec<&Skill> = reg.list(None);
    let available: Vec<String> = ["Read", "Write", "Bash", "Grep"].map(String::from).to_vec();
    assert_eq!(denied_tools(&all, &available), ["Bash", "Write"]);
    let block = skills_block(&all);
    assert!(block.starts_with("<skills>\n<skill name=\"nobash\">"), "{block}");
    assert!(block.contains("not available: Bash"));
    assert!(block.contains("Only these tools are available for this skill: Read, Grep"));
    assert!(block.contains("Prefer these tools for this skill: Read"));
    assert!(block.contains("whether @polite should run"));
    assert!(block.ends_with("</skills>"));
    assert_eq!(skills_block(&[]), "");
    assert!(removed_block(&["x".into()]).contains("@x"));
}

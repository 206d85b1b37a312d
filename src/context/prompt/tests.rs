use std::fs;

use super::*;

#[test]
fn overrides_project_before_global_and_size_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let (wd, root, data) = (tmp.path().join("repo/wd"), tmp.path().join("repo"), tmp.path().join("data"));
    for d in [&wd, &root, &data.join("rules")] {
        fs::create_dir_all(d).unwrap();
    }
    assert!(find_override(&[&wd, &root], &data).is_none());
    fs::write(data.join("rules/SYSTEM.md"), "global rules-dir").unwrap();
    assert_eq!(find_override(&[&wd, &root], &data).unwrap().1, "global rules-dir");
    fs::write(data.join("SYSTEM.md"), "global").unwrap();
    assert_eq!(find_override(&[&wd, &root], &data).unwrap().1, "global");
    fs::create_dir_all(root.join(".tron")).unwrap();
    fs::write(root.join(".tron/SYSTEM.md"), "root project").unwrap();
    assert_eq!(find_override(&[&wd, &root], &data).unwrap().1, "root project");
    fs::create_dir_all(wd.join(".claude")).unwrap();
    fs::write(wd.join(".claude/SYSTEM.md"), "x".repeat(MAX_OVERRIDE_BYTES as usize + 1)).unwrap();
    assert_eq!(find_override(&[&wd, &root], &data).unwrap().1, "root project", "too big: skipped");
    fs::write(wd.join(".claude/SYSTEM.md"), "wd project").unwrap();
    assert_eq!(find_override(&[&wd, &root], &data).unwrap().1, "wd project");
}

#[test]
fn parts_come_in_order_and_empty_ones_are_left_out() {
    let p = SystemPrompt {
        core: CORE_PROMPT.into(),
        provider: provider_part(ProviderKind::OpenAi).into(),
        working_dir: "/w".into(),
        rules: "<!-- Rules: AGENTS.md (project) -->\nR".into(),
        memory: String::new(),
        skills: "<skills>S</skills>".into(),
        removed_skills: String::new(),
        tasks: String::new(),
    }
    .build();
    let at = |s: &str| p.find(s).unwrap_or_else(|| panic!("{s} missing from {p}"));
    assert!(at("You are Tron") < at("apply_patch"));
    assert!(at("apply_patch") < at("Current working directory: /w"));
    assert!(at("/w") < at("# Project rules") && at("# Project rules") < at("<skills>"));
    assert!(!p.contains("removed-skills"));
    assert!(!p.contains("# Tasks"), "no task section without open tasks");
    let with = SystemPrompt::with_tasks(p.clone(), "Active: 1 pending");
    assert!(
        with.starts_with(&p)
            && with.ends_with(
                "# Tasks\n\nThe persistent task list (the TaskManager tool changes it):\n\nActive: 1 pending"
            )
    );
    let bare = SystemPrompt { core: "C".into(), working_dir: "/w".into(), ..Default::default() }.build();
    assert_eq!(bare, "C\n\nCurrent working directory: /w");
    for kind in ProviderKind::ALL {
        assert!(!provider_part(kind).is_empty());
    }
}

use serde_json::json;

use super::*;
use crate::events::{EventStore, NewSession, OpenMode};

fn store() -> (tempfile::TempDir, EventStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path().join("prod.db"), OpenMode::Create).unwrap();
    (dir, store)
}

fn task(store: &EventStore, title: &str) -> Task {
    store.create_task(&NewTask { title: title.into(), ..Default::default() }).unwrap()
}

fn activity(store: &EventStore, id: &str) -> Vec<(String, Option<String>)> {
    let mut rows: Vec<_> =
        store.task_activity(id, 100).unwrap().into_iter().map(|a| (a.action, a.detail)).collect();
    rows.reverse();
    rows
}

#[test]
fn create_sets_defaults_ids_timestamps_and_activity() {
    let (_dir, s) = store();
    let (session, _) = s
        .create_session(NewSession {
            working_directory: "/w".into(),
            model: "m".into(),
            ..Default::default()
        })
        .unwrap();
    let t = s
        .create_task(&NewTask {
            title: "Fix login".into(),
            status: Some("in_progress".into()),
            tags: Some(vec!["auth".into()]),
            session_id: Some(session.id.to_string()),
            workspace_id: Some(session.workspace_id.to_string()),
            ..Default::default()
        })
        .unwrap();
    assert!(t.id.starts_with("task_") && t.id.len() == 17, "{}", t.id);
    assert_eq!(
        (t.status.as_str(), t.priority.as_str(), t.source.as_str()),
        ("in_progress", "medium", "agent")
    );
    assert_eq!(t.started_at.as_deref(), Some(t.created_at.as_str()));
    assert!(t.created_at.ends_with('Z') && t.created_at.len() == 24, "{}", t.created_at);
    assert_eq!(t.sort_order, Number::from(1));
    assert_eq!(t.last_session_id, t.created_by_session_id);
    assert_eq!(task(&s, "second").sort_order, Number::from(2));
    assert_eq!(activity(&s, &t.id), vec![("created".into(), Some("Created: Fix login".into()))]);
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["tags"], json!(["auth"]));
    assert_eq!(v["actualMinutes"], json!(0));
    assert!(v.get("parentTaskId").unwrap().is_null());
    // An unknown status is refused and writes nothing.
    let bad =
        s.create_task(&NewTask { title: "x".into(), status: Some("done".into()), ..Default::default() });
    assert!(matches!(bad, Err(TaskError::Invalid(_))));
    assert_eq!(
        s.list_tasks(&TaskFilter { include_completed: true, ..Default::default() }, 50, 0).unwrap().total,
        2
    );
}

#[test]
fn update_follows_the_status_and_notes_rules() {
    let (_dir, s) = store();
    let t = task(&s, "A");
    let u = s
        .update_task(&t.id, &TaskUpdate { status: Some("in_progress".into()), ..Default::default() })
        .unwrap();
    let started = u.started_at.clone().unwrap();
    let u =
        s.update_task(&t.id, &TaskUpdate { status: Some("completed".into()), ..Default::default() }).unwrap();
    assert!(u.completed_at.is_some());
    assert_eq!(u.started_at.as_deref(), Some(started.as_str()));
    let u =
        s.update_task(&t.id, &TaskUpdate { status: Some("backlog".into()), ..Default::default() }).unwrap();
    assert!(u.completed_at.is_some(), "backlog keeps completedAt");
    s.update_task(&t.id, &TaskUpdate { status: Some("cancelled".into()), ..Default::default() }).unwrap();
    let u =
        s.update_task(&t.id, &TaskUpdate { status: Some("pending".into()), ..Default::default() }).unwrap();
    assert!(u.completed_at.is_none(), "reopening clears completedAt");
    let u = s
        .update_task(
            &t.id,
            &TaskUpdate {
                notes: Some("first".into()),
                add_tags: Some(vec!["a".into(), "b".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let u2 =
        s.update_task(&t.id, &TaskUpdate { notes: Some("second".into()), ..Default::default() }).unwrap();
    let day = &crate::events::now_iso()[..10];
    assert_eq!(u2.notes.unwrap(), format!("[{day}] first\n[{day}] second"));
    assert_eq!(u.tags, vec!["a", "b"]);
    s.update_task(
        &t.id,
        &TaskUpdate {
            title: Some(Some("B".into())),
            priority: Some(Some("high".into())),
            remove_tags: Some(vec!["a".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    let acts = activity(&s, &t.id);
    assert_eq!(
        acts.last().unwrap(),
        &("updated".to_owned(), Some("Updated: title, priority, tags".to_owned()))
    );
    assert_eq!(acts[1].0, "status_changed");
    assert_eq!(acts.iter().filter(|(a, _)| a == "note_added").count(), 2);
    assert_eq!(
        s.update_task("task_missing", &TaskUpdate::default()).unwrap_err().to_string(),
        "Task not found: task_missing"
    );
}

#[test]
fn hierarchy_is_two_levels_and_a_refusal_writes_nothing() {
    let (_dir, s) = store();
    let parent = task(&s, "parent");
    let child = s
        .create_task(&NewTask {
            title: "child".into(),
            parent_task_id: Some(parent.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let err = s
        .create_task(&NewTask {
            title: "grandchild".into(),
            parent_task_id: Some(child.id.clone()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Subtasks cannot have children (max 2-level hierarchy: project → task → subtask)"
    );
    let other = task(&s, "other");
    let err = s
        .update_task(
            &other.id,
            &TaskUpdate { parent_task_id: Some(Some(child.id.clone())), ..Default::default() },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "Cannot nest under a subtask (max 2-level hierarchy)");
    let all = s.list_tasks(&TaskFilter::default(), 50, 0).unwrap();
    assert_eq!(all.total, 3);
    let d = s.task_details(&parent.id).unwrap().unwrap();
    assert_eq!(d.subtasks.len(), 1);
    // Deleting the parent takes the subtask with it.
    assert!(s.delete_task(&parent.id).unwrap());
    assert!(s.task(&child.id).unwrap().is_none());
    assert!(!s.delete_task(&parent.id).unwrap());
}

#[test]
fn dependencies_reject_cycles_atomically() {
    let (_dir, s) = store();
    let (a, b, c) = (task(&s, "a"), task(&s, "b"), task(&s, "c"));
    s.add_task_dependency(&a.id, &b.id).unwrap();
    s.add_task_dependency(&b.id, &c.id).unwrap();
    assert_eq!(s.add_task_dependency(&c.id, &a.id).unwrap_err().to_string(), "Circular dependency detected");
    assert_eq!(s.add_task_dependency(&a.id, &a.id).unwrap_err().to_string(), "Circular dependency detected");
    // The tool's update with a cyclic edit leaves the title unchanged too.
    let edits = DependencyEdits { add_blocks: vec![a.id.clone()], ..Default::default() };
    let update = TaskUpdate { title: Some(Some("renamed".into())), ..Default::default() };
    assert!(s.update_task_with_dependencies(&c.id, &update, &edits).is_err());
    assert_eq!(s.task(&c.id).unwrap().unwrap().title, "c");
    let d = s.task_details(&b.id).unwrap().unwrap();
    assert_eq!(d.blocked_by[0].blocker_task_id, a.id);
    assert_eq!(d.blocks[0].blocked_task_id, c.id);
    assert_eq!(
        activity(&s, &b.id)[1..],
        [
            ("dependency_added".to_owned(), Some(format!("Blocked by {} (blocks)", a.id))),
            ("dependency_added".to_owned(), Some(format!("Blocks {} (blocks)", c.id))),
        ]
    );
    s.remove_task_dependency(&a.id, &b.id).unwrap();
    assert_eq!(
        activity(&s, &b.id).last().unwrap().1.as_deref(),
        Some(format!("No longer blocked by {}", a.id).as_str())
    );
    assert_eq!(task_context(&s).unwrap(), "Active: 3 pending, 1 blocked");
}

#[test]
fn list_filters_search_and_time() {
    let (_dir, s) = store();
    let a = task(&s, "Write the parser");
    let b = s
        .create_task(&NewTask {
            title: "Ship".into(),
            priority: Some("critical".into()),
            ..Default::default()
        })
        .unwrap();
    s.create_task(&NewTask {
        title: "Later".into(),
        deferred_until: Some("2999-01-01".into()),
        ..Default::default()
    })
    .unwrap();
    s.create_task(&NewTask { title: "Someday".into(), status: Some("backlog".into()), ..Default::default() })
        .unwrap();
    let list = s.list_tasks(&TaskFilter::default(), 50, 0).unwrap();
    assert_eq!(list.tasks.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["Ship", "Write the parser"]);
    let all = TaskFilter { include_deferred: true, include_backlog: true, ..Default::default() };
    assert_eq!(s.list_tasks(&all, 50, 0).unwrap().total, 4);
    assert_eq!(s.list_tasks(&all, 1, 1).unwrap().tasks.len(), 1);
    let high = TaskFilter { priority: Some(vec!["critical".into()]), ..Default::default() };
    assert_eq!(s.list_tasks(&high, 50, 0).unwrap().tasks[0].id, b.id);
    assert_eq!(s.search_tasks("parser", 10).unwrap()[0].id, a.id);
    assert!(s.search_tasks("\"unterminated", 10).is_err());
    let t = s.log_task_time(&a.id, &Number::from(30), None, None).unwrap();
    assert_eq!(t.actual_minutes, Number::from(30));
    assert_eq!(activity(&s, &a.id).last().unwrap().1.as_deref(), Some("Logged 30min"));
}

#[test]
fn projects_and_areas() {
    let (_dir, s) = store();
    let area = s
        .create_area(&NewArea {
            title: "Security".into(),
            description: Some("Patch".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(
        area.id.starts_with("area_") && area.workspace_id == "default" && area.sort_order == Number::from(1)
    );
    assert_eq!(
        s.create_area(&NewArea { title: " ".into(), ..Default::default() }).unwrap_err().to_string(),
        "Area title is required"
    );
    let p = s
        .create_project(&NewProject {
            title: "Auth".into(),
            area_id: Some(area.id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(p.id.starts_with("proj_"));
    let t = s
        .create_task(&NewTask { title: "t1".into(), project_id: Some(p.id.clone()), ..Default::default() })
        .unwrap();
    s.update_task(&t.id, &TaskUpdate { status: Some("completed".into()), ..Default::default() }).unwrap();
    task(&s, "loose");
    let d = s.project_details(&p.id).unwrap().unwrap();
    assert_eq!((d.project.task_count, d.project.completed_task_count, d.tasks.len()), (1, 1, 1));
    assert_eq!(d.area.unwrap().title, "Security");
    let u = s
        .update_project(
            &p.id,
            &ProjectUpdate { status: Some(Some("completed".into())), ..Default::default() },
        )
        .unwrap();
    assert!(u.completed_at.is_some());
    let counts = s.area_with_counts(&area.id).unwrap().unwrap();
    assert_eq!((counts.project_count, counts.task_count), (1, 0));
    assert_eq!(task_context(&s).unwrap(), "Active: 1 pending\nAreas:\n  - Security — Patch (1 project)");
    assert!(s.delete_project(&p.id).unwrap());
    assert_eq!(s.task(&t.id).unwrap().unwrap().project_id, None);
    assert!(s.delete_area(&area.id).unwrap());
    assert_eq!(s.list_areas(&AreaFilter::default(), 50, 0).unwrap().total, 0);
    assert_eq!(
        s.update_area("area_x", &AreaUpdate::default()).unwrap_err().to_string(),
        "Area not found: area_x"
    );
}

#[test]
fn rows_written_the_typescript_way_read_back() {
    let (_dir, s) = store();
    assert!(task_context(&s).is_none());
    s.connection()
        .execute_batch(
            "INSERT INTO areas (id, workspace_id, title, status, tags, sort_order, created_at, updated_at, metadata)
               VALUES ('area_0123456789ab', 'default', 'Ops', 'active', '[\"x\"]', 1.0,
                       '2025-01-31T12:34:56.789Z', '2025-01-31T12:34:56.789Z', '{}');
             INSERT INTO tasks (id, title, status, priority, source, tags, created_at, updated_at,
                 estimated_minutes, actual_minutes, sort_order, area_id)
               VALUES ('task_0123456789ab', 'From TS', 'in_progress', 'high', 'user', 'not json',
                       '2025-01-31T12:34:56.789Z', '2025-01-31T12:34:56.789Z', 60, 12.5, 1, 'area_0123456789ab');",
        )
        .unwrap();
    let t = s.task("task_0123456789ab").unwrap().unwrap();
    assert!(t.tags.is_empty());
    assert_eq!(serde_json::to_value(&t).unwrap()["actualMinutes"], json!(12.5));
    let a = s.area_with_counts("area_0123456789ab").unwrap().unwrap();
    assert_eq!(serde_json::to_value(&a).unwrap()["sortOrder"], json!(1));
    assert_eq!(a.active_task_count, 1);
    assert_eq!(
        task_context(&s).unwrap(),
        "Active: 1 in progress\nIn Progress:\n  - [task_0123456789ab] From TS (P:high, 12.5/60min)\nAreas:\n  - Ops (1 active task)"
    );
}

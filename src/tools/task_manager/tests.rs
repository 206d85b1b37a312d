use super::*;
use crate::events::NewSession;

fn call(store: &EventStore, session: &str, args: Value) -> (String, bool) {
    let r = run(store, session, args.as_object().unwrap());
    (r.text_content(), r.failed())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap()
}

#[test]
fn every_action_answers_with_the_typescript_texts() {
    let store = EventStore::open_in_memory().unwrap();
    let (session, _) = store
        .create_session(NewSession {
            working_directory: "/w".into(),
            model: "m".into(),
            ..Default::default()
        })
        .unwrap();
    let sid = session.id.to_string();
    let s = |args: Value| call(&store, &sid, args);

    for (args, want) in [
        (json!({"action": "update"}), "Error: taskId is required for update"),
        (json!({"action": "get"}), "Error: taskId is required for get"),
        (json!({"action": "log_time", "taskId": "t"}), "Error: minutes must be a positive number"),
        (json!({"action": "log_time"}), "Error: taskId is required for log_time"),
        (json!({"action": "delete"}), "Error: taskId is required for delete"),
        (json!({"action": "search"}), "Error: query is required for search"),
        (json!({"action": "create_project"}), "Error: projectTitle is required"),
        (json!({"action": "update_project"}), "Error: projectId is required"),
        (json!({"action": "get_project"}), "Error: projectId is required for get_project"),
        (json!({"action": "delete_project"}), "Error: projectId is required for delete_project"),
        (json!({"action": "create_area"}), "Error: areaTitle is required for create_area"),
        (json!({"action": "update_area"}), "Error: areaId is required for update_area"),
        (json!({"action": "get_area"}), "Error: areaId is required for get_area"),
        (json!({"action": "delete_area"}), "Error: areaId is required for delete_area"),
        (json!({"action": "get_project", "projectId": "proj_x"}), "Project not found: proj_x"),
        (json!({"action": "delete_area", "areaId": "area_x"}), "Area not found: area_x"),
        (json!({"action": "update", "taskId": "task_x"}), "Error: Task not found: task_x"),
        (json!({"action": "log_time", "taskId": "task_x", "minutes": 5}), "Error: Task not found: task_x"),
        (json!({"action": "fly"}), "Unknown action: fly"),
    ] {
        assert_eq!(s(args.clone()), (want.to_owned(), true), "{args}");
    }
    assert_eq!(s(json!({"action": "list"})), ("No tasks found.".to_owned(), false));
    assert_eq!(s(json!({"action": "list_projects"})), ("No projects found.".to_owned(), false));
    assert_eq!(s(json!({"action": "list_areas"})), ("No areas found.".to_owned(), false));
    assert_eq!(s(json!({"action": "search", "query": "x"})), ("No tasks matching \"x\"".to_owned(), false));

    let (text, _) = s(json!({"action": "create_area", "areaTitle": "Security", "areaTags": ["sec"]}));
    let area = text.split_whitespace().nth(2).unwrap().trim_end_matches(':').to_owned();
    assert_eq!(first_line(&text), format!("Created area {area}: Security [active]"));
    assert!(
        text.contains("\n\n# Security\nID: ")
            && text.contains("\n0 projects, 0 tasks (0 active)\nTags: sec\n")
    );
    let (text, _) = s(json!({"action": "create_project", "projectTitle": "Auth", "areaId": area}));
    let project = text.split_whitespace().nth(2).unwrap().trim_end_matches(':').to_owned();
    assert_eq!(first_line(&text), format!("Created project {project}: Auth"));
    assert!(text.contains(&format!("| Status: active | 0/0 tasks\nArea: Security ({area})\n")), "{text}");

    let (text, _) = s(json!({"action": "create", "title": "Parse", "projectId": project, "areaId": area,
                             "description": "the input", "estimatedMinutes": 30}));
    let task = text.split_whitespace().nth(2).unwrap().trim_end_matches(':').to_owned();
    assert!(
        text.contains(&format!(
            "\n\nthe input\nProject: Auth ({project})\nArea: Security ({area})\nTime: 0/30min\nSource: agent\n"
        )),
        "{text}"
    );
    let (text, _) = s(json!({"action": "create", "title": "Sub", "parentTaskId": task}));
    let sub = text.split_whitespace().nth(2).unwrap().trim_end_matches(':').to_owned();
    assert!(text.contains(&format!("\nParent: {task}\n")));

    let (text, err) =
        s(json!({"action": "update", "taskId": task, "status": "in_progress", "notes": "begun"}));
    assert!(!err, "{text}");
    assert_eq!(first_line(&text), format!("Updated task {task}: Parse [in_progress]"));
    let day = &crate::events::now_iso()[..10];
    assert!(
        text.contains(&format!("\nNotes:\n[{day}] begun\n\nSubtasks (1):\n  [ ] {sub}: Sub\n")),
        "{text}"
    );
    assert!(text
        .contains(&format!("\n\nRecent activity:\n  {day}: status_changed\n  {day}: note_added - begun\n")));

    let (text, _) = s(json!({"action": "log_time", "taskId": task, "minutes": 12, "timeNote": "lexer"}));
    assert_eq!(first_line(&text), format!("Logged 12min on {task}. Total: 12min/30min"));
    let (text, _) = s(json!({"action": "search", "query": "input"}));
    assert_eq!(text, format!("Search results for \"input\" (1):\n  {task}: Parse [in_progress]"));
    let (text, _) = s(json!({"action": "list", "filter": {"projectId": project}}));
    assert_eq!(text, format!("Tasks (1/1):\n[>] {task}: Parse"));
    let (text, _) = s(json!({"action": "list_projects"}));
    assert_eq!(text, format!("Projects (1):\n  {project}: Auth [active] (0/1 tasks)"));
    let (text, _) = s(json!({"action": "list_areas"}));
    assert_eq!(text, format!("Areas (1):\n  {area}: Security [active] 1p/1t (1 active)"));
    let (text, _) = s(json!({"action": "get_project", "projectId": project}));
    assert!(text.ends_with(&format!("\n\nTasks (1):\n  [>] {task}: Parse")), "{text}");
    let (text, _) = s(json!({"action": "update_project", "projectId": project, "projectStatus": "paused"}));
    assert_eq!(first_line(&text), format!("Updated project {project}: Auth [paused]"));
    let (text, _) = s(json!({"action": "update_area", "areaId": area, "areaStatus": "archived"}));
    assert_eq!(first_line(&text), format!("Updated area {area}: Security [archived]"));
    let (text, _) = s(json!({"action": "get_area", "areaId": area}));
    assert_eq!(first_line(&text), "# Security");

    let (text, _) = s(json!({"action": "delete", "taskId": sub}));
    assert_eq!(first_line(&text), format!("Deleted task {sub}: Sub"));
    let (text, _) = s(json!({"action": "delete_project", "projectId": project}));
    assert_eq!(first_line(&text), format!("Deleted project {project}: Auth"));
    let (text, _) = s(json!({"action": "delete_area", "areaId": area}));
    assert_eq!(first_line(&text), format!("Deleted area {area}: Security"));
    let (text, _) = s(json!({"action": "get", "taskId": task}));
    assert!(!text.contains("Project:") && !text.contains("Area:") && !text.contains("Subtasks"), "{text}");
}

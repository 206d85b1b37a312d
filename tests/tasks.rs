//! The task manager end to end: the model calls `TaskManager` through a real `tron serve`
//! (mock LLM), and the iOS app's `tasks.*` / `projects.*` / `areas.*` requests over a real
//! WebSocket, against a real SQLite file.

mod common;

use common::{start, Client};
use serde_json::{json, Value};
use tron::testing::{Script, ScriptedResponse};

/// The `tool.result` payloads of `session`, by tool call id.
fn tool_results(server: &common::Server, session: &str) -> Vec<(String, String, bool)> {
    server
        .persisted(session)
        .into_iter()
        .filter(|e| e["type"] == "tool.result")
        .map(|e| {
            let p = &e["payload"];
            (
                p["toolCallId"].as_str().unwrap().to_owned(),
                p["content"].as_str().unwrap().to_owned(),
                p["isError"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Two tasks written as the TypeScript server writes them, `A` blocking `B`.
fn seed_ts_rows(server: &common::Server) {
    server
        .store()
        .connection()
        .execute_batch(
            "INSERT INTO tasks (id, title, status, priority, source, tags, created_at, updated_at, sort_order)
               VALUES ('task_aaaaaaaaaaaa', 'A', 'pending', 'medium', 'agent', '[]',
                       '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1),
                      ('task_bbbbbbbbbbbb', 'B', 'pending', 'medium', 'agent', '[]',
                       '2025-01-02T00:00:00.000Z', '2025-01-02T00:00:00.000Z', 2);
             INSERT INTO task_dependencies (blocker_task_id, blocked_task_id, relationship, created_at)
               VALUES ('task_aaaaaaaaaaaa', 'task_bbbbbbbbbbbb', 'blocks', '2025-01-02T00:00:00.000Z');",
        )
        .unwrap();
}

#[tokio::test]
async fn the_model_creates_and_lists_tasks_with_the_typescript_texts() {
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_create",
            "TaskManager",
            json!({"action": "create", "title": "Write the parser", "priority": "high",
                   "addTags": ["parser"], "estimatedMinutes": 60}),
        ),
        ScriptedResponse::tool_call("toolu_list", "TaskManager", json!({"action": "list"})),
        ScriptedResponse::tool_call(
            "toolu_cycle",
            "TaskManager",
            json!({"action": "update", "taskId": "task_aaaaaaaaaaaa", "title": "renamed",
                   "addBlockedBy": ["task_bbbbbbbbbbbb"]}),
        ),
        ScriptedResponse::tool_call("toolu_bad", "TaskManager", json!({"action": "create"})),
        ScriptedResponse::tool_call(
            "toolu_missing",
            "TaskManager",
            json!({"action": "get", "taskId": "task_nope"}),
        ),
        ScriptedResponse::text("Done."),
    ]);
    let server = start(script).await;
    seed_ts_rows(&server);
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "plan the parser"})).await;
    let complete = c.until("agent.complete").await;
    assert_eq!(complete["data"]["success"], true, "{complete}");

    // The tool was offered with its TypeScript definition.
    let first = &server.mock.requests()[0].body;
    let tool = first["tools"].as_array().unwrap().iter().find(|t| t["name"] == "TaskManager").unwrap();
    assert!(tool["description"].as_str().unwrap().starts_with("Persistent task, project, and area manager"));
    assert_eq!(tool["input_schema"]["properties"]["action"]["enum"].as_array().unwrap().len(), 17);

    // The row: in the session's workspace, created by the session.
    let store = server.store();
    let (id, workspace, created_by, created, updated): (String, String, String, String, String) = store
        .connection()
        .query_row(
            "SELECT id, workspace_id, created_by_session_id, created_at, updated_at FROM tasks
             WHERE title = 'Write the parser'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(created_by, session);
    assert_eq!(workspace, store.session(&session).unwrap().workspace_id.to_string());
    assert!(id.starts_with("task_") && id.len() == 17, "{id}");

    let results = tool_results(&server, &session);
    let text = |call: &str| results.iter().find(|r| r.0 == call).map(|r| (r.1.clone(), r.2)).unwrap();
    let day = &created[..10];
    assert_eq!(
        text("toolu_create"),
        (
            format!(
                "Created task {id}: Write the parser [pending]\n\n# Write the parser\n\
                 ID: {id} | Status: pending | Priority: high\nTime: 0/60min\nTags: parser\nSource: agent\n\
                 Created: {created}\nUpdated: {updated}\n\nRecent activity:\n  {day}: created - Created: Write the parser"
            ),
            false
        )
    );
    assert_eq!(
        text("toolu_list"),
        (
            format!(
                "Tasks (3/3):\n[ ] {id}: Write the parser (P:high)\n[ ] task_bbbbbbbbbbbb: B\n[ ] task_aaaaaaaaaaaa: A"
            ),
            false
        )
    );
    assert_eq!(text("toolu_cycle"), ("Error: Circular dependency detected".to_owned(), true));
    assert_eq!(text("toolu_bad"), ("Error: title is required for create".to_owned(), true));
    assert_eq!(text("toolu_missing"), ("Task not found: task_nope".to_owned(), true));

    // The rejected update changed nothing: same title, no new edge, no activity.
    let a = store.task("task_aaaaaaaaaaaa").unwrap().unwrap();
    assert_eq!((a.title.as_str(), a.updated_at.as_str()), ("A", "2025-01-01T00:00:00.000Z"));
    assert!(store.task_activity("task_aaaaaaaaaaaa", 10).unwrap().is_empty());
    let edges: i64 =
        store.connection().query_row("SELECT COUNT(*) FROM task_dependencies", [], |r| r.get(0)).unwrap();
    assert_eq!(edges, 1);
    assert_eq!(tron::events::tasks::task_context(&store).unwrap(), "Active: 3 pending, 1 blocked");
    server.shutdown().await;
}

#[tokio::test]
async fn rpc_round_trips_use_the_ios_field_names() {
    let server = start(Script::new([])).await;
    let mut c = Client::connect(server.addr).await;

    let task = c
        .call(
            "tasks.create",
            json!({"title": "Fix login", "priority": "high", "tags": ["auth"], "dueDate": "2030-01-01"}),
        )
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("task_"));
    for (key, want) in [
        ("title", json!("Fix login")),
        ("status", json!("pending")),
        ("priority", json!("high")),
        ("source", json!("agent")),
        ("tags", json!(["auth"])),
        ("dueDate", json!("2030-01-01")),
        ("actualMinutes", json!(0)),
        ("sortOrder", json!(1)),
        ("projectId", Value::Null),
        ("areaId", Value::Null),
        ("startedAt", Value::Null),
    ] {
        assert_eq!(task[key], want, "{key} in {task}");
    }
    let created = task["createdAt"].as_str().unwrap();
    assert!(created.len() == 24 && created.ends_with('Z'), "{created}");

    let list = c.call("tasks.list", json!({"status": "pending", "limit": 10})).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["tasks"][0]["id"], id.as_str());

    let updated = c
        .call("tasks.update", json!({"taskId": id, "status": "in_progress", "notes": "started on it"}))
        .await;
    assert_eq!(updated["status"], "in_progress");
    assert!(updated["startedAt"].is_string());
    assert!(updated["notes"].as_str().unwrap().ends_with("] started on it"));

    let got = c.call("tasks.get", json!({"taskId": id})).await;
    assert_eq!(got["title"], "Fix login");
    assert_eq!(got["subtasks"], json!([]));
    assert_eq!(got["blockedBy"], json!([]));
    assert_eq!(got["blocks"], json!([]));
    let actions: Vec<&str> =
        got["recentActivity"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["status_changed", "note_added", "created"]);
    assert_eq!(got["recentActivity"][0]["oldValue"], "pending");

    let activity = c.call("tasks.getActivity", json!({"taskId": id})).await;
    assert_eq!(activity.as_array().unwrap().len(), 3);
    let found = c.call("tasks.search", json!({"query": "login"})).await;
    assert_eq!(found[0]["id"], id.as_str());

    // Areas (RpcArea) and projects.
    let area = c.call("areas.create", json!({"title": "Security", "description": "Keep deps patched"})).await;
    assert_eq!((area["status"].clone(), area["tags"].clone()), (json!("active"), json!([])));
    let area_id = area["id"].as_str().unwrap().to_owned();
    c.call("tasks.update", json!({"taskId": id, "areaId": area_id})).await;
    let areas = c.call("areas.list", json!({"status": "active"})).await;
    assert_eq!(areas["total"], 1);
    assert_eq!(
        (areas["areas"][0]["taskCount"].clone(), areas["areas"][0]["activeTaskCount"].clone()),
        (json!(1), json!(1))
    );
    let project = c
        .call(
            "projects.create",
            json!({"projectTitle": "Auth revamp", "title": "Auth revamp", "areaId": area_id}),
        )
        .await;
    let project_id = project["id"].as_str().unwrap().to_owned();
    assert!(project_id.starts_with("proj_"));
    c.call("tasks.update", json!({"taskId": id, "projectId": project_id})).await;
    let details = c.call("projects.getDetails", json!({"projectId": project_id})).await;
    assert_eq!(
        (details["taskCount"].clone(), details["area"]["title"].clone()),
        (json!(1), json!("Security"))
    );
    assert_eq!(details["tasks"][0]["id"], id.as_str());
    let projects = c.call("projects.list", json!({})).await;
    assert_eq!(projects["projects"][0]["completedTaskCount"], 0);
    let renamed = c.call("areas.update", json!({"areaId": area_id, "status": "archived"})).await;
    assert_eq!(renamed["status"], "archived");

    assert_eq!(c.call("projects.delete", json!({"projectId": project_id})).await, json!({"success": true}));
    assert_eq!(c.call("areas.delete", json!({"areaId": area_id})).await, json!({"success": true}));
    let after = c.call("tasks.get", json!({"taskId": id})).await;
    assert_eq!((after["projectId"].clone(), after["areaId"].clone()), (Value::Null, Value::Null));
    assert_eq!(c.call("tasks.delete", json!({"taskId": id})).await, json!({"success": true}));
    assert_eq!(c.call("tasks.list", json!({})).await["total"], 0);
    let rows: i64 = server
        .store()
        .connection()
        .query_row("SELECT COUNT(*) FROM task_activity", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "activity goes with the task");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_params_give_the_typescript_errors_and_change_nothing() {
    let server = start(Script::new([])).await;
    let mut c = Client::connect(server.addr).await;
    let parent = c.call("tasks.create", json!({"title": "parent"})).await;
    let child = c.call("tasks.create", json!({"title": "child", "parentTaskId": parent["id"]})).await;
    let before = c.call("tasks.list", json!({"includeCompleted": true, "includeBacklog": true})).await;

    let e = c.fail("tasks.create", json!({"description": "no title"})).await;
    assert_eq!(
        (e["code"].clone(), e["message"].clone()),
        (json!("INVALID_PARAMS"), json!("title is required"))
    );
    let e = c.fail("tasks.update", json!({"taskId": "task_nope", "title": "x"})).await;
    assert_eq!(
        (e["code"].clone(), e["message"].clone()),
        (json!("INTERNAL_ERROR"), json!("Task not found: task_nope"))
    );
    let e = c.fail("tasks.update", json!({"title": "x"})).await;
    assert_eq!(e["message"], "taskId is required");
    let e = c.fail("tasks.create", json!({"title": "grandchild", "parentTaskId": child["id"]})).await;
    assert_eq!(
        e["message"],
        "Subtasks cannot have children (max 2-level hierarchy: project → task → subtask)"
    );
    let e = c.fail("tasks.update", json!({"taskId": parent["id"], "parentTaskId": child["id"]})).await;
    assert_eq!(e["message"], "Cannot nest under a subtask (max 2-level hierarchy)");
    let e = c.fail("tasks.update", json!({"taskId": parent["id"], "status": "finished"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("areas.create", json!({"title": "  "})).await;
    assert_eq!(e["message"], "Area title is required");
    let e = c.fail("projects.create", json!({"title": "no projectTitle"})).await;
    assert_eq!(e["message"], "projectTitle is required");
    let e = c.fail("areas.update", json!({"areaId": "area_nope", "title": "x"})).await;
    assert_eq!(e["message"], "Area not found: area_nope");
    // An unknown id on get answers an empty result; deletes always succeed.
    assert_eq!(c.call("tasks.get", json!({"taskId": "task_nope"})).await, json!({}));
    assert_eq!(c.call("tasks.delete", json!({"taskId": "task_nope"})).await, json!({"success": true}));
    // Unknown methods of the families, and the old `task.` prefix, are METHOD_NOT_FOUND.
    for method in ["tasks.nope", "projects.nope", "areas.nope", "task.list"] {
        let e = c.fail(method, json!({})).await;
        assert_eq!(e["code"], "METHOD_NOT_FOUND", "{method}: {e}");
    }

    let after = c.call("tasks.list", json!({"includeCompleted": true, "includeBacklog": true})).await;
    assert_eq!(after, before, "nothing changed");
    let areas: i64 =
        server.store().connection().query_row("SELECT COUNT(*) FROM areas", [], |r| r.get(0)).unwrap();
    assert_eq!(areas, 0);
    server.shutdown().await;
}

#[test]
fn tron_chat_offers_task_manager_too() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_1",
            "TaskManager",
            json!({"action": "create_area", "areaTitle": "Ops"}),
        ),
        ScriptedResponse::text("Made it."),
    ]);
    let mock = rt.block_on(tron::testing::MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let out = common::chat_command(&mock, &db).arg("track ops").current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, events) = common::only_session_events(&db);
    let result = events.iter().find(|(t, _)| t == "tool.result").map(|(_, p)| p.clone()).unwrap();
    assert_eq!(result["isError"], false, "{result}");
    assert!(result["content"].as_str().unwrap().starts_with("Created area area_"), "{result}");
    let store = tron::events::EventStore::open(&db, tron::events::OpenMode::Existing).unwrap();
    let areas = store.list_areas(&Default::default(), 50, 0).unwrap();
    assert_eq!(areas.areas[0].area.title, "Ops");

    // --disallowed-tools removes it.
    let script = Script::new([ScriptedResponse::text("ok")]);
    let mock = rt.block_on(tron::testing::MockLlm::start(script)).unwrap();
    let out = common::chat_command(&mock, &db)
        .args(["again", "--disallowed-tools", "TaskManager"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let offered = mock.requests()[0].body["tools"].as_array().unwrap().clone();
    assert!(offered.iter().all(|t| t["name"] != "TaskManager") && !offered.is_empty());
}

#[tokio::test]
async fn open_tasks_reach_the_next_prompts_system_prompt() {
    let server = start(Script::new([ScriptedResponse::text("Noted.")])).await;
    let mut c = Client::connect(server.addr).await;
    c.call("tasks.create", json!({"title": "Ship the release check"})).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "What is open?"})).await;
    c.until("agent.ready").await;
    let body = &server.mock.requests()[0].body;
    let system = common::system_of(body);
    assert!(system.contains("# Tasks"), "{system}");
    assert!(system.contains("Active: 1 pending"), "{system}");
}

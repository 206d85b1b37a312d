//! Plan mode and the todo list over a real server: `plan.enter` takes tools away from the
//! session's runs until `plan.exit`; `todo.*` read the session's `todo.write` snapshots and
//! the workspace's backlog (a TypeScript-written `task_backlog`) and restore from it.

mod common;

use common::{start, Client};
use serde_json::{json, Value};
use tron::events::NewEvent;
use tron::testing::{Script, ScriptedResponse};

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn plan_mode_takes_tools_away_until_it_is_exited() {
    let server =
        start(Script::new([ScriptedResponse::text("A plan."), ScriptedResponse::text("Building.")])).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let state = c.call("plan.getState", json!({"sessionId": session})).await;
    assert_eq!(state, json!({"isActive": false, "blockedTools": []}));

    let entered = c.call("plan.enter", json!({"sessionId": session, "skillName": "planner"})).await;
    assert_eq!(entered, json!({"success": true, "blockedTools": ["Write", "Edit", "Bash", "NotebookEdit"]}));
    let err = c.fail("plan.enter", json!({"sessionId": session, "skillName": "planner"})).await;
    assert_eq!(err["code"], "ALREADY_IN_PLAN_MODE");
    let state = c.call("plan.getState", json!({"sessionId": session})).await;
    assert_eq!(state["isActive"], true);
    assert_eq!(state["skillName"], "planner");

    c.call("agent.prompt", json!({"sessionId": session, "prompt": "plan it"})).await;
    c.until("agent.ready").await;
    let planning = tool_names(&server.mock.requests()[0].body);
    assert!(planning.iter().any(|t| t == "Read"), "{planning:?}");
    for gone in ["Write", "Edit", "Bash"] {
        assert!(!planning.iter().any(|t| t == gone), "{gone} offered in plan mode");
    }

    let err = c.fail("plan.exit", json!({"sessionId": session, "reason": "whatever"})).await;
    assert_eq!(err["code"], "INVALID_PARAMS");
    let exited =
        c.call("plan.exit", json!({"sessionId": session, "reason": "approved", "planPath": "PLAN.md"})).await;
    assert_eq!(exited, json!({"success": true}));
    let err = c.fail("plan.exit", json!({"sessionId": session, "reason": "approved"})).await;
    assert_eq!(err["code"], "NOT_IN_PLAN_MODE");
    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "build it"})).await;
    c.until("agent.ready").await;
    assert!(tool_names(&server.mock.requests()[1].body).iter().any(|t| t == "Bash"));

    let log = server.persisted(&session);
    let entered = log.iter().find(|e| e["type"] == "plan.mode_entered").unwrap();
    assert_eq!(entered["payload"]["skillName"], "planner");
    let exited = log.iter().find(|e| e["type"] == "plan.mode_exited").unwrap();
    assert_eq!(exited["payload"], json!({"reason": "approved", "planPath": "PLAN.md"}));
    for e in server.store().events(&session).unwrap() {
        e.typed().unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
    }
    let err = c.fail("plan.getState", json!({"sessionId": "sess_missing"})).await;
    assert_eq!(err["code"], "SESSION_NOT_FOUND");
}

#[tokio::test]
async fn todos_and_the_backlog_as_the_typescript_server_kept_them() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let store = server.store();
    let item = |id: &str, status: &str, at: &str| {
        json!({"id": id, "content": format!("Do {id}"), "activeForm": format!("Doing {id}"),
               "status": status, "source": "agent", "createdAt": at})
    };
    let todos = json!({"todos": [item("todo_b", "in_progress", "2026-01-02"), item("todo_a", "completed", "2026-01-01")],
                       "trigger": "tool"});
    store.append(&session, NewEvent::raw("todo.write", todos)).unwrap();
    let workspace = store.session(&session).unwrap().workspace_id.as_str().to_owned();
    store
        .connection()
        .execute(
            "INSERT INTO task_backlog (id, workspace_id, source_session_id, content, active_form, status, source,
               created_at, backlogged_at, backlog_reason, metadata)
             VALUES ('todo_old', ?1, ?2, 'Write docs', 'Writing docs', 'pending', 'agent',
               '2025-12-01T00:00:00.000Z', '2025-12-02T00:00:00.000Z', 'session_clear', '{\"k\": 1}')",
            [&workspace, &session],
        )
        .unwrap();

    let list = c.call("todo.list", json!({"sessionId": session})).await;
    assert_eq!(list["summary"], "1 in progress, 1 completed");
    assert_eq!(list["todos"][0]["id"], "todo_a", "ordered by creation");
    let summary = c.call("todo.getSummary", json!({"sessionId": session})).await;
    assert_eq!(summary, json!({"summary": "1 in progress, 1 completed"}));
    assert_eq!(c.call("todo.getBacklogCount", json!({"workspaceId": workspace})).await, json!({"count": 1}));
    let backlog = c.call("todo.getBacklog", json!({"workspaceId": workspace})).await;
    assert_eq!(backlog["totalCount"], 1);
    let task = &backlog["tasks"][0];
    assert_eq!(
        (task["backlogReason"].clone(), task["metadata"].clone()),
        (json!("session_clear"), json!({"k": 1}))
    );

    let restored =
        c.call("todo.restore", json!({"sessionId": session, "taskIds": ["todo_old", "todo_nope"]})).await;
    assert_eq!(restored["restoredCount"], 1);
    let new = &restored["restoredTodos"][0];
    assert_eq!((new["content"].clone(), new["status"].clone()), (json!("Write docs"), json!("pending")));
    assert_eq!(new["metadata"]["restoredFrom"], "todo_old");
    assert!(new["id"].as_str().unwrap().starts_with("todo_"));
    let pushed = c.until("agent.todos_updated").await;
    assert_eq!(pushed["data"]["restoredCount"], 1);
    assert_eq!(pushed["data"]["todos"].as_array().unwrap().len(), 3);
    let list = c.call("todo.list", json!({"sessionId": session})).await;
    assert_eq!(list["summary"], "1 pending, 1 in progress, 1 completed");
    // Restored once only; the backlog no longer counts it.
    let again = c.call("todo.restore", json!({"sessionId": session, "taskIds": ["todo_old"]})).await;
    assert_eq!(again["restoredCount"], 0);
    assert_eq!(c.call("todo.getBacklogCount", json!({"workspaceId": workspace})).await, json!({"count": 0}));
    let all = c.call("todo.getBacklog", json!({"workspaceId": workspace, "includeRestored": true})).await;
    assert_eq!(all["tasks"][0]["restoredToSessionId"], session.as_str());

    let err = c.fail("todo.restore", json!({"sessionId": session, "taskIds": []})).await;
    assert_eq!(err["code"], "INVALID_PARAMS");
    let err = c.fail("todo.list", json!({"sessionId": "sess_missing"})).await;
    assert_eq!(err["code"], "SESSION_NOT_FOUND");
    // A compaction empties the list (as the TypeScript tracker).
    store
        .append(
            &session,
            NewEvent::raw(
                "context.cleared",
                json!({"tokensBefore": 1, "tokensAfter": 0, "reason": "manual"}),
            ),
        )
        .unwrap();
    assert_eq!(c.call("todo.list", json!({"sessionId": session})).await["summary"], "no tasks");
}

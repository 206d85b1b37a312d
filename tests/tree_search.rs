//! `tree.getVisualization`, `tree.getBranches`, `tree.getSubtree` and `search.content` /
//! `search.events` over a real WebSocket against a real server and SQLite file: a session
//! with a rewound branch and a fork, checked against the TypeScript server's field names.

mod common;

use common::{start, Client};
use serde_json::{json, Value};
use tron::events::NewEvent;
use tron::testing::Script;

fn user(text: &str) -> NewEvent {
    NewEvent::raw("message.user", json!({"content": text}))
}

fn assistant(text: &str) -> NewEvent {
    NewEvent::raw("message.assistant", json!({"content": [{"type": "text", "text": text}], "turn": 1}))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn tree_methods_describe_a_rewound_and_forked_session() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let created = c.call("session.create", json!({"workingDirectory": dir})).await;
    let session = created["sessionId"].as_str().unwrap().to_owned();

    // start -> u1 -> a1 -> u2 (abandoned by a rewind to a1) ; a1 -> u3 -> a3 (head)
    let store = server.store();
    store.append(&session, user("zebra question")).unwrap();
    let a1 = store.append(&session, assistant("first answer")).unwrap();
    let u2 = store.append(&session, user("abandoned idea")).unwrap();
    store.rewind(&session, a1.id.as_str()).unwrap();
    let u3 = store.append(&session, user("better idea")).unwrap();
    let a3 = store.append(&session, assistant("giraffe answer")).unwrap();

    let tree = c.call("tree.getVisualization", json!({"sessionId": session})).await;
    assert_eq!(keys(&tree), ["headEventId", "nodes", "rootEventId", "sessionId", "totalEvents"]);
    assert_eq!(tree["sessionId"], session.as_str());
    assert_eq!(tree["headEventId"], a3.id.as_str());
    assert_eq!(tree["totalEvents"], 6);
    let nodes = tree["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    assert_eq!(
        keys(&nodes[0]),
        [
            "childCount",
            "depth",
            "hasChildren",
            "id",
            "isBranchPoint",
            "isHead",
            "parentId",
            "summary",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(nodes[0]["id"], tree["rootEventId"]);
    assert_eq!(nodes[0]["parentId"], Value::Null);
    assert_eq!(nodes[0]["summary"], "Session started");
    assert_eq!(nodes[0]["depth"], 0);
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap().clone();
    let branch_point = node(a1.id.as_str());
    assert_eq!(
        (branch_point["isBranchPoint"].clone(), branch_point["childCount"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(node(u3.id.as_str())["summary"], "better idea");
    assert_eq!(node(u3.id.as_str())["depth"], 3);
    assert_eq!(node(a3.id.as_str())["isHead"], true);
    assert_eq!(node(a3.id.as_str())["hasChildren"], false);
    assert_eq!(node(a3.id.as_str())["summary"], "Assistant response");

    let msgs = c.call("tree.getVisualization", json!({"sessionId": session, "messagesOnly": true})).await;
    assert!(msgs["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["type"].as_str().unwrap().starts_with("message.")));
    assert_eq!(msgs["nodes"].as_array().unwrap().len(), 5);
    assert_eq!(msgs["totalEvents"], 6);
    let shallow = c.call("tree.getVisualization", json!({"sessionId": session, "maxDepth": 1})).await;
    assert_eq!(shallow["nodes"].as_array().unwrap().len(), 2);

    let branches = c.call("tree.getBranches", json!({"sessionId": session})).await;
    assert_eq!(keys(&branches), ["forks", "mainBranch"]);
    let main = &branches["mainBranch"];
    assert_eq!(keys(main), ["branchPointEventId", "eventCount", "firstEventId", "isMain"]);
    assert_eq!(main["branchPointEventId"], a1.id.as_str());
    assert_eq!(main["firstEventId"], u2.id.as_str());
    assert_eq!(main["isMain"], true);
    let forks = branches["forks"].as_array().unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0]["firstEventId"], u3.id.as_str());
    assert_eq!(forks[0]["isMain"], false);
    assert_eq!(forks[0]["eventCount"], 1);

    // A fork from a1 adds a child in another session: the subtree crosses into it.
    let fork = c.call("session.fork", json!({"sessionId": session, "fromEventId": a1.id})).await;
    let fork_root = fork["rootEventId"].as_str().unwrap().to_owned();
    let sub = c.call("tree.getSubtree", json!({"eventId": a1.id})).await;
    assert_eq!(keys(&sub), ["nodes"]);
    let ids: Vec<&str> = sub["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    // The TypeScript order: the children by sequence (the fork's root is 0), then each
    // child's own descendants in turn.
    assert_eq!(ids, [fork_root.as_str(), u2.id.as_str(), u3.id.as_str(), a3.id.as_str()]);
    let full_event = &sub["nodes"][0];
    assert_eq!(
        keys(full_event),
        ["id", "parentId", "payload", "sequence", "sessionId", "timestamp", "type", "workspaceId"]
    );
    let one_level = c.call("tree.getSubtree", json!({"eventId": a1.id, "maxDepth": 1})).await;
    assert_eq!(one_level["nodes"].as_array().unwrap().len(), 3);
    let up = c.call("tree.getSubtree", json!({"eventId": fork_root, "direction": "ancestors"})).await;
    let up = up["nodes"].as_array().unwrap();
    assert_eq!(up[0]["type"], "session.start");
    assert_eq!(up.last().unwrap()["id"], fork_root.as_str());
    assert_eq!(up.len(), 4);

    let forked = fork["newSessionId"].as_str().unwrap();
    let ftree = c.call("tree.getVisualization", json!({"sessionId": forked})).await;
    assert_eq!(ftree["nodes"][0]["type"], "session.fork");
    assert_eq!(ftree["nodes"][0]["depth"], 1);
    assert_eq!(ftree["rootEventId"], fork_root.as_str());
    let fbranches = c.call("tree.getBranches", json!({"sessionId": forked})).await;
    assert_eq!(fbranches["mainBranch"]["branchPointEventId"], Value::Null);
    assert_eq!(fbranches["mainBranch"]["firstEventId"], fork_root.as_str());
    assert_eq!(fbranches["mainBranch"]["eventCount"], 1);
    assert_eq!(fbranches["forks"], json!([]));
}

#[tokio::test]
async fn search_finds_content_with_filters() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    let dir = server.dir();
    let s1 = c.call("session.create", json!({"workingDirectory": dir})).await["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let s2 = c.call("session.create", json!({"workingDirectory": dir})).await["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = server.store();
    let hit = store.append(&s1, user("where is the platypus")).unwrap();
    store.append(&s1, assistant("the platypus lives in Australia")).unwrap();
    store.append(&s2, user("platypus again")).unwrap();
    store.append(&s2, user("nothing here")).unwrap();

    for method in ["search.content", "search.events"] {
        let r = c.call(method, json!({"query": "platypus"})).await;
        assert_eq!(keys(&r), ["results", "totalCount"]);
        assert_eq!(r["totalCount"], 3);
        let first = &r["results"][0];
        assert_eq!(keys(first), ["eventId", "score", "sessionId", "snippet", "timestamp", "type"]);
        assert!(first["snippet"].as_str().unwrap().contains("<mark>"), "{first}");
        assert!(first["score"].as_f64().unwrap() >= 0.0);
    }
    let only = c
        .call("search.content", json!({"query": "platypus", "sessionId": s1, "types": ["message.user"]}))
        .await;
    assert_eq!(only["totalCount"], 1);
    assert_eq!(only["results"][0]["eventId"], hit.id.as_str());
    assert_eq!(only["results"][0]["type"], "message.user");
    assert_eq!(only["results"][0]["timestamp"], hit.timestamp.as_str());
    let limited = c.call("search.events", json!({"query": "platypus", "limit": 2})).await;
    assert_eq!(limited["results"].as_array().unwrap().len(), 2);
    let ws = created_workspace(&server, &s1);
    let in_ws = c.call("search.content", json!({"query": "platypus", "workspaceId": ws})).await;
    assert_eq!(in_ws["totalCount"], 3);
    let none = c.call("search.content", json!({"query": "platypus", "sessionId": "sess_missing"})).await;
    assert_eq!(none, json!({"results": [], "totalCount": 0}));
}

fn created_workspace(server: &common::Server, session: &str) -> String {
    server.store().session(session).unwrap().workspace_id.as_str().to_owned()
}

#[tokio::test]
async fn bad_params_are_named() {
    let server = start(Script::default()).await;
    let mut c = Client::connect(server.addr).await;
    for (method, name) in [
        ("tree.getVisualization", "sessionId"),
        ("tree.getBranches", "sessionId"),
        ("tree.getSubtree", "eventId"),
        ("search.content", "query"),
        ("search.events", "query"),
    ] {
        let e = c.fail(method, json!({})).await;
        assert_eq!(
            e,
            json!({"code": "INVALID_PARAMS", "message": format!("{name} is required")}),
            "{method}"
        );
    }
    for method in ["tree.getVisualization", "tree.getBranches"] {
        let e = c.fail(method, json!({"sessionId": "sess_missing"})).await;
        assert_eq!(e["code"], "SESSION_NOT_FOUND", "{method}: {e}");
    }
    // An unknown event has no subtree (as the TypeScript server), in either direction.
    let sub = c.call("tree.getSubtree", json!({"eventId": "evt_missing"})).await;
    assert_eq!(sub, json!({"nodes": []}));
    let sub = c.call("tree.getSubtree", json!({"eventId": "evt_missing", "direction": "ancestors"})).await;
    assert_eq!(sub, json!({"nodes": []}));
    let e = c.fail("tree.getSubtree", json!({"eventId": "evt_x", "direction": "sideways"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("tree.getVisualization", json!({"sessionId": "s", "maxDepth": -1})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("search.content", json!({"query": "x", "types": "message.user"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c.fail("search.content", json!({"query": "   "})).await;
    assert_eq!(e["code"], "INVALID_PARAMS", "{e}");
}

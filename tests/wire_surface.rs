//! The whole wire surface of `tron serve`, as a checked-in snapshot: for every method the
//! shape of its result (or error), and for every pushed event type the shape of its data
//! (key names and JSON types, `int` apart from `float`, since the iOS app rejects a float
//! where it decodes an Int). A wire change shows up as a reviewed diff of
//! tests/snapshots/wire_surface.txt, never by accident.
//!
//! Regenerate after an intended change: `UPDATE_WIRE_SNAPSHOT=1 cargo test --test wire_surface`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{start, Client};
use serde_json::{json, Value};
use tron::testing::{Script, ScriptedResponse, Step};

const SNAPSHOT: &str = "tests/snapshots/wire_surface.txt";

/// The keys of a persisted event on the wire.
const EVENT_KEYS: [&str; 8] =
    ["id", "parentId", "sessionId", "workspaceId", "timestamp", "type", "sequence", "payload"];

/// The shape of a value: types instead of values, keys sorted, array items merged. A
/// persisted event is written `SessionEvent` (its envelope and payload are listed apart).
fn shape_in(v: &Value, surface: &mut Surface) -> String {
    if let Value::Object(o) = v {
        if EVENT_KEYS.iter().all(|k| o.contains_key(*k)) {
            let mut envelope = o.clone();
            envelope.remove("payload");
            let envelope = shape_in(&Value::Object(envelope), surface);
            surface.0.entry("persisted event envelope".into()).or_default().insert(envelope);
            let kind = o["type"].as_str().unwrap_or("?").to_owned();
            surface.add(format!("persisted {kind}"), &o["payload"]);
            return "SessionEvent".into();
        }
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "int".into(),
        Value::Number(_) => "float".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let kinds: BTreeSet<String> = items.iter().map(|i| shape_in(i, surface)).collect();
            format!("[{}]", kinds.into_iter().collect::<Vec<_>>().join(" | "))
        }
        Value::Object(o) => {
            let mut keys: Vec<(&String, &Value)> = o.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> =
                keys.into_iter().map(|(k, v)| format!("{k}: {}", shape_in(v, surface))).collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Every shape seen per name (`method X`, `error X`, `event X`).
#[derive(Default)]
struct Surface(BTreeMap<String, BTreeSet<String>>);

impl Surface {
    fn add(&mut self, name: String, v: &Value) {
        let mut nested = Surface::default();
        let s = shape_in(v, &mut nested);
        self.0.entry(name).or_default().insert(s);
        for (k, shapes) in nested.0 {
            self.0.entry(k).or_default().extend(shapes);
        }
    }

    async fn call(&mut self, c: &mut Client, method: &str, params: Value) -> Value {
        let r = c.request(method, params).await;
        if r["success"] == true {
            self.add(format!("method {method}"), &r["result"]);
        } else {
            self.add(format!("error {method}"), &r["error"]);
        }
        r["result"].clone()
    }

    fn events(&mut self, c: &Client) {
        for e in &c.events {
            let kind = e["type"].as_str().unwrap();
            let mut envelope = e.clone();
            envelope["data"] = json!("…");
            self.add("envelope event".into(), &envelope);
            self.add(format!("event {kind}"), &e["data"]);
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, shapes) in &self.0 {
            for s in shapes {
                out.push_str(&format!("{name} -> {s}\n"));
            }
        }
        out
    }
}

#[tokio::test]
async fn the_wire_surface_matches_its_snapshot() {
    let script = Script::new([
        ScriptedResponse::stream([
            Step::Thinking { text: "Let me check".into(), signature: "sig".into() },
            Step::Text { text: "Checking.".into() },
            Step::ToolCall {
                id: "toolu_1".into(),
                name: "Bash".into(),
                input: json!({"command": "echo hi"}),
            },
            Step::Usage {
                input_tokens: 900,
                output_tokens: 30,
                cache_read_tokens: 100,
                cache_creation_tokens: 0,
            },
        ]),
        ScriptedResponse::text("It printed hi."),
        ScriptedResponse::stream([Step::Text { text: "Slow".into() }, Step::DelayMs { ms: 30_000 }]),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let mut s = Surface::default();
    let dir = server.dir();

    s.call(&mut c, "system.ping", json!({})).await;
    s.call(&mut c, "system.getInfo", json!({})).await;
    s.call(&mut c, "model.list", json!({})).await;
    let created = s.call(&mut c, "session.create", json!({"workingDirectory": dir})).await;
    let session = created["sessionId"].as_str().unwrap().to_owned();
    // A global rules file and a skill the prompt picks: rules.loaded, skill.added, and the
    // detailed snapshot's addedSkills and rules.
    std::fs::create_dir_all(format!("{dir}/rules")).unwrap();
    std::fs::write(format!("{dir}/rules/AGENTS.md"), "Answer briefly.").unwrap();
    std::fs::create_dir_all(format!("{dir}/skills/wire-skill")).unwrap();
    std::fs::write(format!("{dir}/skills/wire-skill/SKILL.md"), "Say what you ran.").unwrap();
    let skills = json!([{"name": "wire-skill", "source": "global"}]);
    s.call(&mut c, "agent.prompt", json!({"sessionId": session, "prompt": "run echo", "skills": skills}))
        .await;
    c.until("agent.ready").await;
    s.call(&mut c, "session.list", json!({})).await;
    s.call(&mut c, "session.resume", json!({"sessionId": session})).await;
    s.call(&mut c, "agent.getState", json!({"sessionId": session})).await;
    let history = s.call(&mut c, "events.getHistory", json!({"sessionId": session, "limit": 3})).await;
    s.call(&mut c, "events.getSince", json!({"sessionId": session})).await;
    let newest = history["events"][0]["id"].as_str().unwrap().to_owned();
    s.call(&mut c, "tree.getAncestors", json!({"eventId": newest})).await;
    s.call(
        &mut c,
        "events.append",
        json!({"sessionId": session, "type": "metadata.tag", "payload": {"tags": ["t"]}}),
    )
    .await;
    let fork = s.call(&mut c, "session.fork", json!({"sessionId": session})).await;
    s.call(&mut c, "model.switch", json!({"sessionId": session, "model": "claude-haiku-4-5"})).await;
    let events = server.store().events(&session).unwrap();
    let user = events.iter().find(|e| e.event_type.as_str() == "message.user").unwrap().id.to_string();
    s.call(&mut c, "message.delete", json!({"sessionId": session, "targetEventId": user})).await;
    // Abort once the slow answer is streaming (not on an earlier prompt's delta).
    s.events(&c);
    c.events.clear();
    s.call(&mut c, "agent.prompt", json!({"sessionId": session, "prompt": "slow"})).await;
    c.until("agent.text_delta").await;
    s.call(&mut c, "agent.prompt", json!({"sessionId": session, "prompt": "busy"})).await;
    s.call(&mut c, "agent.abort", json!({"sessionId": session})).await;
    c.events.retain(|e| e["type"] != "agent.ready");
    c.until("agent.ready").await;
    s.call(&mut c, "session.archive", json!({"sessionId": fork["newSessionId"]})).await;
    s.call(&mut c, "session.unarchive", json!({"sessionId": fork["newSessionId"]})).await;
    s.call(&mut c, "session.delete", json!({"sessionId": fork["newSessionId"]})).await;
    s.call(&mut c, "session.resume", json!({})).await;
    s.call(&mut c, "settings.get", json!({})).await;
    s.call(&mut c, "context.getSnapshot", json!({"sessionId": session})).await;
    s.call(&mut c, "context.getDetailedSnapshot", json!({"sessionId": session})).await;
    s.call(&mut c, "context.canAcceptTurn", json!({"sessionId": session, "estimatedResponseTokens": 1000}))
        .await;
    s.call(&mut c, "skill.list", json!({})).await;
    s.call(&mut c, "tasks.create", json!({"title": "Write the closing note"})).await;
    s.call(&mut c, "tasks.list", json!({})).await;
    s.call(&mut c, "tree.getVisualization", json!({"sessionId": session})).await;
    s.call(&mut c, "tree.getBranches", json!({"sessionId": session})).await;
    s.call(&mut c, "tree.getSubtree", json!({"eventId": user})).await;
    s.call(&mut c, "search.content", json!({"query": "printed"})).await;
    s.call(&mut c, "search.events", json!({"query": "printed", "sessionId": session})).await;
    std::fs::write(format!("{dir}/notes.md"), "notes").unwrap();
    s.call(&mut c, "filesystem.listDir", json!({"path": dir})).await;
    s.call(&mut c, "filesystem.getHome", json!({})).await;
    s.call(&mut c, "file.read", json!({"path": format!("{dir}/notes.md")})).await;
    // Worktrees: a session in a repository of its own (src/platform/worktree).
    let repo = format!("{dir}/repo");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        &["init", "--quiet", "-b", "main"][..],
        &["config", "user.name", "tron test"],
        &["config", "user.email", "test@tron.invalid"],
        &["config", "commit.gpgsign", "false"],
        &["commit", "--quiet", "--allow-empty", "-m", "first"],
    ] {
        assert!(std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .status()
            .unwrap()
            .success());
    }
    let ws = s.call(&mut c, "session.create", json!({"workingDirectory": repo})).await["sessionId"].clone();
    // A session without a browser (starting one needs chromium: tests/browser.rs has those).
    s.call(&mut c, "browser.getStatus", json!({"sessionId": ws})).await;
    s.call(&mut c, "browser.stopStream", json!({"sessionId": ws})).await;
    s.call(&mut c, "worktree.getStatus", json!({"sessionId": ws})).await;
    s.call(&mut c, "worktree.commit", json!({"sessionId": ws, "message": "none yet"})).await;
    let acquired = s.call(&mut c, "worktree.acquire", json!({"sessionId": ws})).await;
    std::fs::write(format!("{}/b.txt", acquired["path"].as_str().unwrap()), "b").unwrap();
    s.call(&mut c, "worktree.getStatus", json!({"sessionId": ws})).await;
    s.call(&mut c, "worktree.commit", json!({"sessionId": ws, "message": "add b"})).await;
    s.call(&mut c, "worktree.list", json!({})).await;
    s.call(&mut c, "worktree.merge", json!({"sessionId": ws, "targetBranch": "main"})).await;
    s.call(&mut c, "worktree.release", json!({"sessionId": ws})).await;
    // The worktree events it persisted (not broadcast, read back).
    s.call(&mut c, "events.getSince", json!({"sessionId": ws})).await;
    s.call(&mut c, "git.clone", json!({"url": "not a url", "targetPath": "x"})).await;
    // Canvases, AskUserQuestion answers, messages between sessions (src/rpc/ui.rs).
    s.call(&mut c, "canvas.get", json!({"canvasId": "none-yet"})).await;
    s.call(&mut c, "canvas.list", json!({})).await;
    s.call(&mut c, "canvas.export", json!({"canvasId": "none-yet", "format": "pdf"})).await;
    let answers = json!({"answers": [], "complete": true, "submittedAt": "2026-01-01T00:00:00Z"});
    s.call(
        &mut c,
        "tool.result",
        json!({"sessionId": session, "toolCallId": "toolu_none", "result": answers}),
    )
    .await;
    let sub = s.call(&mut c, "communication.subscribe", json!({"sessionId": ws})).await;
    let note = json!({"sessionId": session, "targetSessionId": ws, "messageType": "note", "payload": {"text": "hi"}});
    s.call(&mut c, "communication.send", note).await;
    c.until("communication.message").await;
    s.call(&mut c, "communication.receive", json!({"sessionId": ws})).await;
    s.call(&mut c, "communication.unsubscribe", json!({"subscriptionId": sub["subscriptionId"]})).await;
    // Push tokens, voice notes, memory (src/platform/apns, src/platform/transcribe, src/embed).
    let token = "ab".repeat(32);
    s.call(&mut c, "device.register", json!({"deviceToken": token, "sessionId": session})).await;
    s.call(&mut c, "device.unregister", json!({"deviceToken": token})).await;
    s.call(&mut c, "transcribe.listModels", json!({})).await;
    let notes = format!("{dir}/notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(
        format!("{notes}/2026-01-01-120000-voice-note.md"),
        "---\ntype: voice-note\ncreated: 2026-01-01T12:00:00.000Z\nduration: 3\nlanguage: en\nmodel: base\n---\n\n# Voice Note - January 1, 2026 at 12:00 PM\n\nBuy milk.\n",
    )
    .unwrap();
    s.call(&mut c, "voiceNotes.list", json!({})).await;
    s.call(&mut c, "voiceNotes.delete", json!({"filename": "2026-01-01-120000-voice-note.md"})).await;
    s.call(&mut c, "memory.getLedger", json!({"workingDirectory": dir})).await;
    s.call(&mut c, "memory.search", json!({"query": "milk"})).await;
    s.call(&mut c, "no.such", json!({})).await;
    s.events(&c);

    let actual = s.render();
    if std::env::var_os("UPDATE_WIRE_SNAPSHOT").is_some() {
        std::fs::create_dir_all("tests/snapshots").unwrap();
        std::fs::write(SNAPSHOT, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        panic!(
            "the wire surface changed (review, then UPDATE_WIRE_SNAPSHOT=1 cargo test --test wire_surface):\n{}",
            diff.unified_diff().context_radius(1).header(SNAPSHOT, "now")
        );
    }
    server.shutdown().await;
}

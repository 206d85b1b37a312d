//! The interactive tools end to end, through a real `tron serve` (WebSocket client, mock
//! LLM, SQLite file in a temp dir): `AskUserQuestion` ends the turn and `tool.result`
//! continues it; `RenderAppUI` streams `agent.ui_render_*` frames and saves the canvas that
//! `canvas.get` and `canvas.export` (JSON, Markdown, PDF read back with `pdftotext`) serve;
//! `send_message` in one session reaches `receive_messages` in another. Bad parameters get
//! clear errors and change nothing.

mod common;

use common::{serve_in, start, Client, Setup};
use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse};

fn questions() -> Value {
    json!({"questions": [
        {"id": "db", "question": "Which database?", "mode": "single",
         "options": [{"label": "SQLite"}, {"label": "Postgres"}]},
        {"id": "os", "question": "Which targets?", "mode": "multi", "allowOther": true,
         "options": [{"label": "Linux"}, {"label": "macOS"}]}
    ]})
}

/// Waits for the `agent.complete` of the next run and returns it, dropping the frames of
/// earlier runs first.
async fn complete(c: &mut Client) -> Value {
    let done = c.until("agent.complete").await;
    assert_eq!(done["data"]["success"], true, "{done}");
    done
}

fn last_user_text(body: &Value) -> String {
    let messages = body["messages"].as_array().unwrap();
    let last = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        other => other.to_string(),
    }
}

#[tokio::test]
async fn ask_user_question_ends_the_turn_and_the_answer_continues_it() {
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_q", "AskUserQuestion", questions()),
        ScriptedResponse::text("SQLite on Linux and macOS it is."),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "set up the project"})).await;
    complete(&mut c).await;

    // The run ended after the tool, without another model call.
    assert_eq!(server.mock.requests().len(), 1);
    let end = c.until("agent.tool_end").await;
    assert_eq!(end["data"]["toolName"], "AskUserQuestion");
    assert!(end["data"]["output"].as_str().unwrap().starts_with("Questions presented to user:"), "{end}");
    let log = server.persisted(&session);
    let types: Vec<&str> = log.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types[types.len() - 3..], ["tool.call", "tool.result", "stream.turn_end"], "{types:?}");

    // Bad answers: clear errors, nothing persisted, no run.
    let e = c
        .fail(
            "tool.result",
            json!({"sessionId": session, "toolCallId": "toolu_other", "result": {"answers": []}}),
        )
        .await;
    assert_eq!(e["code"], "NOT_FOUND", "{e}");
    assert_eq!(e["message"], "No pending tool call found with ID: toolu_other");
    let bad = json!({"answers": [{"questionId": "nope", "selectedValues": ["x"]}]});
    let e =
        c.fail("tool.result", json!({"sessionId": session, "toolCallId": "toolu_q", "result": bad})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert!(e["message"].as_str().unwrap().contains("not one of the questions asked"), "{e}");
    let e = c.fail("tool.result", json!({"sessionId": session, "toolCallId": "toolu_q"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let e = c
        .fail("tool.result", json!({"sessionId": "sess_missing", "toolCallId": "toolu_q", "result": {}}))
        .await;
    assert_eq!(e["code"], "SESSION_NOT_FOUND");
    assert_eq!(server.persisted(&session).len(), log.len());
    assert_eq!(server.mock.requests().len(), 1);

    // The answers continue the session as its next prompt.
    c.events.clear();
    let answers = json!({"answers": [
        {"questionId": "db", "selectedValues": ["SQLite"]},
        {"questionId": "os", "selectedValues": ["Linux", "macOS"], "otherValue": "FreeBSD"}
    ], "complete": true, "submittedAt": "2026-01-01T00:00:00Z"});
    let r = c
        .call("tool.result", json!({"sessionId": session, "toolCallId": "toolu_q", "result": answers}))
        .await;
    assert_eq!(r["success"], true);
    assert_eq!(r["toolCallId"], "toolu_q");
    assert!(r["runId"].is_string());
    complete(&mut c).await;
    let requests = server.mock.requests();
    assert_eq!(requests.len(), 2);
    let prompt = last_user_text(&requests[1].body);
    assert!(prompt.starts_with("[Answers to your questions]"), "{prompt}");
    assert!(prompt.contains("**Which database?**\nAnswer: SQLite"), "{prompt}");
    assert!(prompt.contains("Answer: Linux, macOS, Other: FreeBSD"), "{prompt}");
    let log = server.persisted(&session);
    let user = log.iter().rev().find(|e| e["type"] == "message.user").unwrap();
    assert_eq!(user["payload"]["content"].as_str().unwrap(), prompt);

    // Answered: no longer pending.
    let e = c
        .fail("tool.result", json!({"sessionId": session, "toolCallId": "toolu_q", "result": answers}))
        .await;
    assert_eq!(e["code"], "NOT_FOUND");
}

fn canvas_input() -> Value {
    json!({
        "canvasId": "prefs-1",
        "title": "Preferences",
        "ui": {"$tag": "VStack", "$children": [
            {"$tag": "Text", "$props": {"style": "title"}, "$children": "Notifications (daily)"},
            {"$tag": "Section", "$props": {"header": "Alerts"}, "$children": [
                {"$tag": "Toggle", "$props": {"label": "Email", "bindingId": "email"}},
                {"$tag": "Slider", "$props": {"label": "Volume", "bindingId": "vol"}}
            ]},
            {"$tag": "Button", "$props": {"label": "Save", "actionId": "save"}}
        ]},
        "state": {"email": true, "vol": 70}
    })
}

/// Standard base64 (with padding) decoded.
fn unbase64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk.iter().filter(|&&c| c != b'=').map(|&c| value(c)).collect();
        let n = digits.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        for i in 0..digits.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The text `pdftotext` reads from `pdf`; `None` (with a notice) when it is not installed.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    if std::process::Command::new("pdftotext").arg("-v").output().is_err() {
        eprintln!(
            "skipped the PDF read-back: pdftotext is not installed (scripts/test.sh installs poppler-utils)"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("canvas.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").arg("-layout").arg(&file).arg("-").output().unwrap();
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn render_app_ui_streams_frames_and_saves_the_canvas_for_get_and_export() {
    let server = start(Script::new([
        ScriptedResponse::tool_call("toolu_ui", "RenderAppUI", canvas_input()),
        ScriptedResponse::text("Saved your preferences."),
    ]))
    .await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "show my preferences"})).await;
    complete(&mut c).await;
    assert_eq!(server.mock.requests().len(), 1, "RenderAppUI ends the turn");

    // The frames: one start, chunks carrying the streamed arguments, then complete.
    let ui: Vec<&Value> =
        c.events.iter().filter(|e| e["type"].as_str().unwrap().starts_with("agent.ui_render")).collect();
    assert_eq!(ui[0]["type"], "agent.ui_render_start");
    assert_eq!(ui[0]["data"]["canvasId"], "prefs-1");
    assert_eq!(ui[0]["data"]["toolCallId"], "toolu_ui");
    assert_eq!(ui[0]["sessionId"], session.as_str());
    let last = ui.last().unwrap();
    assert_eq!(last["type"], "agent.ui_render_complete");
    assert_eq!(
        last["data"],
        json!({"canvasId": "prefs-1", "ui": canvas_input()["ui"], "state": canvas_input()["state"],
               "timestamp": last["timestamp"]}),
        "an agent_event's data carries its timestamp"
    );
    let chunks = &ui[1..ui.len() - 1];
    assert!(!chunks.is_empty() && chunks.iter().all(|f| f["type"] == "agent.ui_render_chunk"), "{ui:#?}");
    let joined: String = chunks.iter().map(|f| f["data"]["chunk"].as_str().unwrap()).collect();
    let accumulated = chunks.last().unwrap()["data"]["accumulated"].as_str().unwrap();
    assert!(accumulated.ends_with(&joined));
    assert_eq!(serde_json::from_str::<Value>(accumulated).unwrap(), canvas_input());
    let types = c.types();
    let pos = |t: &str| types.iter().position(|x| *x == t).unwrap();
    assert!(
        pos("agent.tool_end") < pos("agent.ui_render_complete")
            && pos("agent.ui_render_complete") < pos("agent.complete")
    );

    // canvas.get: where the TypeScript server keeps it.
    let got = c.call("canvas.get", json!({"canvasId": "prefs-1"})).await;
    assert_eq!(got["found"], true);
    let canvas = &got["canvas"];
    assert_eq!(
        (canvas["canvasId"].as_str(), canvas["sessionId"].as_str()),
        (Some("prefs-1"), Some(session.as_str()))
    );
    assert_eq!(canvas["title"], "Preferences");
    assert_eq!(canvas["ui"], canvas_input()["ui"]);
    assert!(canvas["savedAt"].is_string());
    assert!(server.dir.path().join("artifacts/canvases/prefs-1.json").is_file());
    assert_eq!(c.call("canvas.get", json!({"canvasId": "nope"})).await, json!({"found": false}));
    for bad in [json!({}), json!({"canvasId": "../prod"}), json!({"canvasId": 3})] {
        assert_eq!(c.fail("canvas.get", bad).await["code"], "INVALID_PARAMS");
    }
    let listed = c.call("canvas.list", json!({"sessionId": session})).await;
    assert_eq!(listed["canvases"][0]["canvasId"], "prefs-1");

    // Export: JSON, Markdown, PDF.
    let json_export = c.call("canvas.export", json!({"canvasId": "prefs-1", "format": "json"})).await;
    assert_eq!(json_export["mimeType"], "application/json");
    assert_eq!(json_export["fileName"], "prefs-1.json");
    let parsed: Value = serde_json::from_str(json_export["content"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, *canvas);
    let md = c.call("canvas.export", json!({"canvasId": "prefs-1", "format": "markdown"})).await;
    let md = md["content"].as_str().unwrap();
    assert!(md.starts_with("# Preferences\n"), "{md}");
    assert!(
        md.contains("## Notifications (daily)\n")
            && md.contains("- [x] Email\n- Volume: 70\n")
            && md.contains("- [Save]"),
        "{md}"
    );
    let pdf = c.call("canvas.export", json!({"canvasId": "prefs-1", "format": "pdf"})).await;
    assert_eq!(
        (pdf["encoding"].as_str(), pdf["mimeType"].as_str()),
        (Some("base64"), Some("application/pdf"))
    );
    let bytes = unbase64(pdf["content"].as_str().unwrap());
    assert!(bytes.starts_with(b"%PDF-"));
    if let Some(text) = pdftotext(&bytes) {
        for want in ["Preferences", "Notifications (daily)", "Alerts", "[x] Email", "Volume: 70", "[Save]"] {
            assert!(text.contains(want), "{want:?} not in {text}");
        }
    }
    let e = c.fail("canvas.export", json!({"canvasId": "prefs-1", "format": "docx"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert!(e["message"].as_str().unwrap().contains("json, markdown or pdf"));
    assert_eq!(
        c.fail("canvas.export", json!({"canvasId": "ghost", "format": "pdf"})).await["code"],
        "NOT_FOUND"
    );

    // The user's response on the canvas continues the session.
    c.events.clear();
    let response = json!({"actionId": "save", "state": {"email": false, "vol": 40}});
    c.call("tool.result", json!({"sessionId": session, "toolCallId": "toolu_ui", "result": response})).await;
    complete(&mut c).await;
    let prompt = last_user_text(&server.mock.requests()[1].body);
    assert!(prompt.starts_with("[User response from canvas prefs-1]\n"), "{prompt}");
    assert_eq!(serde_json::from_str::<Value>(prompt.split_once('\n').unwrap().1).unwrap(), response);
}

#[tokio::test]
async fn a_long_canvas_exports_to_a_multi_page_pdf_that_reads_back() {
    use tron::platform::canvas::{export, CanvasArtifact};
    let items: Vec<Value> =
        (0..150).map(|i| json!(format!("Item number {i} (with \\ and ünïcode)"))).collect();
    let canvas = CanvasArtifact {
        canvas_id: "long".into(),
        session_id: "sess_x".into(),
        title: Some("A (long) list".into()),
        ui: json!({"$tag": "List", "$props": {"items": items}}).as_object().unwrap().clone(),
        state: None,
        saved_at: "2026-01-01T00:00:00.000Z".into(),
    };
    let pdf = export::to_pdf(&canvas);
    let Some(text) = pdftotext(&pdf) else { return };
    assert!(text.contains("A (long) list"), "{text}");
    assert!(text.contains("Item number 0 (with \\ and ünïcode)"), "{text}");
    assert!(text.contains("Item number 149"), "{text}");
    let pages = text.matches('\u{c}').count();
    assert!(pages >= 3, "{pages} pages");
}

#[tokio::test]
async fn send_message_in_one_session_is_received_by_another() {
    // Two sessions first (the scripted tool call names the target session's id).
    let dir = tempfile::tempdir().unwrap();
    let empty = MockLlm::start(Script::new([])).await.unwrap();
    let running = serve_in(dir.path(), Some(&empty), Setup::default()).await.unwrap();
    let mut c = Client::connect(running.addr).await;
    let work = dir.path().display().to_string();
    let (a, b) = (c.session(&work).await, c.session(&work).await);
    drop(c);
    running.shutdown().await;

    let mock = MockLlm::start(Script::new([
        ScriptedResponse::tool_call(
            "toolu_send",
            "send_message",
            json!({"targetSessionId": b, "messageType": "query", "payload": {"question": "status?"}}),
        ),
        ScriptedResponse::text("Sent."),
        ScriptedResponse::tool_call("toolu_recv", "receive_messages", json!({})),
        ScriptedResponse::text("A asks for the status."),
    ]))
    .await
    .unwrap();
    let running = serve_in(dir.path(), Some(&mock), Setup::default()).await.unwrap();
    let mut c = Client::connect(running.addr).await;

    // A client follows B's messages.
    let sub = c.call("communication.subscribe", json!({"sessionId": b})).await;
    assert_eq!(sub["subscribed"], true);
    let sub_id = sub["subscriptionId"].as_str().unwrap().to_owned();

    c.call("agent.prompt", json!({"sessionId": a, "prompt": "ask B for its status"})).await;
    complete(&mut c).await;
    let sent = c.until("agent.tool_end").await;
    assert_eq!(sent["data"]["success"], true, "{sent}");
    let message_id = sent["data"]["details"]["messageId"].as_str().unwrap().to_owned();
    let pushed = c.until("communication.message").await;
    assert_eq!(pushed["sessionId"], b.as_str());
    assert_eq!(pushed["data"]["id"], message_id.as_str());
    assert_eq!(
        (pushed["data"]["fromSessionId"].as_str(), pushed["data"]["type"].as_str()),
        (Some(a.as_str()), Some("query"))
    );

    c.events.clear();
    c.call("agent.prompt", json!({"sessionId": b, "prompt": "check your messages"})).await;
    complete(&mut c).await;
    let got = c.until("agent.tool_end").await;
    assert_eq!(got["data"]["toolName"], "receive_messages");
    assert_eq!(
        got["data"]["output"],
        format!("Found 1 messages (1 unread total):\n- [query] from {a}: {{\"question\":\"status?\"}}")
    );
    assert_eq!(got["data"]["details"]["messages"][0]["id"], message_id.as_str());

    // Read now: the RPC view agrees.
    let unread = c.call("communication.receive", json!({"sessionId": b})).await;
    assert_eq!(unread, json!({"messages": [], "unreadCount": 0}));
    let all = c.call("communication.receive", json!({"sessionId": b, "unreadOnly": false})).await;
    assert_eq!(all["messages"][0]["payload"], json!({"question": "status?"}));

    // Bad parameters: clear errors, nothing sent.
    let e = c
        .fail(
            "communication.send",
            json!({"sessionId": a, "targetSessionId": "sess_ghost", "messageType": "q", "payload": {}}),
        )
        .await;
    assert_eq!(e["code"], "SESSION_NOT_FOUND");
    assert!(e["message"].as_str().unwrap().contains("sess_ghost"));
    let e =
        c.fail("communication.send", json!({"sessionId": a, "targetSessionId": b, "messageType": "q"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    assert_eq!(
        c.fail("communication.receive", json!({"sessionId": b, "limit": 0})).await["code"],
        "INVALID_PARAMS"
    );
    assert_eq!(
        c.fail("communication.unsubscribe", json!({"subscriptionId": "sub_nope"})).await["code"],
        "NOT_FOUND"
    );
    let all = c.call("communication.receive", json!({"sessionId": b, "unreadOnly": false})).await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 1);

    // A message sent through RPC after unsubscribing is stored but not pushed.
    assert_eq!(
        c.call("communication.unsubscribe", json!({"subscriptionId": sub_id})).await["unsubscribed"],
        true
    );
    c.events.clear();
    let r = c
        .call(
            "communication.send",
            json!({"sessionId": a, "targetSessionId": b, "messageType": "note", "payload": "hi"}),
        )
        .await;
    assert_eq!(r["success"], true);
    let got = c.call("communication.receive", json!({"sessionId": b})).await;
    assert_eq!(got["messages"][0]["id"], r["messageId"]);
    assert!(c.events.iter().all(|e| e["type"] != "communication.message"));

    // A subscription ends with the client that made it.
    assert_eq!(running.state.ui.subscription_count(), 0);
    let mut other = Client::connect(running.addr).await;
    other.call("communication.subscribe", json!({"sessionId": b})).await;
    assert_eq!(running.state.ui.subscription_count(), 1);
    drop(other);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running.state.ui.subscription_count() > 0 {
        assert!(std::time::Instant::now() < deadline, "the closed client's subscription is still there");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(c);
    running.shutdown().await;
}

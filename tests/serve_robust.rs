//! `tron serve` when things go wrong around a run: a client that reconnects mid-turn, one
//! that stops answering pings, one that stops reading, a model without credentials; and the
//! live output of a running tool. A real server on 127.0.0.1:0 with a temp database and the
//! scripted mock LLM server, driven by real WebSocket clients.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{start, start_with, Client, Setup};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tron::testing::{Script, ScriptedResponse, Step};

fn bash_call(id: &str, command: &str) -> Step {
    Step::ToolCall { id: id.into(), name: "Bash".into(), input: json!({ "command": command }) }
}

/// Checks that `seen` (persisted events, in any order, possibly more than once) covers
/// `persisted[from..]` exactly: every event there, each copy identical to the stored one,
/// nothing else.
fn assert_covers(seen: &[Value], persisted: &[Value], from: usize) {
    let mut by_sequence: BTreeMap<i64, &Value> = BTreeMap::new();
    for e in seen {
        let sequence = e["sequence"].as_i64().unwrap();
        if let Some(earlier) = by_sequence.insert(sequence, e) {
            assert_eq!(earlier, e, "two different events with sequence {sequence}");
        }
    }
    let union: Vec<&Value> = by_sequence.into_values().collect();
    let expected: Vec<&Value> = persisted[from..].iter().collect();
    let ids =
        |v: &[&Value]| -> Vec<String> { v.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect() };
    assert_eq!(ids(&union), ids(&expected), "no gap, nothing extra");
    assert_eq!(union, expected, "each event as stored");
}

#[tokio::test]
async fn a_running_bash_pushes_its_output_before_tool_end() {
    let script = Script::new([
        ScriptedResponse::stream([bash_call("toolu_1", "echo a; sleep 0.2; echo b")]),
        ScriptedResponse::text("Printed a and b."),
    ]);
    let server = start(script).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "print"})).await;
    c.until("agent.ready").await;
    let tool: Vec<&Value> = c
        .events
        .iter()
        .filter(|e| {
            e["type"].as_str().is_some_and(|t| t.starts_with("agent.tool_") && t != "agent.tool_generating")
        })
        .collect();
    let kinds: Vec<&str> = tool.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["agent.tool_start", "agent.tool_output", "agent.tool_output", "agent.tool_end"]);
    for e in &tool {
        assert_eq!(e["sessionId"], session.as_str());
        assert_eq!(e["data"]["toolCallId"], "toolu_1", "{e}");
    }
    assert_eq!(tool[1]["data"]["output"], "a\n");
    assert_eq!(tool[2]["data"]["output"], "b\n");
    assert_eq!(tool[3]["data"]["output"], "a\nb\n");
    let types: Vec<String> =
        server.store().events(&session).unwrap().iter().map(|e| e.event_type.as_str().to_owned()).collect();
    assert!(!types.iter().any(|t| t.contains("output")), "live output is not persisted: {types:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_reconnects_mid_turn_misses_no_persisted_event() {
    // Three slow tool rounds, then an answer: about a second per round.
    let round = |i: usize| {
        ScriptedResponse::stream([
            Step::Pace { ms: 60 },
            Step::Text { text: format!("Round {i} starts now.") },
            bash_call(&format!("toolu_{i}"), &format!("echo {i}")),
        ])
    };
    let script = Script::new([
        round(1),
        round(2),
        round(3),
        ScriptedResponse::stream([Step::Pace { ms: 60 }, Step::Text { text: "All done here.".into() }]),
    ]);
    let server = start(script).await;
    let mut a = Client::connect(server.addr).await;
    let session = a.session(&server.dir()).await;
    let before = server.store().events(&session).unwrap().len();
    a.call("agent.prompt", json!({"sessionId": session, "prompt": "go"})).await;
    // Read until the first tool ended, sync the log as a client does, then drop the
    // connection mid-run.
    a.until("agent.tool_end").await;
    let since = |v: &Value| -> (Vec<Value>, Option<String>) {
        assert_eq!(v["hasMore"], false);
        (v["events"].as_array().unwrap().clone(), v["nextCursor"].as_str().map(str::to_owned))
    };
    let (seen_by_a, cursor) = since(&a.call("events.getSince", json!({"sessionId": session})).await);
    assert!(seen_by_a.iter().any(|e| e["type"] == "tool.call"), "the run was under way");
    let last = cursor.unwrap();
    drop(a);

    let mut b = Client::connect(server.addr).await;
    b.call("session.resume", json!({"sessionId": session})).await;
    let (fetched, cursor) =
        since(&b.call("events.getSince", json!({"sessionId": session, "afterEventId": last})).await);
    let answered_at = b.events.len();
    b.until("agent.ready").await;
    assert!(
        b.events[answered_at..].iter().any(|e| e["type"] == "agent.turn_start"),
        "the run was still going when B came back: {:?}",
        b.types()
    );
    assert!(b.pushed().is_empty(), "a run's events are not broadcast as event.new");
    // After the run, B reads what was persisted since its last read.
    let cursor = cursor.unwrap_or(last.clone());
    let (rest, _) =
        since(&b.call("events.getSince", json!({"sessionId": session, "afterEventId": cursor})).await);

    let persisted = server.persisted(&session);
    let all: Vec<Value> = seen_by_a.iter().chain(&fetched).chain(&rest).cloned().collect();
    assert_covers(&all, &persisted, 0);
    let mut ids: Vec<&str> = fetched.iter().chain(&rest).map(|e| e["id"].as_str().unwrap()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no event was read twice");
    // B on its own (A's last event, then its two reads) is complete too.
    let b_view: Vec<Value> = fetched.iter().chain(&rest).cloned().collect();
    let after_last = persisted.iter().position(|e| e["id"] == last.as_str()).unwrap() + 1;
    assert_covers(&b_view, &persisted, after_last);
    assert!(after_last > before);
    assert_eq!(persisted.last().unwrap()["type"], "stream.turn_end", "the run finished");
    server.shutdown().await;
}

/// Completes a WebSocket handshake on a raw TCP socket (which then never answers a ping).
async fn raw_handshake(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed during the handshake");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_dropped_and_a_live_one_stays() {
    let mut setup = Setup::default();
    setup.config.heartbeat = Duration::from_millis(100);
    let server = start_with(Script::default(), setup).await.unwrap();
    let mut live = Client::connect(server.addr).await;
    let mut silent = raw_handshake(server.addr).await;

    // The silent client reads (and discards) what it is sent, and never writes a pong.
    let closed = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    });
    // The live client keeps talking (and so answers pings) for well over two heartbeats.
    let until = std::time::Instant::now() + Duration::from_millis(800);
    while std::time::Instant::now() < until {
        assert_eq!(live.call("system.ping", json!({})).await["pong"], true);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the silent client's connection was closed")
        .unwrap();
    assert!(after < Duration::from_secs(2), "closed after {after:?}");
    assert_eq!(live.call("system.ping", json!({})).await["pong"], true, "the live client is still connected");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_the_persisted_events_it_missed_as_a_batch() {
    // Two floods of about 16 MB of output each: the first is more than the socket buffers
    // hold, so the server's writes to a client that is not reading block; the second
    // overflows the (small) event buffer after the persisted events between them.
    let flood = "yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 16000000";
    let script = Script::new([
        ScriptedResponse::stream([bash_call("toolu_1", flood)]),
        ScriptedResponse::stream([bash_call("toolu_2", flood)]),
        ScriptedResponse::text("That was a lot of output."),
    ]);
    let server = start_with(script, Setup { event_buffer: 16, ..Default::default() }).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "flood"})).await;

    // Stop reading until the run has ended.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let store = server.store();
        let events = store.events(&session).unwrap();
        if events.iter().filter(|e| e.event_type.as_str() == "stream.turn_end").count() == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the run did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.until("agent.ready").await;
    // One batch per lag (a lag during the flood may have missed only live output).
    let batches: Vec<&Value> = c.events.iter().filter(|e| e["type"] == "events.batch").collect();
    let mut batched = Vec::new();
    for batch in &batches {
        assert_eq!(batch["sessionId"], session.as_str());
        assert_eq!(batch["data"]["sessionId"], session.as_str());
        let events = batch["data"]["events"].as_array().unwrap();
        assert_eq!(batch["data"]["syncCursor"], events.last().map_or(Value::Null, |e| e["id"].clone()));
        batched.extend(events.iter().cloned());
    }
    assert!(!batches.is_empty(), "the client lagged and was told");
    let lost_output = c.events.iter().filter(|e| e["type"] == "agent.tool_output").count();
    assert!(lost_output < 32_000_000 / 8192, "some live output was skipped ({lost_output} chunks seen)");

    // Each batch holds persisted events as stored, in order and without a gap, after those
    // of the batch before it (so no event is sent twice); a read after the last cursor
    // gives the rest of the run. (A lag that missed only live output gives an empty batch:
    // the client had heard of every persisted event.)
    assert!(c.pushed().is_empty(), "a run's events are not broadcast as event.new");
    let persisted = server.persisted(&session);
    let at = |e: &Value| persisted.iter().position(|p| p["id"] == e["id"]).expect("a persisted event");
    let mut last = None;
    for batch in &batches {
        let events = batch["data"]["events"].as_array().unwrap();
        for (i, e) in events.iter().enumerate() {
            let k = at(e);
            assert_eq!(e, &persisted[k], "as stored");
            assert!(last.is_none_or(|l| k > l), "after the events already sent");
            if i > 0 {
                assert_eq!(k, at(&events[i - 1]) + 1, "no gap in a batch");
            }
            last = Some(k);
        }
    }
    let after = match last {
        Some(k) => json!({"sessionId": session, "afterEventId": persisted[k]["id"]}),
        None => json!({"sessionId": session}),
    };
    let rest = c.call("events.getSince", after).await;
    let rest = rest["events"].as_array().unwrap();
    let end = rest.last().or(last.map(|k| &persisted[k])).unwrap();
    assert_eq!(end, persisted.last().unwrap(), "up to the end of the run");
    server.shutdown().await;
}

#[tokio::test]
async fn a_prompt_without_credentials_is_refused_and_leaves_the_session_free() {
    let server = start(Script::new([ScriptedResponse::text("Hello.")])).await;
    let mut c = Client::connect(server.addr).await;
    let created =
        c.call("session.create", json!({"workingDirectory": server.dir(), "model": "gpt-4o"})).await;
    let session = created["sessionId"].as_str().unwrap().to_owned();
    let before = server.store().events(&session).unwrap().len();

    for _ in 0..2 {
        let r = c.request("agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
        assert_eq!(r["success"], false, "{r}");
        assert_eq!(r["error"]["code"], "UNAUTHORIZED", "{r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("OPENAI_API_KEY"),
            "says what is missing: {r}"
        );
    }
    let state = c.call("agent.getState", json!({"sessionId": session})).await;
    assert_eq!(state["isRunning"], false);
    assert_eq!(c.call("system.getInfo", json!({})).await["activeSessions"], 0);
    assert_eq!(server.store().events(&session).unwrap().len(), before, "nothing was persisted");
    assert!(c.events.iter().all(|e| !e["type"].as_str().unwrap().starts_with("agent.")), "{:?}", c.events);

    // With a model that has credentials, the same session takes the prompt.
    c.call("model.switch", json!({"sessionId": session, "model": "claude-sonnet-4-5"})).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
    assert_eq!(c.until("agent.complete").await["data"]["success"], true);
    c.until("agent.ready").await;
    server.shutdown().await;
}

#[tokio::test]
async fn without_any_key_the_default_model_is_refused_too() {
    let server =
        start_with(Script::default(), Setup { anthropic_key: false, ..Default::default() }).await.unwrap();
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let r = c.request("agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
    assert_eq!(r["error"]["code"], "UNAUTHORIZED", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("ANTHROPIC_API_KEY"), "{r}");
    assert_eq!(c.call("agent.getState", json!({"sessionId": session})).await["isRunning"], false);
    server.shutdown().await;
}

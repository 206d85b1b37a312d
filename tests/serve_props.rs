//! Robustness of `tron serve` against whatever a client may send: a property test throws
//! random and malformed frames at one connection (random bytes, truncated JSON, wrong types
//! for `id` / `method` / `params`, huge strings, unknown methods, known methods with garbage
//! params; as text and binary frames) while a second client on the same server keeps
//! pinging. Properties: nothing panics; every frame that is a request (a JSON object with a
//! string `id`, a string `method`, and `params` absent, null or an object) gets exactly one
//! response with its id; every other frame gets a `system.error` event; the connection stays
//! open; the other client's pings are all answered correctly. One server serves every case.
//!
//! Also: a frame larger than [`tron::server::MAX_FRAME_BYTES`] closes only the connection
//! that sent it.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tron::server::MAX_FRAME_BYTES;
use tron::testing::{Script, ScriptedResponse};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Set by the panic hook: any panic anywhere in the process (a server task included).
static PANICKED: AtomicBool = AtomicBool::new(false);

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            default(info);
        }));
    });
}

/// A server on 127.0.0.1:0 with a temp database and a mock LLM that answers every prompt.
async fn start() -> common::Server {
    common::start(Script::new((0..500).map(|_| ScriptedResponse::text("ok")))).await
}

async fn connect(addr: SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    let hello = recv(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "system.connected", "{hello}");
    ws
}

/// The next text or binary frame as JSON; `Err` when none comes within 20 s, the
/// connection closes, or the frame is not JSON.
async fn recv(ws: &mut Ws) -> Result<Value, String> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .map_err(|_| "no frame within 20 s".to_owned())?
            .ok_or("the connection closed")?
            .map_err(|e| format!("WebSocket error: {e}"))?;
        let parsed = match msg {
            Message::Text(t) => serde_json::from_str(&t),
            Message::Binary(b) => serde_json::from_slice(&b),
            Message::Close(c) => return Err(format!("closed by the server: {c:?}")),
            _ => continue,
        };
        return parsed.map_err(|e| format!("the server sent a frame that is not JSON: {e}"));
    }
}

/// Sends a request and returns the response with its id (skipping events).
async fn request(ws: &mut Ws, id: &str, method: &str, params: Value) -> Result<Value, String> {
    let frame = json!({ "id": id, "method": method, "params": params }).to_string();
    ws.send(Message::Text(frame.into())).await.map_err(|e| e.to_string())?;
    loop {
        let v = recv(ws).await?;
        if v.get("success").is_some() {
            return if v["id"] == id {
                Ok(v)
            } else {
                Err(format!("expected the response to {id}, got {v}"))
            };
        }
    }
}

/// A frame to throw at the server.
#[derive(Debug, Clone)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Text(t) => t.as_bytes(),
            Frame::Binary(b) => b,
        }
    }

    fn message(&self) -> Message {
        match self {
            Frame::Text(t) => Message::Text(t.clone().into()),
            Frame::Binary(b) => Message::Binary(b.clone().into()),
        }
    }
}

/// The id of the response a frame must get, or `None` when it is not a request (it must
/// get a `system.error`). Written from the wire contract, independently of the server.
fn expected_id(bytes: &[u8]) -> Option<String> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(bytes) else { return None };
    match (obj.get("id"), obj.get("method"), obj.get("params")) {
        (Some(Value::String(id)), Some(Value::String(_)), None | Some(Value::Null | Value::Object(_))) => {
            Some(id.clone())
        }
        _ => None,
    }
}

/// Every method the server knows, plus families it does not serve yet.
const METHODS: &[&str] = &[
    "system.ping",
    "system.getInfo",
    "session.create",
    "session.resume",
    "session.list",
    "session.delete",
    "session.archive",
    "session.unarchive",
    "session.fork",
    "agent.prompt",
    "agent.message",
    "agent.abort",
    "agent.getState",
    "model.list",
    "model.switch",
    "events.getHistory",
    "events.getSince",
    "tree.getAncestors",
    "message.delete",
    "settings.get",
    "context.getSnapshot",
    "context.shouldCompact",
    "context.canAcceptTurn",
    "context.previewCompaction",
    "skill.list",
    "skill.get",
    "tasks.list",
    "tasks.get",
    "tasks.create",
    "search.content",
    "tree.getVisualization",
    "tree.getBranches",
    "tree.getSubtree",
    "filesystem.listDir",
    "filesystem.getHome",
    "file.read",
    "worktree.list",
];

/// Parameter names the handlers read.
const KEYS: &[&str] = &[
    "sessionId",
    "prompt",
    "workingDirectory",
    "model",
    "limit",
    "offset",
    "beforeEventId",
    "afterEventId",
    "afterSequence",
    "eventId",
    "targetEventId",
    "fromEventId",
    "includeArchived",
    "reason",
    "title",
    "type",
    "types",
    "query",
    "path",
    "direction",
    "maxDepth",
    "taskId",
    "name",
    "estimatedResponseTokens",
];

fn huge_string() -> impl Strategy<Value = String> {
    (any::<char>(), 50_000usize..400_000).prop_map(|(c, n)| c.to_string().repeat(n))
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!("")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Params made of the names handlers read, with values of any type (`session` is a real
/// session id, so some calls get past the lookup).
fn garbage_params(session: String) -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        4 => json_value(),
        1 => Just(Value::String(session)),
        1 => huge_string().prop_map(Value::String),
    ];
    prop::collection::btree_map(prop::sample::select(KEYS), value, 0..5)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>()))
}

fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![8 => "[A-Za-z0-9_-]{1,16}", 1 => Just(String::new()), 1 => huge_string()]
}

/// The frames' JSON text: requests of every kind, well- and ill-formed.
fn json_frame(session: String) -> impl Strategy<Value = String> {
    let method = prop_oneof![
        4 => prop::sample::select(METHODS).prop_map(str::to_owned),
        2 => "[a-z]{1,8}\\.[A-Za-z]{1,10}",
        1 => ".{0,30}",
        1 => huge_string(),
    ];
    let request = (any_id(), method, garbage_params(session))
        .prop_map(|(id, m, p)| json!({"id": id, "method": m, "params": p}))
        .boxed();
    let wrong_types = (json_value(), json_value(), json_value(), any::<u8>()).prop_map(|(id, m, p, drop)| {
        let mut obj = Map::new();
        if drop & 1 == 0 {
            obj.insert("id".into(), id);
        }
        if drop & 2 == 0 {
            obj.insert("method".into(), m);
        }
        if drop & 4 == 0 {
            obj.insert("params".into(), p);
        }
        Value::Object(obj)
    });
    prop_oneof![
        4 => request.clone().prop_map(|v| v.to_string()),
        2 => wrong_types.prop_map(|v| v.to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        // Truncated JSON (the prefix of a request, cut anywhere).
        2 => (request, any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string();
            let mut at = cut.index(text.len().max(1));
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_owned()
        }),
    ]
}

fn frame(session: String) -> impl Strategy<Value = Frame> {
    let text_or_binary = (json_frame(session), any::<bool>()).prop_map(|(t, binary)| {
        if binary {
            Frame::Binary(t.into_bytes())
        } else {
            Frame::Text(t)
        }
    });
    prop_oneof![
        6 => text_or_binary,
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Frame::Binary),
        1 => ".{0,200}".prop_map(Frame::Text),
    ]
}

/// Sends each frame and checks its answer; then checks the connection still answers.
async fn throw(ws: &mut Ws, frames: &[Frame], case: usize) -> Result<(), String> {
    for (i, f) in frames.iter().enumerate() {
        ws.send(f.message()).await.map_err(|e| format!("frame {i}: cannot send: {e}"))?;
        let expected = expected_id(f.bytes());
        loop {
            let v = recv(ws).await.map_err(|e| format!("frame {i}: {e}"))?;
            if v.get("success").is_some() {
                let Some(id) = &expected else {
                    return Err(format!("frame {i} is not a request but got a response: {v}"));
                };
                if v["id"].as_str() != Some(id) {
                    return Err(format!("frame {i}: a response with another id: {v}"));
                }
                let well_formed = match v["success"].as_bool() {
                    Some(true) => v["result"].is_object(),
                    Some(false) => v["error"]["code"].is_string() && v["error"]["message"].is_string(),
                    None => false,
                };
                if !well_formed {
                    return Err(format!("frame {i}: malformed response {v}"));
                }
                break;
            }
            if v["type"] == "system.error" {
                if expected.is_some() {
                    return Err(format!("frame {i} is a request but got a system.error: {v}"));
                }
                let code = v["data"]["code"].as_str().unwrap_or_default();
                if code != "PARSE_ERROR" && code != "INVALID_FORMAT" {
                    return Err(format!("frame {i}: unexpected system.error {v}"));
                }
                break;
            }
            // Other events (a session created, a run's frames) are not answers.
        }
    }
    // Still open, and nothing answered twice: the next answer is this ping's.
    let id = format!("end-{case}");
    let pong = request(ws, &id, "system.ping", json!({})).await?;
    if pong["result"]["pong"] != true {
        return Err(format!("bad pong {pong}"));
    }
    Ok(())
}

#[test]
fn random_and_malformed_frames_get_answers_and_never_break_the_server() {
    watch_panics();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(start());
    let addr = server.addr;
    let workdir = server.dir.path().to_str().unwrap().to_owned();
    let (fuzzed, session) = rt.block_on(async {
        let mut ws = connect(addr).await;
        let created = request(&mut ws, "setup", "session.create", json!({"workingDirectory": workdir})).await;
        let session = created.unwrap()["result"]["sessionId"].as_str().unwrap().to_owned();
        (ws, session)
    });
    let fuzzed = Mutex::new(fuzzed);

    // The second client pings all along.
    let stop = Arc::new(AtomicBool::new(false));
    let pings = Arc::new(AtomicUsize::new(0));
    let pinger = rt.spawn({
        let (stop, pings) = (Arc::clone(&stop), Arc::clone(&pings));
        async move {
            let mut ws = connect(addr).await;
            while !stop.load(Ordering::SeqCst) {
                let n = pings.load(Ordering::SeqCst);
                let v = request(&mut ws, &format!("ping-{n}"), "system.ping", json!({})).await?;
                if v["success"] != true || v["result"]["pong"] != true {
                    return Err(format!("bad pong {v}"));
                }
                pings.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<(), String>(())
        }
    });

    let config = Config { cases: 64, failure_persistence: None, ..Config::default() };
    let case = AtomicUsize::new(0);
    let result = TestRunner::new(config).run(&prop::collection::vec(frame(session), 1..8), |frames| {
        let n = case.fetch_add(1, Ordering::SeqCst);
        let mut ws = fuzzed.lock().unwrap_or_else(|e| e.into_inner());
        rt.block_on(throw(&mut ws, &frames, n)).map_err(TestCaseError::fail)?;
        prop_assert!(!PANICKED.load(Ordering::SeqCst), "something panicked");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }

    stop.store(true, Ordering::SeqCst);
    rt.block_on(pinger).unwrap().expect("the other client's pings");
    assert!(pings.load(Ordering::SeqCst) > 0, "the other client was answered while the frames were thrown");
    assert!(!PANICKED.load(Ordering::SeqCst), "something panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_only_its_connection() {
    let server = start().await;
    let mut big = connect(server.addr).await;
    let mut other = connect(server.addr).await;

    // The server may drop the connection while the frame is still being written.
    let _ = big.send(Message::Binary(vec![b' '; MAX_FRAME_BYTES + 1].into())).await;
    let next = tokio::time::timeout(Duration::from_secs(20), big.next())
        .await
        .expect("the connection that sent the oversized frame is still open");
    match next {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {}
        Some(Ok(m)) => panic!("the oversized frame was answered: {m:?}"),
    }

    let pong = request(&mut other, "after", "system.ping", json!({})).await.unwrap();
    assert_eq!(pong["result"]["pong"], true);
    let mut fresh = connect(server.addr).await;
    let pong = request(&mut fresh, "fresh", "system.ping", json!({})).await.unwrap();
    assert_eq!(pong["result"]["pong"], true);
}

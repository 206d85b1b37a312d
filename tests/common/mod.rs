//! What the `tron serve` tests share: a real server on 127.0.0.1:0 with a temp database and
//! the scripted mock LLM server, and a real WebSocket client that sends requests the way the
//! iOS app does (binary frames) and keeps the events it receives.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tron::events::{EventStore, OpenMode, StoreHandle};
use tron::rpc::state::EVENT_BUFFER;
use tron::rpc::ServerState;
use tron::server::{self, ServerConfig};
use tron::settings::{Paths, SettingsHandle, Sources};
use tron::testing::{MockLlm, Script};

/// A server on a free port, its mock LLM, and its temp data dir.
pub struct Server {
    pub addr: SocketAddr,
    pub mock: MockLlm,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// How a test server is set up.
pub struct Setup {
    pub config: ServerConfig,
    pub event_buffer: usize,
    /// Whether `ANTHROPIC_API_KEY` is set.
    pub anthropic_key: bool,
    /// Whether the memory ledger writes after each run (off by default: its model call
    /// would take the next scripted response; tests of the ledger turn it on).
    pub memory_ledger: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            config: ServerConfig { addr: "127.0.0.1:0".parse().unwrap(), ..Default::default() },
            event_buffer: EVENT_BUFFER,
            anthropic_key: true,
            memory_ledger: false,
        }
    }
}

/// A server with the default setup.
pub async fn start(script: Script) -> Server {
    start_with(script, Setup::default()).await.unwrap()
}

/// A server with `setup`; fails as [`server::bind`] does.
pub async fn start_with(script: Script, setup: Setup) -> Result<Server, server::ServeError> {
    let mock = MockLlm::start(script).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Running { addr, stop, done, .. } = serve_in(dir.path(), Some(&mock), setup).await?;
    Ok(Server { addr, mock, dir, stop: Some(stop), done })
}

/// A server with `setup` over a mock the caller started (e.g. with a responder).
pub async fn start_on(mock: MockLlm, setup: Setup) -> Result<Server, server::ServeError> {
    let dir = tempfile::tempdir().unwrap();
    let Running { addr, stop, done, .. } = serve_in(dir.path(), Some(&mock), setup).await?;
    Ok(Server { addr, mock, dir, stop: Some(stop), done })
}

/// A server running over a data dir the caller owns (so a test can restart one over the
/// same database).
pub struct Running {
    pub addr: SocketAddr,
    /// The server's state, for looking at what no method shows.
    pub state: Arc<ServerState>,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops the server gracefully.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.done).await.unwrap().unwrap().unwrap();
    }
}

/// A server over the data dir `dir` (its `prod.db` and `settings.json`; the dir is also the
/// server's `HOME`), every provider pointed at `mock` when there is one.
pub async fn serve_in(
    dir: &std::path::Path,
    mock: Option<&MockLlm>,
    setup: Setup,
) -> Result<Running, server::ServeError> {
    let paths = Paths { data_dir: dir.to_owned(), event_db: dir.join("prod.db") };
    let store = EventStore::open(&paths.event_db, OpenMode::Create).unwrap();
    let mut env: HashMap<String, String> = HashMap::new();
    if let Some(mock) = mock {
        for var in ["TRON_ANTHROPIC_BASE_URL", "TRON_OPENAI_BASE_URL", "TRON_GOOGLE_BASE_URL"] {
            env.insert(var.into(), mock.base_url());
        }
        env.insert("TRON_RETRY_BASE_MS".into(), "10".into());
    }
    if setup.anthropic_key {
        env.insert("ANTHROPIC_API_KEY".into(), "sk-ant-test".into());
    }
    env.insert("TRON_MEMORY_LEDGER".into(), setup.memory_ledger.to_string());
    // The browser tests' chromium (scripts/test.sh sets it), for BrowseTheWeb and browser.*.
    if let Some(chromium) = std::env::var("TRON_TEST_CHROMIUM").ok().filter(|c| !c.is_empty()) {
        env.insert("TRON_BROWSER".into(), chromium);
    }
    // The server's home is the data dir too: nothing of the real home leaks in.
    env.insert("HOME".into(), dir.display().to_string());
    let env: tron::settings::EnvLookup = Arc::new(move |n: &str| env.get(n).cloned());
    let settings = SettingsHandle::load(Sources::new(paths.settings_file(), env.clone())).unwrap();
    let state =
        ServerState::with_event_buffer(StoreHandle::spawn(store), paths, env, settings, setup.event_buffer);
    let listening = server::bind(setup.config, state.clone()).await?;
    let addr = listening.addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(listening.serve(async move {
        let _ = stopped.await;
    }));
    Ok(Running { addr, state, stop, done })
}

impl Server {
    /// `ws://ADDR/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The database, opened anew.
    pub fn store(&self) -> EventStore {
        EventStore::open(self.dir.path().join("prod.db"), OpenMode::Existing).unwrap()
    }

    /// The data dir (also a working directory sessions can use).
    pub fn dir(&self) -> String {
        self.dir.path().to_str().unwrap().to_owned()
    }

    /// Every persisted event of `session`, as the wire sends them.
    pub fn persisted(&self, session: &str) -> Vec<Value> {
        self.store().events(session).unwrap().iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }

    /// Stops the server gracefully; gives back the data dir.
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.done).await.unwrap().unwrap().unwrap();
        self.dir
    }
}

/// A WebSocket client that keeps the events it receives while waiting for responses.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub events: Vec<Value>,
    next_id: u64,
}

impl Client {
    /// Connects and checks the `system.connected` greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
        let mut c = Client { ws, events: Vec::new(), next_id: 0 };
        let hello = c.recv().await;
        assert_eq!(hello["type"], "system.connected", "{hello}");
        assert!(hello["data"]["clientId"].as_str().unwrap().starts_with("client_"));
        c
    }

    /// The next frame (panics after 20 s or on close).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("no frame within 20 s")
                .expect("the connection closed")
                .unwrap();
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Binary(b) => return serde_json::from_slice(&b).unwrap(),
                Message::Close(_) => panic!("closed by the server"),
                _ => {}
            }
        }
    }

    /// Sends a frame as it is.
    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.unwrap();
    }

    /// Sends a request (as a binary frame, like the iOS app) and returns the whole response.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("REQ-{}", self.next_id);
        let frame = json!({ "id": id, "method": method, "params": params });
        self.send_raw(Message::Binary(frame.to_string().into_bytes().into())).await;
        loop {
            let v = self.recv().await;
            if v.get("id").and_then(Value::as_str) == Some(id.as_str()) {
                return v;
            }
            self.events.push(v);
        }
    }

    /// The `result` of a successful request.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params).await;
        assert_eq!(r["success"], true, "{method} failed: {r}");
        r["result"].clone()
    }

    /// The `error` of a failed request.
    pub async fn fail(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params).await;
        assert_eq!(r["success"], false, "{method} should fail: {r}");
        r["error"].clone()
    }

    /// Receives until an event of `kind` arrives (keeping every event), and returns it.
    pub async fn until(&mut self, kind: &str) -> Value {
        if let Some(e) = self.events.iter().find(|e| e["type"] == kind) {
            return e.clone();
        }
        loop {
            let v = self.recv().await;
            self.events.push(v.clone());
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// A new session in `dir`; its id.
    pub async fn session(&mut self, dir: &str) -> String {
        let created = self.call("session.create", json!({"workingDirectory": dir})).await;
        created["sessionId"].as_str().unwrap().to_owned()
    }

    /// The types of the events received, without `event.new`.
    pub fn types(&self) -> Vec<&str> {
        self.events.iter().filter_map(|e| e["type"].as_str()).filter(|t| *t != "event.new").collect()
    }

    /// The persisted events pushed as `event.new`.
    pub fn pushed(&self) -> Vec<Value> {
        self.events.iter().filter(|e| e["type"] == "event.new").map(|e| e["data"]["event"].clone()).collect()
    }
}

/// `tron chat --db DB` (the real binary) with every provider pointed at `mock` with test
/// keys, fast retries, and the data dir (auth file) beside the database, never the
/// machine's own. Add the prompt and flags.
pub fn chat_command(mock: &MockLlm, db: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tron"));
    cmd.arg("chat")
        .arg("--db")
        .arg(db)
        .env("TRON_DATA_DIR", db.parent().unwrap())
        .env("ANTHROPIC_API_KEY", "sk-ant-test-key")
        .env("TRON_ANTHROPIC_BASE_URL", mock.base_url())
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
        .env("OPENAI_API_KEY", "sk-openai-test")
        .env("TRON_OPENAI_BASE_URL", mock.base_url())
        .env("GEMINI_API_KEY", "gemini-test")
        .env("TRON_GOOGLE_BASE_URL", mock.base_url())
        .env("TRON_RETRY_BASE_MS", "20")
        // The ledger's model call would take the next scripted response.
        .env("TRON_MEMORY_LEDGER", "false");
    cmd
}

/// The only session of the database at `db`: its id and its events as (type, payload).
/// Every event must parse as its TypeScript payload shape.
pub fn only_session_events(db: &std::path::Path) -> (String, Vec<(String, Value)>) {
    let store = EventStore::open(db, OpenMode::Existing).unwrap();
    let session =
        store.list_sessions(&tron::events::ListOptions::default()).unwrap().remove(0).id.into_string();
    let events = store
        .events(&session)
        .unwrap()
        .into_iter()
        .map(|e| {
            e.typed().unwrap_or_else(|err| {
                panic!("{} does not have its TypeScript shape: {err}\n{}", e.event_type, e.payload)
            });
            (e.event_type.as_str().to_owned(), e.payload)
        })
        .collect();
    (session, events)
}

/// Spawns `cmd` (a `tron serve ... --port 0` command; stdout is piped here) and returns the
/// process and the address of its `listening on ws://ADDR/ws` line.
pub fn spawn_serve(cmd: &mut std::process::Command) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .split("ws://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// The system prompt of a provider request body (Anthropic: a string or text blocks).
pub fn system_of(body: &Value) -> String {
    match &body["system"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        other => panic!("no system prompt in the request: {other}"),
    }
}

//! `tron auth` through the real binary against a mock OAuth authorization server (axum on
//! 127.0.0.1:0): the full PKCE login through the callback and through the paste fallback,
//! every failure (state mismatch, denied consent, bad code, unreachable token endpoint)
//! leaving auth.json unchanged, refresh before expiry and after a 401 in `tron chat`,
//! concurrent refreshes from two processes making one token request, logout, set-key,
//! mode 0600, the TypeScript file format kept, a corrupt file left untouched, and no
//! secret in any output.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tron::testing::{MockLlm, Script, ScriptedResponse};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

#[derive(Default)]
struct Mock {
    token_requests: AtomicUsize,
    refreshes: AtomicUsize,
    /// The code_challenge of the authorize URL, checked against the verifier.
    challenge: Mutex<Option<String>>,
    bodies: Mutex<Vec<Value>>,
    /// How many token requests came as JSON (the others as a form).
    json_bodies: AtomicUsize,
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn query(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    let dec = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(if b[i] == b'+' { b' ' } else { b[i] });
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (dec(k), dec(v))).collect()
}

fn param(pairs: &[(String, String)], k: &str) -> String {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default()
}

async fn token(State(m): State<Arc<Mock>>, headers: HeaderMap, body: String) -> axum::response::Response {
    m.token_requests.fetch_add(1, Ordering::SeqCst);
    let json_body = headers.get("content-type").is_some_and(|v| v.to_str().unwrap().contains("json"));
    if json_body {
        m.json_bodies.fetch_add(1, Ordering::SeqCst);
    }
    let b: Value = if json_body {
        serde_json::from_str(&body).unwrap()
    } else {
        let pairs = query(&format!("?{body}"));
        Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
    };
    m.bodies.lock().unwrap().push(b.clone());
    let bad = |d: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": d})))
            .into_response()
    };
    match b["grant_type"].as_str() {
        Some("authorization_code") => {
            if b["code"] != "good-code" {
                return bad("unknown code");
            }
            let verifier = b["code_verifier"].as_str().unwrap_or("");
            let want = m.challenge.lock().unwrap().clone().unwrap_or_default();
            if b64url(&Sha256::digest(verifier.as_bytes())) != want {
                return bad("PKCE verifier does not match");
            }
            Json(json!({
                "access_token": "sk-ant-oat01-LOGIN-ACCESS", "refresh_token": "sk-ant-ort01-LOGIN-REFRESH",
                "expires_in": 28800, "account": {"email_address": "me@example.com"}
            }))
            .into_response()
        }
        Some("refresh_token") => {
            if b["refresh_token"] != "r-old" {
                return bad("refresh token already used");
            }
            // Slow, so that a concurrent second refresh would overlap.
            tokio::time::sleep(Duration::from_millis(400)).await;
            m.refreshes.fetch_add(1, Ordering::SeqCst);
            Json(json!({"access_token": "a-new", "refresh_token": "r-new", "expires_in": 3600}))
                .into_response()
        }
        _ => bad("grant"),
    }
}

struct Server {
    rt: tokio::runtime::Runtime,
    mock: Arc<Mock>,
    base: String,
}

fn server() -> Server {
    let rt = runtime();
    let mock = Arc::new(Mock::default());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/token", axum::routing::post(token)).with_state(Arc::clone(&mock));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { rt, mock, base }
}

struct Home {
    _dir: tempfile::TempDir,
    data: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("tron-home");
        Home { _dir: dir, data }
    }
    fn auth(&self) -> PathBuf {
        self.data.join("auth.json")
    }
    fn write(&self, text: &str) {
        std::fs::create_dir_all(&self.data).unwrap();
        std::fs::write(self.auth(), text).unwrap();
    }
    fn read(&self) -> String {
        std::fs::read_to_string(self.auth()).unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.read()).unwrap()
    }
}

const SECRETS: &[&str] =
    &["LOGIN-ACCESS", "LOGIN-REFRESH", "a-old", "r-old", "a-new", "r-new", "sk-file-key"];

fn clean_env<C: EnvSet>(cmd: &mut C, home: &Home, s: &Server) {
    for v in
        ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"]
    {
        cmd.remove(v);
    }
    cmd.set("TRON_DATA_DIR", home.data.to_str().unwrap());
    cmd.set("TRON_AUTH_ANTHROPIC_TOKEN_URL", &format!("{}/token", s.base));
    cmd.set("TRON_AUTH_ANTHROPIC_AUTHORIZE_URL", &format!("{}/authorize", s.base));
    cmd.set("TRON_AUTH_ANTHROPIC_REDIRECT_URI", "http://127.0.0.1:0/callback");
    cmd.set("TRON_AUTH_OPENAI_TOKEN_URL", &format!("{}/token", s.base));
    cmd.set("TRON_AUTH_OPENAI_AUTHORIZE_URL", &format!("{}/authorize", s.base));
    cmd.set("TRON_AUTH_OPENAI_REDIRECT_URI", "http://127.0.0.1:0/auth/callback");
    cmd.set("TRON_AUTH_NO_OPEN", "1");
    cmd.set("TRON_AUTH_LOGIN_TIMEOUT_SECS", "30");
}

trait EnvSet {
    fn set(&mut self, k: &str, v: &str);
    fn remove(&mut self, k: &str);
}
impl EnvSet for Command {
    fn set(&mut self, k: &str, v: &str) {
        self.env(k, v);
    }
    fn remove(&mut self, k: &str) {
        self.env_remove(k);
    }
}
impl EnvSet for StdCommand {
    fn set(&mut self, k: &str, v: &str) {
        self.env(k, v);
    }
    fn remove(&mut self, k: &str) {
        self.env_remove(k);
    }
}

fn tron(home: &Home, s: &Server) -> Command {
    let mut cmd = Command::cargo_bin("tron").unwrap();
    clean_env(&mut cmd, home, s);
    cmd
}

/// Starts `tron auth login anthropic` and reads the authorize URL it prints.
fn start_login(
    home: &Home,
    s: &Server,
    extra: &[&str],
) -> (Child, String, BufReader<std::process::ChildStderr>) {
    start_login_to("anthropic", home, s, extra)
}

/// Starts `tron auth login PROVIDER` and reads the authorize URL it prints.
fn start_login_to(
    provider: &str,
    home: &Home,
    s: &Server,
    extra: &[&str],
) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("tron"));
    clean_env(&mut cmd, home, s);
    cmd.args(["auth", "login", provider]).args(extra);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut url = String::new();
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "no URL printed: {seen}");
        seen.push_str(&line);
        if line.starts_with("http") {
            url = line.trim().to_owned();
        }
        if !url.is_empty() && (line.starts_with("Waiting") || line.starts_with("Paste")) {
            break;
        }
    }
    let pairs = query(&url);
    *s.mock.challenge.lock().unwrap() = Some(param(&pairs, "code_challenge"));
    (child, url, err)
}

fn finish(mut child: Child, mut err: BufReader<std::process::ChildStderr>) -> (i32, String, String) {
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    (status.code().unwrap_or(-1), out, rest)
}

fn redirect(s: &Server, url: &str, code: &str, state: Option<&str>, error: Option<&str>) -> u16 {
    let pairs = query(url);
    let redirect_uri = param(&pairs, "redirect_uri");
    let state = state.map_or_else(|| param(&pairs, "state"), str::to_owned);
    let mut target = format!("{redirect_uri}?state={state}");
    if let Some(e) = error {
        target.push_str(&format!("&error={e}"));
    } else {
        target.push_str(&format!("&code={code}"));
    }
    s.rt.block_on(async { reqwest::get(&target).await.unwrap().status().as_u16() })
}

const TS_FILE: &str = r#"{
  "version": 1,
  "providers": {
    "openai": {"apiKey": "sk-file-key"},
    "google": {"apiKey": "gem", "endpoint": "antigravity", "projectId": "p-1", "clientId": "cid"},
    "anthropic": {"accounts": [{"label": "work", "oauth": {"accessToken": "x", "refreshToken": "y", "expiresAt": 1}}]}
  },
  "services": {"brave": {"apiKeys": ["b1", "b2"]}},
  "lastUpdated": "2026-01-01T00:00:00.000Z",
  "futureKey": {"kept": true}
}"#;

#[test]
fn codex_login_sends_the_typescript_parameters_and_a_json_exchange() {
    let s = server();
    let home = Home::new();
    let (child, url, err) = start_login_to("openai-codex", &home, &s, &[]);
    let pairs = query(&url);
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "code_challenge",
            "code_challenge_method",
            "state"
        ],
        "{url}"
    );
    assert_eq!(param(&pairs, "client_id"), "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(param(&pairs, "scope"), "openid profile email offline_access");
    assert_eq!(redirect(&s, &url, "good-code", None, None), 200);
    let (code, _out, stderr) = finish(child, err);
    assert_eq!(code, 0, "{stderr}");
    let v = home.json();
    assert_eq!(v["providers"]["openai-codex"]["oauth"]["accessToken"], "sk-ant-oat01-LOGIN-ACCESS");
    assert_eq!(v["providers"]["openai-codex"]["oauth"]["refreshToken"], "sk-ant-ort01-LOGIN-REFRESH");
    // JSON, as the TypeScript login posts it.
    assert_eq!(s.mock.json_bodies.load(Ordering::SeqCst), 1);
    let body = s.mock.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert!(body.get("state").is_none() && body.get("client_secret").is_none(), "{body}");
}

#[test]
fn full_pkce_login_through_the_callback() {
    let s = server();
    let home = Home::new();
    home.write(TS_FILE);
    let (child, url, err) = start_login(&home, &s, &[]);
    let pairs = query(&url);
    assert!(url.starts_with(&format!("{}/authorize?", s.base)), "{url}");
    assert_eq!(param(&pairs, "client_id"), "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(param(&pairs, "code_challenge_method"), "S256");
    assert_eq!(param(&pairs, "response_type"), "code");
    assert_eq!(param(&pairs, "scope"), "org:create_api_key user:profile user:inference");
    assert!(param(&pairs, "redirect_uri").starts_with("http://127.0.0.1:"));
    assert_eq!(redirect(&s, &url, "good-code", None, None), 200);
    let (code, out, stderr) = finish(child, err);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("signed in to anthropic as me@example.com"), "{out}");
    let v = home.json();
    assert_eq!(v["providers"]["anthropic"]["oauth"]["accessToken"], "sk-ant-oat01-LOGIN-ACCESS");
    assert_eq!(v["providers"]["anthropic"]["accountLabel"], "me@example.com");
    // The TypeScript file's other content is kept.
    assert_eq!(v["providers"]["anthropic"]["accounts"][0]["label"], "work");
    assert_eq!(v["services"]["brave"]["apiKeys"], json!(["b1", "b2"]));
    assert_eq!(v["futureKey"], json!({"kept": true}));
    assert_eq!(v["providers"]["google"]["projectId"], "p-1");
    // The token request carried the verifier, the redirect URI and the state.
    let body = s.mock.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["redirect_uri"].as_str().unwrap(), param(&pairs, "redirect_uri"));
    assert_eq!(body["state"].as_str().unwrap(), param(&pairs, "state"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.auth()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for secret in SECRETS {
        assert!(!out.contains(secret) && !stderr.contains(secret), "{secret} leaked");
    }
    // status: kind, expiry, account; never a secret.
    let st = tron(&home, &s).args(["auth", "status"]).assert().success().get_output().stdout.clone();
    let st = String::from_utf8(st).unwrap();
    assert!(st.contains("anthropic") && st.contains("oauth") && st.contains("me@example.com"), "{st}");
    let sj =
        tron(&home, &s).args(["auth", "status", "--json"]).assert().success().get_output().stdout.clone();
    let sj = String::from_utf8(sj).unwrap();
    let parsed: Value = serde_json::from_str(&sj).unwrap();
    assert!(parsed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["provider"] == "openai" && p["kind"] == "apiKey"));
    for secret in SECRETS.iter().chain(&["gem", "b1"]) {
        assert!(!st.contains(secret) && !sj.contains(secret), "{secret} leaked in status:\n{st}\n{sj}");
    }
}

fn failing_login(redirect_with: impl FnOnce(&Server, &str), token_url: Option<&str>) -> String {
    let mut s = server();
    if let Some(u) = token_url {
        s.base = u.to_owned();
    }
    let home = Home::new();
    home.write(TS_FILE);
    let (child, url, err) = start_login(&home, &s, &[]);
    redirect_with(&s, &url);
    let (code, _out, stderr) = finish(child, err);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(home.read(), TS_FILE, "the auth file changed");
    let last = stderr.lines().last().unwrap_or("").to_owned();
    assert!(last.starts_with("error: "), "{stderr}");
    for secret in SECRETS {
        assert!(!stderr.contains(secret), "{secret} leaked: {stderr}");
    }
    last
}

#[test]
fn a_state_mismatch_is_refused_and_changes_nothing() {
    let e = failing_login(
        |s, url| {
            assert_eq!(redirect(s, url, "good-code", Some("forged"), None), 400);
        },
        None,
    );
    assert!(e.contains("state does not match"), "{e}");
}

#[test]
fn denied_consent_is_a_clear_error() {
    let e = failing_login(
        |s, url| {
            redirect(s, url, "", None, Some("access_denied"));
        },
        None,
    );
    assert!(e.contains("refused") && e.contains("access_denied"), "{e}");
}

#[test]
fn a_bad_code_is_a_clear_error() {
    let e = failing_login(
        |s, url| {
            redirect(s, url, "bad-code", None, None);
        },
        None,
    );
    assert!(e.contains("HTTP 400 invalid_grant"), "{e}");
}

#[test]
fn an_unreachable_token_endpoint_is_a_clear_error() {
    // Port 1 on 127.0.0.1: nothing listens there.
    let e = failing_login(
        |s, url| {
            redirect(s, url, "good-code", None, None);
        },
        Some("http://127.0.0.1:1"),
    );
    assert!(e.contains("cannot reach http://127.0.0.1:1/token"), "{e}");
}

#[test]
fn the_paste_fallback_takes_code_and_state() {
    let s = server();
    let home = Home::new();
    let (mut child, url, err) = start_login(&home, &s, &["--no-browser", "--json"]);
    let state = param(&query(&url), "state");
    writeln!(child.stdin.as_mut().unwrap(), "good-code#{state}").unwrap();
    let (code, out, stderr) = finish(child, err);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["provider"].as_str(), v["kind"].as_str()), (Some("anthropic"), Some("oauth")));
    assert!(!out.contains("LOGIN-ACCESS"));
    assert_eq!(home.json()["providers"]["anthropic"]["oauth"]["refreshToken"], "sk-ant-ort01-LOGIN-REFRESH");
}

fn expiring_file(home: &Home, expires_in_ms: i64) {
    let at = chrono::Utc::now().timestamp_millis() + expires_in_ms;
    home.write(
        &json!({"version": 1, "providers": {"anthropic": {"oauth": {"accessToken": "a-old", "refreshToken": "r-old", "expiresAt": at}}}, "other": 1})
            .to_string(),
    );
}

fn chat(home: &Home, s: &Server, llm: &MockLlm) -> (i32, String) {
    let out = tron(home, s)
        .args(["chat", "--no-tools", "hello"])
        .arg("--db")
        .arg(home.data.join("t.db"))
        .env("TRON_ANTHROPIC_BASE_URL", llm.base_url())
        .env("TRON_MAX_RETRIES", "0")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn chat_refreshes_an_almost_expired_token_first() {
    let s = server();
    let home = Home::new();
    expiring_file(&home, 60_000); // inside the 5-minute buffer
    let llm = s.rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("hi there")]))).unwrap();
    let (code, text) = chat(&home, &s, &llm);
    assert_eq!(code, 0, "{text}");
    assert_eq!(s.mock.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(llm.requests()[0].header("authorization"), Some("Bearer a-new"));
    let v = home.json();
    assert_eq!(v["providers"]["anthropic"]["oauth"]["refreshToken"], "r-new");
    assert_eq!(v["other"], 1);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn chat_refreshes_once_after_a_401() {
    let s = server();
    let home = Home::new();
    expiring_file(&home, 3_600_000);
    let llm =
        s.rt.block_on(MockLlm::start(Script::new([
            ScriptedResponse::anthropic_error(401, "authentication_error", "token revoked", None),
            ScriptedResponse::text("hi again"),
        ])))
        .unwrap();
    let (code, text) = chat(&home, &s, &llm);
    assert_eq!(code, 0, "{text}");
    let reqs = llm.requests();
    assert_eq!(reqs[0].header("authorization"), Some("Bearer a-old"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer a-new"));
    assert_eq!(s.mock.refreshes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_failed_refresh_is_one_clear_line_and_keeps_the_file() {
    let s = server();
    let home = Home::new();
    let at = chrono::Utc::now().timestamp_millis() - 1000;
    let text = json!({"version": 1, "providers": {"anthropic": {"oauth": {"accessToken": "a-old", "refreshToken": "r-used", "expiresAt": at}}}}).to_string();
    home.write(&text);
    let llm = s.rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("x")]))).unwrap();
    let (code, out) = chat(&home, &s, &llm);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("token refresh failed: HTTP 400 invalid_grant")
            && out.contains("tron auth login anthropic"),
        "{out}"
    );
    assert_eq!(home.read(), text);
    assert!(llm.requests().is_empty());
}

#[test]
fn two_processes_refreshing_at_once_make_one_token_request() {
    let s = server();
    let home = Home::new();
    expiring_file(&home, -1000);
    let spawn = || {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("tron"));
        clean_env(&mut cmd, &home, &s);
        cmd.args(["auth", "refresh", "anthropic", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("a-new"));
    }
    assert_eq!(s.mock.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(home.json()["providers"]["anthropic"]["oauth"]["accessToken"], "a-new");
    assert!(!home.data.join("auth.json.lock").exists());
}

#[test]
fn set_key_reads_stdin_and_logout_removes_only_that_provider() {
    let s = server();
    let home = Home::new();
    home.write(TS_FILE);
    tron(&home, &s)
        .args(["auth", "set-key", "anthropic"])
        .write_stdin("sk-ant-api-NEWKEY\n")
        .assert()
        .success();
    let v = home.json();
    assert_eq!(v["providers"]["anthropic"]["apiKey"], "sk-ant-api-NEWKEY");
    assert_eq!(v["futureKey"], json!({"kept": true}));
    // Never from argv.
    tron(&home, &s).args(["auth", "set-key", "anthropic", "sk-ant-api-ARGV"]).assert().code(2);
    tron(&home, &s).args(["auth", "set-key", "anthropic"]).write_stdin("").assert().code(1);
    let out = tron(&home, &s)
        .args(["auth", "logout", "openai", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({"provider": "openai", "removed": true})
    );
    let v = home.json();
    assert!(v["providers"].get("openai").is_none());
    assert_eq!(v["providers"]["google"]["endpoint"], "antigravity");
    assert_eq!(v["services"]["brave"]["apiKeys"], json!(["b1", "b2"]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(home.auth()).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_corrupt_file_is_reported_and_left_untouched() {
    let s = server();
    let home = Home::new();
    let corrupt = "{\"version\": 1, \"providers\": {\"anthropic\": ";
    home.write(corrupt);
    for args in [
        &["auth", "set-key", "openai"][..],
        &["auth", "logout", "anthropic"],
        &["auth", "login", "anthropic", "--no-browser"],
        &["auth", "status"],
    ] {
        let out =
            tron(&home, &s).args(args).write_stdin("sk-x\n").assert().code(1).get_output().stderr.clone();
        let err = String::from_utf8(out).unwrap();
        assert!(err.starts_with("error: the auth file") && err.contains("not valid"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(home.read(), corrupt);
    }
    assert_eq!(s.mock.token_requests.load(Ordering::SeqCst), 0);
}

#[test]
fn unknown_providers_are_usage_errors() {
    let s = server();
    let home = Home::new();
    let out = tron(&home, &s).args(["auth", "login", "nope"]).assert().code(1).get_output().stderr.clone();
    assert!(String::from_utf8(out).unwrap().contains("unknown provider"));
    let _ = Path::new("");
}

/// An auth file with the single `oauth` and two `accounts[]` (the TypeScript multi-account
/// shape); `work` expires within the refresh buffer.
fn accounts_file(home: &Home) {
    let soon = chrono::Utc::now().timestamp_millis() + 60_000;
    let later = chrono::Utc::now().timestamp_millis() + 3_600_000;
    home.write(
        &json!({"version": 1, "providers": {"anthropic": {
            "oauth": {"accessToken": "a-legacy", "refreshToken": "r-legacy", "expiresAt": later},
            "accounts": [
                {"label": "work", "oauth": {"accessToken": "a-old", "refreshToken": "r-old", "expiresAt": soon}},
                {"label": "personal", "oauth": {"accessToken": "a-personal", "refreshToken": "r-personal", "expiresAt": later}, "note": 7}
            ]}}})
        .to_string(),
    );
}

#[test]
fn accounts_come_first_and_server_anthropic_account_picks_one() {
    let s = server();
    let home = Home::new();
    accounts_file(&home);
    // server.anthropicAccount names the account (the iOS app's setting).
    std::fs::write(home.data.join("settings.json"), r#"{"server": {"anthropicAccount": "personal"}}"#)
        .unwrap();
    let llm = s.rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("hi")]))).unwrap();
    let (code, text) = chat(&home, &s, &llm);
    assert_eq!(code, 0, "{text}");
    assert_eq!(llm.requests()[0].header("authorization"), Some("Bearer a-personal"));
    assert_eq!(s.mock.refreshes.load(Ordering::SeqCst), 0);

    // Without the setting the first account is used (before the single `oauth`); it expires
    // soon, so it is refreshed and saved into that account, the rest of the file untouched.
    std::fs::remove_file(home.data.join("settings.json")).unwrap();
    let llm = s.rt.block_on(MockLlm::start(Script::new([ScriptedResponse::text("hi")]))).unwrap();
    let (code, text) = chat(&home, &s, &llm);
    assert_eq!(code, 0, "{text}");
    assert_eq!(s.mock.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(llm.requests()[0].header("authorization"), Some("Bearer a-new"));
    let v = home.json();
    let anthropic = &v["providers"]["anthropic"];
    assert_eq!(anthropic["accounts"][0]["oauth"]["refreshToken"], "r-new");
    assert_eq!(anthropic["accounts"][1]["oauth"]["accessToken"], "a-personal");
    assert_eq!(anthropic["accounts"][1]["note"], 7);
    assert_eq!(anthropic["oauth"]["accessToken"], "a-legacy", "the single oauth is left alone");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

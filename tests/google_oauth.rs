//! Gemini on a Google sign-in (`tron auth login google` / `google-antigravity` tokens in
//! auth.json) through the real binary: `tron chat` against the scripted mock LLM server's
//! Code Assist routes and a local mock token endpoint (axum on 127.0.0.1:0). Covered: the
//! project discovered by `loadCodeAssist` and saved (other keys kept, mode 0600), the
//! wrapped body and per-endpoint headers, Antigravity's fields and model rename, a stored or
//! `GOOGLE_CLOUD_PROJECT` project skipping discovery, refresh before expiry and once after a
//! 401, a failing discovery being one clear error that writes nothing, an environment API
//! key still winning, and no secret in any output.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse};

const MODEL: &str = "gemini-2.5-flash";
const SECRETS: &[&str] = &["ya29.OLD", "1//r-old", "ya29.NEW", "1//r-new", "cid-secret", "AIza-env-key"];

#[derive(Default)]
struct Tokens {
    refreshes: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    discoveries: AtomicUsize,
}

/// The token endpoint: Google's refresh grant (a form body).
async fn token(State(m): State<Arc<Tokens>>, body: String) -> axum::response::Response {
    let form: Value = Value::Object(
        body.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::from(v.replace("%2F", "/"))))
            .collect(),
    );
    m.bodies.lock().unwrap().push(form.clone());
    if form["grant_type"] != "refresh_token" || form["refresh_token"] != "1//r-old" {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    m.refreshes.fetch_add(1, Ordering::SeqCst);
    Json(json!({"access_token": "ya29.NEW", "refresh_token": "1//r-new", "expires_in": 3600})).into_response()
}

/// A Code Assist host whose `loadCodeAssist` refuses (for the failing-discovery test).
async fn refuse_discovery(State(m): State<Arc<Tokens>>) -> axum::response::Response {
    m.discoveries.fetch_add(1, Ordering::SeqCst);
    let body = json!({"error": {"code": 403, "message": "Cloud AI Companion API has not been used", "status": "PERMISSION_DENIED"}});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

struct Env {
    _rt: tokio::runtime::Runtime,
    tokens: Arc<Tokens>,
    base: String,
    llm: MockLlm,
    _dir: tempfile::TempDir,
    data: PathBuf,
}

impl Env {
    fn new(script: Script) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let tokens = Arc::new(Tokens::default());
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/token", axum::routing::post(token))
            .route("/v1internal:loadCodeAssist", axum::routing::post(refuse_discovery))
            .with_state(Arc::clone(&tokens));
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        let llm = rt.block_on(MockLlm::start(script)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("tron-home");
        std::fs::create_dir_all(&data).unwrap();
        Env { _rt: rt, tokens, base, llm, _dir: dir, data }
    }

    fn auth(&self) -> PathBuf {
        self.data.join("auth.json")
    }

    /// Writes an auth.json with Google tokens expiring in `expires_in_ms` and `extra` fields.
    fn write_google(&self, expires_in_ms: i64, extra: Value) -> String {
        let at = chrono::Utc::now().timestamp_millis() + expires_in_ms;
        let mut google = json!({
            "oauth": {"accessToken": "ya29.OLD", "refreshToken": "1//r-old", "expiresAt": at},
            "clientId": "cid.apps.googleusercontent.com", "clientSecret": "cid-secret"
        });
        for (k, v) in extra.as_object().unwrap() {
            google[k] = v.clone();
        }
        let text =
            json!({"version": 1, "providers": {"google": google}, "futureKey": {"kept": true}}).to_string();
        std::fs::write(self.auth(), &text).unwrap();
        text
    }

    fn json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.auth()).unwrap()).unwrap()
    }

    fn chat(&self, model: &str, configure: impl FnOnce(&mut Command)) -> (i32, String, String) {
        let mut cmd = Command::cargo_bin("tron").unwrap();
        for v in [
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_OAUTH_TOKEN",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_CLOUD_PROJECT_ID",
            "TRON_GOOGLE_ANTIGRAVITY_BASE_URL",
            "TRON_AUTH_GOOGLE_CLIENT_ID",
            "TRON_AUTH_GOOGLE_CLIENT_SECRET",
        ] {
            cmd.env_remove(v);
        }
        cmd.env("TRON_DATA_DIR", &self.data)
            .env("TRON_AUTH_GOOGLE_TOKEN_URL", format!("{}/token", self.base))
            .env("TRON_GOOGLE_CODE_ASSIST_BASE_URL", self.llm.base_url())
            .env("TRON_GOOGLE_BASE_URL", self.llm.base_url())
            .env("TRON_MAX_RETRIES", "0")
            // The ledger's model call after the answer would take another scripted response.
            .env("TRON_MEMORY_LEDGER", "false")
            .args(["chat", "--no-tools", "--model", model, "hello"])
            .arg("--db")
            .arg(self.data.join("t.db"));
        configure(&mut cmd);
        let out = cmd.output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        for secret in SECRETS {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{secret} leaked: {stdout}{stderr}"
            );
        }
        (out.status.code().unwrap(), stdout, stderr)
    }
}

const STREAM: &str = "/v1internal:streamGenerateContent?alt=sse";
const LOAD: &str = "/v1internal:loadCodeAssist";

#[test]
fn cloud_code_assist_discovers_and_saves_the_project_then_streams() {
    let env = Env::new(Script::new([ScriptedResponse::text("Hello from Gemini")]));
    env.write_google(3_600_000, json!({"endpoint": "cloud-code-assist"}));
    let (code, out, err) = env.chat(MODEL, |_| {});
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Hello from Gemini"), "{out}");

    let reqs = env.llm.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [LOAD, STREAM]);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer ya29.OLD"));
    assert_eq!(reqs[0].body["metadata"]["pluginType"], "GEMINI");
    let r = &reqs[1];
    assert_eq!(r.header("authorization"), Some("Bearer ya29.OLD"));
    assert_eq!(r.header("x-goog-user-project"), Some("mock-project"));
    assert_eq!(r.header("x-goog-api-key"), None);
    assert_eq!(r.header("user-agent"), Some("tron-ai-agent/1.0.0"));
    assert_eq!(r.body["model"], MODEL);
    assert_eq!(r.body["project"], "mock-project");
    assert_eq!(r.body["request"]["contents"], json!([{"role": "user", "parts": [{"text": "hello"}]}]));
    assert!(r.body["request"]["generationConfig"]["maxOutputTokens"].is_u64());
    assert!(r.body.get("requestType").is_none() && r.body.get("contents").is_none());

    let saved = env.json();
    assert_eq!(saved["providers"]["google"]["projectId"], "mock-project");
    assert_eq!(saved["providers"]["google"]["oauth"]["accessToken"], "ya29.OLD");
    assert_eq!(saved["providers"]["google"]["clientId"], "cid.apps.googleusercontent.com");
    assert_eq!(saved["futureKey"]["kept"], true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(env.auth()).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(!env.data.join("auth.json.lock").exists());
}

#[test]
fn antigravity_sends_its_fields_headers_and_model_name() {
    let env = Env::new(Script::new([ScriptedResponse::text("from antigravity")]));
    let text = env.write_google(3_600_000, json!({"endpoint": "antigravity", "projectId": "stored-proj"}));
    let (code, out, err) = env.chat("gemini-3-pro-preview", |_| {});
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("from antigravity"), "{out}");
    let reqs = env.llm.requests();
    assert_eq!(reqs.len(), 1, "a stored project needs no discovery");
    let r = &reqs[0];
    assert_eq!(r.path, STREAM);
    assert_eq!(r.header("authorization"), Some("Bearer ya29.OLD"));
    assert_eq!(r.header("x-goog-user-project"), None);
    assert_eq!(r.header("user-agent"), Some("antigravity/1.11.5 darwin/amd64"));
    assert_eq!(r.header("x-goog-api-client"), Some("google-cloud-sdk vscode_cloudshelleditor/0.1"));
    assert!(r.header("client-metadata").is_some_and(|m| m.contains("\"pluginType\":\"GEMINI\"")));
    assert_eq!(r.body["model"], "gemini-3-pro-high");
    assert_eq!(r.body["project"], "stored-proj");
    assert_eq!(r.body["requestType"], "agent");
    assert_eq!(r.body["userAgent"], "antigravity");
    assert!(r.body["requestId"].as_str().is_some_and(|id| id.starts_with("agent-") && id.len() == 42));
    assert!(r.body["request"]["contents"].is_array());
    assert_eq!(std::fs::read_to_string(env.auth()).unwrap(), text, "nothing to save");
}

#[test]
fn google_cloud_project_from_the_environment_skips_discovery() {
    let env = Env::new(Script::new([ScriptedResponse::text("ok")]));
    let text = env.write_google(3_600_000, json!({}));
    let (code, out, err) = env.chat(MODEL, |c| {
        c.env("GOOGLE_CLOUD_PROJECT", "env-proj");
    });
    assert_eq!(code, 0, "{out}{err}");
    let reqs = env.llm.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].header("x-goog-user-project"), Some("env-proj"));
    assert_eq!(reqs[0].body["project"], "env-proj");
    assert_eq!(std::fs::read_to_string(env.auth()).unwrap(), text);
}

#[test]
fn an_expired_token_is_refreshed_first() {
    let env = Env::new(Script::new([ScriptedResponse::text("fresh")]));
    env.write_google(-1000, json!({"endpoint": "cloud-code-assist"}));
    let (code, out, err) = env.chat(MODEL, |_| {});
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(env.tokens.refreshes.load(Ordering::SeqCst), 1);
    let form = env.tokens.bodies.lock().unwrap()[0].clone();
    assert_eq!(form["client_id"], "cid.apps.googleusercontent.com");
    assert_eq!(form["client_secret"], "cid-secret");
    let reqs = env.llm.requests();
    assert!(reqs.iter().all(|r| r.header("authorization") == Some("Bearer ya29.NEW")), "{reqs:?}");
    let saved = env.json();
    let google = &saved["providers"]["google"];
    assert_eq!(google["oauth"]["accessToken"], "ya29.NEW");
    assert_eq!(google["oauth"]["refreshToken"], "1//r-new");
    assert_eq!(google["projectId"], "mock-project");
    assert_eq!(google["endpoint"], "cloud-code-assist");
    assert_eq!(saved["futureKey"]["kept"], true);
}

#[test]
fn a_401_refreshes_once_and_retries() {
    let env = Env::new(Script::new([
        ScriptedResponse::google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            None,
        ),
        ScriptedResponse::text("after refresh"),
    ]));
    env.write_google(3_600_000, json!({"projectId": "p-1"}));
    let (code, out, err) = env.chat(MODEL, |_| {});
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("after refresh"), "{out}");
    let reqs = env.llm.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer ya29.OLD"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer ya29.NEW"));
    assert_eq!(reqs[1].body["project"], "p-1");
    assert_eq!(env.tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(env.json()["providers"]["google"]["oauth"]["accessToken"], "ya29.NEW");
}

#[test]
fn a_failing_discovery_is_a_clear_error_and_writes_nothing() {
    let env = Env::new(Script::new([ScriptedResponse::text("never")]));
    let text = env.write_google(3_600_000, json!({"endpoint": "cloud-code-assist"}));
    let base = env.base.clone();
    let (code, out, err) = env.chat(MODEL, |c| {
        c.env("TRON_GOOGLE_CODE_ASSIST_BASE_URL", &base);
    });
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("GOOGLE_CLOUD_PROJECT") && err.contains("tron auth login google"), "{err}");
    assert!(err.contains("403"), "{err}");
    assert_eq!(env.tokens.discoveries.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read_to_string(env.auth()).unwrap(), text);
    assert!(env.llm.requests().is_empty());
    assert_eq!(env.tokens.refreshes.load(Ordering::SeqCst), 0);
}

#[test]
fn oauth_wins_over_a_stored_key_but_an_environment_key_wins_over_both() {
    let env = Env::new(Script::new([ScriptedResponse::text("one"), ScriptedResponse::text("two")]));
    env.write_google(3_600_000, json!({"apiKey": "file-key", "projectId": "p-1"}));
    let (code, out, err) = env.chat(MODEL, |_| {});
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = env.chat(MODEL, |c| {
        c.env("GEMINI_API_KEY", "AIza-env-key");
    });
    assert_eq!(code, 0, "{out}{err}");
    let reqs = env.llm.requests();
    assert_eq!(reqs[0].path, STREAM);
    assert_eq!(reqs[0].header("x-goog-api-key"), None);
    assert_eq!(reqs[1].path, format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"));
    assert_eq!(reqs[1].header("x-goog-api-key"), Some("AIza-env-key"));
    assert_eq!(reqs[1].header("authorization"), None);
}

#[test]
fn a_token_in_google_oauth_token_wins_is_never_refreshed_and_writes_nothing() {
    let env = Env::new(Script::new([ScriptedResponse::text("env token"), ScriptedResponse::text("again")]));
    // No auth file at all: the token alone is enough (discovery names the project).
    let (code, out, err) = env.chat(MODEL, |c| {
        c.env("GOOGLE_OAUTH_TOKEN", "ya29.ENV");
    });
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("env token"), "{out}");
    assert!(!env.auth().exists(), "the discovered project is not saved for an environment token");
    // Stored tokens that are expired, and an environment key: the environment token still wins
    // and nothing is refreshed or rewritten.
    let text = env.write_google(-60_000, json!({"apiKey": "file-key"}));
    let (code, out, err) = env.chat(MODEL, |c| {
        c.env("GOOGLE_OAUTH_TOKEN", "ya29.ENV")
            .env("GEMINI_API_KEY", "AIza-env-key")
            .env("GOOGLE_CLOUD_PROJECT", "env-proj");
    });
    assert_eq!(code, 0, "{out}{err}");
    let reqs = env.llm.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [LOAD, STREAM, STREAM]);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer ya29.ENV"));
        assert_eq!(r.header("x-goog-api-key"), None);
    }
    assert_eq!(reqs[1].body["project"], "mock-project");
    assert_eq!(reqs[2].body["project"], "env-proj");
    assert_eq!(std::fs::read_to_string(env.auth()).unwrap(), text);
    assert_eq!(env.tokens.refreshes.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unknown_stored_endpoint_is_a_clear_error() {
    let env = Env::new(Script::new([ScriptedResponse::text("never")]));
    let text = env.write_google(3_600_000, json!({"endpoint": "sandbox"}));
    let (code, _, err) = env.chat(MODEL, |_| {});
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("providers.google.endpoint") && err.contains("antigravity"), "{err}");
    assert_eq!(std::fs::read_to_string(env.auth()).unwrap(), text);
    assert!(env.llm.requests().is_empty());
}

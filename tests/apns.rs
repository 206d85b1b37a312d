//! Push notifications against a local APNS mock: a real HTTP/2 (h2c) server on 127.0.0.1
//! that checks every request as Apple would (the provider token's ES256 signature with the
//! public half of a key the test generates, its header and claims, the APNS headers, the
//! payload), and answers what the test scripts (`Unregistered`, `BadDeviceToken`,
//! `ExpiredProviderToken`). Device registration goes through a real server and WebSocket
//! client, and `NotifyApp` runs end to end through the scripted mock LLM.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{start, Client};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{json, Value};
use tron::events::devices::DeviceRegistration;
use tron::events::{EventStore, OpenMode, StoreHandle};
use tron::platform::apns::{self, notify_devices, ApnsClient, Notification, Priority};
use tron::settings::EnvLookup;
use tron::testing::{Script, ScriptedResponse, Step};

const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "TEAM987654";
const BUNDLE: &str = "com.example.tron";

fn token(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

/// A fresh P-256 key: its PKCS#8 PEM (what Apple's `.p8` holds) and its public half.
fn generate_key() -> (String, VerifyingKey) {
    let secret = loop {
        let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
            break k;
        }
    };
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    (pem, VerifyingKey::from(&SigningKey::from(&secret)))
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    device: String,
    headers: HashMap<String, String>,
    jwt: String,
    claims: Value,
    payload: Value,
}

#[derive(Default)]
struct MockState {
    seen: Vec<Seen>,
    /// Answers per device token: (status, reason).
    answers: HashMap<String, (u16, String)>,
    /// How many of the next requests are refused as `ExpiredProviderToken`.
    expire_next: usize,
}

#[derive(Clone)]
struct Mock {
    state: Arc<Mutex<MockState>>,
    public: VerifyingKey,
}

fn reject(status: StatusCode, reason: &str) -> Response {
    (status, [("apns-id", "mock-failed")], axum::Json(json!({ "reason": reason }))).into_response()
}

/// Checks a provider token as APNS does: three base64url parts, header `{alg: ES256, kid}`,
/// claims `{iss, iat}`, signature by the team's key.
fn verify_jwt(jwt: &str, public: &VerifyingKey) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts.as_slice() else { return Err("not three parts".into()) };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(h)?).map_err(|e| e.to_string())?;
    if header != json!({"alg": "ES256", "kid": KEY_ID}) {
        return Err(format!("bad header {header}"));
    }
    let sig = Signature::from_slice(&decode(s)?).map_err(|e| e.to_string())?;
    public.verify(format!("{h}.{c}").as_bytes(), &sig).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&decode(c)?).map_err(|e| e.to_string())?;
    if claims["iss"] != TEAM_ID || !claims["iat"].is_u64() || claims.as_object().unwrap().len() != 2 {
        return Err(format!("bad claims {claims}"));
    }
    Ok(claims)
}

async fn push(
    State(mock): State<Mock>,
    UrlPath(device): UrlPath<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let Some(jwt) = headers.get("authorization").and_then(|a| a.strip_prefix("bearer ")).map(str::to_owned)
    else {
        return reject(StatusCode::FORBIDDEN, "MissingProviderToken");
    };
    let claims = match verify_jwt(&jwt, &mock.public) {
        Ok(c) => c,
        Err(_) => return reject(StatusCode::FORBIDDEN, "InvalidProviderToken"),
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = mock.state.lock().unwrap();
    state.seen.push(Seen { version, device: device.clone(), headers, jwt, claims, payload });
    if state.expire_next > 0 {
        state.expire_next -= 1;
        return reject(StatusCode::FORBIDDEN, "ExpiredProviderToken");
    }
    match state.answers.get(&device) {
        Some((status, reason)) => reject(StatusCode::from_u16(*status).unwrap(), reason),
        None => (StatusCode::OK, [("apns-id", format!("id-{device}"))]).into_response(),
    }
}

/// The mock on 127.0.0.1 (HTTP/1 and HTTP/2 without TLS); its base URL.
async fn start_mock(public: VerifyingKey) -> (Mock, String) {
    let mock = Mock { state: Arc::default(), public };
    let app =
        axum::Router::new().route("/3/device/{token}", axum::routing::post(push)).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, format!("http://{addr}"))
}

fn no_env() -> EnvLookup {
    Arc::new(|_: &str| None)
}

/// Writes `<data>/mods/apns/config.json` (pointing at `base_url`) and the key at its
/// default place, `AuthKey_<keyId>.p8`.
fn write_config(data: &Path, pem: &str, base_url: &str) {
    let dir = data.join("mods").join("apns");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("AuthKey_{KEY_ID}.p8")), pem).unwrap();
    let config = json!({"keyId": KEY_ID, "teamId": TEAM_ID, "bundleId": BUNDLE, "baseUrl": base_url});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

async fn client_for(data: &Path) -> ApnsClient {
    let config = apns::config::load(data, &no_env()).unwrap().unwrap();
    ApnsClient::new(config, &apns::config::config_path(data)).unwrap()
}

fn note(title: &str) -> Notification {
    Notification { title: title.into(), body: "All 42 tests pass".into(), ..Default::default() }
}

#[tokio::test]
async fn requests_carry_apples_headers_a_signed_token_that_is_reused_and_the_payload() {
    let (pem, public) = generate_key();
    let (mock, url) = start_mock(public).await;
    let data = tempfile::tempdir().unwrap();
    write_config(data.path(), &pem, &url);
    let client = client_for(data.path()).await;

    let mut first = note("Build done");
    first.priority = Priority::High;
    first.badge = Some(1);
    first.data.insert("sessionId".into(), json!("sess_1"));
    let r1 = client.send(&token(1), &first).await;
    let r2 = client.send(&token(2), &note("Second")).await;
    assert!(r1.success && r2.success, "{r1:?} {r2:?}");
    assert_eq!(r1.apns_id.as_deref(), Some(format!("id-{}", token(1)).as_str()));

    let seen = mock.state.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 2);
    let (a, b) = (&seen[0], &seen[1]);
    assert_eq!(a.version, Version::HTTP_2, "APNS speaks HTTP/2 only");
    assert_eq!(a.device, token(1));
    for (name, value) in [("apns-topic", BUNDLE), ("apns-push-type", "alert"), ("apns-expiration", "0")] {
        assert_eq!(a.headers.get(name).map(String::as_str), Some(value), "{name}");
        assert_eq!(b.headers.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert_eq!(a.headers["apns-priority"], "10", "high priority");
    assert_eq!(b.headers["apns-priority"], "5", "normal priority");
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(a.claims["iat"].as_u64().unwrap() <= now);
    // One provider token for both requests.
    assert_eq!(a.jwt, b.jwt);
    assert_eq!(client.tokens_generated(), 1);
    assert_eq!(
        a.payload,
        json!({
            "aps": {"alert": {"title": "Build done", "body": "All 42 tests pass"}, "sound": "default", "badge": 1},
            "sessionId": "sess_1"
        })
    );
    assert_eq!(
        b.payload["aps"],
        json!({"alert": {"title": "Second", "body": "All 42 tests pass"}, "sound": "default"})
    );
}

#[tokio::test]
async fn an_expired_provider_token_is_replaced_and_the_request_retried_once() {
    let (pem, public) = generate_key();
    let (mock, url) = start_mock(public).await;
    let data = tempfile::tempdir().unwrap();
    write_config(data.path(), &pem, &url);
    let client = client_for(data.path()).await;

    mock.state.lock().unwrap().expire_next = 1;
    let r = client.send(&token(1), &note("Retry")).await;
    assert!(r.success, "{r:?}");
    assert_eq!(mock.state.lock().unwrap().seen.len(), 2, "the refused request and its retry");
    assert_eq!(client.tokens_generated(), 2, "a new token was signed for the retry");

    // Refused again: one retry only, and the failure says why (never the token).
    mock.state.lock().unwrap().expire_next = 5;
    let r = client.send(&token(1), &note("Twice")).await;
    assert!(!r.success);
    assert_eq!((r.status, r.reason.as_deref()), (Some(403), Some("ExpiredProviderToken")));
    assert_eq!(r.error.as_deref(), Some("APNS error: ExpiredProviderToken"));
    assert_eq!(mock.state.lock().unwrap().seen.len(), 4);
    assert_eq!(client.tokens_generated(), 3);
}

#[tokio::test]
async fn unregistered_and_bad_tokens_are_made_inactive_and_the_rest_delivered() {
    let (pem, public) = generate_key();
    let (mock, url) = start_mock(public).await;
    let data = tempfile::tempdir().unwrap();
    write_config(data.path(), &pem, &url);
    let client = client_for(data.path()).await;
    let store = StoreHandle::spawn(EventStore::open(data.path().join("prod.db"), OpenMode::Create).unwrap());
    for n in 1..=3 {
        let reg = DeviceRegistration { device_token: token(n), ..Default::default() };
        store.run(move |s| s.register_device(&reg)).await.unwrap();
    }
    {
        let mut state = mock.state.lock().unwrap();
        state.answers.insert(token(2), (410, "Unregistered".into()));
        state.answers.insert(token(3), (400, "BadDeviceToken".into()));
    }

    let outcome = notify_devices(&store, &client, "sess_9", "toolu_7", note("Hello")).await.unwrap();
    assert_eq!((outcome.success_count, outcome.failure_count), (1, 2));
    assert_eq!(outcome.errors, ["APNS error: Unregistered", "APNS error: BadDeviceToken"]);
    let active = store.run(|s| s.active_devices()).await.unwrap();
    assert_eq!(active.iter().map(|d| d.device_token.clone()).collect::<Vec<_>>(), [token(1)]);
    let seen = mock.state.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.payload["sessionId"], "sess_9");
        assert_eq!(s.payload["toolCallId"], "toolu_7");
        assert_eq!(s.payload["aps"]["thread-id"], "sess_9");
    }

    // The next notification goes to the one live device only.
    let outcome = notify_devices(&store, &client, "sess_9", "toolu_8", note("Again")).await.unwrap();
    assert_eq!((outcome.success_count, outcome.failure_count), (1, 0));
    assert_eq!(mock.state.lock().unwrap().seen.len(), 4);
}

#[test]
fn a_bad_or_missing_key_is_a_clear_error_that_never_shows_the_key() {
    let data = tempfile::tempdir().unwrap();
    let env = no_env();
    assert!(apns::client::shared(data.path(), &env).unwrap().is_none(), "no config: push notifications off");

    write_config(
        data.path(),
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        "http://127.0.0.1:9",
    );
    let e = apns::client::shared(data.path(), &env).unwrap_err().to_string();
    let key_path = data.path().join("mods/apns").join(format!("AuthKey_{KEY_ID}.p8"));
    assert!(e.starts_with(&format!("{} is not an APNS auth key", key_path.display())), "{e}");
    assert!(!e.contains("c2VjcmV0"), "the key's text never reaches an error: {e}");

    std::fs::remove_file(&key_path).unwrap();
    let e = apns::client::shared(data.path(), &env).unwrap_err().to_string();
    assert!(e.starts_with(&format!("cannot read the APNS key {}", key_path.display())), "{e}");
    assert!(e.contains("config.json"), "names the config to fix: {e}");
}

#[tokio::test]
async fn devices_register_and_unregister_over_the_websocket() {
    let server = start(Script::new([])).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    let tok = token(0xab);

    let first = c
        .call("device.register", json!({"deviceToken": tok, "sessionId": session, "environment": "sandbox"}))
        .await;
    assert_eq!(first["created"], true);
    assert!(first["id"].is_string());
    let again = c.call("device.register", json!({"deviceToken": tok, "environment": "production"})).await;
    assert_eq!(again, json!({"id": first["id"], "created": false}));
    let row = server.store().device(&tok).unwrap().unwrap();
    assert_eq!((row.environment.as_str(), row.session_id, row.is_active), ("production", None, true));

    let e = c.fail("device.register", json!({})).await;
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("INVALID_PARAMS"), Some("deviceToken is required"))
    );
    let e = c.fail("device.register", json!({"deviceToken": "not-hex"})).await;
    assert_eq!(e["code"], "REGISTRATION_FAILED");
    assert_eq!(e["message"], "Invalid device token format: must be 64 hex characters");
    assert!(server.store().device("not-hex").unwrap().is_none());

    assert_eq!(c.call("device.unregister", json!({"deviceToken": tok})).await, json!({"success": true}));
    assert!(!server.store().device(&tok).unwrap().unwrap().is_active);
    assert_eq!(
        c.call("device.unregister", json!({"deviceToken": token(1)})).await,
        json!({"success": false})
    );
    let e = c.fail("device.unregister", json!({})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
}

#[tokio::test]
async fn notify_app_pushes_to_registered_devices_from_a_run() {
    let (pem, public) = generate_key();
    let (mock, url) = start_mock(public).await;
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_n1",
            "NotifyApp",
            json!({"title": "Tests done", "body": "All green", "data": {"kind": "ci"}, "priority": "high"}),
        ),
        ScriptedResponse::stream([Step::Text { text: "Sent.".into() }]),
    ]);
    let server = start(script).await;
    write_config(server.dir.path(), &pem, &url);
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("device.register", json!({"deviceToken": token(5), "sessionId": session})).await;

    c.call("agent.prompt", json!({"sessionId": session, "prompt": "tell me when done"})).await;
    let end = c.until("agent.tool_end").await;
    c.until("agent.ready").await;
    assert_eq!(end["data"]["output"], "Notification sent successfully to 1 device.", "{end}");

    let offered = &server.mock.requests()[0].body["tools"];
    assert!(
        offered.as_array().unwrap().iter().any(|t| t["name"] == "NotifyApp"),
        "offered when APNS is configured"
    );
    let seen = mock.state.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].device, token(5));
    assert_eq!(seen[0].headers["apns-priority"], "10");
    assert_eq!(
        seen[0].payload,
        json!({
            "aps": {"alert": {"title": "Tests done", "body": "All green"}, "sound": "default", "thread-id": session},
            "kind": "ci",
            "sessionId": session,
            "toolCallId": "toolu_n1"
        })
    );
}

#[tokio::test]
async fn notify_app_is_not_offered_without_an_apns_config() {
    let server = start(Script::new([ScriptedResponse::text("ok")])).await;
    let mut c = Client::connect(server.addr).await;
    let session = c.session(&server.dir()).await;
    c.call("agent.prompt", json!({"sessionId": session, "prompt": "hi"})).await;
    c.until("agent.ready").await;
    let offered = &server.mock.requests()[0].body["tools"];
    assert!(!offered.as_array().unwrap().iter().any(|t| t["name"] == "NotifyApp"), "{offered}");
}

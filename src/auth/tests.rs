use std::collections::HashMap;
use std::path::Path;

use super::*;

fn file(text: &str) -> AuthFile {
    AuthFile::parse(Path::new("/home/u/.tron/auth.json"), text).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

const TS_FILE: &str = r#"{
  "version": 1,
  "providers": {
    "anthropic": {"oauth": {"accessToken": "sk-ant-oat01-a", "refreshToken": "sk-ant-ort01-r", "expiresAt": 1900000000000},
                  "accounts": [{"label": "work", "oauth": {"accessToken": "x", "refreshToken": "y", "expiresAt": 1}}]},
    "openai": {"apiKey": "sk-openai"},
    "google": {"apiKey": "gem-key", "endpoint": "antigravity", "projectId": "p-1"}
  },
  "services": {"brave": {"apiKeys": ["b1", "b2"]}},
  "lastUpdated": "2026-01-01T00:00:00.000Z"
}"#;

#[test]
fn reads_the_typescript_servers_file() {
    let f = file(TS_FILE);
    match f.credential("anthropic").unwrap() {
        StoredCredential::OAuth { access_token, refresh_token, expires_at } => {
            assert_eq!((access_token.as_str(), refresh_token.as_str()), ("sk-ant-oat01-a", "sk-ant-ort01-r"));
            assert_eq!(expires_at, 1_900_000_000_000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.credential("openai"), Some(StoredCredential::ApiKey("sk-openai".into())));
    assert_eq!(f.credential("openai-codex"), None);
}

#[test]
fn bad_files_are_clear_errors() {
    let p = Path::new("/x/auth.json");
    let e = AuthFile::parse(p, "{\"version\": 1,").unwrap_err().to_string();
    assert!(e.contains("/x/auth.json") && e.contains("line 1"), "{e}");
    let e = AuthFile::parse(p, r#"{"version": 2, "providers": {}}"#).unwrap_err().to_string();
    assert!(e.contains("version 2"), "{e}");
    let e = AuthFile::parse(p, r#"{"version": 1, "providers": {"anthropic": {"apiKey": 5}}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("providers.anthropic"), "{e}");
    assert!(AuthFile::load(Path::new("/nonexistent/auth.json")).unwrap().is_none());
}

#[test]
fn secrets_never_show_in_debug_output() {
    let f = file(TS_FILE);
    let shown = format!("{:?} {:?}", f.credential("anthropic"), f.credential("openai"));
    assert!(!shown.contains("sk-"), "{shown}");
}

#[test]
fn the_environment_wins_and_the_file_fills_in() {
    let f = file(TS_FILE);
    // No credential in the environment: the file's OAuth token, under the OAuth variable.
    let look = lookup_with_file(ProviderKind::Anthropic, env(&[("X", "1")]), Some(&f)).unwrap();
    assert_eq!(look("CLAUDE_CODE_OAUTH_TOKEN").as_deref(), Some("sk-ant-oat01-a"));
    assert_eq!(look("ANTHROPIC_API_KEY"), None);
    assert_eq!(look("X").as_deref(), Some("1"));
    // A key in the environment: the file is not used.
    let look =
        lookup_with_file(ProviderKind::Anthropic, env(&[("ANTHROPIC_API_KEY", "k")]), Some(&f)).unwrap();
    assert_eq!(look("CLAUDE_CODE_OAUTH_TOKEN"), None);
    // API keys go under the provider's first variable.
    let look = lookup_with_file(ProviderKind::Google, env(&[]), Some(&f)).unwrap();
    assert_eq!(look("GEMINI_API_KEY").as_deref(), Some("gem-key"));
    let look = lookup_with_file(ProviderKind::OpenAi, env(&[]), None).unwrap();
    assert_eq!(look("OPENAI_API_KEY"), None);
}

#[test]
fn writing_keeps_unknown_keys_and_sets_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new-dir").join("auth.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, TS_FILE).unwrap();
    let mut f = AuthFile::load_or_empty(&path).unwrap();
    f.set_api_key("openai-codex", "sk-codex");
    f.set_oauth(
        "anthropic",
        &Tokens { access_token: "a2".into(), refresh_token: "r2".into(), expires_at: 7 },
    );
    f.save().unwrap();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["services"]["brave"]["apiKeys"][1], "b2");
    assert_eq!(v["providers"]["google"]["projectId"], "p-1");
    assert_eq!(v["providers"]["anthropic"]["accounts"][0]["label"], "work");
    assert_eq!(v["providers"]["anthropic"]["oauth"]["accessToken"], "a2");
    assert_ne!(v["lastUpdated"], "2026-01-01T00:00:00.000Z");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    // A missing directory is created.
    let fresh = dir.path().join("a").join("b").join("auth.json");
    update(&fresh, |f| f.set_api_key("openai", "k")).unwrap();
    assert_eq!(
        AuthFile::load(&fresh).unwrap().unwrap().credential("openai"),
        Some(StoredCredential::ApiKey("k".into()))
    );
}

#[test]
fn a_corrupt_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    std::fs::write(&path, "{nope").unwrap();
    let e = update(&path, |f| f.set_api_key("openai", "k")).unwrap_err().to_string();
    assert!(e.contains("not valid"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{nope");
    assert!(!dir.path().join("auth.json.lock").exists());
}

#[test]
fn status_shows_kinds_and_never_secrets() {
    let f = file(TS_FILE);
    let st = f.status();
    let shown = format!("{st:?} {}", serde_json::to_string(&st).unwrap());
    for secret in ["sk-ant-oat01-a", "sk-ant-ort01-r", "sk-openai", "gem-key", "b1"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let a = st.iter().find(|p| p.provider == "anthropic").unwrap();
    assert_eq!(
        (a.kind.as_str(), a.expires_at, a.accounts.clone()),
        ("oauth", Some(1_900_000_000_000), vec!["work".into()])
    );
    assert_eq!(st.iter().find(|p| p.provider == "openai").unwrap().kind, "apiKey");
    let t = Tokens { access_token: "sk-secret".into(), refresh_token: "rt-secret".into(), expires_at: 1 };
    assert!(!format!("{t:?}").contains("secret"));
}

#[test]
fn authorize_urls_carry_the_typescript_parameters() {
    let none = |_: &str| None;
    let a = OAuthConfig::new(OAuthProvider::Anthropic, &none, None).unwrap();
    let url = a.authorize_url("CH", "ST", &a.redirect_uri);
    assert!(
        url.starts_with("https://console.anthropic.com/oauth/authorize?code=true&response_type=code"),
        "{url}"
    );
    assert!(url.contains("client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e"));
    assert!(url.contains("redirect_uri=https%3A%2F%2Fconsole.anthropic.com%2Foauth%2Fcode%2Fcallback"));
    assert!(url.contains("scope=org%3Acreate_api_key%20user%3Aprofile%20user%3Ainference"));
    assert!(url.contains("code_challenge=CH&code_challenge_method=S256&state=ST"));
    let o = OAuthConfig::new(OAuthProvider::OpenAiCodex, &none, None).unwrap();
    let url = o.authorize_url("CH", "ST", &o.redirect_uri);
    assert!(url.starts_with("https://auth.openai.com/oauth/authorize?"));
    assert!(
        url.contains("client_id=app_EMoamEEZ73f0CkXaXp7hrann")
            && url.contains("localhost%3A1455%2Fauth%2Fcallback")
            && url.contains("scope=openid%20profile%20email%20offline_access")
            && url.contains("code_challenge=CH&code_challenge_method=S256&state=ST")
    );
    // Exactly the TypeScript login's parameters: nothing of the Codex CLI's own extras.
    assert_eq!(url.matches('&').count(), 6, "{url}");
    // Google needs a client from the file or the environment.
    let e = OAuthConfig::new(OAuthProvider::GoogleAntigravity, &none, None).unwrap_err().to_string();
    assert!(e.contains("clientId") && e.contains("TRON_AUTH_GOOGLE_CLIENT_ID"), "{e}");
    let f = file(r#"{"version":1,"providers":{"google":{"clientId":"cid","clientSecret":"csecret"}}}"#);
    let g = OAuthConfig::new(OAuthProvider::GoogleAntigravity, &none, Some(&f)).unwrap();
    let url = g.authorize_url("CH", "ST", &g.redirect_uri);
    assert!(
        url.contains("access_type=offline&prompt=consent") && url.contains("51121%2Foauth-callback"),
        "{url}"
    );
    assert!(url.contains("auth%2Fcclog"));
    assert!(!format!("{g:?}").contains("csecret"));
    // Every endpoint can be overridden.
    let env = env(&[
        ("TRON_AUTH_OPENAI_TOKEN_URL", "http://127.0.0.1:9/t"),
        ("TRON_AUTH_OPENAI_AUTHORIZE_URL", "http://x/a"),
    ]);
    let o = OAuthConfig::new(OAuthProvider::OpenAiCodex, &env, None).unwrap();
    assert_eq!((o.token_url.as_str(), o.authorize_url.as_str()), ("http://127.0.0.1:9/t", "http://x/a"));
}

#[test]
fn the_refresh_buffer_is_five_minutes() {
    let t = |at| Tokens { access_token: String::new(), refresh_token: String::new(), expires_at: at };
    assert!(needs_refresh(&t(1_000_000 + 299_000), 1_000_000));
    assert!(!needs_refresh(&t(1_000_000 + 301_000), 1_000_000));
}

/// Two sessions of one process refreshing at once: one token request, both get the new
/// token (the in-process mutex, then the re-read under the file lock).
#[test]
fn concurrent_refreshes_in_one_process_make_one_request() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move |body: String| {
            let h = Arc::clone(&h);
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                assert!(body.contains("\"refresh_token\":\"r1\""), "{body}");
                axum::Json(
                    serde_json::json!({"access_token": "a2", "refresh_token": "r2", "expires_in": 3600}),
                )
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    update(&path, |f| {
        f.set_oauth(
            "anthropic",
            &Tokens { access_token: "a1".into(), refresh_token: "r1".into(), expires_at: 0 },
        )
    })
    .unwrap();
    let url = format!("http://{addr}/token");
    let env = move |n: &str| (n == "TRON_AUTH_ANTHROPIC_TOKEN_URL").then(|| url.clone());
    let cfg = OAuthConfig::new(OAuthProvider::Anthropic, &env, None).unwrap();
    let (a, b) =
        rt.block_on(async { tokio::join!(fresh_tokens(&path, &cfg, None), fresh_tokens(&path, &cfg, None)) });
    assert_eq!(a.unwrap().access_token, "a2");
    assert_eq!(b.unwrap().access_token, "a2");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // After a 401 with the old token, the already refreshed one is used without a request.
    let c = rt.block_on(fresh_tokens(&path, &cfg, Some("a1"))).unwrap();
    assert_eq!((c.access_token.as_str(), hits.load(Ordering::SeqCst)), ("a2", 1));
}

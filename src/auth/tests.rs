use std::collections::HashMap;
use std::path::Path;

use super::*;

const NOW: i64 = 1_800_000_000_000;

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
    let look = lookup_with_file(ProviderKind::Anthropic, env(&[("X", "1")]), Some(&f), NOW).unwrap();
    assert_eq!(look("CLAUDE_CODE_OAUTH_TOKEN").as_deref(), Some("sk-ant-oat01-a"));
    assert_eq!(look("ANTHROPIC_API_KEY"), None);
    assert_eq!(look("X").as_deref(), Some("1"));
    // A key in the environment: the file is not used.
    let look =
        lookup_with_file(ProviderKind::Anthropic, env(&[("ANTHROPIC_API_KEY", "k")]), Some(&f), NOW).unwrap();
    assert_eq!(look("CLAUDE_CODE_OAUTH_TOKEN"), None);
    // API keys go under the provider's first variable.
    let look = lookup_with_file(ProviderKind::Google, env(&[]), Some(&f), NOW).unwrap();
    assert_eq!(look("GEMINI_API_KEY").as_deref(), Some("gem-key"));
    let look = lookup_with_file(ProviderKind::OpenAi, env(&[]), None, NOW).unwrap();
    assert_eq!(look("OPENAI_API_KEY"), None);
}

#[test]
fn an_expired_token_is_an_error_that_says_what_to_do() {
    let f = file(TS_FILE);
    let later = 1_900_000_000_001;
    let err = lookup_with_file(ProviderKind::Anthropic, env(&[]), Some(&f), later).err().unwrap().to_string();
    assert!(err.contains("expired") && err.contains("API key"), "{err}");
}

//! Where the APNS settings come from, as the TypeScript server reads them.
//!
//! `<data dir>/mods/apns/config.json` (the data dir is `~/.tron`): `keyId`, `teamId` and
//! `bundleId` are required; `keyPath` defaults to `<data dir>/mods/apns/AuthKey_<keyId>.p8`
//! (a leading `~` expands against `HOME`); `environment` is `sandbox` (the default) or
//! `production`. No file means push notifications are off. tron adds one optional key,
//! `baseUrl`, and the environment variable `TRON_APNS_BASE_URL` (which wins), to send to
//! another server than Apple's (tests point it at a local HTTP/2 mock).
//!
//! Deliberate difference from the TypeScript server: a config file that is there but wrong
//! (bad JSON, a missing field, an unknown environment, a missing or bad key) is an error
//! that names the file and what to fix, not a silent "disabled".

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ApnsError;
use crate::settings::EnvLookup;

/// Apple's production host.
pub const PRODUCTION_HOST: &str = "api.push.apple.com";
/// Apple's sandbox (development) host.
pub const SANDBOX_HOST: &str = "api.sandbox.push.apple.com";
/// The variable that overrides the APNS base URL.
pub const BASE_URL_VAR: &str = "TRON_APNS_BASE_URL";

/// Which APNS environment to send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// `api.sandbox.push.apple.com` (apps built for development).
    Sandbox,
    /// `api.push.apple.com` (TestFlight and App Store builds).
    Production,
}

impl Environment {
    /// `sandbox` or `production`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Self::Sandbox),
            "production" => Some(Self::Production),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    /// Apple's base URL for this environment.
    pub fn base_url(&self) -> String {
        let host = match self {
            Self::Sandbox => SANDBOX_HOST,
            Self::Production => PRODUCTION_HOST,
        };
        format!("https://{host}")
    }
}

/// The APNS settings (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApnsConfig {
    /// The `.p8` key file.
    pub key_path: PathBuf,
    /// The key's id (the JWT header's `kid`).
    pub key_id: String,
    /// The Apple developer team id (the JWT's `iss`).
    pub team_id: String,
    /// The app's bundle id (the `apns-topic` header).
    pub bundle_id: String,
    /// Sandbox or production.
    pub environment: Environment,
    /// Where requests go: Apple's host for the environment unless overridden.
    pub base_url: String,
}

/// `<data dir>/mods/apns/config.json`.
pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mods").join("apns").join("config.json")
}

/// Reads the config of `data_dir`: `Ok(None)` when there is no config file (push
/// notifications off), an error naming the file when it is there but wrong.
pub fn load(data_dir: &Path, env: &EnvLookup) -> Result<Option<ApnsConfig>, ApnsError> {
    let path = config_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ApnsError::ConfigRead { path, source }),
    };
    parse(&text, &path, data_dir, env).map(Some)
}

/// Parses the text of the config file at `path` (see [`load`]).
pub fn parse(text: &str, path: &Path, data_dir: &Path, env: &EnvLookup) -> Result<ApnsConfig, ApnsError> {
    let invalid = |detail: String| ApnsError::ConfigInvalid { path: path.to_owned(), detail };
    let json: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let obj = json.as_object().ok_or_else(|| invalid("not a JSON object".into()))?;
    let field = |name: &str| -> Result<Option<String>, ApnsError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(invalid(format!("`{name}` must be a string, not {other}"))),
        }
    };
    let required = |name: &str| field(name)?.ok_or_else(|| invalid(format!("`{name}` is missing")));
    let key_id = required("keyId")?;
    let team_id = required("teamId")?;
    let bundle_id = required("bundleId")?;
    let environment = match field("environment")? {
        None => Environment::Sandbox,
        Some(e) => Environment::parse(&e).ok_or_else(|| {
            invalid(format!("`environment` must be \"sandbox\" or \"production\", not {e:?}"))
        })?,
    };
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let key_path = match field("keyPath")? {
        Some(p) => expand(&p, home.as_deref()),
        None => data_dir.join("mods").join("apns").join(format!("AuthKey_{key_id}.p8")),
    };
    let base_url = match env(BASE_URL_VAR).filter(|u| !u.is_empty()).or(field("baseUrl")?) {
        Some(url) => check_base_url(&url)?,
        None => environment.base_url(),
    };
    Ok(ApnsConfig { key_path, key_id, team_id, bundle_id, environment, base_url })
}

fn expand(p: &str, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(home)) => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

fn check_base_url(url: &str) -> Result<String, ApnsError> {
    let bad = |detail: &str| ApnsError::BadBaseUrl { url: url.to_owned(), detail: detail.into() };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("expected http://HOST[:PORT] or https://HOST[:PORT]"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> EnvLookup {
        Arc::new(move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_follow_the_typescript_server() {
        let c = parse(
            r#"{"keyId":"K1","teamId":"T1","bundleId":"com.x"}"#,
            Path::new("c.json"),
            Path::new("/d"),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.key_path, PathBuf::from("/d/mods/apns/AuthKey_K1.p8"));
        assert_eq!(c.environment, Environment::Sandbox);
        assert_eq!(c.base_url, "https://api.sandbox.push.apple.com");
        let c = parse(
            r#"{"keyId":"K","teamId":"T","bundleId":"b","environment":"production","keyPath":"~/k.p8"}"#,
            Path::new("c.json"),
            Path::new("/d"),
            &env(&[("HOME", "/home/u")]),
        )
        .unwrap();
        assert_eq!(c.base_url, "https://api.push.apple.com");
        assert_eq!(c.key_path, PathBuf::from("/home/u/k.p8"));
    }

    #[test]
    fn the_base_url_variable_wins_over_the_file() {
        let text = r#"{"keyId":"K","teamId":"T","bundleId":"b","baseUrl":"http://127.0.0.1:1/"}"#;
        let c = parse(text, Path::new("c"), Path::new("/d"), &env(&[])).unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:1");
        let c =
            parse(text, Path::new("c"), Path::new("/d"), &env(&[(BASE_URL_VAR, "http://[::1]:2")])).unwrap();
        assert_eq!(c.base_url, "http://[::1]:2");
    }

    #[test]
    fn bad_configs_name_the_file_and_the_field() {
        let e =
            |t: &str| parse(t, Path::new("/d/c.json"), Path::new("/d"), &env(&[])).unwrap_err().to_string();
        assert!(e("{").contains("/d/c.json is not a valid APNS config"));
        assert!(e(r#"{"teamId":"T","bundleId":"b"}"#).contains("`keyId` is missing"));
        assert!(e(r#"{"keyId":"K","teamId":"T","bundleId":"b","environment":"dev"}"#).contains("\"dev\""));
        assert!(e(r#"{"keyId":7,"teamId":"T","bundleId":"b"}"#).contains("`keyId` must be a string"));
        assert!(e(r#"{"keyId":"K","teamId":"T","bundleId":"b","baseUrl":"ftp://x"}"#)
            .contains("bad APNS base URL"));
    }

    #[test]
    fn no_file_means_off() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), &env(&[])).unwrap().is_none());
    }
}

//! The web tools: `WebFetch` (fetch a page, answer a question about it with a small model)
//! and `WebSearch` (Brave and/or Exa), with the TypeScript tools' names, descriptions,
//! parameters and result texts.
//!
//! Owns: URL validation ([`url_guard`]), HTML to text ([`html`]), the answer cache
//! ([`cache`]), search-key rotation ([`keys`]), the provider calls ([`providers`]) and
//! reading their configuration. Must not: persist events or print (the agent does), or
//! fetch anything a [`url_guard::UrlGuard`] refused.
//!
//! Configuration (settings, then `TRON_*` environment, which wins):
//! - `tools.web.fetch.timeoutMs` (30000), `tools.web.fetch.maxResponseBytes` (10 MB),
//!   `tools.web.fetch.allowInternal` (false: loopback, private and link-local targets are
//!   refused), `tools.web.cache.ttlMs` (900000), `tools.web.cache.maxEntries` (100);
//! - search keys from the auth file as the TypeScript server keeps them:
//!   `services.brave.apiKeys` (else `services.brave.apiKey`), `services.exa.apiKeys` (else
//!   `services.exa.apiKey`); `WebSearch` is offered only when one of them has a key;
//! - API bases `tools.web.search.braveBaseUrl` / `TRON_BRAVE_BASE_URL` and
//!   `tools.web.search.exaBaseUrl` / `TRON_EXA_BASE_URL` (tests point them at local mocks).

pub mod cache;
pub mod fetch;
pub mod html;
pub mod keys;
pub mod providers;
pub mod search;
pub mod url_guard;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::llm::models::{self, ModelInfo};
use crate::settings::Settings;
use crate::tools::Tool;

pub use fetch::{FetchConfig, WebFetchTool};
pub use search::WebSearchTool;

/// The names of the web tools.
pub const NAMES: [&str; 2] = [fetch::NAME, search::NAME];

fn number(settings: &Settings, key: &str) -> Option<u64> {
    settings.get(key).and_then(Value::as_u64)
}

/// `WebFetch`'s configuration from `settings` (see the module doc).
pub fn fetch_config(settings: &Settings) -> FetchConfig {
    let d = FetchConfig::default();
    FetchConfig {
        guard: url_guard::UrlGuard {
            allow_internal: settings
                .get("tools.web.fetch.allowInternal")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ..url_guard::UrlGuard::default()
        },
        timeout: number(settings, "tools.web.fetch.timeoutMs").map_or(d.timeout, Duration::from_millis),
        max_response_bytes: number(settings, "tools.web.fetch.maxResponseBytes")
            .map_or(d.max_response_bytes, |n| n.max(1) as usize),
        cache_ttl: number(settings, "tools.web.cache.ttlMs").map_or(d.cache_ttl, Duration::from_millis),
        cache_entries: number(settings, "tools.web.cache.maxEntries").map_or(d.cache_entries, |n| n as usize),
    }
}

/// The keys the auth file holds for `service` (`brave`, `exa`): `apiKeys` when it lists
/// any, else `apiKey`. A missing or unreadable file holds none.
pub fn service_keys(auth_file: &Path, service: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(auth_file) else { return Vec::new() };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        tracing::warn!(file = %auth_file.display(), "the auth file is not JSON; no search keys read from it");
        return Vec::new();
    };
    let entry = &doc["services"][service];
    let listed: Vec<String> = entry["apiKeys"]
        .as_array()
        .map(|a| {
            a.iter().filter_map(Value::as_str).map(str::to_owned).filter(|k| !k.trim().is_empty()).collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    entry["apiKey"].as_str().filter(|k| !k.trim().is_empty()).map(|k| vec![k.to_owned()]).unwrap_or_default()
}

fn base_url(
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
    key: &str,
    var: &str,
    default: &str,
) -> String {
    env(var)
        .filter(|v| !v.is_empty())
        .or_else(|| settings.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

/// `WebSearch` over the providers that have keys; `None` when none has.
pub fn search_tool(
    settings: &Settings,
    auth_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<WebSearchTool> {
    let brave = keys::KeyRing::new(service_keys(auth_file, "brave")).map(|ring| {
        let base = base_url(
            settings,
            env,
            "tools.web.search.braveBaseUrl",
            "TRON_BRAVE_BASE_URL",
            providers::BRAVE_BASE_URL,
        );
        providers::Provider::brave(base, ring)
    });
    let exa = keys::KeyRing::new(service_keys(auth_file, "exa")).map(|ring| {
        let base = base_url(
            settings,
            env,
            "tools.web.search.exaBaseUrl",
            "TRON_EXA_BASE_URL",
            providers::EXA_BASE_URL,
        );
        providers::Provider::exa(base, ring)
    });
    WebSearchTool::new(brave, exa)
}

/// The answer cache every `WebFetch` of this process shares (sized by the first settings
/// that ask for it).
fn shared_cache(config: &FetchConfig) -> Arc<cache::TtlCache<fetch::Answer>> {
    static CACHE: OnceLock<Arc<cache::TtlCache<fetch::Answer>>> = OnceLock::new();
    Arc::clone(CACHE.get_or_init(|| Arc::new(cache::TtlCache::new(config.cache_ttl, config.cache_entries))))
}

/// The web tools a run of `session_model` offers: `WebFetch` (answering with
/// `models.subagent`, else the session's model, whichever has credentials first) and, when
/// a search provider has a key, `WebSearch`.
pub fn tools_for_run(
    settings: &Settings,
    session_model: &'static ModelInfo,
    auth_file: &Path,
    env: crate::settings::EnvLookup,
) -> Vec<Arc<dyn Tool>> {
    let small = models::lookup(&settings.models.subagent).ok();
    let candidates: Vec<&'static ModelInfo> = small.into_iter().chain([session_model]).collect();
    let (file, retry) = (auth_file.to_owned(), settings.retry.policy());
    let account = crate::agent::setup::anthropic_account(settings).map(str::to_owned);
    let reader_env = env.clone();
    let reader = fetch::DeferredReader::new(candidates, move |model| {
        crate::agent::provider_for(model, &file, |n| reader_env(n), retry.clone(), account.as_deref()).ok()
    });
    let config = fetch_config(settings);
    let cache = shared_cache(&config);
    let mut tools: Vec<Arc<dyn Tool>> =
        vec![Arc::new(WebFetchTool::with_cache(config, Arc::new(reader), cache))];
    if let Some(search) = search_tool(settings, auth_file, &*env) {
        tools.push(Arc::new(search));
    }
    tools
}

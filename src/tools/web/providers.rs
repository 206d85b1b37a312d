//! The search providers behind `WebSearch`, with the TypeScript providers' request and
//! response shapes:
//!
//! - Brave: `GET {base}/res/v1/{web|news|images|videos}/search?q=&count=&freshness=`, header
//!   `X-Subscription-Token`; web results under `web.results`, the others under `results`.
//!   Counts are clamped per endpoint (web 1-20 default 10, news/videos 1-50 default 20,
//!   images 1-200 default 50); images take no freshness. Freshness `hour` becomes `pd`.
//! - Exa: `POST {base}/search` with a snake_case JSON body (`query`, `num_results` at most
//!   100, `category` news / tweet / research paper, `start_published_date`,
//!   `end_published_date`, `include_domains`, `exclude_domains`, `contents`), header
//!   `x-api-key`; results under `results`.
//!
//! Both normalise to [`UnifiedResult`]. A 429 or 401/403 moves to the next key
//! ([`super::keys`]); a body that is not the expected JSON is an error naming the provider.

use std::time::Duration;

use serde_json::{json, Value};

use super::keys::{Attempt, KeyRing};

/// Brave's API base.
pub const BRAVE_BASE_URL: &str = "https://api.search.brave.com";
/// Exa's API base.
pub const EXA_BASE_URL: &str = "https://api.exa.ai";
/// Time limit of one Brave call (upstream's 15 s).
pub const BRAVE_TIMEOUT: Duration = Duration::from_secs(15);
/// Time limit of one Exa call.
pub const EXA_TIMEOUT: Duration = Duration::from_secs(30);

/// One normalised search result (the TypeScript `UnifiedResult`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedResult {
    pub title: String,
    pub url: String,
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// `brave` or `exa`.
    pub source: &'static str,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// The normalised request both providers take.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub query: String,
    pub count: Option<u64>,
    /// `hour`, `day`, `week`, `month` or `year`.
    pub freshness: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// `web`, `news`, `images`, `videos`, `social` or `research`.
    pub content_type: Option<String>,
    pub include_domains: Vec<String>,
    pub exclude_domains: Vec<String>,
}

/// Content types Brave serves.
pub const BRAVE_TYPES: &[&str] = &["web", "news", "images", "videos"];
/// Content types Exa serves.
pub const EXA_TYPES: &[&str] = &["web", "news", "social", "research"];

/// A search provider with its keys and base URL.
#[derive(Debug)]
pub struct Provider {
    /// `brave` or `exa`.
    pub name: &'static str,
    pub base_url: String,
    pub keys: KeyRing,
    pub timeout: Duration,
    http: reqwest::Client,
}

fn domain_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(str::to_ascii_lowercase)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Seconds from a `Retry-After` header.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get("retry-after")?.to_str().ok()?.trim().parse::<f64>().ok().map(Duration::from_secs_f64)
}

impl Provider {
    /// Brave over `base_url` with `keys`.
    pub fn brave(base_url: impl Into<String>, keys: KeyRing) -> Self {
        Self::new("brave", base_url.into(), keys, BRAVE_TIMEOUT)
    }

    /// Exa over `base_url` with `keys`.
    pub fn exa(base_url: impl Into<String>, keys: KeyRing) -> Self {
        Self::new("exa", base_url.into(), keys, EXA_TIMEOUT)
    }

    fn new(name: &'static str, base_url: String, keys: KeyRing, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { name, base_url: base_url.trim_end_matches('/').to_owned(), keys, timeout, http }
    }

    fn label(&self) -> &'static str {
        match self.name {
            "brave" => "Brave Search API",
            _ => "Exa API",
        }
    }

    /// Whether the provider serves `content_type`.
    pub fn supports(&self, content_type: &str) -> bool {
        match self.name {
            "brave" => BRAVE_TYPES.contains(&content_type),
            _ => EXA_TYPES.contains(&content_type),
        }
    }

    /// Runs the search; an unsupported content type gives no results (as upstream).
    pub async fn search(&self, params: &SearchParams) -> Result<Vec<UnifiedResult>, String> {
        let content_type = params.content_type.clone().unwrap_or_else(|| "web".to_owned());
        if !self.supports(&content_type) {
            return Ok(Vec::new());
        }
        let label = self.label();
        let body = self
            .keys
            .run(label, |key| {
                let request = match self.name {
                    "brave" => self.brave_request(params, &content_type, &key),
                    _ => self.exa_request(params, &content_type, &key),
                };
                async move { send(request, label).await }
            })
            .await?;
        match self.name {
            "brave" => brave_results(&body, &content_type),
            _ => exa_results(&body, &content_type),
        }
    }

    fn brave_request(&self, p: &SearchParams, content_type: &str, key: &str) -> reqwest::RequestBuilder {
        let (min, max, default) = match content_type {
            "news" | "videos" => (1, 50, 20),
            "images" => (1, 200, 50),
            _ => (1, 20, 10),
        };
        let count = p.count.map_or(default, |c| c.clamp(min, max));
        let mut query = vec![("q", p.query.clone()), ("count", count.to_string())];
        if content_type != "images" {
            if let Some(f) = p.freshness.as_deref().and_then(brave_freshness) {
                query.push(("freshness", f.to_owned()));
            }
        }
        self.http
            .get(format!("{}/res/v1/{content_type}/search", self.base_url))
            .query(&query)
            .header("Accept", "application/json")
            .header("X-Subscription-Token", key)
    }

    fn exa_request(&self, p: &SearchParams, content_type: &str, key: &str) -> reqwest::RequestBuilder {
        let mut body = json!({"query": p.query, "contents": {"highlights": true}});
        if let Some(category) = match content_type {
            "news" => Some("news"),
            "social" => Some("tweet"),
            "research" => Some("research paper"),
            _ => None,
        } {
            body["category"] = json!(category);
        }
        if let Some(c) = p.count {
            body["num_results"] = json!(c.clamp(1, 100));
        }
        let start = p.start_date.clone().or_else(|| p.freshness.as_deref().and_then(exa_start_date));
        if let Some(s) = start {
            body["start_published_date"] = json!(s);
        }
        if let Some(e) = &p.end_date {
            body["end_published_date"] = json!(e);
        }
        if !p.include_domains.is_empty() {
            body["include_domains"] = json!(p.include_domains);
        }
        if !p.exclude_domains.is_empty() {
            body["exclude_domains"] = json!(p.exclude_domains);
        }
        self.http
            .post(format!("{}/search", self.base_url))
            .header("Content-Type", "application/json")
            .header("x-api-key", key)
            .json(&body)
    }
}

/// Sends one request; sorts the answer into done / rate-limited / refused.
async fn send(request: reqwest::RequestBuilder, label: &str) -> Attempt<Value> {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Attempt::Done(Err(format!("{label} request timed out"))),
        Err(e) => return Attempt::Done(Err(format!("{label} request failed: {e}"))),
    };
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let body = match response.text().await {
        Ok(b) => b,
        Err(e) => return Attempt::Done(Err(format!("{label} answer could not be read: {e}"))),
    };
    let message = || {
        let detail = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                text(&v, "message")
                    .or_else(|| v.get("error").map(|e| e.as_str().map_or(e.to_string(), str::to_owned)))
            })
            .unwrap_or_else(|| body.chars().take(300).collect());
        format!("{label} error: {status} - {detail}")
    };
    match status {
        429 => Attempt::RateLimited(wait, message()),
        401 | 403 => Attempt::Rejected(message()),
        200..=299 => match serde_json::from_str::<Value>(&body) {
            Ok(v) if v.is_object() => Attempt::Done(Ok(v)),
            _ => Attempt::Done(Err(format!(
                "{label} answered with something that is not JSON: {:?}",
                body.chars().take(120).collect::<String>()
            ))),
        },
        _ => Attempt::Done(Err(message())),
    }
}

/// Brave's freshness code for a unified freshness (`hour` falls back to a day).
fn brave_freshness(f: &str) -> Option<&'static str> {
    Some(match f {
        "hour" | "day" => "pd",
        "week" => "pw",
        "month" => "pm",
        "year" => "py",
        _ => return None,
    })
}

/// The ISO start date a unified freshness means for Exa.
fn exa_start_date(f: &str) -> Option<String> {
    let hours = match f {
        "hour" => 1,
        "day" => 24,
        "week" => 7 * 24,
        "month" => 31 * 24,
        "year" => 365 * 24,
        _ => return None,
    };
    let start = chrono::Utc::now() - chrono::Duration::hours(hours);
    Some(start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn results_array<'a>(body: &'a Value, path: &[&str], label: &str) -> Result<&'a [Value], String> {
    let mut v = body;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            // Brave leaves `web` out when nothing matched.
            None => return Ok(&[]),
        }
    }
    v.as_array().map(Vec::as_slice).ok_or_else(|| format!("{label} answer has no `{}` list", path.join(".")))
}

fn brave_results(body: &Value, content_type: &str) -> Result<Vec<UnifiedResult>, String> {
    let path: &[&str] = if content_type == "web" { &["web", "results"] } else { &["results"] };
    let rows = results_array(body, path, "Brave Search API")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let url = text(r, "url")?;
            let snippet = match content_type {
                "images" => text(r, "src")
                    .or_else(|| r.pointer("/properties/url").and_then(Value::as_str).map(str::to_owned)),
                _ => text(r, "description"),
            };
            Some(UnifiedResult {
                title: text(r, "title").unwrap_or_default(),
                domain: domain_of(&url),
                url,
                snippet: snippet.unwrap_or_default(),
                published_date: text(r, "page_age"),
                age: text(r, "age"),
                source: "brave",
                content_type: content_type.to_owned(),
                author: None,
                score: None,
            })
        })
        .collect())
}

fn exa_results(body: &Value, content_type: &str) -> Result<Vec<UnifiedResult>, String> {
    let rows = results_array(body, &["results"], "Exa API")?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let url = text(r, "url")?;
            let snippet = text(r, "text").filter(|t| !t.trim().is_empty()).unwrap_or_else(|| {
                r.get("highlights")
                    .and_then(Value::as_array)
                    .map(|h| h.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            });
            Some(UnifiedResult {
                title: text(r, "title").unwrap_or_default(),
                domain: domain_of(&url),
                url,
                snippet,
                published_date: text(r, "publishedDate"),
                age: None,
                source: "exa",
                content_type: content_type.to_owned(),
                author: text(r, "author"),
                score: r.get("score").and_then(Value::as_f64),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brave_and_exa_rows_normalise() {
        let web = json!({"query": {"original": "q"}, "web": {"results": [
            {"title": "T", "url": "https://sub.example.com/a", "description": "D", "age": "3 hours ago", "page_age": "2025-01-31T10:00:00Z"}
        ]}});
        let r = brave_results(&web, "web").unwrap();
        assert_eq!(r[0].domain.as_deref(), Some("sub.example.com"));
        assert_eq!((r[0].snippet.as_str(), r[0].age.as_deref()), ("D", Some("3 hours ago")));
        assert!(brave_results(&json!({"query": {}}), "web").unwrap().is_empty());
        let images =
            json!({"results": [{"title": "I", "url": "https://e.com/p", "src": "https://e.com/i.jpg"}]});
        assert_eq!(brave_results(&images, "images").unwrap()[0].snippet, "https://e.com/i.jpg");
        let exa = json!({"requestId": "r", "results": [
            {"id": "1", "url": "https://x.org", "title": "X", "highlights": ["One.", "Two."], "author": "A", "score": 0.5}
        ]});
        let r = exa_results(&exa, "social").unwrap();
        assert_eq!((r[0].snippet.as_str(), r[0].content_type.as_str()), ("One. Two.", "social"));
        assert!(exa_results(&json!({"results": 3}), "web").is_err());
    }

    #[test]
    fn freshness_maps_per_provider() {
        assert_eq!(brave_freshness("hour"), Some("pd"));
        assert_eq!(brave_freshness("year"), Some("py"));
        assert!(exa_start_date("hour").unwrap().ends_with('Z'));
        assert_eq!(exa_start_date("decade"), None);
    }
}

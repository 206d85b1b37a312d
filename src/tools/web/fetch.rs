//! `WebFetch`: fetches a page and answers a question about it with a small model, as the
//! TypeScript tool does (it spawned a Haiku subagent; here one request through the
//! [`Provider`] trait to `models.subagent`, else the session's model, the way compaction
//! summaries pick their model). Answers are cached per (URL, prompt).
//!
//! The fetch: the URL passes [`UrlGuard`] (and, for a host name, its DNS answers pass it
//! too, and the connection goes to exactly the checked addresses), redirects are checked
//! the same way (at most 10), the body is read up to `maxResponseBytes` (10 MB) within
//! `tools.web.fetch.timeoutMs` (30 s), only HTML is accepted, and the page text is cut to
//! `maxContentSize` bytes (100 KB) before the model reads it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::cache::TtlCache;
use super::html;
use super::url_guard::UrlGuard;
use crate::core::stream::StreamEvent;
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::llm::models::ModelInfo;
use crate::llm::sse::error_chain;
use crate::llm::{Provider, Request};
use crate::tools::{Tool, ToolContext, ToolFuture};

/// The tool's name.
pub const NAME: &str = "WebFetch";
/// The `User-Agent` sent (upstream's).
pub const USER_AGENT: &str = "TronAgent/1.0 (+https://github.com/tron-agent)";
/// Default time limit for one fetch (`tools.web.fetch.timeoutMs`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most bytes of a response read (`tools.web.fetch.maxResponseBytes`).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;
/// Default most bytes of page text the model reads (the `maxContentSize` parameter).
pub const DEFAULT_MAX_CONTENT: usize = 100 * 1024;
/// Most redirects followed.
const MAX_REDIRECTS: usize = 10;

const DESCRIPTION: &str = "Fetch a web page and answer a question about its content.

The tool fetches the URL, extracts the main content, and uses a Haiku subagent to answer your question.
This is much more efficient than including raw web content in context.

Parameters:
- **url**: The URL to fetch (required). HTTP is auto-upgraded to HTTPS.
- **prompt**: Your question about the content (required). Be specific for better answers.

Returns:
- Answer to your question based on the page content
- Source metadata (URL, title, fetch time)
- Subagent session ID for debugging

Note: Results are cached for 15 minutes. Same URL + same prompt = instant cached response.";

/// Answers a question about a page's text (a small model in production).
pub trait PageReader: Send + Sync {
    /// The answer to `task` (the page and the question, as one prompt), or why none came.
    fn answer<'a>(&'a self, task: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

/// A [`PageReader`] that asks `model` through `provider` (one request, no tools).
pub struct ModelReader {
    provider: Arc<dyn Provider>,
    model: &'static ModelInfo,
}

impl ModelReader {
    /// Reads pages with `model` through `provider`.
    pub fn new(provider: Arc<dyn Provider>, model: &'static ModelInfo) -> Self {
        Self { provider, model }
    }
}

impl PageReader for ModelReader {
    fn answer<'a>(&'a self, task: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let request = Request {
                model: self.model.id.to_owned(),
                system: None,
                messages: vec![crate::core::messages::Message::user(task)],
                tools: Vec::new(),
                max_tokens: self.model.max_output.min(4_096),
                thinking_budget: None,
            };
            let mut stream = self.provider.stream(request);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(StreamEvent::Done { message, .. }) => return Ok(message.text().trim().to_owned()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            Err(format!("{} ended its answer without finishing", self.model.id))
        })
    }
}

/// A [`PageReader`] set up on first use from the first of `models` that has credentials
/// (so a run that never fetches pays nothing).
pub struct DeferredReader {
    models: Vec<&'static ModelInfo>,
    setup: Box<dyn Fn(&'static ModelInfo) -> Option<Box<dyn Provider>> + Send + Sync>,
    resolved: std::sync::OnceLock<Option<ModelReader>>,
}

impl DeferredReader {
    /// Tries `models` in order; `setup` makes a model's provider (`None`: no credentials).
    pub fn new(
        models: Vec<&'static ModelInfo>,
        setup: impl Fn(&'static ModelInfo) -> Option<Box<dyn Provider>> + Send + Sync + 'static,
    ) -> Self {
        Self { models, setup: Box::new(setup), resolved: std::sync::OnceLock::new() }
    }
}

impl PageReader for DeferredReader {
    fn answer<'a>(&'a self, task: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let reader = self.resolved.get_or_init(|| {
                self.models.iter().find_map(|m| (self.setup)(m).map(|p| ModelReader::new(Arc::from(p), m)))
            });
            match reader {
                Some(r) => r.answer(task).await,
                None => {
                    let ids: Vec<&str> = self.models.iter().map(|m| m.id).collect();
                    Err(format!("no model to read the page with: none of {} has credentials", ids.join(", ")))
                }
            }
        })
    }
}

/// How `WebFetch` fetches.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Which URLs may be fetched.
    pub guard: UrlGuard,
    /// Time limit for one fetch (connect, headers and body).
    pub timeout: Duration,
    /// Most bytes of a response read (the rest is cut off).
    pub max_response_bytes: usize,
    /// How long an answer stays cached.
    pub cache_ttl: Duration,
    /// Most cached answers.
    pub cache_entries: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            guard: UrlGuard::new(),
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            cache_ttl: Duration::from_secs(15 * 60),
            cache_entries: 100,
        }
    }
}

/// A cached answer.
#[derive(Debug, Clone)]
pub struct Answer {
    answer: String,
    source: Value,
}

/// The `WebFetch` tool.
pub struct WebFetchTool {
    config: FetchConfig,
    reader: Arc<dyn PageReader>,
    cache: Arc<TtlCache<Answer>>,
}

impl std::fmt::Debug for WebFetchTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebFetchTool").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A fetched page, or why not.
struct Fetched {
    body: String,
    truncated: bool,
}

impl WebFetchTool {
    /// The tool with `config`, answering through `reader`.
    pub fn new(config: FetchConfig, reader: Arc<dyn PageReader>) -> Self {
        let cache = Arc::new(TtlCache::new(config.cache_ttl, config.cache_entries));
        Self { config, reader, cache }
    }

    /// The tool answering from (and into) `cache`, shared with other tools (the server
    /// shares one cache between all runs, so a page asked about again is not fetched again).
    pub fn with_cache(
        config: FetchConfig,
        reader: Arc<dyn PageReader>,
        cache: Arc<TtlCache<Answer>>,
    ) -> Self {
        Self { config, reader, cache }
    }

    /// Cache hits, misses and size.
    pub fn cache_stats(&self) -> super::cache::CacheStats {
        self.cache.stats()
    }

    async fn run(&self, args: &JsonObject) -> ToolResult {
        let url = args.get("url").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if url.is_empty() {
            return ToolResult::error(
                "Error: Missing required parameter \"url\". Please provide the URL to fetch.",
            )
            .with_details(json!({"error": "Missing url parameter"}));
        }
        let prompt = args.get("prompt").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if prompt.is_empty() {
            return ToolResult::error(
                "Error: Missing required parameter \"prompt\". Please provide a question about the content.",
            )
            .with_details(json!({"error": "Missing prompt parameter"}));
        }
        let max_content = match args.get("maxContentSize") {
            None | Some(Value::Null) => DEFAULT_MAX_CONTENT,
            Some(v) => match v.as_f64() {
                Some(n) if n >= 1.0 => n as usize,
                _ => {
                    return ToolResult::error(format!(
                        "Error: \"maxContentSize\" must be a positive number of bytes, got {v}"
                    ))
                }
            },
        };
        let normalized = match self.config.guard.check(url) {
            Ok(u) => u,
            Err(e) => {
                return ToolResult::error(format!("Error: Invalid URL - {}", e.message))
                    .with_details(json!({"error": {"code": e.code, "message": e.message}}))
            }
        };
        let key = normalized.as_str();
        if let Some(hit) = self.cache.get(key, prompt) {
            return ToolResult::text(hit.answer.clone()).with_details(json!({
                "answer": hit.answer, "source": hit.source, "fromCache": true,
            }));
        }
        let fetched = match self.fetch(&normalized).await {
            Ok(f) => f,
            Err(e) => {
                return ToolResult::error(format!("Error fetching URL: {e}"))
                    .with_details(json!({"error": e}))
            }
        };
        let page = html::to_text(&fetched.body);
        if page.text.trim().is_empty() {
            return ToolResult::error(
                "Error: Could not extract content from the page. The page may be empty or use client-side rendering.",
            )
            .with_details(json!({"error": "No content extracted", "title": page.title}));
        }
        let (content, cut) = clip_bytes(&page.text, max_content);
        let title = if page.title.is_empty() { "Unknown".to_owned() } else { page.title.clone() };
        let mut content = content.to_owned();
        if cut || fetched.truncated {
            content.push_str("\n\n[Content truncated]");
        }
        let task = format!(
            "Answer this question about the following web page content.\n\n**Question**: {prompt}\n\n\
             **Page Title**: {title}\n\n**Content**:\n{content}\n\nInstructions:\n\
             - Answer the question concisely based on the content provided\n\
             - If the content doesn't contain the answer, say so clearly\n\
             - Do not make up information not present in the content"
        );
        let answer = match self.reader.answer(&task).await {
            Ok(a) if a.is_empty() => "No answer generated".to_owned(),
            Ok(a) => a,
            Err(e) => {
                return ToolResult::error(format!("Error: Failed to analyze page content - {e}"))
                    .with_details(json!({"error": e}))
            }
        };
        let source = json!({
            "url": key,
            "title": title,
            "fetchedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        self.cache.put(key, prompt, Answer { answer: answer.clone(), source: source.clone() });
        ToolResult::text(answer.clone()).with_details(json!({
            "answer": answer, "source": source, "fromCache": false,
            "contentTruncated": cut || fetched.truncated,
        }))
    }

    async fn fetch(&self, url: &url::Url) -> Result<Fetched, String> {
        let timeout = self.config.timeout;
        let work = async {
            let client = self.client_for(url).await?;
            let response = client
                .get(url.clone())
                .header("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
                .header("Accept-Language", "en-US,en;q=0.5")
                .send()
                .await
                .map_err(|e| error_chain(&e))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {}: {}", status.as_u16(), status.canonical_reason().unwrap_or("")));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if !content_type.contains("text/html") && !content_type.contains("application/xhtml") {
                return Err(format!("Unsupported content type: {content_type}"));
            }
            let mut body = Vec::new();
            let mut truncated = false;
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| error_chain(&e))?;
                let room = self.config.max_response_bytes - body.len();
                if chunk.len() >= room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = chunk.len() > room;
                    if truncated || room == 0 {
                        break;
                    }
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(Fetched { body: String::from_utf8_lossy(&body).into_owned(), truncated })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!("Request timed out after {}ms", timeout.as_millis())),
        }
    }

    /// A client that connects only to the checked addresses of `url`'s host and checks
    /// every redirect target.
    async fn client_for(&self, url: &url::Url) -> Result<reqwest::Client, String> {
        let guard = self.config.guard.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match guard.check(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(format!("redirect refused: {}", e.message)),
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(policy)
            .connect_timeout(self.config.timeout);
        if let Some(url::Host::Domain(domain)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| format!("cannot resolve {domain}: {e}"))?
                .collect();
            let ips: Vec<_> = addrs.iter().map(SocketAddr::ip).collect();
            self.config.guard.check_resolved(domain, &ips).map_err(|e| e.message)?;
            builder = builder.resolve_to_addrs(domain, &addrs);
        }
        builder.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))
    }
}

/// At most `max` bytes of `text`, cut at a character boundary; whether it was cut.
fn clip_bytes(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    (&text[..at], true)
}

impl Tool for WebFetchTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAME,
            DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "The URL to fetch. Must be a valid HTTPS URL (HTTP is auto-upgraded)."},
                    "prompt": {"type": "string", "description": "Your question or what to extract from the page content."},
                    "maxContentSize": {"type": "number", "description": "Maximum content size in bytes before truncation (default: 100KB)."}
                },
                "required": ["url", "prompt"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            tokio::select! {
                r = self.run(arguments) => r,
                _ = ctx.cancel.cancelled() => ToolResult::error("WebFetch interrupted: the run was aborted"),
            }
        })
    }

    fn read_only(&self) -> bool {
        true
    }
}

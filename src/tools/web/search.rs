//! `WebSearch`: the TypeScript unified search tool over Brave and/or Exa. Offered only when
//! at least one provider has a key. Providers are picked by the `providers` argument, else
//! by `contentType`, else all; they run together, a provider that fails gives way to the
//! others (the call fails only when all failed), results are filtered by domain and
//! de-duplicated by URL, and the text lists them with their provider.

use serde_json::{json, Value};

use super::providers::{Provider, SearchParams, UnifiedResult};
use super::url_guard::domain_matches;
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;
use crate::tools::{Tool, ToolContext, ToolFuture};

/// The tool's name.
pub const NAME: &str = "WebSearch";
/// The longest query accepted.
pub const MAX_QUERY_LENGTH: usize = 400;

const FRESHNESS: &[&str] = &["hour", "day", "week", "month", "year"];
const CONTENT_TYPES: &[&str] = &["web", "news", "images", "videos", "social", "research"];

/// The `WebSearch` tool.
#[derive(Debug)]
pub struct WebSearchTool {
    brave: Option<Provider>,
    exa: Option<Provider>,
    blocked_domains: Vec<String>,
}

impl WebSearchTool {
    /// The tool over the providers given; `None` when there is none (nothing to search with).
    pub fn new(brave: Option<Provider>, exa: Option<Provider>) -> Option<Self> {
        (brave.is_some() || exa.is_some()).then_some(Self { brave, exa, blocked_domains: Vec::new() })
    }

    /// Domains always left out of the results.
    pub fn with_blocked_domains(mut self, domains: Vec<String>) -> Self {
        self.blocked_domains = domains;
        self
    }

    fn available(&self) -> Vec<&Provider> {
        self.brave.iter().chain(self.exa.iter()).collect()
    }

    fn description(&self) -> String {
        let mut parts = vec!["Search the web using multiple providers.".to_owned()];
        match (&self.brave, &self.exa) {
            (Some(_), Some(_)) => parts.extend(
                [
                    "\n\n**Providers:**",
                    "- **brave**: Fast general search, news, images, videos",
                    "- **exa**: Semantic search, hour-level time filters, tweets, research papers",
                    "\n**When to use each:**",
                    "- Recent news (last hour): Use exa with freshness: \"hour\"",
                    "- Social media/tweets: Use contentType: \"social\" (Exa only)",
                    "- Research papers: Use contentType: \"research\" (Exa only)",
                    "- Images/videos: Use contentType: \"images\" or \"videos\" (Brave only)",
                    "- General web search: Use both for comprehensive results",
                ]
                .map(str::to_owned),
            ),
            (Some(_), None) => parts.extend(
                [
                    "\n**Provider:** Brave Search",
                    "\nSupports: web, news, images, videos",
                    "Freshness: day, week, month, year",
                ]
                .map(str::to_owned),
            ),
            _ => parts.extend(
                [
                    "\n**Provider:** Exa Search",
                    "\nSupports: web, news, social (tweets), research",
                    "Freshness: hour, day, week, month, year (with exact date ranges)",
                ]
                .map(str::to_owned),
            ),
        }
        parts.join("\n")
    }

    async fn run(&self, args: &JsonObject) -> ToolResult {
        let query = args.get("query").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if query.is_empty() {
            return ToolResult::error(
                "Error: Missing required parameter \"query\". Please provide a search query.",
            )
            .with_details(json!({"error": "Missing query parameter"}));
        }
        if query.chars().count() > MAX_QUERY_LENGTH {
            return ToolResult::error(format!(
                "Error: Query is too long. Maximum length is {MAX_QUERY_LENGTH} characters."
            ))
            .with_details(json!({"error": "Query too long"}));
        }
        let params = match parse(query, args) {
            Ok(p) => p,
            Err(e) => return ToolResult::error(format!("Error: {e}")).with_details(json!({"error": e})),
        };
        let requested = match strings(args, "providers") {
            Ok(p) => p,
            Err(e) => return ToolResult::error(format!("Error: {e}")).with_details(json!({"error": e})),
        };
        let chosen: Vec<&Provider> = if !requested.is_empty() {
            self.available().into_iter().filter(|p| requested.iter().any(|r| r == p.name)).collect()
        } else if let Some(ct) = &params.content_type {
            self.available().into_iter().filter(|p| p.supports(ct)).collect()
        } else {
            self.available()
        };
        let names: Vec<&str> = chosen.iter().map(|p| p.name).collect();
        if chosen.is_empty() {
            let msg = match &params.content_type {
                Some(ct) if requested.is_empty() => {
                    format!("Error: No available provider supports the requested content type \"{ct}\".")
                }
                _ => format!(
                    "Error: None of the requested providers ({}) is available; available: {}.",
                    requested.join(", "),
                    self.available().iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                ),
            };
            return ToolResult::error(msg).with_details(json!({"error": "No suitable provider"}));
        }
        let outcomes = futures_util::future::join_all(chosen.iter().map(|p| p.search(&params))).await;
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(r) => results.extend(r),
                Err(e) => errors.push(e),
            }
        }
        if results.is_empty() && !errors.is_empty() {
            let message = errors.join("; ");
            return ToolResult::error(format!("Error performing search: {message}"))
                .with_details(json!({"error": message, "query": query}));
        }
        let results = dedupe(self.filter(results, &params));
        if results.is_empty() {
            return ToolResult::text(format!(
                "No results found for query: \"{query}\"\n\nTry:\n- Different search terms\n- Broader query\n- Removing domain filters"
            ))
            .with_details(json!({"query": query, "results": [], "totalResults": 0, "providers": names}));
        }
        let text = format_results(&results, query, &names);
        ToolResult::text(text).with_details(json!({
            "query": query, "results": results, "totalResults": results.len(), "providers": names,
        }))
    }

    fn filter(&self, results: Vec<UnifiedResult>, p: &SearchParams) -> Vec<UnifiedResult> {
        let excluded: Vec<&String> = self.blocked_domains.iter().chain(p.exclude_domains.iter()).collect();
        results
            .into_iter()
            .filter(|r| {
                let Some(domain) = r.domain.as_deref() else {
                    return p.include_domains.is_empty();
                };
                (p.include_domains.is_empty() || p.include_domains.iter().any(|d| domain_matches(domain, d)))
                    && !excluded.iter().any(|d| domain_matches(domain, d))
            })
            .collect()
    }
}

fn dedupe(results: Vec<UnifiedResult>) -> Vec<UnifiedResult> {
    let mut seen = std::collections::HashSet::new();
    results.into_iter().filter(|r| seen.insert(r.url.to_lowercase())).collect()
}

fn strings(args: &JsonObject, name: &str) -> Result<Vec<String>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| format!("\"{name}\" must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("\"{name}\" must be a list of strings")),
    }
}

fn one_of(args: &JsonObject, name: &str, allowed: &[&str]) -> Result<Option<String>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(v) => Err(format!("\"{name}\" must be one of {}, got {v}", allowed.join(", "))),
    }
}

fn parse(query: &str, args: &JsonObject) -> Result<SearchParams, String> {
    let count = match args.get("count") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(n) if n >= 1.0 => Some(n as u64),
            _ => return Err(format!("\"count\" must be a positive number, got {v}")),
        },
    };
    let date = |name: &str| match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!("\"{name}\" must be an ISO 8601 date string, got {v}")),
    };
    Ok(SearchParams {
        query: query.to_owned(),
        count,
        freshness: one_of(args, "freshness", FRESHNESS)?,
        start_date: date("startDate")?,
        end_date: date("endDate")?,
        content_type: one_of(args, "contentType", CONTENT_TYPES)?,
        include_domains: strings(args, "includeDomains")?,
        exclude_domains: strings(args, "excludeDomains")?,
    })
}

/// The result text the model reads (upstream's layout).
fn format_results(results: &[UnifiedResult], query: &str, providers: &[&str]) -> String {
    let label = providers.join("+");
    let mut lines = vec![
        format!("Search results for: \"{query}\" (via {label})"),
        format!("Found {} result{}:", results.len(), if results.len() == 1 { "" } else { "s" }),
        String::new(),
    ];
    for (i, r) in results.iter().enumerate() {
        lines.push(format!("**{}. {}** [{}]", i + 1, r.title, r.source));
        lines.push(format!("   {}", r.url));
        if !r.snippet.is_empty() {
            lines.push(format!("   {}", r.snippet));
        }
        let mut meta = Vec::new();
        if let Some(age) = &r.age {
            meta.push(age.clone());
        } else if let Some(date) = &r.published_date {
            meta.push(date.split('T').next().unwrap_or(date).to_owned());
        }
        if let Some(author) = &r.author {
            meta.push(format!("by {author}"));
        }
        if !meta.is_empty() {
            lines.push(format!("   *{}*", meta.join(" | ")));
        }
        lines.push(String::new());
    }
    lines.push("---".to_owned());
    lines.push("Use WebFetch to read the full content of any result.".to_owned());
    lines.join("\n")
}

impl Tool for WebSearchTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAME,
            self.description(),
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Search query (required, max 400 characters)"},
                    "providers": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["brave", "exa"]},
                        "description": "Which providers to use (default: all available). Use 'exa' for hour-level freshness, tweets, or research papers."
                    },
                    "count": {"type": "number", "description": "Number of results per provider (default: 10)"},
                    "freshness": {"type": "string", "enum": FRESHNESS, "description": "Time filter. 'hour' only works with Exa provider."},
                    "startDate": {"type": "string", "description": "Exact start date (ISO 8601) - Exa only. Use for precise date ranges."},
                    "endDate": {"type": "string", "description": "Exact end date (ISO 8601) - Exa only"},
                    "contentType": {
                        "type": "string",
                        "enum": CONTENT_TYPES,
                        "description": "Content type. 'social' (tweets) and 'research' only work with Exa. 'images' and 'videos' only work with Brave."
                    },
                    "includeDomains": {"type": "array", "items": {"type": "string"}, "description": "Only include results from these domains"},
                    "excludeDomains": {"type": "array", "items": {"type": "string"}, "description": "Exclude results from these domains"}
                },
                "required": ["query"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            tokio::select! {
                r = self.run(arguments) => r,
                _ = ctx.cancel.cancelled() => ToolResult::error("WebSearch interrupted: the run was aborted"),
            }
        })
    }

    fn read_only(&self) -> bool {
        true
    }
}

//! The model registry: every model tron knows, by id, with its provider, limits,
//! capabilities and prices; and the cost of a request and of a session.
//!
//! - [`lookup`] resolves an id (exact, case-insensitive, `provider/` prefixed, or one of the
//!   undated aliases in [`aliases`]). An unknown id is an [`UnknownModel`] error naming up to
//!   three close known ids.
//! - [`cost`] prices one response's [`TokenUsage`]. A model without pricing gives `None`
//!   ("cost unavailable"), never a zero cost.
//! - [`SessionCost`] sums per-request costs; one unpriced request makes the session total
//!   unavailable rather than silently smaller.
//!
//! Prices are USD per million tokens. How input tokens are counted depends on the provider
//! (see [`ProviderType`]): Anthropic reports `inputTokens` without the cached tokens, the
//! others report the whole prompt with the cached tokens inside it. [`cost`] reads
//! `usage.provider_type` (falling back to the model's provider) and never bills a token
//! twice.

use std::cmp::Reverse;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::core::{Cost, ProviderType, TokenUsage};

mod table;
#[cfg(test)]
mod tests;

/// The currency every price in the registry is in.
pub const CURRENCY: &str = "USD";

/// Which API (and authentication) serves a model.
///
/// Serialized as the TypeScript server names providers: `"anthropic"`, `"openai"`,
/// `"openai-codex"`, `"google"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProviderKind {
    /// Anthropic Messages API (API key or Claude OAuth).
    #[serde(rename = "anthropic")]
    Anthropic,
    /// OpenAI API with an API key.
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI Codex models through a ChatGPT subscription (OAuth, Responses API).
    #[serde(rename = "openai-codex")]
    OpenAiCodex,
    /// Google Gemini (Cloud Code Assist / Antigravity OAuth, or an API key).
    #[serde(rename = "google")]
    Google,
}

impl ProviderKind {
    /// Every provider, in display order.
    pub const ALL: [ProviderKind; 4] =
        [ProviderKind::Anthropic, ProviderKind::OpenAi, ProviderKind::OpenAiCodex, ProviderKind::Google];

    /// The wire name (`"anthropic"`, `"openai"`, `"openai-codex"`, `"google"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCodex => "openai-codex",
            ProviderKind::Google => "google",
        }
    }

    /// Whether this provider's `inputTokens` leaves out the cache read/write tokens
    /// (Anthropic) rather than including them (everyone else).
    fn input_excludes_cache(self) -> bool {
        matches!(self, ProviderKind::Anthropic)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is not one of [`ProviderKind`]'s wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}; expected one of anthropic, openai, openai-codex, google")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderKind {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

impl From<ProviderKind> for ProviderType {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Anthropic => ProviderType::Anthropic,
            ProviderKind::OpenAi => ProviderType::OpenAi,
            ProviderKind::OpenAiCodex => ProviderType::OpenAiCodex,
            ProviderKind::Google => ProviderType::Google,
        }
    }
}

/// One model: what it is, what it can do, what it costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The id sent to the provider's API, e.g. `claude-sonnet-4-5-20250929`.
    pub id: &'static str,
    /// Display name, e.g. `Claude Sonnet 4.5`.
    pub name: &'static str,
    /// The API that serves it.
    pub provider: ProviderKind,
    /// Largest prompt plus output, in tokens.
    pub context_window: u64,
    /// Largest output of one response, in tokens.
    pub max_output: u64,
    /// Extended thinking (Anthropic budget/adaptive, Gemini thinking, OpenAI reasoning).
    pub supports_thinking: bool,
    /// Accepts images in the prompt.
    pub supports_images: bool,
    /// Accepts tool definitions and returns tool calls.
    pub supports_tools: bool,
    /// Accepts a named effort level ([`ModelInfo::reasoning_levels`]): OpenAI reasoning
    /// effort, or Anthropic's effort control on Opus 4.6.
    pub supports_reasoning_effort: bool,
    /// The effort levels it accepts, lowest first (empty when it accepts none).
    pub reasoning_levels: &'static [&'static str],
    /// The effort level used when none is asked for.
    pub default_reasoning_level: Option<&'static str>,
    /// Prices; `None` when unknown (cost is then unavailable, never 0).
    pub pricing: Option<Pricing>,
}

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (thinking included).
    pub output: f64,
    /// Tokens written to the prompt cache; `None` bills them at the input price.
    pub cache_write: Option<f64>,
    /// Tokens read from the prompt cache; `None` bills them at the input price.
    pub cache_read: Option<f64>,
    /// Higher prices for long prompts, lowest threshold first (see [`PriceTier`]).
    pub tiers: &'static [PriceTier],
}

/// Prices that replace the base [`Pricing`] for a whole request once its prompt exceeds
/// `above_input_tokens` (e.g. Claude Opus 4.6 above 200k tokens). The prompt counts every
/// input token, cached or not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceTier {
    /// The tier applies when the prompt has more than this many tokens.
    pub above_input_tokens: u64,
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cache writes; `None` bills them at this tier's input price.
    pub cache_write: Option<f64>,
    /// Cache reads; `None` bills them at this tier's input price.
    pub cache_read: Option<f64>,
}

/// The four prices that apply to one request, once the tier is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rates {
    input: f64,
    output: f64,
    cache_write: f64,
    cache_read: f64,
}

impl Pricing {
    /// The prices for a request whose prompt has `prompt_tokens` tokens (cached included):
    /// the highest tier whose threshold the prompt exceeds, else the base prices.
    fn rates_for(&self, prompt_tokens: u64) -> Rates {
        let tier = self
            .tiers
            .iter()
            .filter(|tier| prompt_tokens > tier.above_input_tokens)
            .max_by_key(|tier| tier.above_input_tokens);
        match tier {
            Some(t) => Rates {
                input: t.input,
                output: t.output,
                cache_write: t.cache_write.unwrap_or(t.input),
                cache_read: t.cache_read.unwrap_or(t.input),
            },
            None => Rates {
                input: self.input,
                output: self.output,
                cache_write: self.cache_write.unwrap_or(self.input),
                cache_read: self.cache_read.unwrap_or(self.input),
            },
        }
    }
}

impl ModelInfo {
    /// The provider family to record in [`TokenUsage::provider_type`].
    pub fn provider_type(&self) -> ProviderType {
        self.provider.into()
    }
}

/// Every known model, grouped by provider (Anthropic, OpenAI, OpenAI Codex, Google),
/// newest first within a provider.
pub fn all() -> &'static [ModelInfo] {
    table::MODELS
}

/// The models one provider serves, in [`all`]'s order.
pub fn for_provider(provider: ProviderKind) -> impl Iterator<Item = &'static ModelInfo> {
    all().iter().filter(move |m| m.provider == provider)
}

/// Accepted alternative ids, as `(alias, id)`: Anthropic's undated names for dated
/// snapshots (`claude-sonnet-4-5` → `claude-sonnet-4-5-20250929`).
pub fn aliases() -> &'static [(&'static str, &'static str)] {
    table::ALIASES
}

/// The `provider/` prefixes [`lookup`] strips (`anthropic/claude-opus-4-6`).
const PROVIDER_PREFIXES: [&str; 4] = ["anthropic/", "openai/", "openai-codex/", "google/"];

/// Finds a model by id.
///
/// Accepts, in order: the exact id; the id in any letter case; the id behind a
/// `provider/` prefix (`google/gemini-2.5-pro`); an alias from [`aliases`]. Anything else is
/// an [`UnknownModel`] naming up to three close known ids.
pub fn lookup(id: &str) -> Result<&'static ModelInfo, UnknownModel> {
    if let Some(model) = all().iter().find(|m| m.id == id) {
        return Ok(model);
    }
    let mut wanted = id.trim();
    if let Some(prefix) = PROVIDER_PREFIXES
        .iter()
        .find(|p| wanted.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
    {
        wanted = &wanted[prefix.len()..];
    }
    if let Some(model) = all().iter().find(|m| m.id.eq_ignore_ascii_case(wanted)) {
        return Ok(model);
    }
    let target =
        aliases().iter().find(|(alias, _)| alias.eq_ignore_ascii_case(wanted)).map(|&(_, target)| target);
    if let Some(model) = target.and_then(|target| all().iter().find(|m| m.id == target)) {
        return Ok(model);
    }
    Err(UnknownModel { id: id.to_owned(), closest: closest(wanted, 3) })
}

/// A model id that is neither a known id nor an alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownModel {
    /// The id as given.
    pub id: String,
    /// Up to three known ids or aliases closest to it, closest first.
    pub closest: Vec<&'static str>,
}

impl fmt::Display for UnknownModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown model {:?}", self.id)?;
        if !self.closest.is_empty() {
            write!(f, "; did you mean {}?", self.closest.join(", "))?;
        }
        Ok(())
    }
}

/// The up-to-`limit` known ids and aliases nearest `query`.
///
/// A name is "close" when its edit distance is small for the query's length
/// (at most max(2, len/5)) or when one contains the other (`opus` → every Opus id). Close
/// names come first, by edit distance, then ids before aliases, then by longer shared
/// prefix, then by name. When nothing is close, the nearest names by edit distance are
/// returned anyway, so the error always points somewhere.
fn closest(query: &str, limit: usize) -> Vec<&'static str> {
    let query = query.trim().to_ascii_lowercase();
    let threshold = (query.chars().count() / 5).max(2);
    let ids = all().iter().map(|m| (m.id, false));
    let names = ids.chain(aliases().iter().map(|&(alias, _)| (alias, true)));
    let mut scored: Vec<(bool, usize, bool, Reverse<usize>, &'static str)> = names
        .map(|(name, is_alias)| {
            let distance = levenshtein(&query, name);
            let contains = query.len() >= 3 && (name.contains(query.as_str()) || query.contains(name));
            let close = distance <= threshold || contains;
            (!close, distance, is_alias, Reverse(shared_prefix(&query, name)), name)
        })
        .collect();
    scored.sort();
    let any_close = scored.first().is_some_and(|entry| !entry.0);
    scored.into_iter().take_while(|entry| !any_close || !entry.0).take(limit).map(|entry| entry.4).collect()
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by chars.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// How many leading chars two strings share.
fn shared_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// The cost of one response, or `None` when the model has no pricing (unavailable, never 0).
///
/// - Uncached input, cache writes and cache reads are each billed at their own price and
///   summed into `input_cost`; output (thinking included) is `output_cost`.
/// - Anthropic's `inputTokens` already leaves the cached tokens out; for the other providers
///   the cached tokens are inside `inputTokens` and are taken out before billing the rest.
///   Which applies is read from `usage.provider_type`, else the model's provider.
/// - A long-context tier applies to the whole request (every token type) when the prompt,
///   cached tokens included, exceeds the tier's threshold.
pub fn cost(model: &ModelInfo, usage: &TokenUsage) -> Option<Cost> {
    let pricing = model.pricing.as_ref()?;
    let excludes_cache = match &usage.provider_type {
        Some(ProviderType::Anthropic) => true,
        Some(ProviderType::OpenAi | ProviderType::OpenAiCodex | ProviderType::Google) => false,
        Some(ProviderType::Unknown(_)) | None => model.provider.input_excludes_cache(),
    };
    let cache_read = usage.cache_read_tokens.unwrap_or(0);
    let cache_write = usage.cache_creation_tokens.unwrap_or(0);
    let cached = cache_read.saturating_add(cache_write);
    let (uncached_input, prompt_tokens) = if excludes_cache {
        (usage.input_tokens, usage.input_tokens.saturating_add(cached))
    } else {
        (usage.input_tokens.saturating_sub(cached), usage.input_tokens)
    };
    let rates = pricing.rates_for(prompt_tokens);
    let per_token = |tokens: u64, rate: f64| tokens as f64 * rate / 1_000_000.0;
    let input_cost = per_token(uncached_input, rates.input)
        + per_token(cache_write, rates.cache_write)
        + per_token(cache_read, rates.cache_read);
    let output_cost = per_token(usage.output_tokens, rates.output);
    Some(Cost { input_cost, output_cost, total: input_cost + output_cost, currency: CURRENCY.to_owned() })
}

/// [`lookup`] then [`cost`]: `Err` for an unknown model, `Ok(None)` for an unpriced one.
pub fn cost_for(model_id: &str, usage: &TokenUsage) -> Result<Option<Cost>, UnknownModel> {
    lookup(model_id).map(|model| cost(model, usage))
}

/// A session's running cost: the sum of its requests' costs, where one request without a
/// cost makes the total unavailable.
///
/// Add every request with [`SessionCost::add`] (a cost, or `None` when it was unavailable)
/// or [`SessionCost::add_usage`]. [`SessionCost::total`] is `None` as soon as any request was
/// unpriced (or priced in a currency other than USD): a partial sum would understate the
/// session. [`SessionCost::priced_subtotal`] gives that partial sum, for display as
/// "at least", when the caller says so. A session with no requests costs 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionCost {
    input_cost: f64,
    output_cost: f64,
    requests: u64,
    unpriced_requests: u64,
}

impl SessionCost {
    /// A session with no requests yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one request's cost (`None`: the request's cost was unavailable).
    pub fn add(&mut self, cost: Option<&Cost>) {
        self.requests += 1;
        match cost {
            Some(c) if c.currency == CURRENCY => {
                self.input_cost += c.input_cost;
                self.output_cost += c.output_cost;
            }
            _ => self.unpriced_requests += 1,
        }
    }

    /// Prices one response with [`cost`], adds it, and returns the request's cost.
    pub fn add_usage(&mut self, model: &ModelInfo, usage: &TokenUsage) -> Option<Cost> {
        let request = cost(model, usage);
        self.add(request.as_ref());
        request
    }

    /// Requests added so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests whose cost was unavailable.
    pub fn unpriced_requests(&self) -> u64 {
        self.unpriced_requests
    }

    /// Whether every request so far had a cost (so [`SessionCost::total`] is available).
    pub fn is_complete(&self) -> bool {
        self.unpriced_requests == 0
    }

    /// The session's cost, or `None` when any request's cost was unavailable.
    pub fn total(&self) -> Option<Cost> {
        self.is_complete().then(|| self.priced_subtotal())
    }

    /// The sum of the priced requests only: a lower bound when
    /// [`SessionCost::is_complete`] is false. Prefer [`SessionCost::total`].
    pub fn priced_subtotal(&self) -> Cost {
        Cost {
            input_cost: self.input_cost,
            output_cost: self.output_cost,
            total: self.input_cost + self.output_cost,
            currency: CURRENCY.to_owned(),
        }
    }
}

impl<'a> FromIterator<Option<&'a Cost>> for SessionCost {
    fn from_iter<I: IntoIterator<Item = Option<&'a Cost>>>(iter: I) -> Self {
        let mut session = SessionCost::new();
        iter.into_iter().for_each(|cost| session.add(cost));
        session
    }
}

impl FromIterator<Option<Cost>> for SessionCost {
    fn from_iter<I: IntoIterator<Item = Option<Cost>>>(iter: I) -> Self {
        let mut session = SessionCost::new();
        iter.into_iter().for_each(|cost| session.add(cost.as_ref()));
        session
    }
}

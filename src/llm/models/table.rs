//! The model table and the alias table behind [`super::all`] and [`super::lookup`].
//!
//! Figures follow the TypeScript server's registries (Claude, OpenAI Codex and Gemini model
//! tables, and its per-provider price list); see each group's comment for what was filled in
//! from elsewhere. Prices are USD per million tokens.
//!
//! - Anthropic: cache writes cost 1.25x input, cache reads 0.1x input.
//! - OpenAI (API key): cache writes are billed as input, cache reads at the listed price.
//! - Google: cache writes are billed as input, cache reads cost 0.25x input.
//!
//! A model whose price is not known has `pricing: None`: its cost shows as unavailable.

use super::{ModelInfo, PriceTier, Pricing, ProviderKind};

const EFFORT_ANTHROPIC: &[&str] = &["low", "medium", "high", "max"];
const EFFORT_OPENAI: &[&str] = &["low", "medium", "high", "xhigh"];
const EFFORT_OPENAI_MINI: &[&str] = &["low", "medium", "high"];

/// Prices without long-context tiers.
const fn price(
    input: f64,
    output: f64,
    cache_write: Option<f64>,
    cache_read: Option<f64>,
) -> Option<Pricing> {
    Some(Pricing { input, output, cache_write, cache_read, tiers: &[] })
}

/// A Claude model: images and tools, no effort levels unless set afterwards.
const fn claude(
    id: &'static str,
    name: &'static str,
    context_window: u64,
    max_output: u64,
    supports_thinking: bool,
    pricing: Option<Pricing>,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        provider: ProviderKind::Anthropic,
        context_window,
        max_output,
        supports_thinking,
        supports_images: true,
        supports_tools: true,
        supports_reasoning_effort: false,
        reasoning_levels: &[],
        default_reasoning_level: None,
        pricing,
    }
}

/// An OpenAI API-key model (no reasoning effort).
const fn openai(
    id: &'static str,
    name: &'static str,
    context_window: u64,
    max_output: u64,
    pricing: Option<Pricing>,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        provider: ProviderKind::OpenAi,
        context_window,
        max_output,
        supports_thinking: false,
        supports_images: true,
        supports_tools: true,
        supports_reasoning_effort: false,
        reasoning_levels: &[],
        default_reasoning_level: None,
        pricing,
    }
}

/// An OpenAI Codex model (ChatGPT OAuth): reasoning with effort levels.
const fn codex(
    id: &'static str,
    name: &'static str,
    context_window: u64,
    max_output: u64,
    reasoning_levels: &'static [&'static str],
    default_reasoning_level: &'static str,
    pricing: Option<Pricing>,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        provider: ProviderKind::OpenAiCodex,
        context_window,
        max_output,
        supports_thinking: true,
        supports_images: true,
        supports_tools: true,
        supports_reasoning_effort: true,
        reasoning_levels,
        default_reasoning_level: Some(default_reasoning_level),
        pricing,
    }
}

/// A Gemini model: images and tools; thinking is configured by level or budget, not effort.
const fn gemini(
    id: &'static str,
    name: &'static str,
    context_window: u64,
    max_output: u64,
    supports_thinking: bool,
    pricing: Option<Pricing>,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        provider: ProviderKind::Google,
        context_window,
        max_output,
        supports_thinking,
        supports_images: true,
        supports_tools: true,
        supports_reasoning_effort: false,
        reasoning_levels: &[],
        default_reasoning_level: None,
        pricing,
    }
}

/// Claude Opus 4.6 above 200k prompt tokens: input 2x, output 1.5x (cache prices follow
/// input).
const OPUS_4_6_LONG_CONTEXT: &[PriceTier] = &[PriceTier {
    above_input_tokens: 200_000,
    input: 10.0,
    output: 37.5,
    cache_write: Some(12.5),
    cache_read: Some(1.0),
}];

pub(super) static MODELS: &[ModelInfo] = &[
    // Anthropic. Context window, max output and thinking from the TS Claude registry; Opus
    // 4.6's 1M window (with the context-1m beta) and its long-context tier from the TS
    // registry and price list.
    ModelInfo {
        supports_reasoning_effort: true,
        reasoning_levels: EFFORT_ANTHROPIC,
        default_reasoning_level: Some("high"),
        ..claude(
            "claude-opus-4-6",
            "Claude Opus 4.6",
            1_000_000,
            128_000,
            true,
            Some(Pricing {
                input: 5.0,
                output: 25.0,
                cache_write: Some(6.25),
                cache_read: Some(0.5),
                tiers: OPUS_4_6_LONG_CONTEXT,
            }),
        )
    },
    claude(
        "claude-opus-4-5-20251101",
        "Claude Opus 4.5",
        200_000,
        64_000,
        true,
        price(5.0, 25.0, Some(6.25), Some(0.5)),
    ),
    claude(
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        200_000,
        64_000,
        true,
        price(3.0, 15.0, Some(3.75), Some(0.3)),
    ),
    claude(
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        200_000,
        64_000,
        true,
        price(1.0, 5.0, Some(1.25), Some(0.1)),
    ),
    claude(
        "claude-opus-4-1-20250805",
        "Claude Opus 4.1",
        200_000,
        32_000,
        true,
        price(15.0, 75.0, Some(18.75), Some(1.5)),
    ),
    claude(
        "claude-opus-4-20250514",
        "Claude Opus 4",
        200_000,
        32_000,
        true,
        price(15.0, 75.0, Some(18.75), Some(1.5)),
    ),
    claude(
        "claude-sonnet-4-20250514",
        "Claude Sonnet 4",
        200_000,
        64_000,
        true,
        price(3.0, 15.0, Some(3.75), Some(0.3)),
    ),
    claude(
        "claude-3-7-sonnet-20250219",
        "Claude 3.7 Sonnet",
        200_000,
        64_000,
        true,
        price(3.0, 15.0, Some(3.75), Some(0.3)),
    ),
    claude(
        "claude-3-haiku-20240307",
        "Claude 3 Haiku",
        200_000,
        4_000,
        false,
        price(0.25, 1.25, Some(0.3125), Some(0.025)),
    ),
    // OpenAI with an API key. Prices and the 128k windows from the TS price list and context
    // limits; max output from OpenAI's model pages (the TS server does not list it).
    openai("gpt-4o", "GPT-4o", 128_000, 16_384, price(2.5, 10.0, None, Some(1.25))),
    openai("gpt-4o-mini", "GPT-4o mini", 128_000, 16_384, price(0.15, 0.6, None, Some(0.075))),
    openai("gpt-4-turbo", "GPT-4 Turbo", 128_000, 4_096, price(10.0, 30.0, None, None)),
    // OpenAI Codex (ChatGPT subscription). From the TS Codex registry. The TS server lists 0
    // for every price but GPT-5.3 Codex's; a 0 there means "not known", so those models
    // have no pricing here.
    codex(
        "gpt-5.3-codex",
        "OpenAI GPT-5.3 Codex",
        272_000,
        128_000,
        EFFORT_OPENAI,
        "medium",
        price(1.75, 14.0, None, Some(0.175)),
    ),
    codex("gpt-5.2-codex", "OpenAI GPT-5.2 Codex", 192_000, 16_384, EFFORT_OPENAI, "medium", None),
    codex("gpt-5.1-codex-max", "OpenAI GPT-5.1 Codex Max", 192_000, 16_384, EFFORT_OPENAI, "high", None),
    codex(
        "gpt-5.1-codex-mini",
        "OpenAI GPT-5.1 Codex Mini",
        192_000,
        16_384,
        EFFORT_OPENAI_MINI,
        "low",
        None,
    ),
    // Google Gemini. Windows, max output, thinking and prices from the TS Gemini registry
    // and price list (which has no long-context tier for Gemini).
    gemini(
        "gemini-3-pro-preview",
        "Gemini 3 Pro (Preview)",
        1_048_576,
        65_536,
        true,
        price(1.25, 5.0, None, Some(0.3125)),
    ),
    gemini(
        "gemini-3-flash-preview",
        "Gemini 3 Flash (Preview)",
        1_048_576,
        65_536,
        true,
        price(0.075, 0.3, None, Some(0.01875)),
    ),
    gemini("gemini-2.5-pro", "Gemini 2.5 Pro", 2_097_152, 16_384, true, price(1.25, 5.0, None, Some(0.3125))),
    gemini(
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        1_048_576,
        16_384,
        true,
        price(0.075, 0.3, None, Some(0.01875)),
    ),
    gemini(
        "gemini-2.5-flash-lite",
        "Gemini 2.5 Flash Lite",
        1_048_576,
        8_192,
        false,
        price(0.0375, 0.15, None, Some(0.009375)),
    ),
];

/// `(alias, id)`: Anthropic's undated names for the dated snapshots above.
pub(super) static ALIASES: &[(&str, &str)] = &[
    ("claude-opus-4-5", "claude-opus-4-5-20251101"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
    ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
    ("claude-opus-4-1", "claude-opus-4-1-20250805"),
    ("claude-opus-4-0", "claude-opus-4-20250514"),
    ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"),
];

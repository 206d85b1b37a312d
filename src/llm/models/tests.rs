use std::collections::HashSet;

use super::*;

fn usage(input: u64, output: u64, cache_read: Option<u64>, cache_write: Option<u64>) -> TokenUsage {
    TokenUsage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_creation_tokens: cache_write,
        ..TokenUsage::default()
    }
}

fn anthropic_usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> TokenUsage {
    TokenUsage {
        provider_type: Some(ProviderType::Anthropic),
        ..usage(input, output, Some(cache_read), Some(cache_write))
    }
}

fn assert_cost(cost: &Cost, input: f64, output: f64) {
    assert!((cost.input_cost - input).abs() < 1e-9, "input {} != {input}", cost.input_cost);
    assert!((cost.output_cost - output).abs() < 1e-9, "output {} != {output}", cost.output_cost);
    assert!((cost.total - (input + output)).abs() < 1e-9, "total {} != {}", cost.total, input + output);
    assert_eq!(cost.currency, "USD");
}

fn model(id: &str) -> &'static ModelInfo {
    lookup(id).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

#[test]
fn every_model_has_limits_and_every_provider_has_models() {
    for m in all() {
        assert!(!m.id.is_empty() && !m.name.is_empty(), "{m:?}");
        assert!(m.context_window > 0, "{} has no context window", m.id);
        assert!(m.max_output > 0, "{} has no max output", m.id);
        assert!(m.max_output <= m.context_window, "{}: max output above the window", m.id);
        assert!(m.supports_tools, "{} without tools", m.id);
    }
    let mut counted = 0;
    for provider in ProviderKind::ALL {
        let n = for_provider(provider).count();
        assert!(n > 0, "no models for {provider}");
        counted += n;
    }
    assert_eq!(counted, all().len());
}

#[test]
fn ids_and_aliases_are_unique_and_aliases_resolve() {
    let mut names = HashSet::new();
    for m in all() {
        assert!(names.insert(m.id.to_ascii_lowercase()), "duplicate id {}", m.id);
    }
    for &(alias, target) in aliases() {
        assert!(names.insert(alias.to_ascii_lowercase()), "alias {alias} collides");
        assert!(all().iter().any(|m| m.id == target), "alias {alias} -> unknown {target}");
    }
}

#[test]
fn prices_are_sane() {
    for m in all() {
        let Some(p) = &m.pricing else { continue };
        let prices = [Some(p.input), Some(p.output), p.cache_write, p.cache_read];
        for v in prices.into_iter().flatten() {
            assert!(v.is_finite() && v > 0.0, "{}: price {v}", m.id);
        }
        assert!(p.tiers.windows(2).all(|w| w[0].above_input_tokens < w[1].above_input_tokens));
        for t in p.tiers {
            assert!(t.input >= p.input && t.output >= p.output, "{}: tier cheaper than base", m.id);
            assert!(t.above_input_tokens < m.context_window, "{}: tier above the window", m.id);
        }
    }
}

#[test]
fn reasoning_levels_match_the_flag() {
    for m in all() {
        assert_eq!(m.supports_reasoning_effort, !m.reasoning_levels.is_empty(), "{}", m.id);
        match m.default_reasoning_level {
            Some(level) => assert!(m.reasoning_levels.contains(&level), "{}: default {level}", m.id),
            None => assert!(m.reasoning_levels.is_empty(), "{}: levels without a default", m.id),
        }
    }
    assert_eq!(model("claude-opus-4-6").default_reasoning_level, Some("high"));
    assert_eq!(model("gpt-5.3-codex").reasoning_levels, &["low", "medium", "high", "xhigh"]);
}

#[test]
fn known_figures() {
    let opus = model("claude-opus-4-6");
    assert_eq!(
        (opus.provider, opus.context_window, opus.max_output),
        (ProviderKind::Anthropic, 1_000_000, 128_000)
    );
    let haiku3 = model("claude-3-haiku-20240307");
    assert!(!haiku3.supports_thinking);
    assert_eq!(haiku3.max_output, 4_000);
    let codex = model("gpt-5.3-codex");
    assert_eq!(
        (codex.provider, codex.context_window, codex.max_output),
        (ProviderKind::OpenAiCodex, 272_000, 128_000)
    );
    assert_eq!(model("gpt-4o").provider, ProviderKind::OpenAi);
    let pro = model("gemini-2.5-pro");
    assert_eq!((pro.provider, pro.context_window), (ProviderKind::Google, 2_097_152));
    assert!(!model("gemini-2.5-flash-lite").supports_thinking);
}

// ---------------------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------------------

#[test]
fn provider_kind_wire_names() {
    for (kind, name) in [
        (ProviderKind::Anthropic, "anthropic"),
        (ProviderKind::OpenAi, "openai"),
        (ProviderKind::OpenAiCodex, "openai-codex"),
        (ProviderKind::Google, "google"),
    ] {
        assert_eq!(kind.to_string(), name);
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(name));
        assert_eq!(serde_json::from_value::<ProviderKind>(serde_json::json!(name)).unwrap(), kind);
        assert_eq!(name.parse::<ProviderKind>().unwrap(), kind);
        assert_eq!(ProviderType::from(kind).as_str(), name);
    }
    assert!("bedrock".parse::<ProviderKind>().is_err());
}

#[test]
fn model_info_serializes_in_camel_case() {
    let v = serde_json::to_value(model("claude-haiku-4-5-20251001")).unwrap();
    assert_eq!(v["id"], "claude-haiku-4-5-20251001");
    assert_eq!(v["provider"], "anthropic");
    assert_eq!(v["contextWindow"], 200_000);
    assert_eq!(v["pricing"]["cacheRead"], 0.1);
    assert!(serde_json::to_value(model("gpt-5.2-codex")).unwrap()["pricing"].is_null());
}

// ---------------------------------------------------------------------------------------
// Lookup
// ---------------------------------------------------------------------------------------

#[test]
fn lookup_by_id_case_prefix_and_alias() {
    assert_eq!(model("claude-opus-4-6").id, "claude-opus-4-6");
    assert_eq!(model("Claude-Opus-4-6").id, "claude-opus-4-6");
    assert_eq!(model(" gemini-2.5-pro ").id, "gemini-2.5-pro");
    assert_eq!(model("anthropic/claude-opus-4-6").id, "claude-opus-4-6");
    assert_eq!(model("google/gemini-2.5-pro").id, "gemini-2.5-pro");
    assert_eq!(model("openai-codex/gpt-5.3-codex").id, "gpt-5.3-codex");
    assert_eq!(model("claude-sonnet-4-5").id, "claude-sonnet-4-5-20250929");
    assert_eq!(model("CLAUDE-HAIKU-4-5").id, "claude-haiku-4-5-20251001");
    assert_eq!(model("anthropic/claude-opus-4-0").id, "claude-opus-4-20250514");
    assert_eq!(model("claude-3-7-sonnet-latest").id, "claude-3-7-sonnet-20250219");
}

#[test]
fn unknown_model_names_the_closest_ids() {
    let err = lookup("claude-sonet-4-5").unwrap_err();
    assert_eq!(err.id, "claude-sonet-4-5");
    assert_eq!(err.closest.first(), Some(&"claude-sonnet-4-5"));
    assert!(err.closest.len() <= 3);
    assert!(
        err.to_string().starts_with(r#"unknown model "claude-sonet-4-5"; did you mean claude-sonnet-4-5"#),
        "{err}"
    );
    assert!(err.to_string().ends_with('?'));

    let err = lookup("claude-sonnet-4-5-20250928").unwrap_err();
    assert_eq!(err.closest[0], "claude-sonnet-4-5-20250929");

    let err = lookup("gpt-5.3-codx").unwrap_err();
    assert_eq!(err.closest[0], "gpt-5.3-codex");

    let err = lookup("anthropic/claude-opus-4-7").unwrap_err();
    assert_eq!(err.id, "anthropic/claude-opus-4-7");
    assert_eq!(err.closest[0], "claude-opus-4-6");
}

#[test]
fn unknown_model_suggests_by_containment_and_always_suggests_something() {
    let err = lookup("opus").unwrap_err();
    assert_eq!(err.closest.len(), 3);
    assert!(err.closest.iter().all(|id| id.contains("opus")), "{err}");

    let err = lookup("zzzzzzzz").unwrap_err();
    assert_eq!(err.closest.len(), 3, "{err}");
}

#[test]
fn levenshtein_examples() {
    assert_eq!(levenshtein("", ""), 0);
    assert_eq!(levenshtein("abc", ""), 3);
    assert_eq!(levenshtein("", "abc"), 3);
    assert_eq!(levenshtein("kitten", "sitting"), 3);
    assert_eq!(levenshtein("claude-sonet-4-5", "claude-sonnet-4-5"), 1);
    assert_eq!(levenshtein("claude-sonet-4-5", "claude-sonnet-4-0"), 2);
}

// ---------------------------------------------------------------------------------------
// Cost
// ---------------------------------------------------------------------------------------

#[test]
fn cost_of_a_plain_request() {
    // Sonnet 4.5: $3 in, $15 out. 10k in = 0.03, 2k out = 0.03.
    let c = cost(model("claude-sonnet-4-5"), &usage(10_000, 2_000, None, None)).unwrap();
    assert_cost(&c, 0.03, 0.03);
}

#[test]
fn anthropic_cache_reads_and_writes_are_priced_separately() {
    // Anthropic input excludes the cache: 1k uncached * 3 = 0.003; 10k written * 3.75 =
    // 0.0375; 50k read * 0.3 = 0.015; 500 out * 15 = 0.0075.
    let c = cost(model("claude-sonnet-4-5-20250929"), &anthropic_usage(1_000, 500, 50_000, 10_000)).unwrap();
    assert_cost(&c, 0.003 + 0.0375 + 0.015, 0.0075);
    // Without providerType the model's provider decides: the same figures.
    let c =
        cost(model("claude-sonnet-4-5-20250929"), &usage(1_000, 500, Some(50_000), Some(10_000))).unwrap();
    assert_cost(&c, 0.0555, 0.0075);
}

#[test]
fn openai_and_gemini_cached_tokens_are_inside_input() {
    // GPT-5.3 Codex: 100k input of which 80k cached. 20k * 1.75 = 0.035; 80k * 0.175 =
    // 0.014; 5k out * 14 = 0.07.
    let u = TokenUsage {
        provider_type: Some(ProviderType::OpenAiCodex),
        ..usage(100_000, 5_000, Some(80_000), None)
    };
    assert_cost(&cost(model("gpt-5.3-codex"), &u).unwrap(), 0.049, 0.07);

    // Gemini 2.5 Flash: 40k input of which 30k cached. 10k * 0.075 = 0.00075; 30k * 0.01875
    // = 0.0005625; 1k out * 0.3 = 0.0003.
    assert_cost(
        &cost(model("gemini-2.5-flash"), &usage(40_000, 1_000, Some(30_000), None)).unwrap(),
        0.0013125,
        0.0003,
    );

    // More cached than input (a provider quirk): nothing billed twice, nothing negative.
    let c = cost(model("gpt-4o"), &usage(100, 0, Some(500), None)).unwrap();
    assert_cost(&c, 500.0 * 1.25 / 1e6, 0.0);

    // No cache price: cache reads bill at the input price (GPT-4 Turbo, $10).
    let c = cost(model("gpt-4-turbo"), &usage(2_000, 1_000, Some(1_000), None)).unwrap();
    assert_cost(&c, 0.02, 0.03);
}

#[test]
fn long_context_tier_applies_to_the_whole_request() {
    let opus = model("claude-opus-4-6");
    // 150k uncached + 100k read = 250k prompt > 200k: $10 in, $1 cache read, $37.5 out.
    // 150k * 10 = 1.5; 100k * 1 = 0.1; 10k out * 37.5 = 0.375.
    assert_cost(&cost(opus, &anthropic_usage(150_000, 10_000, 100_000, 0)).unwrap(), 1.6, 0.375);
    // Cache writes in the tier: 100k uncached + 150k written = 250k. 1.0 + 150k * 12.5 =
    // 1.875; 1k out * 37.5 = 0.0375.
    assert_cost(&cost(opus, &anthropic_usage(100_000, 1_000, 0, 150_000)).unwrap(), 2.875, 0.0375);
    // Exactly 200k is not above the threshold: base prices. 200k * 5 = 1.0; 1k * 25 = 0.025.
    assert_cost(&cost(opus, &anthropic_usage(200_000, 1_000, 0, 0)).unwrap(), 1.0, 0.025);
    // 150k uncached alone stays in the base tier.
    assert_cost(&cost(opus, &anthropic_usage(150_000, 0, 0, 0)).unwrap(), 0.75, 0.0);
}

#[test]
fn an_unpriced_model_has_no_cost_not_zero() {
    let m = model("gpt-5.2-codex");
    assert!(m.pricing.is_none());
    assert_eq!(cost(m, &usage(1_000, 1_000, None, None)), None);
    assert_eq!(cost_for("gpt-5.1-codex-max", &usage(1, 1, None, None)), Ok(None));
    assert!(cost_for("gpt-9", &usage(1, 1, None, None)).is_err());
}

#[test]
fn session_cost_sums_requests_and_an_unpriced_one_makes_it_unavailable() {
    let sonnet = model("claude-sonnet-4-5");
    let mut session = SessionCost::new();
    assert_eq!(session.total().map(|c| c.total), Some(0.0));

    let first = session.add_usage(sonnet, &usage(10_000, 2_000, None, None)).unwrap();
    assert_cost(&first, 0.03, 0.03);
    session.add_usage(model("claude-haiku-4-5"), &usage(1_000_000, 0, None, None));
    assert_cost(&session.total().unwrap(), 1.03, 0.03);
    assert!(session.is_complete());

    assert_eq!(session.add_usage(model("gpt-5.2-codex"), &usage(5, 5, None, None)), None);
    assert_eq!(session.requests(), 3);
    assert_eq!(session.unpriced_requests(), 1);
    assert!(!session.is_complete());
    assert_eq!(session.total(), None);
    assert_cost(&session.priced_subtotal(), 1.03, 0.03);
}

#[test]
fn session_cost_from_an_iterator() {
    let a = Cost { input_cost: 0.5, output_cost: 0.25, total: 0.75, currency: "USD".into() };
    let b = Cost { input_cost: 0.125, output_cost: 0.125, total: 0.25, currency: "USD".into() };
    let all_priced: SessionCost = [Some(&a), Some(&b)].into_iter().collect();
    assert_cost(&all_priced.total().unwrap(), 0.625, 0.375);

    let one_unpriced: SessionCost = [Some(a.clone()), None, Some(b.clone())].into_iter().collect();
    assert_eq!(one_unpriced.total(), None);
    assert_eq!(one_unpriced.requests(), 3);

    let other_currency = Cost { currency: "EUR".into(), ..b };
    let mixed: SessionCost = [Some(&a), Some(&other_currency)].into_iter().collect();
    assert_eq!(mixed.total(), None);
}

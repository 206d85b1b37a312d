use std::cell::Cell;
use std::time::{Duration, SystemTime};

use super::*;
use crate::core::errors::RpcErrorCode;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn defaults_match_typescript() {
    let p = RetryPolicy::default();
    assert_eq!((p.max_retries, p.base_delay, p.max_delay), (5, ms(1000), ms(60_000)));
    assert_eq!(p.jitter, Jitter::Proportional(0.2));
}

#[test]
fn exponential_delays_double_and_cap() {
    let p = RetryPolicy::default().with_jitter(Jitter::None);
    let delays: Vec<_> = (1..=8).map(|a| p.exponential_delay(a)).collect();
    assert_eq!(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000].map(ms));
    assert_eq!(p.exponential_delay(0), ms(1000));
    assert_eq!(p.exponential_delay(200), ms(60_000));
    let mut rng = fastrand::Rng::with_seed(1);
    assert_eq!(p.delay_for(3, None, &mut rng), ms(4000));
}

#[test]
fn proportional_jitter_stays_within_factor() {
    let p = RetryPolicy::default();
    let mut rng = fastrand::Rng::with_seed(7);
    for attempt in 1..=7 {
        let base = p.exponential_delay(attempt).as_millis() as f64;
        for _ in 0..200 {
            let d = p.delay_for(attempt, None, &mut rng).as_millis() as f64;
            assert!(d >= (base * 0.8).floor() && d <= (base * 1.2).ceil(), "attempt {attempt}: {d}");
        }
    }
}

#[test]
fn full_jitter_bounds() {
    let p = RetryPolicy::default().with_jitter(Jitter::Full);
    let mut rng = fastrand::Rng::with_seed(11);
    let samples: Vec<_> = (0..500).map(|_| p.delay_for(4, None, &mut rng)).collect();
    assert!(samples.iter().all(|d| *d <= ms(8000)));
    // Spread over the range rather than clustered (deterministic with the seed).
    assert!(samples.iter().any(|d| *d < ms(2000)) && samples.iter().any(|d| *d > ms(6000)));
}

#[test]
fn decorrelated_jitter_bounds() {
    let p = RetryPolicy::new(10, ms(100), ms(5000)).with_jitter(Jitter::Decorrelated);
    let mut backoff = p.backoff(fastrand::Rng::with_seed(3));
    let mut prev = ms(100);
    while let Some(d) = backoff.next_delay(None) {
        assert!(d >= ms(100) && d <= (prev * 3).min(ms(5000)).max(ms(100)), "{d:?} after {prev:?}");
        prev = d;
    }
    assert_eq!(backoff.attempt(), 10);
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..100 {
        let d = p.delay_for(1, None, &mut rng);
        assert!(d >= ms(100) && d <= ms(300));
    }
}

#[test]
fn seeded_rng_is_deterministic() {
    let p = RetryPolicy::default();
    let run = || {
        let mut b = p.backoff(fastrand::Rng::with_seed(42));
        std::iter::from_fn(move || b.next_delay(None)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
    assert_eq!(run().len(), 5);
}

#[test]
fn retry_after_raises_the_delay() {
    let p = RetryPolicy::default().with_jitter(Jitter::None);
    let mut rng = fastrand::Rng::with_seed(0);
    assert_eq!(p.delay_for(1, Some(ms(30_000)), &mut rng), ms(30_000));
    assert_eq!(p.delay_for(3, Some(ms(10)), &mut rng), ms(4000));
    let mut b = p.backoff(fastrand::Rng::with_seed(0));
    assert_eq!(b.next_delay(Some(ms(90_000))), Some(ms(90_000)));
}

#[test]
fn parse_retry_after_header() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 2015-10-21T07:20:00Z
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 7abc", now), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(480)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn text_classification() {
    for (text, cat) in [
        ("401 Unauthorized", ErrorCategory::Authentication),
        ("authentication_error: invalid x-api-key", ErrorCategory::Authentication),
        ("Invalid bearer token", ErrorCategory::Authentication),
        ("403 Forbidden", ErrorCategory::Authorization),
        ("429 Too Many Requests", ErrorCategory::RateLimit),
        ("rate_limit_error", ErrorCategory::RateLimit),
        ("You hit the ratelimit", ErrorCategory::RateLimit),
        ("too many requests", ErrorCategory::RateLimit),
        ("insufficient credits", ErrorCategory::Quota),
        ("quota exceeded", ErrorCategory::Quota),
        ("connect ECONNREFUSED 127.0.0.1:443", ErrorCategory::Network),
        ("Network error", ErrorCategory::Network),
        ("503 Service Unavailable", ErrorCategory::Server),
        ("overloaded_error: Overloaded", ErrorCategory::Server),
        ("400 bad", ErrorCategory::InvalidRequest),
        ("invalid_request_error", ErrorCategory::InvalidRequest),
        ("something odd", ErrorCategory::Unknown),
    ] {
        assert_eq!(classify_error_text(text), cat, "{text}");
    }
    assert!(classify_error_text("529 overloaded").is_retryable());
}

#[derive(Debug, PartialEq)]
struct Flaky {
    transient: bool,
}

impl Retryable for Flaky {
    fn is_retryable(&self) -> bool {
        self.transient
    }
}

fn fast_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(max_retries, ms(1), ms(4))
}

#[tokio::test]
async fn retry_succeeds_after_transient_failures() {
    let calls = Cell::new(0u32);
    let result = retry(&fast_policy(5), |attempt| {
        calls.set(calls.get() + 1);
        async move {
            if attempt < 2 {
                Err(Flaky { transient: true })
            } else {
                Ok(attempt)
            }
        }
    })
    .await;
    assert_eq!(result, Ok(2));
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn retry_stops_on_permanent_error() {
    let calls = Cell::new(0u32);
    let result: Result<(), _> = retry(&fast_policy(5), |_| {
        calls.set(calls.get() + 1);
        async { Err(Flaky { transient: false }) }
    })
    .await;
    assert_eq!(result, Err(Flaky { transient: false }));
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn retry_gives_up_after_max_retries_and_reports_each_wait() {
    let mut notices = Vec::new();
    let result: Result<(), TronError> = retry_with(
        &fast_policy(3).with_jitter(Jitter::None),
        fastrand::Rng::with_seed(9),
        TronError::retry_decision,
        |n: &RetryNotice<'_, TronError>| {
            notices.push((n.attempt, n.max_retries, n.delay));
            let StreamEvent::Retry { attempt, delay_ms, .. } = n.to_stream_event(ErrorCategory::Server, "x")
            else {
                panic!()
            };
            assert_eq!((attempt, delay_ms), (n.attempt, n.delay.as_millis() as u64));
        },
        |_| async { Err(TronError::Timeout("slow".into())) },
    )
    .await;
    assert_eq!(result.unwrap_err().rpc_code(), RpcErrorCode::Timeout);
    assert_eq!(notices, vec![(1, 3, ms(1)), (2, 3, ms(2)), (3, 3, ms(4))]);
}

#[tokio::test]
async fn custom_classifier_can_force_a_wait() {
    let calls = Cell::new(0u32);
    let start = std::time::Instant::now();
    let result = retry_with(
        &RetryPolicy::new(1, ms(1), ms(1)),
        fastrand::Rng::with_seed(1),
        |_: &&str| RetryDecision::Retry { after: Some(ms(20)) },
        |n: &RetryNotice<'_, &str>| assert_eq!(n.delay, ms(20)),
        |attempt| {
            calls.set(calls.get() + 1);
            async move {
                if attempt == 0 {
                    Err("busy")
                } else {
                    Ok("done")
                }
            }
        },
    )
    .await;
    assert_eq!(result, Ok("done"));
    assert!(start.elapsed() >= ms(20));
    assert_eq!(RetryPolicy::no_retries().backoff(fastrand::Rng::with_seed(0)).next_delay(None), None);
}

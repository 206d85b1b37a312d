//! Retrying with exponential backoff and jitter.
//!
//! Defaults are the TypeScript server's (`core/utils/retry.ts`): 5 retries, 1 s base delay,
//! 60 s cap, ±20 % proportional jitter; the n-th retry waits `base * 2^(n-1)` (capped, then
//! jittered), and a server-provided `retry-after` raises the wait to at least that long.
//! Full and decorrelated jitter are available as alternatives.
//!
//! Retrying is driven by a synchronous classification hook: [`Retryable`] for error types that
//! know whether they are transient (implemented for [`TronError`]), or any closure returning a
//! [`RetryDecision`]. [`classify_error_text`] gives the TypeScript server's text-based
//! classification for provider error messages. Cancel a retry loop by dropping its future
//! (e.g. in `tokio::select!` against an abort signal).

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::errors::{ErrorCategory, TronError};
use super::stream::{RetryErrorInfo, StreamEvent};

/// How a computed delay is randomized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// No randomization.
    None,
    /// `delay * (1 + u * factor)` with `u` uniform in [-1, 1] (the TypeScript behaviour;
    /// may exceed `max_delay` by the factor).
    Proportional(f64),
    /// Uniform in `[0, delay]` ("full jitter").
    Full,
    /// Uniform in `[base_delay, min(max_delay, 3 * previous delay)]` ("decorrelated jitter").
    Decorrelated,
}

/// When and how often to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Delay before the first retry, before jitter.
    pub base_delay: Duration,
    /// Cap on the exponential delay, before jitter.
    pub max_delay: Duration,
    /// Randomization of each delay.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    /// The TypeScript server's defaults: 5 retries, 1 s base, 60 s cap, ±20 % jitter.
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(1000),
            max_delay: Duration::from_millis(60_000),
            jitter: Jitter::Proportional(0.2),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn from_ms(v: f64) -> Duration {
    Duration::from_millis(v.max(0.0).round() as u64)
}

impl RetryPolicy {
    /// A policy with the given limits and the default jitter.
    pub fn new(max_retries: u32, base_delay: Duration, max_delay: Duration) -> Self {
        Self { max_retries, base_delay, max_delay, ..Self::default() }
    }

    /// A policy that never retries.
    pub fn no_retries() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The same policy with another jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The un-jittered delay before retry number `attempt` (1-based):
    /// `min(max_delay, base_delay * 2^(attempt-1))`. Attempt 0 is treated as 1.
    pub fn exponential_delay(&self, attempt: u32) -> Duration {
        if self.base_delay.is_zero() {
            return Duration::ZERO;
        }
        2u32.checked_pow(attempt.saturating_sub(1))
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The delay before retry number `attempt` (1-based): the exponential delay, jittered,
    /// and at least `retry_after` when the server asked for one. Decorrelated jitter takes
    /// the previous un-jittered delay as its previous delay (use [`Backoff`] to chain real
    /// delays).
    pub fn delay_for(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let prev = if attempt <= 1 { self.base_delay } else { self.exponential_delay(attempt - 1) };
        let delay = self.jittered(self.exponential_delay(attempt), prev, rng);
        honour_retry_after(delay, retry_after)
    }

    fn jittered(&self, delay: Duration, prev: Duration, rng: &mut fastrand::Rng) -> Duration {
        match self.jitter {
            Jitter::None => delay,
            Jitter::Proportional(factor) => from_ms(ms(delay) * (1.0 + (rng.f64() * 2.0 - 1.0) * factor)),
            Jitter::Full => from_ms(ms(delay) * rng.f64()),
            Jitter::Decorrelated => {
                let low = ms(self.base_delay);
                let high = (ms(prev) * 3.0).min(ms(self.max_delay)).max(low);
                from_ms(low + (high - low) * rng.f64())
            }
        }
    }

    /// A stateful delay sequence for one operation.
    pub fn backoff(&self, rng: fastrand::Rng) -> Backoff {
        Backoff { policy: self.clone(), rng, attempt: 0, prev: self.base_delay }
    }
}

fn honour_retry_after(delay: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(delay, |ra| delay.max(ra))
}

/// The delays of successive retries of one operation.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    rng: fastrand::Rng,
    attempt: u32,
    prev: Duration,
}

impl Backoff {
    /// The delay before the next retry, or `None` once `max_retries` retries were handed out.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.attempt >= self.policy.max_retries {
            return None;
        }
        self.attempt += 1;
        let exp = self.policy.exponential_delay(self.attempt);
        let delay = self.policy.jittered(exp, self.prev, &mut self.rng);
        self.prev = delay;
        Some(honour_retry_after(delay, retry_after))
    }

    /// Retries handed out so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// Whether an error should be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry, waiting at least `after` if given.
    Retry {
        /// Server-requested minimum wait.
        after: Option<Duration>,
    },
    /// Give up and return the error.
    Stop,
}

/// Errors that know whether they are transient.
pub trait Retryable {
    /// Whether retrying may succeed.
    fn is_retryable(&self) -> bool;
    /// A server-requested wait, if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
    /// The decision for this error.
    fn retry_decision(&self) -> RetryDecision {
        if self.is_retryable() {
            RetryDecision::Retry { after: self.retry_after() }
        } else {
            RetryDecision::Stop
        }
    }
}

impl Retryable for TronError {
    fn is_retryable(&self) -> bool {
        TronError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        TronError::retry_after(self)
    }
}

/// What the retry loop tells its observer before each wait.
#[derive(Debug)]
pub struct RetryNotice<'a, E> {
    /// Retry number, 1-based.
    pub attempt: u32,
    /// The policy's `max_retries`.
    pub max_retries: u32,
    /// The wait before the retry.
    pub delay: Duration,
    /// The error being retried.
    pub error: &'a E,
}

impl<E> RetryNotice<'_, E> {
    /// The matching `retry` stream event.
    pub fn to_stream_event(&self, category: ErrorCategory, message: impl Into<String>) -> StreamEvent {
        StreamEvent::Retry {
            attempt: self.attempt,
            max_retries: self.max_retries,
            delay_ms: self.delay.as_millis().min(u128::from(u64::MAX)) as u64,
            error: RetryErrorInfo { category, message: message.into(), is_retryable: true },
        }
    }
}

/// Runs `op` (given the 0-based attempt number) until it succeeds, fails with an error
/// [`Retryable`] says is permanent, or `policy.max_retries` retries are used up; returns
/// the last error in the latter cases.
pub async fn retry<T, E, F, Fut>(policy: &RetryPolicy, op: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_with(policy, fastrand::Rng::new(), E::retry_decision, |_| {}, op).await
}

/// [`retry`] with an explicit random source, classification hook and observer (called
/// before each wait, e.g. to emit a `retry` stream event).
pub async fn retry_with<T, E, F, Fut, C, N>(
    policy: &RetryPolicy,
    rng: fastrand::Rng,
    mut classify: C,
    mut on_retry: N,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    C: FnMut(&E) -> RetryDecision,
    N: FnMut(&RetryNotice<'_, E>),
{
    let mut backoff = policy.backoff(rng);
    let mut attempt = 0;
    loop {
        let err = match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let RetryDecision::Retry { after } = classify(&err) else {
            return Err(err);
        };
        let Some(delay) = backoff.next_delay(after) else {
            return Err(err);
        };
        attempt += 1;
        on_retry(&RetryNotice { attempt, max_retries: policy.max_retries, delay, error: &err });
        tokio::time::sleep(delay).await;
    }
}

/// Classifies a provider error text the way the TypeScript server does (first match wins,
/// case-insensitive): authentication (`invalid…x-api-key`, `authentication_error`, `401`,
/// `invalid…token`), authorization (`403`, `permission_denied`), rate limit (`429`,
/// `rate?limit`, `too?many?requests`), quota (`quota`, `insufficient?credits`), network
/// (`ECONNREFUSED`, `ETIMEDOUT`, `ENOTFOUND`, `network`), server (`500`, `502`, `503`,
/// `overloaded`), invalid request (`400`, `invalid…request`), else unknown. (`?` is one
/// optional character, `…` any text.)
pub fn classify_error_text(text: &str) -> ErrorCategory {
    let t = text.to_lowercase();
    let has = |s: &str| t.contains(s);
    let then = |a: &str, b: &str| t.find(a).is_some_and(|i| t[i + a.len()..].contains(b));
    if then("invalid", "x-api-key") || has("authentication_error") || has("401") || then("invalid", "token") {
        ErrorCategory::Authentication
    } else if has("403") || has("permission_denied") {
        ErrorCategory::Authorization
    } else if has("429")
        || words_close(&t, &["rate", "limit"])
        || words_close(&t, &["too", "many", "requests"])
    {
        ErrorCategory::RateLimit
    } else if has("quota") || words_close(&t, &["insufficient", "credits"]) {
        ErrorCategory::Quota
    } else if has("econnrefused") || has("etimedout") || has("enotfound") || has("network") {
        ErrorCategory::Network
    } else if has("500") || has("502") || has("503") || has("overloaded") {
        ErrorCategory::Server
    } else if has("400") || then("invalid", "request") {
        ErrorCategory::InvalidRequest
    } else {
        ErrorCategory::Unknown
    }
}

/// Whether `words` occur in order with at most one character between neighbours
/// (the regex `w1.?w2.?w3`).
fn words_close(t: &str, words: &[&str]) -> bool {
    fn rest_matches(rest: &str, words: &[&str]) -> bool {
        let Some((first, more)) = words.split_first() else {
            return true;
        };
        let at = |r: &str| r.starts_with(first) && rest_matches(&r[first.len()..], more);
        at(rest) || rest.chars().next().is_some_and(|c| at(&rest[c.len_utf8()..]))
    }
    let Some((first, more)) = words.split_first() else {
        return true;
    };
    t.match_indices(first).any(|(i, _)| rest_matches(&t[i + first.len()..], more))
}

/// Parses a `retry-after` header: whole seconds (leading digits, as JavaScript's `parseInt`
/// reads them) or an HTTP date (a date in the past gives zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        return digits.parse::<u64>().ok().map(|s| Duration::from_secs(s.min(u64::MAX / 1000)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = SystemTime::from(date.with_timezone(&chrono::Utc));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;

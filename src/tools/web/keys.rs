//! API-key rotation for the search providers: keys are used round-robin; a key the API
//! answers 429 for rests for its `Retry-After` (60 s when absent, as upstream), a key it
//! answers 401 or 403 for rests an hour (it will not start working by itself), and the
//! request moves on to the next key at once. When every key rests, the call fails saying so.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a rejected (401/403) key is set aside.
const REJECTED_REST: Duration = Duration::from_secs(3600);
/// How long a rate-limited key rests without a `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What one attempt with one key came to.
#[derive(Debug)]
pub enum Attempt<T> {
    /// The call succeeded (or failed in a way another key would not fix).
    Done(Result<T, String>),
    /// 429: the key is rate-limited for this long (`None`: the default 60 s).
    RateLimited(Option<Duration>, String),
    /// 401/403: the key was refused.
    Rejected(String),
}

/// A provider's keys and when each may be used again.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<String>,
    state: Mutex<(usize, Vec<Option<Instant>>)>,
}

impl KeyRing {
    /// A ring over the non-blank `keys`; `None` when there are none.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Option<Self> {
        let keys: Vec<String> =
            keys.into_iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            return None;
        }
        let rests = vec![None; keys.len()];
        Some(Self { keys, state: Mutex::new((0, rests)) })
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false (a ring has at least one key).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn next_key(&self) -> Option<usize> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (next, rests) = &mut *guard;
        let now = Instant::now();
        let n = self.keys.len();
        let found = (0..n).map(|i| (*next + i) % n).find(|&i| rests[i].is_none_or(|until| until <= now))?;
        *next = (found + 1) % n;
        Some(found)
    }

    fn rest(&self, index: usize, time: Duration) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        guard.1[index] = Some(Instant::now() + time);
    }

    /// Runs `call` with one key after another until one is neither rate-limited nor
    /// refused; `label` names the provider in the error when every key rests.
    pub async fn run<T, F, Fut>(&self, label: &str, mut call: F) -> Result<T, String>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut last = None;
        for _ in 0..self.keys.len() {
            let Some(index) = self.next_key() else { break };
            match call(self.keys[index].clone()).await {
                Attempt::Done(result) => return result,
                Attempt::RateLimited(wait, message) => {
                    tracing::warn!(
                        provider = label,
                        key = index,
                        "search key rate-limited; trying the next key"
                    );
                    self.rest(index, wait.unwrap_or(DEFAULT_RETRY_AFTER));
                    last = Some(message);
                }
                Attempt::Rejected(message) => {
                    tracing::warn!(provider = label, key = index, "search key refused; trying the next key");
                    self.rest(index, REJECTED_REST);
                    last = Some(message);
                }
            }
        }
        let n = self.keys.len();
        let keys = if n == 1 { "its only API key is".to_owned() } else { format!("all {n} API keys are") };
        Err(match last {
            Some(m) => format!("{label}: {keys} rate-limited or refused ({m})"),
            None => format!("{label}: {keys} resting after rate limits or refusals; try again later"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rate_limited_key_hands_over_to_the_next() {
        let ring = KeyRing::new(["a".to_owned(), " ".to_owned(), "b".to_owned()]).unwrap();
        assert_eq!(ring.len(), 2);
        let mut seen = Vec::new();
        let r = ring
            .run("Brave", |k| {
                seen.push(k.clone());
                async move {
                    match k.as_str() {
                        "a" => Attempt::RateLimited(None, "429".into()),
                        _ => Attempt::Done(Ok(k)),
                    }
                }
            })
            .await;
        assert_eq!(r.unwrap(), "b");
        assert_eq!(seen, ["a", "b"]);
        // `a` rests: the next call goes straight to `b`.
        let r = ring.run("Brave", |k| async move { Attempt::Done(Ok::<_, String>(k)) }).await;
        assert_eq!(r.unwrap(), "b");
        let all = ring.run("Brave", |_| async { Attempt::<()>::Rejected("401 bad key".into()) }).await;
        assert!(all.unwrap_err().contains("401 bad key"));
        assert!(KeyRing::new(Vec::new()).is_none());
    }
}

//! The `WebFetch` answer cache: entries keyed by (normalised URL, prompt), each living
//! `tools.web.cache.ttlMs` (15 minutes by default), at most `tools.web.cache.maxEntries`
//! (100); when full, expired entries go first, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Hits, misses and size, for the result details and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing (or an expired entry).
    pub misses: u64,
    /// Entries held now.
    pub size: usize,
}

struct Entry<V> {
    value: V,
    stored: Instant,
}

/// The entries by (URL, prompt), and the counters.
type Table<V> = (HashMap<(String, String), Entry<V>>, CacheStats);

/// A bounded cache whose entries expire.
pub struct TtlCache<V> {
    ttl: Duration,
    max_entries: usize,
    inner: Mutex<Table<V>>,
}

impl<V> std::fmt::Debug for TtlCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache").field("ttl", &self.ttl).field("max_entries", &self.max_entries).finish()
    }
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `max_entries` (at least 1) entries living `ttl`.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            inner: Mutex::new((HashMap::new(), CacheStats::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live entry for (`url`, `prompt`).
    pub fn get(&self, url: &str, prompt: &str) -> Option<V> {
        let mut guard = self.lock();
        let (map, stats) = &mut *guard;
        let key = (url.to_owned(), prompt.to_owned());
        match map.get(&key) {
            Some(e) if e.stored.elapsed() < self.ttl => {
                stats.hits += 1;
                Some(e.value.clone())
            }
            Some(_) => {
                map.remove(&key);
                stats.misses += 1;
                None
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    /// Stores `value` for (`url`, `prompt`), evicting to stay within the bound.
    pub fn put(&self, url: &str, prompt: &str, value: V) {
        let mut guard = self.lock();
        let (map, _) = &mut *guard;
        let key = (url.to_owned(), prompt.to_owned());
        if !map.contains_key(&key) && map.len() >= self.max_entries {
            map.retain(|_, e| e.stored.elapsed() < self.ttl);
            while map.len() >= self.max_entries {
                let oldest = map.iter().min_by_key(|(_, e)| e.stored).map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
        }
        map.insert(key, Entry { value, stored: Instant::now() });
    }

    /// Hits, misses and size.
    pub fn stats(&self) -> CacheStats {
        let guard = self.lock();
        CacheStats { size: guard.0.len(), ..guard.1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_bound_holds() {
        let c = TtlCache::new(Duration::from_secs(60), 2);
        c.put("u1", "p", 1);
        c.put("u2", "p", 2);
        c.put("u3", "p", 3);
        assert_eq!(c.stats().size, 2);
        assert_eq!(c.get("u1", "p"), None, "the oldest went first");
        assert_eq!(c.get("u3", "p"), Some(3));
        assert_eq!(c.get("u3", "other prompt"), None);
        let gone = TtlCache::new(Duration::ZERO, 5);
        gone.put("u", "p", 1);
        assert_eq!(gone.get("u", "p"), None);
        assert_eq!(c.stats().hits, 1);
    }
}

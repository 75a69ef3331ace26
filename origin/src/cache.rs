//! The one in-memory cache type of the origin: size-capped, with a time to live (or to
//! idle), single-flight loading, and hit/miss counters per cache.
//!
//! Every replica keeps a few hot things in memory so a stampede does not turn into one
//! Postgres round trip per request: event rows and seat prices for booking, seat-map
//! snapshots, event details, queue settings and already-verified access tokens. They
//! all share these rules:
//!
//! - **Bounded.** Entries are counted (or weighed, e.g. by bytes) against a cap; the
//!   least used go first. Ids come from URLs, so nothing may grow without limit.
//! - **Single flight.** Concurrent misses for one key share one load.
//! - **Errors are never stored.** A load that fails (an unknown event, a database
//!   hiccup) leaves nothing behind, so random ids in public URLs cost nothing later.
//! - **Fresh enough.** Each cache states how stale its data may be (its TTL); a write
//!   through this replica can drop an entry at once ([`Cache::forget`]).
//!
//! It wraps `moka`'s async cache. Every copy of data the origin keeps in memory is one
//! of these (the webhook rate limiter keeps its per-address counters in `moka` directly:
//! they are state, not copies).

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

/// A named, bounded cache of `V` by `K` (see the module docs).
pub struct Cache<K, V> {
    inner: moka::future::Cache<K, V>,
    /// Registered once: a labelled `counter!` per lookup would hash its labels each time.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

/// How a [`Cache`] is bounded and how long entries live.
pub struct Builder<K, V> {
    name: &'static str,
    inner: moka::future::CacheBuilder<K, V, moka::future::Cache<K, V>>,
}

impl<K, V> Builder<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Entries live at most `ttl` after they were loaded.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.inner = self.inner.time_to_live(ttl);
        self
    }

    /// Entries nobody read for `idle` are dropped.
    pub fn time_to_idle(mut self, idle: Duration) -> Self {
        self.inner = self.inner.time_to_idle(idle);
        self
    }

    /// The cap counts `weight(value)` per entry instead of 1 (e.g. its size in bytes).
    pub fn weigh(mut self, weight: impl Fn(&V) -> u32 + Send + Sync + 'static) -> Self {
        self.inner = self.inner.weigher(move |_, v| weight(v));
        self
    }

    pub fn build(self) -> Cache<K, V> {
        let name = self.name;
        Cache {
            inner: self.inner.build(),
            hits: metrics::counter!("origin_cache_lookups_total", "cache" => name, "outcome" => "hit"),
            misses: metrics::counter!("origin_cache_lookups_total", "cache" => name, "outcome" => "miss"),
        }
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache named `name` (its metrics label) holding at most `capacity` entries (or
    /// weight units, see [`Builder::weigh`]).
    pub fn builder(name: &'static str, capacity: u64) -> Builder<K, V> {
        Builder {
            name,
            inner: moka::future::Cache::builder().max_capacity(capacity),
        }
    }

    /// The cached value of `key`, or `load`'s (stored on success). Concurrent calls for
    /// one missing key run one `load`; all of them get its result, an error as the
    /// same shared error.
    pub async fn get_or_load<E>(
        &self,
        key: K,
        load: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        let mut loaded = false;
        let value = self
            .inner
            .try_get_with(key, async {
                loaded = true;
                load.await
            })
            .await;
        if loaded { &self.misses } else { &self.hits }.increment(1);
        value
    }

    /// The cached value of `key`, if any.
    pub async fn get(&self, key: &K) -> Option<V> {
        self.inner.get(key).await
    }

    /// Stores `value` for `key`, replacing what was there.
    pub async fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value).await;
    }

    /// Drops the entry of `key` (after a write through this replica).
    pub async fn forget(&self, key: &K) {
        self.inner.invalidate(key).await;
    }

    /// How many entries are held now (after pending evictions ran).
    pub async fn len(&self) -> u64 {
        self.inner.run_pending_tasks().await;
        self.inner.entry_count()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_errors_are_not_kept() {
        let cache: Cache<u32, u32> = Cache::builder("test", 10).build();
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(7)
        };
        let (a, b) = tokio::join!(cache.get_or_load(1, load()), cache.get_or_load(1, load()));
        assert_eq!((a, b), (Ok(7), Ok(7)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_load(2, async { Err::<u32, _>("no such key") })
            .await;
        assert_eq!(failed.map_err(|e| *e), Err("no such key"));
        assert_eq!(cache.get(&2).await, None);
        assert_eq!(cache.len().await, 1);
    }

    #[tokio::test]
    async fn the_cap_holds() {
        let cache: Cache<u32, u32> = Cache::builder("test", 5).build();
        for k in 0..50 {
            cache.insert(k, k).await;
        }
        assert!(cache.len().await <= 5);
        cache.forget(&49).await;
        assert_eq!(cache.get(&49).await, None);
    }
}

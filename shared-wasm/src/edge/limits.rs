//! Per-client join limits and one-time claims: the keys, and an in-memory store for
//! platforms that keep them in a single-threaded object (the Cloudflare Durable Object).
//!
//! # The join limit
//!
//! `rules.join_limit_per_ip_per_min` joins per client address and event in each fixed
//! minute ([`JOIN_WINDOW_MS`]). IPv6 clients count per /64 ([`client_bucket`]): one
//! subscriber usually holds a whole /64 and could otherwise rotate addresses. The
//! counter is [`super::Host::hit`] on the key [`join_counter`], which carries the window,
//! so a platform needs nothing but "increment, expire at".
//!
//! # Storage on each platform
//!
//! * Spin: Redis `INCR` + `PEXPIREAT` in one script, `SET NX PXAT` for claims, under the
//!   event's hash tag `{vwr:<event>}`.
//! * Cloudflare: [`Memory`] inside the event's Durable Object (or, with join shards, the
//!   counter object chosen by the key). A restarted object forgets its counts, which
//!   only ever lets a client in, never locks one out.

use std::collections::HashMap;
use std::net::IpAddr;

/// The join limit's window.
pub const JOIN_WINDOW_MS: i64 = 60_000;

/// The address a limit counts: IPv4 as is, IPv6 by its /64 prefix; anything that does
/// not parse as an address is counted as given (bounded in length).
pub fn client_bucket(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.trim().chars().take(64).collect(),
    }
}

/// The counter key of `bucket`'s joins in the window containing `now_ms`, and when the
/// counter may be forgotten (the window's end).
pub fn join_counter(bucket: &str, now_ms: i64) -> (String, i64) {
    let window = now_ms.div_euclid(JOIN_WINDOW_MS);
    (
        format!("join:{bucket}:{window}"),
        (window + 1).saturating_mul(JOIN_WINDOW_MS),
    )
}

/// Most keys [`Memory`] holds; past it (after dropping expired keys) new keys are not
/// tracked: a hit counts as the first, a claim succeeds. A single object cannot see
/// that many joins within a window anyway; this only bounds its memory.
pub const MEMORY_MAX_KEYS: usize = 200_000;

/// Fixed-window counters and one-time claims in memory, each with an expiry.
#[derive(Debug, Default)]
pub struct Memory {
    entries: HashMap<String, (i64, u64)>,
    last_purge_ms: i64,
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one to `key` (forgotten at `until_ms`) and returns its count.
    pub fn hit(&mut self, key: &str, until_ms: i64, now_ms: i64) -> u64 {
        self.purge(now_ms);
        if let Some((until, n)) = self.entries.get_mut(key) {
            if *until > now_ms {
                *n = n.saturating_add(1);
                return *n;
            }
            *until = until_ms;
            *n = 1;
            return 1;
        }
        if self.entries.len() < MEMORY_MAX_KEYS {
            self.entries.insert(key.to_owned(), (until_ms, 1));
        }
        1
    }

    /// Records `key` until `until_ms`; `true` the first time, `false` while it is held.
    pub fn claim(&mut self, key: &str, until_ms: i64, now_ms: i64) -> bool {
        self.hit(key, until_ms, now_ms) == 1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops expired keys, at most once a second (or at once when full).
    fn purge(&mut self, now_ms: i64) {
        if now_ms.saturating_sub(self.last_purge_ms) < 1_000 && self.entries.len() < MEMORY_MAX_KEYS
        {
            return;
        }
        self.last_purge_ms = now_ms;
        self.entries.retain(|_, (until, _)| *until > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(client_bucket("203.0.113.9"), "203.0.113.9");
        assert_eq!(
            client_bucket("2001:db8:1:2:aaaa::1"),
            client_bucket("2001:db8:1:2:ffff::9")
        );
        assert_eq!(client_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(
            client_bucket("2001:db8:1:2::1"),
            client_bucket("2001:db8:1:3::1")
        );
        assert_eq!(client_bucket("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(client_bucket(&"z".repeat(100)).len(), 64);
    }

    #[test]
    fn windows_are_fixed_minutes() {
        let (k1, until) = join_counter("a", 120_000);
        assert_eq!((k1.as_str(), until), ("join:a:2", 180_000));
        assert_eq!(join_counter("a", 179_999).0, k1);
        assert_ne!(join_counter("a", 180_000).0, k1);
    }

    #[test]
    fn memory_counts_claims_and_forgets() {
        let mut m = Memory::new();
        assert_eq!(m.hit("k", 1_000, 0), 1);
        assert_eq!(m.hit("k", 1_000, 10), 2);
        assert_eq!(m.hit("k", 5_000, 1_000), 1, "expired: counts from one");
        assert!(m.claim("n", 3_000, 1_000));
        assert!(!m.claim("n", 3_000, 2_999));
        assert!(m.claim("n", 9_000, 3_000), "free again once expired");
        m.hit("x", 4_000, 3_500);
        m.hit("y", 10_000, 5_000);
        assert_eq!(m.len(), 2, "expired keys are dropped: {m:?}");
    }
}

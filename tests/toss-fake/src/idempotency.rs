//! The `Idempotency-Key` store: a repeated request with the same key (and API key, URL,
//! method) returns the first response for 15 days.
//!
//! What Toss does, and therefore what this store does:
//!
//! - The scope of a key is the combination **(key, secret key, URL path, HTTP method)**.
//!   The request body is *not* part of it: reusing a confirm key for a different payment
//!   returns the first payment's response. Clients must never reuse keys.
//! - The first response is stored and **replayed byte for byte** (status and body) to
//!   every later request in the same scope, whatever that request's body says. The
//!   replay happens before anything else (faults, consecutive-cancel rule, ...): a
//!   replayed request is not executed at all.
//! - A key is valid for **15 days from its first use**, measured on the fake clock.
//!   After that, the same key executes anew.
//! - While the first request is still running, a duplicate gets
//!   `IDEMPOTENT_REQUEST_PROCESSING` (409 by default).
//! - Keys longer than 300 characters are refused with 400 `INVALID_REQUEST`.
//!
//! Whether Toss stores *error* responses is undocumented. By default the fake stores
//! only 2xx responses, so a retry after an error executes again; `Quirks::
//! replay_error_responses` switches to storing 4xx answers too (never 5xx and never the
//! "retry later" errors).

use chrono::{DateTime, Duration, FixedOffset};
use std::collections::HashMap;

/// Longest accepted `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 300;

/// How long a key stays valid after its first use.
pub fn ttl() -> Duration {
    Duration::days(15)
}

/// Where a key applies: the same key under another secret key, path or method is a
/// different key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    pub key: String,
    pub secret_key: String,
    pub path: String,
    pub method: String,
}

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug)]
enum EntryState {
    InFlight,
    Done(StoredResponse),
}

#[derive(Debug)]
struct Entry {
    first_used: DateTime<FixedOffset>,
    state: EntryState,
}

/// What to do with a keyed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// First use (or the old entry expired): execute; the scope is now in flight.
    Execute,
    /// Answer with the stored response, do not execute.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InFlight,
}

#[derive(Debug, Default)]
pub(crate) struct IdempotencyStore {
    entries: HashMap<Scope, Entry>,
}

impl IdempotencyStore {
    /// Looks the scope up and, when it must execute, marks it in flight.
    pub fn claim(&mut self, scope: &Scope, now: DateTime<FixedOffset>) -> Claim {
        self.entries.retain(|_, e| now - e.first_used < ttl());
        match self.entries.get(scope) {
            Some(Entry {
                state: EntryState::Done(stored),
                ..
            }) => Claim::Replay(stored.clone()),
            Some(Entry {
                state: EntryState::InFlight,
                ..
            }) => Claim::InFlight,
            None => {
                self.entries.insert(
                    scope.clone(),
                    Entry {
                        first_used: now,
                        state: EntryState::InFlight,
                    },
                );
                Claim::Execute
            }
        }
    }

    /// Ends an execution: stores `response` for replay, or forgets the key when the
    /// response is not to be replayed (`None`).
    pub fn complete(&mut self, scope: &Scope, response: Option<StoredResponse>) {
        match response {
            Some(stored) => {
                if let Some(entry) = self.entries.get_mut(scope) {
                    entry.state = EntryState::Done(stored);
                }
            }
            None => {
                self.entries.remove(scope);
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    fn scope(key: &str, path: &str) -> Scope {
        Scope {
            key: key.into(),
            secret_key: "test_sk_x".into(),
            path: path.into(),
            method: "POST".into(),
        }
    }

    #[test]
    fn replays_until_the_ttl_then_executes_again() {
        let clock = FakeClock::frozen();
        let mut store = IdempotencyStore::default();
        let s = scope("k", "/v1/payments/confirm");
        assert_eq!(store.claim(&s, clock.now()), Claim::Execute);
        assert_eq!(store.claim(&s, clock.now()), Claim::InFlight);
        let stored = StoredResponse {
            status: 200,
            body: b"{}".to_vec(),
        };
        store.complete(&s, Some(stored.clone()));
        clock.advance(ttl() - Duration::seconds(1));
        assert_eq!(store.claim(&s, clock.now()), Claim::Replay(stored));
        clock.advance(Duration::seconds(1));
        assert_eq!(store.claim(&s, clock.now()), Claim::Execute);
    }

    #[test]
    fn scope_includes_path_and_forgotten_keys_execute_again() {
        let now = FakeClock::frozen().now();
        let mut store = IdempotencyStore::default();
        let a = scope("k", "/v1/payments/a/cancel");
        let b = scope("k", "/v1/payments/b/cancel");
        assert_eq!(store.claim(&a, now), Claim::Execute);
        assert_eq!(store.claim(&b, now), Claim::Execute);
        store.complete(&a, None);
        assert_eq!(store.claim(&a, now), Claim::Execute);
    }
}

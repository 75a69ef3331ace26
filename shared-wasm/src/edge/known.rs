//! Which events have a waiting room: the Cloudflare edge's guard against creating a
//! Durable Object for every event id someone types into a URL.
//!
//! A Durable Object comes into existence when it is first addressed, so looking up the
//! state of `/api/v1/events/<random uuid>` would create an object per random id. The
//! worker therefore asks a [`Registry`] first: one object that records every event a
//! verified rules push was applied for (until its state may be forgotten, see
//! [`super::state::retain_until_ms`]). Each isolate keeps the registry's list in
//! [`KnownEvents`]: an event on the list is known for good (a waiting room never
//! disappears before its retention ends); an event missing from it is unknown until the
//! list is older than [`REFRESH_MS`], and only then is the registry asked again. So
//! a flood of random ids costs one registry read per isolate and second, and touches
//! no event object at all; the edge treats such events exactly like events without
//! rules (proxied untouched, the origin decides).
//!
//! The registry is written **before** the event's object on a push, so an event with
//! state is always on it; a push that then fails leaves at most a known event without
//! rules, which behaves like an unknown one.

use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// How old an isolate's list may get before a miss asks the registry again. Like the
/// snapshot cache: a first push reaches every isolate within about a second.
pub const REFRESH_MS: i64 = 1_000;

/// What an isolate knows about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// On the list: it may have state.
    Known,
    /// Not on a fresh list: no state, touch nothing.
    Unknown,
    /// Not on the list, and the list is old (or was never read): ask the registry.
    Refresh,
}

/// An isolate's copy of the registry's list.
#[derive(Debug, Default, Clone)]
pub struct KnownEvents {
    events: HashSet<Uuid>,
    fetched_at_ms: Option<i64>,
}

impl KnownEvents {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn lookup(&self, event: Uuid, now_ms: i64) -> Lookup {
        if self.events.contains(&event) {
            return Lookup::Known;
        }
        match self.fetched_at_ms {
            Some(at) if now_ms.saturating_sub(at) < REFRESH_MS && at <= now_ms => Lookup::Unknown,
            _ => Lookup::Refresh,
        }
    }

    /// Replaces the list with the registry's answer read at `now_ms`.
    pub fn replace(&mut self, events: impl IntoIterator<Item = Uuid>, now_ms: i64) {
        self.events = events.into_iter().collect();
        self.fetched_at_ms = Some(now_ms);
    }

    /// Adds an event this isolate itself registered (a push it handled).
    pub fn insert(&mut self, event: Uuid) {
        self.events.insert(event);
    }
}

/// The registry's content: event → until when its state is kept (unix ms; `None`:
/// indefinitely).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    pub events: BTreeMap<Uuid, Option<i64>>,
}

impl Registry {
    /// Records `event` until `until_ms`, extending (never shortening) what is recorded.
    /// Returns whether anything changed.
    pub fn add(&mut self, event: Uuid, until_ms: Option<i64>) -> bool {
        let merged = match self.events.get(&event) {
            None => until_ms,
            Some(None) => None,
            Some(Some(old)) => until_ms.map(|u| u.max(*old)),
        };
        let changed = self.events.get(&event) != Some(&merged);
        self.events.insert(event, merged);
        changed
    }

    /// Drops events whose retention ended; returns whether any were dropped.
    pub fn prune(&mut self, now_ms: i64) -> bool {
        let before = self.events.len();
        self.events
            .retain(|_, until| until.is_none_or(|u| u > now_ms));
        self.events.len() != before
    }

    /// The events whose retention has not ended at `now_ms`.
    pub fn list(&self, now_ms: i64) -> Vec<Uuid> {
        self.events
            .iter()
            .filter(|(_, until)| until.is_none_or(|u| u > now_ms))
            .map(|(e, _)| *e)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolates_ask_the_registry_only_for_misses_on_an_old_list() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut k = KnownEvents::new();
        assert_eq!(k.lookup(a, 0), Lookup::Refresh, "never read");
        k.replace([a], 10_000);
        assert_eq!(k.lookup(a, 10_000), Lookup::Known);
        assert_eq!(k.lookup(b, 10_500), Lookup::Unknown);
        assert_eq!(k.lookup(a, 99_000), Lookup::Known, "known for good");
        assert_eq!(k.lookup(b, 11_000), Lookup::Refresh);
        k.insert(b);
        assert_eq!(k.lookup(b, 11_000), Lookup::Known);
    }

    #[test]
    fn the_registry_keeps_the_longest_retention_and_prunes() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut r = Registry::default();
        assert!(r.add(a, Some(5_000)));
        assert!(!r.add(a, Some(4_000)), "never shortened");
        assert!(r.add(a, Some(6_000)));
        assert!(r.add(b, None));
        assert!(!r.add(b, Some(1)), "kept indefinitely stays so");
        assert_eq!(r.list(5_999), vec![a, b]);
        assert_eq!(r.list(6_000), vec![b]);
        assert!(r.prune(7_000));
        assert_eq!(r.events.len(), 1);
    }
}

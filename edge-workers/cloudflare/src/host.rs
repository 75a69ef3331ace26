//! [`CfHost`]: the edge logic's [`Host`] on Cloudflare.
//!
//! Storage calls go to the event's Durable Object (binding `EVENT_QUEUE`, object named
//! after the event id). Reads are served from a per-isolate cache for at most
//! [`SNAPSHOT_TTL_MS`]: an isolate handles many requests, so during an on-sale most
//! status polls, pages and guard checks never reach the object. Every write's answer
//! (join, observe, push) refreshes the cache with the object's state.
//!
//! Staleness is safe: a snapshot can only be behind (fewer issued, older anchor, older
//! rules), which makes a visitor wait a little longer, never pass early; and the edge
//! logic asks for a fresh `observe` when a snapshot predates the opening's freeze.
//! A rules change reaches every isolate within a second.
//!
//! # Only events with a waiting room reach an object
//!
//! Before addressing an event's object, [`CfHost`] asks [`Host::may_have_state`]: the
//! isolate's copy of the registry's list ([`KnownEvents`], refreshed at most every
//! [`shared_wasm::edge::known::REFRESH_MS`] and only on a miss). An event not on it is treated as having no
//! rules without any object being addressed (a Durable Object is created by its first
//! request), so random event ids in URLs cost nothing. A push registers its event in
//! the registry before the event's object applies it.
//!
//! # Join limits and proof-of-work claims
//!
//! Counted in memory in the event's object, or, with join shards, in the counter object
//! the key hashes to (so one address always counts in one place and the event object is
//! not the bottleneck again).

use crate::queue::{Keyed, REGISTRY, Registration, ShardInfo, shard_name};
use shared_wasm::edge::known::{KnownEvents, Lookup};
use shared_wasm::edge::state::{self, EventState, PushRejected, RulesPush};
use shared_wasm::edge::{Host, HostError, JoinResult};
use std::cell::RefCell;
use std::collections::HashMap;
use uuid::Uuid;
use worker::{Date, Env, Method, Request, RequestInit};

/// How long an isolate reuses an event snapshot.
pub const SNAPSHOT_TTL_MS: i64 = 1_000;
/// Most events cached per isolate (a cache, not a store: cleared when full).
const MAX_CACHED: usize = 1_024;

thread_local! {
    static CACHE: RefCell<HashMap<Uuid, (i64, Option<EventState>)>> = RefCell::new(HashMap::new());
    static KNOWN: RefCell<KnownEvents> = RefCell::new(KnownEvents::new());
}

/// FNV-1a: picks the counter object of a key (stable across isolates).
fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

fn remember(event: Uuid, state: Option<EventState>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED && !c.contains_key(&event) {
            c.clear();
        }
        c.insert(event, (now_ms(), state));
    });
}

pub struct CfHost<'a> {
    env: &'a Env,
    /// Join counters per event (`QUEUE_SHARDS`, 1 = the event object counts itself).
    shards: u64,
}

/// Most join counters per event.
pub const MAX_SHARDS: u64 = 64;

impl<'a> CfHost<'a> {
    pub fn new(env: &'a Env, shards: u64) -> Self {
        CfHost {
            env,
            shards: shards.clamp(1, MAX_SHARDS),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        event: Uuid,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<T, HostError> {
        self.call_object(&event.to_string(), method, path, body)
            .await
    }

    async fn call_object<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<T, HostError> {
        let err = |e: worker::Error| HostError(e.to_string());
        let ns = self.env.durable_object("EVENT_QUEUE").map_err(err)?;
        let stub = ns
            .id_from_name(name)
            .and_then(|id| id.get_stub())
            .map_err(err)?;
        let mut init = RequestInit::new();
        init.with_method(method);
        if let Some(b) = body {
            init.with_body(Some(b.into()));
        }
        let req =
            Request::new_with_init(&format!("https://event-queue{path}"), &init).map_err(err)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(err)?;
        if resp.status_code() != 200 {
            return Err(HostError(format!(
                "event object answered {}",
                resp.status_code()
            )));
        }
        resp.json::<T>().await.map_err(err)
    }
}

impl CfHost<'_> {
    /// POSTs `{key, until_ms}` to `path` of the counter object `key` hashes to.
    async fn call_keyed<T: serde::de::DeserializeOwned>(
        &self,
        event: Uuid,
        key: &str,
        until_ms: i64,
        path: &str,
    ) -> Result<T, HostError> {
        let body = serde_json::to_string(&Keyed {
            key: key.to_owned(),
            until_ms,
        })
        .map_err(|e| HostError(e.to_string()))?;
        let object = self.counter_object(event, key);
        self.call_object(&object, Method::Post, path, Some(body))
            .await
    }

    /// The object counting `key` of `event`: the event's, or with shards the counter the
    /// key hashes to.
    fn counter_object(&self, event: Uuid, key: &str) -> String {
        if self.shards > 1 {
            shard_name(event, fnv(key) % self.shards)
        } else {
            event.to_string()
        }
    }
}

impl Host for CfHost<'_> {
    async fn snapshot(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        let now = now_ms();
        let hit = CACHE.with(|c| {
            c.borrow()
                .get(&event)
                .filter(|(at, _)| now.saturating_sub(*at) < SNAPSHOT_TTL_MS)
                .map(|(_, s)| s.clone())
        });
        if let Some(s) = hit {
            return Ok(s);
        }
        let s: Option<EventState> = self.call(event, Method::Get, "/snapshot", None).await?;
        remember(event, s.clone());
        Ok(s)
    }

    async fn observe(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        let s: Option<EventState> = self.call(event, Method::Post, "/observe", None).await?;
        remember(event, s.clone());
        Ok(s)
    }

    async fn join(&self, event: Uuid) -> Result<Option<JoinResult>, HostError> {
        if self.shards > 1 {
            // Sharded: check the (cached) rules here, count in one of K counters.
            let Some(state) = self.snapshot(event).await? else {
                return Ok(None);
            };
            if state.shardable() {
                if let Err(r) = state.may_join(now_ms()) {
                    return Ok(Some(JoinResult { seq: Err(r), state }));
                }
                let r = self.random();
                let shard = u64::from_le_bytes(r[..8].try_into().unwrap_or([0; 8])) % self.shards;
                let info = ShardInfo {
                    event,
                    shard,
                    shards: self.shards,
                };
                let body = serde_json::to_string(&info).map_err(|e| HostError(e.to_string()))?;
                let n: u64 = self
                    .call_object(
                        &shard_name(event, shard),
                        Method::Post,
                        "/count",
                        Some(body),
                    )
                    .await?;
                return Ok(Some(JoinResult {
                    seq: Ok(state::sharded_seq(n, shard, self.shards)),
                    state,
                }));
            }
        }
        let r: Option<JoinResult> = self.call(event, Method::Post, "/join", None).await?;
        remember(event, r.as_ref().map(|r| r.state.clone()));
        Ok(r)
    }

    async fn push_rules(
        &self,
        event: Uuid,
        push: RulesPush,
    ) -> Result<Result<EventState, PushRejected>, HostError> {
        // Registered first: an event with state is always on the list (a refused or
        // failed push leaves at most a listed event without rules).
        let registration = Registration {
            event,
            until_ms: state::retain_until_ms(&push.rules, now_ms()),
        };
        let body = serde_json::to_string(&registration).map_err(|e| HostError(e.to_string()))?;
        let _: bool = self
            .call_object(REGISTRY, Method::Post, "/registry/add", Some(body))
            .await?;
        KNOWN.with(|k| k.borrow_mut().insert(event));
        let body = serde_json::to_string(&push).map_err(|e| HostError(e.to_string()))?;
        let r: Result<EventState, PushRejected> =
            self.call(event, Method::Post, "/push", Some(body)).await?;
        if let Ok(s) = &r {
            remember(event, Some(s.clone()));
        } else {
            CACHE.with(|c| c.borrow_mut().remove(&event));
        }
        Ok(r)
    }

    async fn hit(&self, event: Uuid, key: &str, until_ms: i64) -> Result<u64, HostError> {
        self.call_keyed(event, key, until_ms, "/hit").await
    }

    async fn claim_once(&self, event: Uuid, key: &str, until_ms: i64) -> Result<bool, HostError> {
        self.call_keyed(event, key, until_ms, "/claim").await
    }

    async fn may_have_state(&self, event: Uuid) -> Result<bool, HostError> {
        match KNOWN.with(|k| k.borrow().lookup(event, now_ms())) {
            Lookup::Known => Ok(true),
            Lookup::Unknown => Ok(false),
            Lookup::Refresh => {
                let list: Vec<Uuid> = self
                    .call_object(REGISTRY, Method::Get, "/registry/list", None)
                    .await?;
                let now = now_ms();
                Ok(KNOWN.with(|k| {
                    let mut k = k.borrow_mut();
                    k.replace(list, now);
                    k.lookup(event, now) == Lookup::Known
                }))
            }
        }
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn random(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        // crypto.getRandomValues cannot fail for 16 bytes in a Worker; if it ever did,
        // fall back to the clock mixed with a counter rather than panic.
        if getrandom02::getrandom(&mut b).is_err() {
            let t = now_ms().to_le_bytes();
            b[..8].copy_from_slice(&t);
        }
        b
    }
}

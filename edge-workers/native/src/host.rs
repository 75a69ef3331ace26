//! [`RedisHost`]: the edge logic's [`Host`] in a long-running native process, over Redis.
//!
//! The state lives where the Spin component keeps it ([`shared_wasm::edge::redis`]: one
//! JSON value per event, written by compare-and-set), so any number of native hosts may
//! serve the same events. What a long-running process adds over Spin's
//! instance-per-request:
//!
//! * **One writer per event inside the process.** Operations on an event queue on the
//!   event's [`tokio::sync::Mutex`], so a burst of joins on one host becomes a line of
//!   single compare-and-set calls instead of a storm of lost races. The lock is only an
//!   optimisation: correctness rests on the compare-and-set, which is why evicting a
//!   slot while it is locked is harmless.
//! * **The last written value is remembered.** The next operation compares against it
//!   without reading Redis first; only after a lost race (another host wrote) does it
//!   read again.
//! * **Joins are committed in groups.** A join that finds the event's writer busy
//!   leaves its request in the slot's line; whoever takes the writer next applies every
//!   waiting join to the state, one after the other as [`EventState::join`] requires,
//!   and writes the result once. A burst of a thousand joins costs a handful of Redis
//!   round trips instead of a thousand, with the same sequence numbers a one-by-one
//!   run would hand out.
//! * **Snapshots are cached for [`SNAPSHOT_TTL`]**, like the Cloudflare isolate cache:
//!   status polls, pages and the entry-token guard read memory, not Redis. When the
//!   copy expires, one request reads Redis and the others wait for it. A stale
//!   snapshot only makes a visitor wait a little longer (the counter and the anchor
//!   only grow).
//!
//! Slots are kept for at most [`MAX_EVENTS`] events (least recently used go first), so
//! requests for random event ids cannot grow the process.

use redis::Script;
use redis::aio::ConnectionManager;
use shared_wasm::edge::redis::{self as layout, CAS_SCRIPT, HIT_SCRIPT, MAX_ATTEMPTS};
use shared_wasm::edge::state::{self, EventState, PushRejected, RulesPush};
use shared_wasm::edge::{Host, HostError, JoinResult};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// How long a snapshot is reused (the Cloudflare edge's isolate cache uses the same).
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// Events with a slot in memory at most.
pub const MAX_EVENTS: u64 = 10_000;
/// Longest back-off after a lost race, in milliseconds.
const MAX_BACKOFF_MS: u64 = 20;

/// What the process knows about one event.
#[derive(Default)]
struct Slot {
    /// Serialises this process's writes; holds the raw value last read or written
    /// (`None`: not known, read it first; `Some(empty)`: absent).
    writer: tokio::sync::Mutex<Option<Vec<u8>>>,
    /// The latest state seen and when (`None` inside: no rules pushed).
    snapshot: SyncMutex<Option<(Instant, Option<EventState>)>>,
    /// Held by the one request that refreshes an expired snapshot; the others wait
    /// for its answer instead of all asking Redis at once (a poll stampede every
    /// second otherwise, thousands of reads and parses of the same value).
    refresh: tokio::sync::Mutex<()>,
    /// Joins waiting for the writer; the next holder answers them all.
    joiners: SyncMutex<Vec<tokio::sync::oneshot::Sender<JoinAnswer>>>,
}

type JoinAnswer = Result<Option<JoinResult>, HostError>;

/// Shared by every request of the process.
pub struct Store {
    redis: ConnectionManager,
    /// Put before every key (outside the hash tag), so test runs can share a Redis.
    prefix: String,
    cas: Script,
    hit: Script,
    slots: moka::sync::Cache<Uuid, Arc<Slot>>,
}

impl Store {
    pub fn new(redis: ConnectionManager, prefix: String) -> Self {
        Store {
            redis,
            prefix,
            cas: Script::new(CAS_SCRIPT),
            hit: Script::new(HIT_SCRIPT),
            slots: moka::sync::Cache::builder()
                .max_capacity(MAX_EVENTS)
                .build(),
        }
    }

    fn slot(&self, event: Uuid) -> Arc<Slot> {
        self.slots.get_with(event, || Arc::new(Slot::default()))
    }

    fn key(&self, key: String) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// The [`Host`] of one request: a handle on the process's [`Store`].
#[derive(Clone)]
pub struct RedisHost(pub Arc<Store>);

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn redis_error(what: &str, e: redis::RedisError) -> HostError {
    tracing::warn!(error = %e, "redis {what} failed; the edge answers 503");
    HostError(format!("redis {what}: {e}"))
}

/// Runs a Redis call, once more when it timed out or the connection dropped: on a
/// saturated machine an answer can miss the deadline while Redis itself is fine, and
/// a second try is cheaper for everyone than a 503 and the client's retry. Every call
/// here tolerates running twice: a read answers the same; a doubled join-limit count
/// only errs towards the limit; a proof-of-work claim that landed the first time
/// answers "spent" the second (the client solves a fresh challenge); a compare-and-set
/// that landed the first time fails the second, so the operation reads again and
/// recomputes (its first sequence number is a gap the serving line passes over).
async fn twice<T, F, Fut>(mut call: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match call().await {
        Err(e) if e.is_timeout() || e.is_connection_dropped() || e.is_io_error() => call().await,
        other => other,
    }
}

fn parse(event: Uuid, raw: &[u8]) -> Result<Option<EventState>, HostError> {
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| HostError(format!("stored state of {event} does not parse: {e}")))
}

/// The slot's snapshot when it is younger than [`SNAPSHOT_TTL`].
fn fresh_snapshot(slot: &Slot) -> Option<Option<EventState>> {
    let s = slot.snapshot.lock().ok()?;
    let (at, state) = s.as_ref()?;
    (at.elapsed() < SNAPSHOT_TTL).then(|| state.clone())
}

/// What an operation decided about the state it was shown.
enum Step<T> {
    Keep(T),
    Write(T, Box<EventState>),
}

impl RedisHost {
    async fn get(&self, event: Uuid) -> Result<Vec<u8>, HostError> {
        let key = self.0.key(layout::state_key(event));
        let raw: Option<Vec<u8>> = twice(|| {
            let mut conn = self.0.redis.clone();
            let key = key.clone();
            async move { redis::cmd("GET").arg(key).query_async(&mut conn).await }
        })
        .await
        .map_err(|e| redis_error("GET", e))?;
        Ok(raw.unwrap_or_default())
    }

    fn remember(slot: &Slot, state: Option<EventState>) {
        if let Ok(mut s) = slot.snapshot.lock() {
            *s = Some((Instant::now(), state));
        }
    }

    /// Runs `op` on the current state until its write lands (see the module docs).
    async fn update<T>(
        &self,
        event: Uuid,
        op: impl FnMut(Option<EventState>, i64) -> Step<T>,
    ) -> Result<T, HostError> {
        let slot = self.0.slot(event);
        let mut known = slot.writer.lock().await;
        self.update_locked(&slot, &mut known, event, op).await
    }

    /// [`Self::update`] with the event's writer already held (`known`: its memory of
    /// the stored value).
    async fn update_locked<T>(
        &self,
        slot: &Slot,
        known: &mut Option<Vec<u8>>,
        event: Uuid,
        mut op: impl FnMut(Option<EventState>, i64) -> Step<T>,
    ) -> Result<T, HostError> {
        let key = self.0.key(layout::state_key(event));
        for attempt in 0..MAX_ATTEMPTS {
            let old_raw = match known.take() {
                Some(raw) => raw,
                None => self.get(event).await?,
            };
            let old = parse(event, &old_raw)?;
            let now = now_ms();
            let (out, new) = match op(old.clone(), now) {
                Step::Keep(out) => {
                    Self::remember(slot, old);
                    *known = Some(old_raw);
                    return Ok(out);
                }
                Step::Write(out, new) => (out, new),
            };
            let new_raw = serde_json::to_vec(&new).map_err(|e| HostError(e.to_string()))?;
            let ttl = layout::ttl_ms(&new, now);
            let written: i64 = twice(|| {
                let mut conn = self.0.redis.clone();
                let mut invocation = self.0.cas.key(&key);
                invocation.arg(&old_raw).arg(&new_raw).arg(ttl);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await
            .map_err(|e| redis_error("EVAL", e))?;
            if written == 1 {
                Self::remember(slot, Some(*new));
                *known = Some(new_raw);
                return Ok(out);
            }
            // Another host wrote: read again after a short random pause.
            let cap = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
            let pause = rand::random::<u64>() % (cap + 1);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Err(HostError(format!(
            "event {event} is too contended: {MAX_ATTEMPTS} writes lost in a row"
        )))
    }

    /// Applies `n` joins in a row to one state, written once (see the module docs).
    async fn join_group(
        &self,
        slot: &Slot,
        known: &mut Option<Vec<u8>>,
        event: Uuid,
        n: usize,
    ) -> Result<Vec<Option<JoinResult>>, HostError> {
        self.update_locked(slot, known, event, |current, now| match current {
            None => Step::Keep(vec![None; n]),
            Some(mut s) => {
                let mut answers = Vec::with_capacity(n);
                let mut joined = false;
                for _ in 0..n {
                    let seq = s.join(now);
                    joined |= seq.is_ok();
                    answers.push(Some(JoinResult {
                        seq,
                        state: s.clone(),
                    }));
                }
                if joined {
                    Step::Write(answers, Box::new(s))
                } else {
                    Step::Keep(answers)
                }
            }
        })
        .await
    }
}

impl Host for RedisHost {
    async fn snapshot(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        let slot = self.0.slot(event);
        if let Some(fresh) = fresh_snapshot(&slot) {
            return Ok(fresh);
        }
        let _refreshing = slot.refresh.lock().await;
        // Whoever held the lock before us may have refreshed it already.
        if let Some(fresh) = fresh_snapshot(&slot) {
            return Ok(fresh);
        }
        let state = parse(event, &self.get(event).await?)?;
        Self::remember(&slot, state.clone());
        Ok(state)
    }

    async fn observe(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        self.update(event, |current, now| match current {
            None => Step::Keep(None),
            Some(mut s) => {
                if s.observe(now) {
                    Step::Write(Some(s.clone()), Box::new(s))
                } else {
                    Step::Keep(Some(s))
                }
            }
        })
        .await
    }

    async fn join(&self, event: Uuid) -> Result<Option<JoinResult>, HostError> {
        let slot = self.0.slot(event);
        let (tx, rx) = tokio::sync::oneshot::channel();
        slot.joiners
            .lock()
            .map_err(|_| HostError("join line poisoned".into()))?
            .push(tx);
        {
            let mut known = slot.writer.lock().await;
            let group = slot
                .joiners
                .lock()
                .map(|mut line| std::mem::take(&mut *line))
                .unwrap_or_default();
            // Empty when an earlier holder already answered this join.
            if !group.is_empty() {
                match self.join_group(&slot, &mut known, event, group.len()).await {
                    Ok(answers) => {
                        for (tx, answer) in group.into_iter().zip(answers) {
                            let _ = tx.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        for tx in group {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
        rx.await
            .map_err(|_| HostError("the join's group was dropped".into()))?
    }

    async fn push_rules(
        &self,
        event: Uuid,
        push: RulesPush,
    ) -> Result<Result<EventState, PushRejected>, HostError> {
        self.update(event, |current, now| {
            match state::apply_push(current, push.clone(), now) {
                Ok(s) => Step::Write(Ok(s.clone()), Box::new(s)),
                Err(e) => Step::Keep(Err(e)),
            }
        })
        .await
    }

    async fn hit(&self, event: Uuid, key: &str, until_ms: i64) -> Result<u64, HostError> {
        let key = self.0.key(layout::keyed(event, key));
        twice(|| {
            let mut conn = self.0.redis.clone();
            let mut invocation = self.0.hit.key(&key);
            invocation.arg(until_ms);
            async move { invocation.invoke_async(&mut conn).await }
        })
        .await
        .map_err(|e| redis_error("EVAL", e))
    }

    async fn claim_once(&self, event: Uuid, key: &str, until_ms: i64) -> Result<bool, HostError> {
        let key = self.0.key(layout::keyed(event, key));
        let set: Option<String> = twice(|| {
            let mut conn = self.0.redis.clone();
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(1).arg("NX").arg("PXAT").arg(until_ms);
            async move { cmd.query_async(&mut conn).await }
        })
        .await
        .map_err(|e| redis_error("SET NX", e))?;
        Ok(set.is_some())
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn random(&self) -> [u8; 16] {
        rand::random()
    }
}

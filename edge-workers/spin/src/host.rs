//! [`SpinHost`]: the edge logic's [`Host`] on Spin, over Redis.
//!
//! # Key layout
//!
//! One key per event, `{vwr:<event_id>}:state`, holding the JSON of [`EventState`]
//! exactly as serde writes it. The braces are a Redis Cluster hash tag: every key of an
//! event (today one, tomorrow perhaps a join counter beside it) lands in the same slot,
//! so a script may touch them together on a cluster too.
//!
//! # Why compare-and-set
//!
//! The decisions (may this visitor join, what is the next sequence, is this push newer)
//! live in Rust in `shared-wasm`, shared bit for bit with the Cloudflare edge. Redis
//! cannot run them, so an operation is *optimistic*: read the value, compute the new
//! state in Rust, and write it only if the key still holds what was read, with a
//! five-line Lua script ([`CAS_SCRIPT`]) that Redis runs atomically. A lost race (`0`)
//! means someone else's operation landed in between: read again and recompute. Retries
//! are bounded ([`MAX_ATTEMPTS`], with a short random back-off so a burst spreads out);
//! past that the edge answers 503 with `Retry-After`, which clients already handle.
//!
//! That keeps the contract of [`shared_wasm::edge::state`]: each operation runs against
//! one consistent state and nothing else changes it in between. Refused operations
//! (a refused join, a push that is not newer, an observe with nothing to freeze) write
//! nothing.
//!
//! A Redis *error* (as opposed to a lost race) is not retried: the answer is 503 at once.
//! If the error hid a write that did land (a timeout after the script ran), that join's
//! sequence number is simply never handed out; the serving line passes over such gaps,
//! so nobody is admitted early.
//!
//! # Expiry
//!
//! Every write sets the key to expire at [`EventState::retain_until_ms`] (a week past
//! the sale's close), so finished events leave the edge's Redis by themselves. Rules
//! without a close keep their key: losing it would drop the waiting room.
//!
//! # Join limits and proof-of-work claims
//!
//! Beside the state, under the same hash tag: `{vwr:<event_id>}:join:<address>:<minute>`
//! counts a client's joins ([`HIT_SCRIPT`]: `INCR`, and `PEXPIREAT` the window's end on
//! the first hit, in one atomic script), and `{vwr:<event_id>}:pow:<nonce>` marks a
//! spent proof of work (`SET NX PXAT`, expiring with the challenge).
//!
//! # Snapshots
//!
//! `snapshot` is a plain `GET`. Spin instantiates the component per request, so an
//! in-memory cache would never be hit; the Cloudflare edge's ~1 s isolate cache has no
//! equivalent here, and every status poll costs one `GET` (cheap for Redis).

use shared_wasm::edge::state::{self, EventState, PushRejected, RulesPush};
use shared_wasm::edge::{Host, HostError, JoinResult};
use uuid::Uuid;

#[cfg(feature = "spin-services")]
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

pub use shared_wasm::edge::redis::{CAS_SCRIPT, HIT_SCRIPT, MAX_ATTEMPTS, keyed, state_key};

/// Longest back-off between two attempts, in milliseconds.
const MAX_BACKOFF_MS: u64 = 20;

/// Unix milliseconds from the WASI 0.3 system clock.
pub fn now_ms() -> i64 {
    let t = spin_sdk::wasip3::clocks::system_clock::now();
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanoseconds / 1_000_000))
}

/// 16 bytes from WASI's cryptographically secure `random` interface.
pub fn random16() -> [u8; 16] {
    let bytes = spin_sdk::wasip3::random::random::get_random_bytes(16);
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b;
    }
    out
}

/// What an operation decided about the state it was shown.
enum Step<T> {
    /// Done; write nothing.
    Keep(T),
    /// Done if this new state can be written over the one shown (boxed: a state is
    /// large next to the answers).
    Write(T, Box<EventState>),
}

/// The edge's storage on Spin: one Redis connection per request, opened on first use
/// (proxied requests and refusals never open one).
pub struct SpinHost {
    redis_url: String,
    #[cfg(feature = "spin-services")]
    conn: std::cell::OnceCell<Connection>,
}

impl SpinHost {
    pub fn new(redis_url: String) -> Self {
        SpinHost {
            redis_url,
            #[cfg(feature = "spin-services")]
            conn: std::cell::OnceCell::new(),
        }
    }

    /// The stored value, raw (to compare against later) and parsed.
    async fn load(&self, event: Uuid) -> Result<Option<(Vec<u8>, EventState)>, HostError> {
        let Some(raw) = self.get(&state_key(event)).await? else {
            return Ok(None);
        };
        let state = serde_json::from_slice(&raw)
            .map_err(|e| HostError(format!("stored state of {event} does not parse: {e}")))?;
        Ok(Some((raw, state)))
    }

    /// Runs `op` on the current state until its write lands (see the module docs).
    async fn update<T>(
        &self,
        event: Uuid,
        mut op: impl FnMut(Option<EventState>) -> Step<T>,
    ) -> Result<T, HostError> {
        let key = state_key(event);
        for attempt in 0..MAX_ATTEMPTS {
            let loaded = self.load(event).await?;
            let (old_raw, old) = match loaded {
                Some((raw, s)) => (raw, Some(s)),
                None => (Vec::new(), None),
            };
            let (out, new) = match op(old) {
                Step::Keep(out) => return Ok(out),
                Step::Write(out, new) => (out, new),
            };
            let new_raw = serde_json::to_vec(&new).map_err(|e| HostError(e.to_string()))?;
            let now = now_ms();
            let ttl_ms = shared_wasm::edge::redis::ttl_ms(&new, now);
            if self.compare_and_set(&key, old_raw, new_raw, ttl_ms).await? {
                return Ok(out);
            }
            self.back_off(attempt).await;
        }
        Err(HostError(format!(
            "event {event} is too contended: {MAX_ATTEMPTS} writes lost in a row"
        )))
    }

    /// Sleeps a random 0..=min(2^attempt, MAX_BACKOFF_MS) ms, so that the losers of one
    /// round do not all collide again in the next.
    async fn back_off(&self, attempt: u32) {
        let cap = (1u64 << attempt.min(6)).min(MAX_BACKOFF_MS);
        let r = u64::from_le_bytes(random16()[..8].try_into().unwrap_or([0; 8]));
        let ms = r % (cap + 1);
        if ms > 0 {
            spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
}

#[cfg(feature = "spin-services")]
impl SpinHost {
    async fn conn(&self) -> Result<&Connection, HostError> {
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let c = Connection::open(&self.redis_url)
            .await
            .map_err(|e| HostError(format!("redis open: {e}")))?;
        Ok(self.conn.get_or_init(|| c))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.conn()
            .await?
            .get(key)
            .await
            .map_err(|e| HostError(format!("redis GET: {e}")))
    }

    /// [`HIT_SCRIPT`] on `key`.
    async fn incr_until(&self, key: &str, until_ms: i64) -> Result<u64, HostError> {
        let args = [
            RedisParameter::Binary(HIT_SCRIPT.as_bytes().to_vec()),
            RedisParameter::Int64(1),
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Int64(until_ms),
        ];
        let out = self
            .conn()
            .await?
            .execute("EVAL", args)
            .await
            .map_err(|e| HostError(format!("redis EVAL: {e}")))?;
        match out.as_slice() {
            [RedisResult::Int64(n)] => Ok(u64::try_from(*n).unwrap_or(0)),
            other => Err(HostError(format!(
                "redis EVAL answered {} values, not a count",
                other.len()
            ))),
        }
    }

    /// `SET key 1 NX PXAT until_ms`: `true` when it was set.
    async fn set_nx_until(&self, key: &str, until_ms: i64) -> Result<bool, HostError> {
        let args = [
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(b"1".to_vec()),
            RedisParameter::Binary(b"NX".to_vec()),
            RedisParameter::Binary(b"PXAT".to_vec()),
            RedisParameter::Int64(until_ms),
        ];
        let out = self
            .conn()
            .await?
            .execute("SET", args)
            .await
            .map_err(|e| HostError(format!("redis SET NX: {e}")))?;
        match out.as_slice() {
            [RedisResult::Status(_)] | [RedisResult::Binary(_)] => Ok(true),
            [RedisResult::Nil] | [] => Ok(false),
            other => Err(HostError(format!(
                "redis SET NX answered {} values",
                other.len()
            ))),
        }
    }

    /// [`CAS_SCRIPT`]: `true` when `new` was written over `old` (empty: absent), to
    /// expire in `ttl_ms` (0: never).
    async fn compare_and_set(
        &self,
        key: &str,
        old: Vec<u8>,
        new: Vec<u8>,
        ttl_ms: i64,
    ) -> Result<bool, HostError> {
        let args = [
            RedisParameter::Binary(CAS_SCRIPT.as_bytes().to_vec()),
            RedisParameter::Int64(1),
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Binary(old),
            RedisParameter::Binary(new),
            RedisParameter::Int64(ttl_ms),
        ];
        let out = self
            .conn()
            .await?
            .execute("EVAL", args)
            .await
            .map_err(|e| HostError(format!("redis EVAL: {e}")))?;
        match out.as_slice() {
            [RedisResult::Int64(1)] => Ok(true),
            [RedisResult::Int64(0)] => Ok(false),
            other => Err(HostError(format!(
                "redis EVAL answered {} values, not 0 or 1",
                other.len()
            ))),
        }
    }
}

/// Without the Spin services (the `wasmtime serve` build) there is no storage: every
/// storage call fails, which the edge answers with 503; proxying still works.
#[cfg(not(feature = "spin-services"))]
impl SpinHost {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Err(HostError(format!(
            "built without spin-services: no Redis ({})",
            self.redis_url
        )))
    }

    async fn compare_and_set(
        &self,
        _key: &str,
        _old: Vec<u8>,
        _new: Vec<u8>,
        _ttl_ms: i64,
    ) -> Result<bool, HostError> {
        Err(HostError("built without spin-services: no Redis".into()))
    }

    async fn incr_until(&self, _key: &str, _until_ms: i64) -> Result<u64, HostError> {
        Err(HostError("built without spin-services: no Redis".into()))
    }

    async fn set_nx_until(&self, _key: &str, _until_ms: i64) -> Result<bool, HostError> {
        Err(HostError("built without spin-services: no Redis".into()))
    }
}

impl Host for SpinHost {
    async fn snapshot(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        Ok(self.load(event).await?.map(|(_, s)| s))
    }

    async fn observe(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        self.update(event, |current| match current {
            None => Step::Keep(None),
            Some(mut s) => {
                if s.observe(now_ms()) {
                    Step::Write(Some(s.clone()), Box::new(s))
                } else {
                    Step::Keep(Some(s))
                }
            }
        })
        .await
    }

    async fn join(&self, event: Uuid) -> Result<Option<JoinResult>, HostError> {
        self.update(event, |current| match current {
            None => Step::Keep(None),
            Some(mut s) => match s.join(now_ms()) {
                Ok(seq) => Step::Write(
                    Some(JoinResult {
                        seq: Ok(seq),
                        state: s.clone(),
                    }),
                    Box::new(s),
                ),
                Err(r) => Step::Keep(Some(JoinResult {
                    seq: Err(r),
                    state: s,
                })),
            },
        })
        .await
    }

    async fn push_rules(
        &self,
        event: Uuid,
        push: RulesPush,
    ) -> Result<Result<EventState, PushRejected>, HostError> {
        self.update(event, |current| {
            match state::apply_push(current, push.clone(), now_ms()) {
                Ok(s) => Step::Write(Ok(s.clone()), Box::new(s)),
                Err(e) => Step::Keep(Err(e)),
            }
        })
        .await
    }

    async fn hit(&self, event: Uuid, key: &str, until_ms: i64) -> Result<u64, HostError> {
        self.incr_until(&keyed(event, key), until_ms).await
    }

    async fn claim_once(&self, event: Uuid, key: &str, until_ms: i64) -> Result<bool, HostError> {
        self.set_nx_until(&keyed(event, key), until_ms).await
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn random(&self) -> [u8; 16] {
        random16()
    }
}

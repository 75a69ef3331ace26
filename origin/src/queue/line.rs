//! The tier-2 line in Redis: one event's waiting line, its active slots, and the scripts
//! that change them.
//!
//! Every key of one event carries the hash tag `{q:<event id>}`, so each script touches
//! one Redis Cluster slot (a multi-key script across slots fails with `CROSSSLOT`).
//!
//! | key                 | type | holds                                            |
//! |---------------------|------|--------------------------------------------------|
//! | `waiting`           | ZSET | user → tier-1 position (or arrival number)       |
//! | `seen`              | ZSET | user → last status poll, ms (stale waiters go)   |
//! | `active`            | ZSET | user → slot expiry, ms                           |
//! | `joined`            | HASH | user → `position|joined_ms` (status, wait time)  |
//! | `pass:<kid>:<pos>`  | STR  | who tier-1 position `pos` of edge key `kid` seated; kept until the sale closes |
//! | `epoch`             | STR  | refreshed by every join: while it exists, "no slot" means the slot ended |
//! | `seq`               | STR  | arrival counter (events without the edge tier)   |
//! | `tick`              | STR  | the last admission tick that ran                 |
//! | `meta`              | HASH | `rate_per_min`: measured admissions, smoothed    |
//! | `stats`             | HASH | per-minute counters for statistics (below)       |
//!
//! `stats` fields are `<unix minute>:<figure>`: `j` joined, `a` admitted, `x` abandoned
//! (dropped for not polling, or left while waiting), `w` and `p` the waiting and active
//! peaks, `b0`..`b10` admissions by wait time (bucket bounds [`WAIT_BUCKETS_SECS`]).
//! The scripts change them in the same step as the line itself, so they are exact;
//! statistics copy finished minutes to Postgres ([`minute_counters`], [`forget_minutes`]).
//!
//! The line is disposable: if Redis is flushed, fans join again (their entry tokens stay
//! valid), and Postgres' unique live-seat index still guarantees that nothing sells twice.

use crate::store::Redis;
use redis::{RedisResult, Script, Value};
use std::sync::LazyLock;
use uuid::Uuid;

static JOIN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("join.lua")));
static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("admit.lua")));
static STATUS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("status.lua")));
static LEAVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("leave.lua")));

/// The line's keys outlive the last write by a day; a sale's line is dead long before.
const KEY_LIFE_MS: u64 = 24 * 3600 * 1000;

struct Keys {
    waiting: String,
    seen: String,
    active: String,
    joined: String,
    tick: String,
    meta: String,
    epoch: String,
    stats: String,
}

impl Keys {
    // The KEYS of each script, in the order its header documents.
    fn for_join(&self, ticket_key: String) -> Vec<String> {
        vec![
            self.waiting.clone(),
            self.seen.clone(),
            self.active.clone(),
            self.joined.clone(),
            ticket_key,
            self.meta.clone(),
            self.epoch.clone(),
            self.stats.clone(),
        ]
    }

    fn for_status(&self) -> Vec<String> {
        vec![
            self.waiting.clone(),
            self.seen.clone(),
            self.active.clone(),
            self.joined.clone(),
            self.meta.clone(),
        ]
    }

    fn for_leave(&self) -> Vec<String> {
        vec![
            self.waiting.clone(),
            self.seen.clone(),
            self.active.clone(),
            self.stats.clone(),
        ]
    }

    fn for_admit(&self) -> Vec<String> {
        vec![
            self.waiting.clone(),
            self.seen.clone(),
            self.active.clone(),
            self.joined.clone(),
            self.tick.clone(),
            self.meta.clone(),
            self.stats.clone(),
        ]
    }
}

/// Prepares `script` with `keys`.
fn invocation<'a>(script: &'a Script, keys: Vec<String>) -> redis::ScriptInvocation<'a> {
    let mut inv = script.prepare_invoke();
    for k in keys {
        inv.key(k);
    }
    inv
}

fn tag(event: Uuid) -> String {
    format!("q:{event}")
}

fn keys(redis: &Redis, event: Uuid) -> Keys {
    let k = |rest: &str| redis.tagged(&tag(event), rest);
    Keys {
        waiting: k("waiting"),
        seen: k("seen"),
        active: k("active"),
        joined: k("joined"),
        tick: k("tick"),
        meta: k("meta"),
        epoch: k("epoch"),
        stats: k("stats"),
    }
}

/// The numbers a join or an admission needs from the event's rules.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most users with an active slot at once.
    pub capacity: u32,
    /// Life of an active slot, ms.
    pub slot_ms: u64,
}

/// How a user joins.
#[derive(Debug, Clone, Copy)]
pub enum Ticket<'a> {
    /// With a verified edge pass: the edge key that signed it (each edge deployment
    /// counts positions with its own key), its tier-1 position, and how long (s) the
    /// position stays taken: until the sale closes, plus grace.
    Pass {
        edge_kid: &'a str,
        position: u64,
        life_secs: u64,
    },
    /// Without an edge tier: the next arrival number.
    Arrival,
}

/// Where a user stands in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Waiting {
        position: u64,
        ahead: u64,
    },
    Admitted {
        position: u64,
        slot_expires_ms: i64,
    },
    /// Joined once; now neither waiting nor active (slot over, dropped, left, paid).
    Expired {
        position: u64,
    },
    /// Never joined (or the line was flushed).
    None,
}

/// What [`join`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Joined {
    /// `fresh`: this call added the user (false: they were already in).
    In {
        standing: Standing,
        fresh: bool,
        /// Measured admissions per minute (for the ETA; 0 when admitted).
        rate_per_min: f64,
    },
    /// The pass's position was already used by a user (possibly this one, earlier).
    PassUsed,
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn float(v: &Value) -> f64 {
    text(v).and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

fn unexpected(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "unexpected script reply",
        what.to_owned(),
    ))
}

fn parts(v: Value, what: &str) -> RedisResult<Vec<Value>> {
    match v {
        Value::Array(p) => Ok(p),
        _ => Err(unexpected(what)),
    }
}

fn at(p: &[Value], i: usize, what: &str) -> RedisResult<i64> {
    p.get(i).and_then(int).ok_or_else(|| unexpected(what))
}

fn unsigned(p: &[Value], i: usize, what: &str) -> RedisResult<u64> {
    Ok(at(p, i, what)?.max(0) as u64)
}

/// Adds `user` to the line (idempotent while they are in it), consuming the pass, and
/// admits them at once if `open`, nobody waits ahead and a slot is free.
pub async fn join(
    redis: &Redis,
    event: Uuid,
    user: Uuid,
    ticket: Ticket<'_>,
    limits: Limits,
    open: bool,
    now_ms: i64,
) -> RedisResult<Joined> {
    let k = keys(redis, event);
    let (counter_key, position, life) = match ticket {
        Ticket::Pass {
            edge_kid,
            position,
            life_secs,
        } => (
            redis.tagged(&tag(event), &format!("pass:{edge_kid}:{position}")),
            position,
            life_secs.max(1),
        ),
        Ticket::Arrival => (redis.tagged(&tag(event), "seq"), 0, 1),
    };
    let reply: Value = invocation(&JOIN, k.for_join(counter_key))
        .arg(user.to_string())
        .arg(position)
        .arg(now_ms)
        .arg(limits.capacity)
        .arg(limits.slot_ms)
        .arg(life)
        .arg(if open { "1" } else { "0" })
        .arg(KEY_LIFE_MS)
        .invoke_async(&mut redis.conn())
        .await?;
    let p = parts(reply, "join")?;
    let state = p
        .first()
        .and_then(text)
        .ok_or_else(|| unexpected("state"))?;
    let position = unsigned(&p, 1, "position")?;
    let fresh = at(&p, 3, "fresh")? == 1;
    let standing = match state.as_str() {
        "pass_used" => return Ok(Joined::PassUsed),
        "admitted" => Standing::Admitted {
            position,
            slot_expires_ms: at(&p, 2, "expiry")?,
        },
        "waiting" => Standing::Waiting {
            position,
            ahead: unsigned(&p, 4, "ahead")?,
        },
        _ => return Err(unexpected("join state")),
    };
    Ok(Joined::In {
        standing,
        fresh,
        rate_per_min: p.get(5).map(float).unwrap_or(0.0),
    })
}

/// Where `user` stands, and the measured admissions per minute. Counts as a poll: a
/// waiter who polls stays in the line.
pub async fn status(
    redis: &Redis,
    event: Uuid,
    user: Uuid,
    now_ms: i64,
) -> RedisResult<(Standing, f64)> {
    let k = keys(redis, event);
    let reply: Value = invocation(&STATUS, k.for_status())
        .arg(user.to_string())
        .arg(now_ms)
        .invoke_async(&mut redis.conn())
        .await?;
    let p = parts(reply, "status")?;
    let state = p
        .first()
        .and_then(text)
        .ok_or_else(|| unexpected("state"))?;
    let position = unsigned(&p, 1, "position")?;
    let rate = p.get(4).map(float).unwrap_or(0.0);
    let standing = match state.as_str() {
        "admitted" => Standing::Admitted {
            position,
            slot_expires_ms: at(&p, 3, "expiry")?,
        },
        "waiting" => Standing::Waiting {
            position,
            ahead: unsigned(&p, 2, "ahead")?,
        },
        "expired" => Standing::Expired { position },
        "none" => Standing::None,
        _ => return Err(unexpected("status state")),
    };
    Ok((standing, rate))
}

/// Whether `user` holds an active slot now, as far as Redis knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Active {
        expires_ms: i64,
    },
    Ended,
    /// The line has no state in Redis at all (its epoch sentinel is gone: flushed, or a
    /// fresh store): nothing to say either way.
    Unknown,
}

/// Whether `user` holds a slot. Without one the answer is [`Slot::Ended`] whenever the
/// line's epoch sentinel exists (every join refreshes it), so a fan who left or paid is
/// refused even when nobody else holds a slot; only a line Redis lost is `Unknown`.
pub async fn slot(redis: &Redis, event: Uuid, user: Uuid, now_ms: i64) -> RedisResult<Slot> {
    let k = keys(redis, event);
    let (score, exists): (Option<f64>, bool) = redis::pipe()
        .cmd("ZSCORE")
        .arg(&k.active)
        .arg(user.to_string())
        .cmd("EXISTS")
        .arg(&k.epoch)
        .query_async(&mut redis.conn())
        .await?;
    Ok(match score.map(|s| s as i64) {
        Some(e) if e > now_ms => Slot::Active { expires_ms: e },
        _ if !exists => Slot::Unknown,
        _ => Slot::Ended,
    })
}

/// Takes `user` out of the line and frees their slot. Returns whether they were waiting
/// and whether they held a slot.
pub async fn leave(
    redis: &Redis,
    event: Uuid,
    user: Uuid,
    now_ms: i64,
) -> RedisResult<(bool, bool)> {
    let k = keys(redis, event);
    let reply: Value = invocation(&LEAVE, k.for_leave())
        .arg(user.to_string())
        .arg(now_ms)
        .invoke_async(&mut redis.conn())
        .await?;
    let p = parts(reply, "leave")?;
    Ok((at(&p, 0, "waiting")? == 1, at(&p, 1, "active")? == 1))
}

/// Upper bounds (seconds) of the wait-time buckets `b0`..`b9`; `b10` is everything
/// longer.
pub const WAIT_BUCKETS_SECS: [u32; 10] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/// One minute of an event's line, as its scripts counted it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteCounters {
    /// Unix minute (seconds / 60).
    pub minute: i64,
    pub joined: i64,
    pub admitted: i64,
    pub abandoned: i64,
    pub waiting_peak: i64,
    pub active_peak: i64,
    /// Admissions per wait bucket, `WAIT_BUCKETS_SECS.len() + 1` entries.
    pub wait_buckets: Vec<i64>,
}

/// Every minute the line's scripts have counted and not yet forgotten, oldest first.
pub async fn minute_counters(redis: &Redis, event: Uuid) -> RedisResult<Vec<MinuteCounters>> {
    let k = keys(redis, event);
    let all: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(&k.stats)
        .query_async(&mut redis.conn())
        .await?;
    let mut minutes: std::collections::BTreeMap<i64, MinuteCounters> = Default::default();
    for (field, n) in all {
        let Some((minute, figure)) = field.split_once(':') else {
            continue;
        };
        let Ok(minute) = minute.parse::<i64>() else {
            continue;
        };
        let m = minutes.entry(minute).or_insert_with(|| MinuteCounters {
            minute,
            wait_buckets: vec![0; WAIT_BUCKETS_SECS.len() + 1],
            ..Default::default()
        });
        match figure {
            "j" => m.joined = n,
            "a" => m.admitted = n,
            "x" => m.abandoned = n,
            "w" => m.waiting_peak = n,
            "p" => m.active_peak = n,
            b => {
                if let Some(slot) = b
                    .strip_prefix('b')
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| m.wait_buckets.get_mut(i))
                {
                    *slot = n;
                }
            }
        }
    }
    Ok(minutes.into_values().collect())
}

/// The line right now: waiting, active (slots not yet lapsed) and the measured
/// admissions per minute.
pub async fn sizes(redis: &Redis, event: Uuid, now_ms: i64) -> RedisResult<(u64, u64, f64)> {
    let k = keys(redis, event);
    let (waiting, active, rate): (u64, u64, Option<String>) = redis::pipe()
        .cmd("ZCARD")
        .arg(&k.waiting)
        .cmd("ZCOUNT")
        .arg(&k.active)
        .arg(format!("({now_ms}"))
        .arg("+inf")
        .cmd("HGET")
        .arg(&k.meta)
        .arg("rate_per_min")
        .query_async(&mut redis.conn())
        .await?;
    let rate = rate.and_then(|r| r.parse().ok()).unwrap_or(0.0);
    Ok((waiting, active, rate))
}

/// Drops the counters of `minutes` (already copied for good).
pub async fn forget_minutes(redis: &Redis, event: Uuid, minutes: &[i64]) -> RedisResult<()> {
    if minutes.is_empty() {
        return Ok(());
    }
    let k = keys(redis, event);
    let mut cmd = redis::cmd("HDEL");
    cmd.arg(&k.stats);
    for m in minutes {
        for f in ["j", "a", "x", "w", "p"] {
            cmd.arg(format!("{m}:{f}"));
        }
        for b in 0..=WAIT_BUCKETS_SECS.len() {
            cmd.arg(format!("{m}:b{b}"));
        }
    }
    let _: i64 = cmd.query_async(&mut redis.conn()).await?;
    Ok(())
}

/// What one admission tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    /// False: another replica already ran this tick.
    pub ran: bool,
    /// Users admitted, each with when they joined (ms).
    pub admitted: Vec<(Uuid, i64)>,
    /// Slots that lapsed.
    pub expired: u64,
    /// Waiters dropped for not polling.
    pub abandoned: u64,
    pub waiting: u64,
    pub active: u64,
}

/// Tick parameters.
#[derive(Debug, Clone, Copy)]
pub struct TickSpec {
    pub limits: Limits,
    /// Most users admitted by one tick.
    pub batch: u32,
    /// Waiters not seen since this (ms) are dropped.
    pub stale_before_ms: i64,
    /// Length of a tick (ms); the tick id is `now / tick_ms`.
    pub tick_ms: u64,
}

/// Runs one admission tick for `event` (see `admit.lua`).
pub async fn admit(redis: &Redis, event: Uuid, spec: TickSpec, now_ms: i64) -> RedisResult<Tick> {
    let k = keys(redis, event);
    let tick_ms = spec.tick_ms.max(1);
    let reply: Value = invocation(&ADMIT, k.for_admit())
        .arg(now_ms)
        .arg(spec.limits.capacity)
        .arg(spec.batch)
        .arg(spec.stale_before_ms)
        .arg(spec.limits.slot_ms)
        .arg(now_ms.max(0) as u64 / tick_ms)
        .arg(tick_ms)
        .arg(KEY_LIFE_MS)
        .invoke_async(&mut redis.conn())
        .await?;
    let p = parts(reply, "admit")?;
    let mut admitted = Vec::new();
    if let Some(Value::Array(list)) = p.get(1) {
        for pair in list.chunks(2) {
            let user = pair
                .first()
                .and_then(text)
                .and_then(|s| s.parse::<Uuid>().ok());
            let joined = pair.get(1).and_then(int).unwrap_or(now_ms);
            if let Some(u) = user {
                admitted.push((u, joined));
            }
        }
    }
    Ok(Tick {
        ran: at(&p, 0, "ran")? == 1,
        admitted,
        expired: unsigned(&p, 2, "expired")?,
        abandoned: unsigned(&p, 3, "abandoned")?,
        waiting: unsigned(&p, 4, "waiting")?,
        active: unsigned(&p, 5, "active")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The highest `KEYS[n]` a script reads.
    fn keys_used(script: &str) -> usize {
        script
            .match_indices("KEYS[")
            .filter_map(|(i, _)| {
                let rest = &script[i + 5..];
                rest[..rest.find(']')?].parse().ok()
            })
            .max()
            .unwrap_or(0)
    }

    use crate::store::hash_tag;

    #[tokio::test]
    async fn every_script_gets_all_its_keys_under_one_hash_tag() {
        let redis = Redis::connect(
            "redis://127.0.0.1:1",
            "urr:",
            std::time::Duration::from_secs(2),
        )
        .expect("lazy client");
        let event = Uuid::new_v4();
        let k = keys(&redis, event);
        let pass = redis.tagged(&tag(event), "pass:edge-1:17");
        let seq = redis.tagged(&tag(event), "seq");
        let scripts = [
            ("join", include_str!("join.lua"), k.for_join(pass)),
            ("join (arrival)", include_str!("join.lua"), k.for_join(seq)),
            ("status", include_str!("status.lua"), k.for_status()),
            ("leave", include_str!("leave.lua"), k.for_leave()),
            ("admit", include_str!("admit.lua"), k.for_admit()),
        ];
        let expected = format!("q:{event}");
        for (name, source, keys) in scripts {
            assert_eq!(keys_used(source), keys.len(), "{name}: KEYS passed vs read");
            for key in &keys {
                assert_eq!(hash_tag(key), Some(expected.as_str()), "{name}: {key}");
            }
        }
    }
}

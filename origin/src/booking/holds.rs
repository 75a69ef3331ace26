//! The Redis fast filter in front of Postgres.
//!
//! Redis answers "is this seat obviously taken?" and "is this ticket type obviously sold
//! out?" in one round trip, so that a stampede on a few hot seats costs Postgres almost
//! nothing. It is a *filter*: Postgres' unique index and conditional decrements decide.
//! If Redis is flushed, keys are simply missing and requests fall through to Postgres;
//! if Redis is down, callers skip the filter (see `service`).
//!
//! Every key of one event carries the hash tag `{evt:<event id>}`, so each script
//! touches a single Redis Cluster slot.

use crate::store::Redis;
use redis::{RedisResult, Script, Value};
use std::sync::LazyLock;
use uuid::Uuid;

static HOLD_SEATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("hold_seats.lua")));
static RELEASE_SEATS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("release_seats.lua")));
static STOCK_TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("stock_take.lua")));
static STOCK_GIVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("stock_give.lua")));

/// Fence counters live a week past their last use (every key has a bounded life).
const FENCE_TTL_SECS: u64 = 7 * 24 * 3600;
/// Stock counters are rebuilt from Postgres when missing, so a day is plenty.
const STOCK_TTL_SECS: u64 = 24 * 3600;

fn tag(event: Uuid) -> String {
    format!("evt:{event}")
}

pub fn fence_key(redis: &Redis, event: Uuid) -> String {
    redis.tagged(&tag(event), "fence")
}

pub fn seat_key(redis: &Redis, event: Uuid, seat: Uuid) -> String {
    redis.tagged(&tag(event), &format!("seat:{seat}"))
}

pub fn stock_key(redis: &Redis, event: Uuid, ticket_type: Uuid) -> String {
    redis.tagged(&tag(event), &format!("stock:{ticket_type}"))
}

/// The value of a held seat's key: who holds it, for which reservation, with which fence.
pub fn hold_value(user: Uuid, reservation: Uuid, fence: i64) -> String {
    format!("{user}|{reservation}|{fence}")
}

/// Outcome of [`hold_seats`].
#[derive(Debug, PartialEq, Eq)]
pub enum SeatHold {
    /// All seats are held for the caller. `fresh` are the indexes (into the request)
    /// of seats this call newly took; the others the caller already held.
    Held { fence: i64, fresh: Vec<usize> },
    /// These seats (indexes into the request) are held by someone else.
    Conflict(Vec<usize>),
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn indexes(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(int)
            .filter_map(|i| usize::try_from(i - 1).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn unexpected(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "unexpected script reply",
        what.to_owned(),
    ))
}

/// Holds all of `seats` for `user` (reservation `reservation`) for `ttl_ms`, or none.
pub async fn hold_seats(
    redis: &Redis,
    event: Uuid,
    user: Uuid,
    reservation: Uuid,
    seats: &[Uuid],
    ttl_ms: u64,
) -> RedisResult<SeatHold> {
    let mut inv = HOLD_SEATS.prepare_invoke();
    inv.key(fence_key(redis, event));
    for s in seats {
        inv.key(seat_key(redis, event, *s));
    }
    inv.arg(user.to_string())
        .arg(reservation.to_string())
        .arg(ttl_ms)
        .arg(FENCE_TTL_SECS);
    let reply: Value = inv.invoke_async(&mut redis.conn()).await?;
    let Value::Array(parts) = reply else {
        return Err(unexpected("hold_seats"));
    };
    match parts.first().and_then(int) {
        Some(1) => Ok(SeatHold::Held {
            fence: parts
                .get(1)
                .and_then(int)
                .ok_or_else(|| unexpected("fence"))?,
            fresh: parts.get(2).map(indexes).unwrap_or_default(),
        }),
        Some(0) => Ok(SeatHold::Conflict(
            parts.get(1).map(indexes).unwrap_or_default(),
        )),
        _ => Err(unexpected("hold_seats status")),
    }
}

/// Compare-and-delete of seat holds written with `value`; returns how many were freed.
pub async fn release_seats(
    redis: &Redis,
    event: Uuid,
    seats: &[Uuid],
    value: &str,
) -> RedisResult<i64> {
    if seats.is_empty() {
        return Ok(0);
    }
    let mut inv = RELEASE_SEATS.prepare_invoke();
    for s in seats {
        inv.key(seat_key(redis, event, *s));
    }
    inv.arg(value);
    inv.invoke_async(&mut redis.conn()).await
}

/// One standing item for the stock gate.
#[derive(Debug, Clone, Copy)]
pub struct StockItem {
    pub ticket_type: Uuid,
    pub quantity: i64,
    /// Postgres' available quantity, read just before; seeds a missing counter.
    pub available: i64,
}

/// Takes stock for all items or none. `Ok(Some(i))`: item `i` is sold out at the gate.
pub async fn take_stock(
    redis: &Redis,
    event: Uuid,
    items: &[StockItem],
) -> RedisResult<Option<usize>> {
    let mut inv = STOCK_TAKE.prepare_invoke();
    for it in items {
        inv.key(stock_key(redis, event, it.ticket_type));
        inv.arg(it.quantity).arg(it.available.max(0));
    }
    inv.arg(STOCK_TTL_SECS);
    let first_short: i64 = inv.invoke_async(&mut redis.conn()).await?;
    Ok(usize::try_from(first_short - 1).ok())
}

/// Returns stock to the gate (`(ticket type, quantity)` pairs).
pub async fn give_stock(redis: &Redis, event: Uuid, items: &[(Uuid, i64)]) -> RedisResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut inv = STOCK_GIVE.prepare_invoke();
    for (tt, q) in items {
        inv.key(stock_key(redis, event, *tt));
        inv.arg(*q);
    }
    let _: i64 = inv.invoke_async(&mut redis.conn()).await?;
    Ok(())
}

/// Overwrites a stock counter with Postgres' truth, only if it exists (periodic
/// resync after crashes between the gate and Postgres). Errs towards letting more
/// requests through, never fewer, because Postgres has the final word.
pub async fn resync_stock(
    redis: &Redis,
    event: Uuid,
    ticket_type: Uuid,
    available: i64,
) -> RedisResult<()> {
    let mut c = redis.conn();
    redis::cmd("SET")
        .arg(stock_key(redis, event, ticket_type))
        .arg(available.max(0))
        .arg("XX")
        .arg("EX")
        .arg(STOCK_TTL_SECS)
        .query_async::<Option<String>>(&mut c)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hash_tag;

    /// Every key a booking script receives for one event must share one hash tag.
    /// (A runtime is needed: the lazy Redis client spawns its connection task.)
    #[tokio::test]
    async fn keys_of_one_event_share_a_hash_tag() {
        let redis = Redis::connect(
            "redis://127.0.0.1:1",
            "t:x:",
            std::time::Duration::from_secs(2),
        )
        .expect("lazy client");
        let event = Uuid::new_v4();
        let keys = [
            fence_key(&redis, event),
            seat_key(&redis, event, Uuid::new_v4()),
            seat_key(&redis, event, Uuid::new_v4()),
            stock_key(&redis, event, Uuid::new_v4()),
        ];
        let tags: Vec<_> = keys.iter().map(|k| hash_tag(k)).collect();
        assert!(
            tags.iter().all(|t| *t == Some(tag(event).as_str())),
            "{keys:?}"
        );
        assert_eq!(hash_tag("a{b}c{d}"), Some("b"));
        assert_eq!(hash_tag("a{}c{d}"), None);
    }
}

//! The edge state's layout in Redis, shared by every host that keeps it there (the Spin
//! component and the native host).
//!
//! One key per event, `{vwr:<event_id>}:state`, holds the JSON of
//! [`super::state::EventState`] exactly as serde writes it. The braces are a Redis
//! Cluster hash tag: every key of an event lands in the same slot, so a script may touch
//! them together on a cluster too. Beside it, under the same tag:
//! `{vwr:<event_id>}:join:<address>:<minute>` counts a client's joins ([`HIT_SCRIPT`])
//! and `{vwr:<event_id>}:pow:<nonce>` marks a spent proof of work (`SET NX PXAT`).
//!
//! The decisions (may this visitor join, what is the next sequence, is this push newer)
//! stay in Rust; Redis only guarantees that a computed state is written over the one it
//! was computed from ([`CAS_SCRIPT`]), and a host that loses the race reads again and
//! recomputes, at most [`MAX_ATTEMPTS`] times.

use uuid::Uuid;

/// Writes `ARGV[2]` to `KEYS[1]`, to expire in `ARGV[3]` ms (`0`: never), only if it
/// still holds `ARGV[1]` (`''`: absent). Answers 1 when written, 0 when someone else
/// wrote first.
pub const CAS_SCRIPT: &str = "local c = redis.call('GET', KEYS[1]) \
if (c == false and ARGV[1] == '') or c == ARGV[1] then \
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) \
else redis.call('SET', KEYS[1], ARGV[2]) end return 1 end return 0";

/// Adds one to `KEYS[1]` and, on its first hit, makes it expire at `ARGV[1]` (unix ms);
/// answers the new count.
pub const HIT_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
if n == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end return n";

/// Attempts per operation before answering 503. Each lost attempt means another
/// operation on the same event succeeded, so under a burst of N joins the last one
/// needs at most N attempts; a random back-off makes that rare well before this bound.
pub const MAX_ATTEMPTS: u32 = 64;

/// The Redis key of an event's state.
pub fn state_key(event: Uuid) -> String {
    format!("{{vwr:{event}}}:state")
}

/// The Redis key of an event's counter or claim `key` (same hash tag as the state).
pub fn keyed(event: Uuid, key: &str) -> String {
    format!("{{vwr:{event}}}:{key}")
}

/// The write's time to live in ms for [`CAS_SCRIPT`]: until the state's
/// [`super::state::EventState::retain_until_ms`], or `0` (never) without a close.
pub fn ttl_ms(state: &super::state::EventState, now_ms: i64) -> i64 {
    state
        .retain_until_ms(now_ms)
        .map_or(0, |until| (until - now_ms).max(1))
}

//! The tier-1 serving counter as a pure function of time: no timer, no advancer job.
//!
//! # The idea
//!
//! Tier 1 hands out positions `1, 2, 3, ...` (the *issued* counter) and lets position
//! `p` through once `p <= serving`. A scheduled job advancing `serving` by a fixed batch is
//! blind to downstream capacity and overshoots. Here `serving` is
//! computed from the rules instead:
//!
//! ```text
//! serving(t) = min(issued, s0 + floor(rate · (t − t0) / 60 000))      t in Unix ms
//! ```
//!
//! where `rate` is the rules' `new_users_per_minute` and `(s0, t0)` is an **anchor**: a
//! serving value and the instant it held. Any edge instance holding the anchor, the rate
//! and the issued count computes the same value, so Spin needs no timer and Cloudflare
//! needs no alarm; a status poll just evaluates the formula ([`serving_at`]).
//!
//! # Why the anchor moves: idle credit
//!
//! With a fixed anchor the line `s0 + rate·(t − t0)` keeps climbing while nobody is
//! waiting; only the `min(issued, ..)` hides it. Say the rate is 600/min, the sale opened
//! at 10:00 and the queue drained by 10:05. At 11:00 the line stands 36,000 above
//! `issued`; if 20,000 fans then arrive in one burst, every one of them is already
//! "served" and the origin takes the whole burst at once: exactly the spike the waiting
//! room exists to prevent.
//!
//! So the anchor is moved forward whenever the queue has **caught up** (`serving >=
//! issued`): [`anchor_on_join`] re-anchors at the current serving value and (nearly)
//! the current time, throwing the accumulated credit away. The caller runs it on every
//! join (and may run it on any other observation, e.g. an alarm tick), atomically with
//! the issued counter: in the event's Durable Object, or in the same Redis script that
//! increments `{vwr:<evt>}:issued`.
//!
//! One slot of credit is kept: the new anchor's time is at most `60 000 / rate` ms in
//! the past, so a visitor who joins an empty queue is served at once instead of waiting
//! one inter-arrival gap. That is a token bucket of depth 1, and it is why the rate
//! bound below has a `+ 1`. It never adds credit the old line did not have: the new
//! anchor's line is below the old one from `now` on.
//!
//! # Rule changes
//!
//! A new rules version may change the rate. [`anchor_on_rate_change`] continues from the
//! current serving value, so the counter is piecewise linear by rule version and never
//! jumps. The fraction of a slot already accumulated at the old rate is carried over
//! (converted to the new rate, rounded down) unless the queue has caught up, so a rate
//! that is tuned often does not stall the queue by losing a partial slot every time.
//! A rate of `0` pauses the queue.
//!
//! # Before the sale
//!
//! Nothing is served before the sale opens. The first anchor is
//! [`ServingAnchor::opening`]: `served = 0` at the opening instant. For `now_ms` before
//! an anchor's `at_ms` the formula grants no credit, so everyone who joined during the
//! pre-queue (`issued = n_pre`) waits until the opening and is then let through at the
//! rate, in position order (FIFO: join order; random: the drawn order, see
//! [`super::draw`]).
//!
//! # Invariants (property-tested in `tests/queue_props.rs`)
//!
//! * `serving_at` is monotone in `now_ms` and in `issued`, and never exceeds `issued`.
//! * Re-anchoring never lowers the serving value at the moment it happens, and never
//!   raises the line afterwards: observed serving values never decrease.
//! * Rate: over any interval `[t1, t2]` with one rate `r`, at most
//!   `r · (t2 − t1) / 60 000 + 1` positions are served, however long the queue was idle
//!   before.
//! * Integer arithmetic only (`i128` intermediates), rounding down: no float ever
//!   decides who gets in, so every target computes the same value.
//!
//! The contract for callers: pass the authoritative `issued` count (the one positions
//! are handed out from), read together with the anchor. A stale, too-small `issued`
//! would look like a caught-up queue and take credit away from people who are waiting.

use serde::{Deserialize, Serialize};

/// Milliseconds in a minute: rates are per minute, times are Unix milliseconds.
const MS_PER_MINUTE: i128 = 60_000;

/// A point the serving line passes through: `served` positions had been let through at
/// `at_ms` (Unix milliseconds). Store it next to the issued counter and the rules
/// version it was computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServingAnchor {
    /// Serving value at `at_ms`: positions `1..=served` were let through.
    pub served: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
}

impl ServingAnchor {
    /// The first anchor of a sale: nothing served when it opens at `sale_opens_at_s`
    /// (Unix **seconds**, as in the rules).
    pub const fn opening(sale_opens_at_s: i64) -> Self {
        ServingAnchor {
            served: 0,
            at_ms: sale_opens_at_s.saturating_mul(1000),
        }
    }
}

/// Where the unclamped line `s0 + rate·(t − t0)/60 000` stands at `now_ms`: the whole
/// positions (saturating) and the leftover fraction of a slot, in units of 1/60 000 of a
/// position per rate unit (the remainder of the division).
fn line_at(anchor: ServingAnchor, rate_per_minute: u32, now_ms: i64) -> (u64, i128) {
    let elapsed = i128::from(now_ms) - i128::from(anchor.at_ms);
    if elapsed <= 0 {
        return (anchor.served, 0);
    }
    let units = elapsed * i128::from(rate_per_minute);
    let whole = units / MS_PER_MINUTE;
    let rem = units % MS_PER_MINUTE;
    let credit = u64::try_from(whole).unwrap_or(u64::MAX);
    (anchor.served.saturating_add(credit), rem)
}

/// The serving value at `now_ms` (Unix ms): positions `1..=serving_at(..)` may pass.
///
/// `min(issued, served + floor(rate · (now − at) / 60 000))`; before `anchor.at_ms` no
/// credit accrues (so before the sale opens, nothing beyond the anchor is served).
///
/// ```
/// use shared_wasm::queue::{serving_at, ServingAnchor};
/// let open = ServingAnchor::opening(1_800_000_000);
/// let t = open.at_ms;
/// assert_eq!(serving_at(open, 600, 5_000, t - 1), 0); // before the opening
/// assert_eq!(serving_at(open, 600, 5_000, t + 1_000), 10); // 600/min = 10/s
/// assert_eq!(serving_at(open, 600, 5, t + 60_000), 5); // never beyond issued
/// ```
pub fn serving_at(anchor: ServingAnchor, rate_per_minute: u32, issued: u64, now_ms: i64) -> u64 {
    line_at(anchor, rate_per_minute, now_ms).0.min(issued)
}

/// Re-anchors when the queue has caught up, so idle time builds no credit.
///
/// Call it when a visitor joins, with the issued count *before* that join (and
/// optionally on any other observation, such as an alarm tick, with the current issued
/// count), atomically with the issued counter. If `serving_at(anchor, ..) <
/// issued_before_join` someone is still waiting and the anchor is returned unchanged.
/// Otherwise the new anchor is the current serving value at the latest of
///
/// * the instant the old line reached that value (so no credit is ever added), and
/// * `now_ms − 60 000 / rate` (one slot of credit at most: the joiner of an empty
///   queue passes at once, the next one waits a full slot).
///
/// Before `anchor.at_ms` (for example during the pre-queue, whose anchor is the
/// opening) the anchor is returned unchanged.
pub fn anchor_on_join(
    anchor: ServingAnchor,
    rate_per_minute: u32,
    issued_before_join: u64,
    now_ms: i64,
) -> ServingAnchor {
    if now_ms < anchor.at_ms {
        return anchor;
    }
    let serving = serving_at(anchor, rate_per_minute, issued_before_join, now_ms);
    if serving < issued_before_join {
        return anchor;
    }
    if rate_per_minute == 0 {
        return ServingAnchor {
            served: serving,
            at_ms: now_ms,
        };
    }
    let rate = i128::from(rate_per_minute);
    let now = i128::from(now_ms);
    // The first whole millisecond at which the old line had reached `serving`.
    let needed = i128::from(serving.saturating_sub(anchor.served));
    let reached = i128::from(anchor.at_ms) + ceil_div(needed * MS_PER_MINUTE, rate);
    let one_slot_back = now - MS_PER_MINUTE / rate;
    let at = reached.max(one_slot_back).min(now);
    ServingAnchor {
        served: serving,
        at_ms: clamp_ms(at),
    }
}

/// Re-anchors for a rules change from `old_rate` to `new_rate` (per minute) at
/// `now_ms`, so the serving value continues where it is instead of jumping.
///
/// * Same rate: the anchor is returned unchanged (exact, nothing rounded).
/// * Before `anchor.at_ms` (e.g. a rules update during the pre-queue): the anchor keeps
///   its time, so the opening stays the opening.
/// * Queue caught up (`serving >= issued`): anchor at `(serving, now_ms)`, no credit.
/// * Otherwise: anchor at the current serving value, with the partial slot already
///   earned at the old rate carried over to the new rate (rounded down).
pub fn anchor_on_rate_change(
    anchor: ServingAnchor,
    old_rate: u32,
    new_rate: u32,
    issued: u64,
    now_ms: i64,
) -> ServingAnchor {
    if old_rate == new_rate {
        return anchor;
    }
    if now_ms < anchor.at_ms {
        return ServingAnchor {
            served: anchor.served.min(issued),
            at_ms: anchor.at_ms,
        };
    }
    let (line, rem) = line_at(anchor, old_rate, now_ms);
    if line >= issued || new_rate == 0 {
        return ServingAnchor {
            served: line.min(issued),
            at_ms: now_ms,
        };
    }
    // `rem / 60 000` of a slot is earned; at the new rate that is `rem / new_rate` ms.
    let carried_ms = rem / i128::from(new_rate);
    ServingAnchor {
        served: line,
        at_ms: clamp_ms(i128::from(now_ms) - carried_ms),
    }
}

/// Whether the visitor at 1-based `position` may pass when the counter is `serving`.
pub const fn is_served(position: u64, serving: u64) -> bool {
    position <= serving
}

/// How many people are still waiting in front of `position` (1-based) when the counter
/// is `serving`; 0 once the position is served.
pub const fn people_ahead(position: u64, serving: u64) -> u64 {
    position.saturating_sub(serving).saturating_sub(1)
}

/// The Unix millisecond at which `position` will be served if the rate stays as it is.
///
/// Exact for tier 1, because a waiting visitor's line is never moved back: re-anchors on
/// join happen only when nobody waits, and rate changes carry progress over. `None` when
/// the rate is 0 (paused). A position already covered by the anchor gives `anchor.at_ms`.
pub fn served_at_ms(anchor: ServingAnchor, rate_per_minute: u32, position: u64) -> Option<i64> {
    if position <= anchor.served {
        return Some(anchor.at_ms);
    }
    if rate_per_minute == 0 {
        return None;
    }
    let missing = i128::from(position - anchor.served);
    let wait = ceil_div(missing * MS_PER_MINUTE, i128::from(rate_per_minute));
    Some(clamp_ms(i128::from(anchor.at_ms) + wait))
}

/// `ceil(a / b)` for `a >= 0`, `b > 0`.
fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

fn clamp_ms(ms: i128) -> i64 {
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_S: i64 = 1_800_000_000;

    #[test]
    fn nothing_is_served_before_the_opening() {
        let a = ServingAnchor::opening(OPEN_S);
        assert_eq!(serving_at(a, 1_000_000, 10_000, a.at_ms - 1), 0);
        assert_eq!(serving_at(a, 1_000_000, 10_000, a.at_ms), 0);
        assert_eq!(serving_at(a, 60, 10_000, a.at_ms + 999), 0);
        assert_eq!(serving_at(a, 60, 10_000, a.at_ms + 1_000), 1);
        // A pre-queue join does not move the opening anchor.
        assert_eq!(anchor_on_join(a, 60, 0, a.at_ms - 5_000), a);
        assert_eq!(anchor_on_rate_change(a, 60, 120, 7, a.at_ms - 5_000), a);
    }

    #[test]
    fn idle_time_builds_no_credit() {
        let rate = 600; // one slot per 100 ms
        let mut a = ServingAnchor::opening(OPEN_S);
        let t0 = a.at_ms;
        // 10 people join at the opening; they are all served within a second.
        assert_eq!(serving_at(a, rate, 10, t0 + 1_000), 10);
        // An hour later a burst of 1,000 arrives within the same millisecond.
        let later = t0 + 3_600_000;
        let mut issued = 10;
        for _ in 0..1_000 {
            a = anchor_on_join(a, rate, issued, later);
            issued += 1;
        }
        // One slot of credit: exactly one passes now, then 10 per second.
        assert_eq!(serving_at(a, rate, issued, later), 11);
        assert_eq!(serving_at(a, rate, issued, later + 1_000), 21);
        // With the fixed anchor all 1,010 would have been through already.
        let fixed = ServingAnchor::opening(OPEN_S);
        assert_eq!(serving_at(fixed, rate, issued, later), issued);
    }

    #[test]
    fn join_while_waiting_keeps_the_anchor() {
        let a = ServingAnchor::opening(OPEN_S);
        let now = a.at_ms + 1_000;
        assert_eq!(serving_at(a, 60, 100, now), 1);
        assert_eq!(anchor_on_join(a, 60, 100, now), a);
    }

    #[test]
    fn rate_change_continues_and_carries_the_partial_slot() {
        let a = ServingAnchor::opening(OPEN_S);
        // 60/min: one per second. 1.5 s in, serving is 1 with half a slot earned.
        let now = a.at_ms + 1_500;
        let b = anchor_on_rate_change(a, 60, 120, 100, now);
        assert_eq!(serving_at(b, 120, 100, now), 1);
        // Half a slot at 120/min is 250 ms: the next position passes at now + 250.
        assert_eq!(b.at_ms, now - 250);
        assert_eq!(serving_at(b, 120, 100, now + 249), 1);
        assert_eq!(serving_at(b, 120, 100, now + 250), 2);
        // Same rate: nothing changes.
        assert_eq!(anchor_on_rate_change(a, 60, 60, 100, now), a);
        // Pause, then resume.
        let p = anchor_on_rate_change(a, 60, 0, 100, now);
        assert_eq!(serving_at(p, 0, 100, now + 3_600_000), 1);
        assert_eq!(served_at_ms(p, 0, 2), None);
    }

    #[test]
    fn caught_up_rate_change_drops_credit() {
        let a = ServingAnchor::opening(OPEN_S);
        let now = a.at_ms + 3_600_000;
        let b = anchor_on_rate_change(a, 600, 60, 5, now);
        assert_eq!(
            b,
            ServingAnchor {
                served: 5,
                at_ms: now
            }
        );
    }

    #[test]
    fn served_at_matches_the_formula() {
        let a = ServingAnchor {
            served: 10,
            at_ms: 1_000,
        };
        for rate in [1u32, 7, 60, 600, 59_999, 1_000_000] {
            for pos in [1u64, 10, 11, 12, 500] {
                let t = served_at_ms(a, rate, pos).expect("rate > 0");
                assert!(serving_at(a, rate, u64::MAX, t) >= pos);
                if pos > a.served {
                    assert!(serving_at(a, rate, u64::MAX, t - 1) < pos);
                }
            }
        }
    }

    #[test]
    fn people_ahead_and_served() {
        assert_eq!(people_ahead(10, 0), 9);
        assert_eq!(people_ahead(10, 9), 0);
        assert_eq!(people_ahead(10, 10), 0);
        assert_eq!(people_ahead(10, 50), 0);
        assert!(is_served(10, 10));
        assert!(!is_served(11, 10));
    }

    #[test]
    fn extreme_inputs_saturate() {
        let a = ServingAnchor {
            served: u64::MAX - 1,
            at_ms: i64::MIN,
        };
        assert_eq!(serving_at(a, u32::MAX, u64::MAX, i64::MAX), u64::MAX);
        let b = ServingAnchor::opening(i64::MAX);
        assert_eq!(b.at_ms, i64::MAX);
        assert_eq!(serving_at(b, u32::MAX, 5, i64::MAX), 0);
    }
}

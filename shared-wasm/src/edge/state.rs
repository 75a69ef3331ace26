//! The per-event state every platform stores, and the atomic operations on it.
//!
//! One event's edge state is one value, [`EventState`]: the rules in force and the
//! queue [`Counter`]. A platform keeps it where single-event atomicity is cheap (the
//! event's Durable Object on Cloudflare, the event's hash-tagged Redis keys on Spin)
//! and runs each of the three operations below **atomically** (load, compute, store,
//! with no other operation on the same event in between):
//!
//! | operation                     | when                          | changes                               |
//! |-------------------------------|-------------------------------|---------------------------------------|
//! | [`apply_push`]                | `PUT /__urr/rules/{event}`    | rules; anchor (rate or opening change); seed |
//! | [`EventState::join`]          | a visitor joins               | `issued += 1`; anchor when caught up; freezes `n_pre` |
//! | [`EventState::observe`]       | a status read finds the draw unfrozen | freezes `n_pre` at the opening |
//!
//! Everything else (status polls, pages, the guard) only **reads** a snapshot, which may
//! be up to about a second old: a stale snapshot can only make a visitor wait a little
//! longer, never let one through early, because `issued` and the anchor only grow.
//!
//! # The counter
//!
//! * `issued`: join sequence numbers handed out (`seq` of the last joiner).
//! * `anchor`: the serving line's anchor ([`crate::queue::serving`]); serving at `t` is
//!   `serving_at(anchor, rules.new_users_per_minute, issued, t)`.
//! * `n_pre`: the pre-queue size, frozen by the first operation at or after the opening
//!   (`issued` at that moment: every join before it was a pre-queue join).
//! * `seed`: the random draw's seed once the origin revealed it (hex, checked against the
//!   rules' commitment).
//!
//! # Redis mapping (for the Spin edge)
//!
//! The contract is "each operation is atomic per event"; the simplest exact mapping is
//! a compare-and-set over one key per event:
//!
//! * key `{vwr:<event>}:state` holds the JSON of [`EventState`] (serde, as is);
//! * **snapshot**: `GET` (an instance may reuse the value for ~1 s);
//! * **join / observe / push**: `GET` the value `old` (or nil), compute the new state in
//!   Rust with [`EventState::join`] / [`EventState::observe`] / [`apply_push`] at the
//!   component's `now`, then write it only if nobody else did in between, with
//!   `EVAL "local c = redis.call('GET', KEYS[1]) if (c == false and ARGV[1] == '') or c
//!   == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0" 1
//!   {vwr:<event>}:state <old or ''> <new>`; on `0`, start again from `GET` (bounded
//!   retries, then 503). Write nothing when the operation refuses (join refused, push
//!   not newer) or, for observe, reports no change.
//!
//! Under a join burst every CAS conflicts with the others. The sharded scheme below
//! removes the state from the join's hot path, and works on Redis with one counter:
//! `seq = INCR {vwr:<event>}:count` (that is [`sharded_seq`]`(n, 0, 1)`), mode/phase checked
//! with [`EventState::may_join`] on the snapshot, and [`EventState::report_issued`] applied
//! by CAS when a status read finds the counter ahead of `issued` (at most once per
//! snapshot refresh). Keep random-draw events on the CAS path: their `n_pre` must be
//! frozen atomically with the counter.
//!
//! # Sharded joins (Cloudflare `QUEUE_SHARDS`)
//!
//! [`EventState::shardable`] events (FIFO) may count joins in K independent counters;
//! counter `s` gives its `n`-th join the sequence [`sharded_seq`]`(n, s, K)`, unique by
//! construction, and reports its highest sequence to the event's state, which
//! [`EventState::report_issued`] folds in like a join.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{self, Seed, ServingAnchor};
use crate::rules::{EdgeRules, Method, Mode, Phase};

/// Longest event name shown on the page, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 200;

/// The queue counter of one event (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub issued: u64,
    pub anchor: ServingAnchor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_pre: Option<u64>,
    /// Draw seed, 64 lowercase hex digits, verified against the commitment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// Everything the edge stores for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventState {
    pub rules: EdgeRules,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    pub counter: Counter,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum JoinRefused {
    /// Mode `reject`.
    Rejected,
    /// Mode `maintenance`.
    Maintenance,
    /// The room is not open yet (before the pre-queue, or before the sale without one).
    NotOpen { opens_at: i64 },
    /// The sale has ended.
    Ended,
}

/// A verified rules push, ready for [`apply_push`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesPush {
    pub rules: EdgeRules,
    #[serde(default)]
    pub event_name: Option<String>,
    /// Hex seed, already checked against `rules.draw_seed_commitment`.
    #[serde(default)]
    pub draw_seed: Option<String>,
}

/// Why a verified push was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum PushRejected {
    /// The stored rules are as new or newer: never overwrite them.
    NotNewer { current_version: u64 },
}

fn ms(s: i64) -> i64 {
    s.saturating_mul(1000)
}

/// How long after the sale's close an edge keeps an event's state (late status polls,
/// support questions), in milliseconds: a week.
pub const RETAIN_AFTER_CLOSE_MS: i64 = 7 * 24 * 3600 * 1000;
/// The least time a state is kept after a write, so a push for a sale that closed
/// long ago is not dropped at once.
pub const RETAIN_AT_LEAST_MS: i64 = 24 * 3600 * 1000;

/// [`EventState::retain_until_ms`] of a state under `rules`.
pub fn retain_until_ms(rules: &EdgeRules, now_ms: i64) -> Option<i64> {
    let close_s = rules.sale_closes_at?;
    Some(
        close_s
            .saturating_mul(1000)
            .saturating_add(RETAIN_AFTER_CLOSE_MS)
            .max(now_ms.saturating_add(RETAIN_AT_LEAST_MS)),
    )
}

impl EventState {
    /// Until when (unix ms) storage should keep this state, written at `now_ms`: a week
    /// past the sale's close, at least a day from now, so a finished event does not
    /// stay in the edge's storage forever. `None` (keep) when the sale has no close:
    /// a lost state means no waiting room, and an event between its announcement and
    /// its pre-queue can go quiet for months.
    pub fn retain_until_ms(&self, now_ms: i64) -> Option<i64> {
        retain_until_ms(&self.rules, now_ms)
    }

    /// The state right after the first push of `push`.
    pub fn first(push: RulesPush) -> Self {
        let anchor = push.rules.opening_anchor();
        EventState {
            counter: Counter {
                issued: 0,
                anchor,
                n_pre: None,
                seed: push.draw_seed,
            },
            event_name: push.event_name,
            rules: push.rules,
        }
    }

    /// The sale's phase at `now_ms`.
    pub fn phase(&self, now_ms: i64) -> Phase {
        self.rules.phase(now_ms.div_euclid(1000))
    }

    /// Freezes `n_pre` once the sale is open. Returns whether anything changed (store
    /// only then). Run it atomically, like every write.
    pub fn observe(&mut self, now_ms: i64) -> bool {
        if self.counter.n_pre.is_none() && now_ms >= ms(self.rules.sale_opens_at) {
            self.counter.n_pre = Some(self.counter.issued);
            return true;
        }
        false
    }

    /// Whether a join is possible at `now_ms`.
    pub fn may_join(&self, now_ms: i64) -> Result<(), JoinRefused> {
        match self.rules.mode {
            Mode::Reject => return Err(JoinRefused::Rejected),
            Mode::Maintenance => return Err(JoinRefused::Maintenance),
            Mode::Queue | Mode::Passthrough => {}
        }
        match self.phase(now_ms) {
            Phase::Ended => Err(JoinRefused::Ended),
            Phase::Closed if self.rules.mode == Mode::Queue => Err(JoinRefused::NotOpen {
                opens_at: self
                    .rules
                    .prequeue_opens_at
                    .unwrap_or(self.rules.sale_opens_at),
            }),
            _ => Ok(()),
        }
    }

    /// A visitor joins at `now_ms`: freezes `n_pre` if the sale just opened, re-anchors
    /// the serving line if the queue had caught up, and hands out the next sequence
    /// number. Run atomically.
    pub fn join(&mut self, now_ms: i64) -> Result<u64, JoinRefused> {
        self.may_join(now_ms)?;
        self.observe(now_ms);
        self.counter.anchor = queue::anchor_on_join(
            self.counter.anchor,
            self.rules.new_users_per_minute,
            self.counter.issued,
            now_ms,
        );
        self.counter.issued = self.counter.issued.saturating_add(1);
        Ok(self.counter.issued)
    }

    /// Whether joins of this event may be spread over several counters (Cloudflare with
    /// `QUEUE_SHARDS` > 1): FIFO only, because a random draw needs one contiguous
    /// pre-queue `1..=n_pre`.
    pub fn shardable(&self) -> bool {
        self.rules.method == Method::Fifo
    }

    /// With sharded joins, the event learns its `issued` count after the fact: each
    /// counter reports the highest sequence it handed out. Raising `issued` re-anchors
    /// exactly as a join would (if the queue had caught up, the idle credit is dropped
    /// and the newcomers are served from now on at the rate). Run atomically; returns
    /// whether anything changed.
    pub fn report_issued(&mut self, max_seq: u64, now_ms: i64) -> bool {
        if max_seq <= self.counter.issued {
            return false;
        }
        self.observe(now_ms);
        self.counter.anchor = queue::anchor_on_join(
            self.counter.anchor,
            self.rules.new_users_per_minute,
            self.counter.issued,
            now_ms,
        );
        self.counter.issued = max_seq;
        true
    }

    /// The serving counter at `now_ms`: in passthrough everyone issued is served; before
    /// the opening nobody; then the anchored line.
    pub fn serving(&self, now_ms: i64) -> u64 {
        if self.rules.mode == Mode::Passthrough {
            return self.counter.issued;
        }
        queue::serving_at(
            self.counter.anchor,
            self.rules.new_users_per_minute,
            self.counter.issued,
            now_ms,
        )
    }

    /// The parsed draw seed, if revealed.
    pub fn seed(&self) -> Option<Seed> {
        self.counter.seed.as_deref().and_then(queue::seed_from_hex)
    }

    /// The position of join sequence `seq`, if known yet (random draws: after the
    /// opening once the seed is here).
    pub fn position(&self, seq: u64) -> Option<u64> {
        if self.rules.mode == Mode::Passthrough && seq > 0 {
            return Some(seq);
        }
        let seed = self.seed();
        queue::position_for(self.rules.method, seq, self.counter.n_pre, seed.as_ref())
    }

    /// Whether a status read should first run [`EventState::observe`] atomically: the
    /// sale is open but this snapshot has no frozen pre-queue size.
    pub fn needs_observe(&self, now_ms: i64) -> bool {
        self.counter.n_pre.is_none() && now_ms >= ms(self.rules.sale_opens_at)
    }

    /// The draw's publication, once the sale is open and the seed is known.
    pub fn draw_publication(&self, now_ms: i64) -> Option<queue::DrawPublication> {
        if self.rules.method != Method::Random
            || !matches!(self.phase(now_ms), Phase::Open | Phase::Ended)
        {
            return None;
        }
        let seed = self.seed()?;
        Some(queue::DrawPublication::new(&seed, self.counter.n_pre?))
    }
}

/// The join sequence of the `n`-th join (1-based) counted by shard `shard` of `shards`:
/// `(n − 1)·shards + shard + 1`. Shards interleave, so no two shards ever hand out the
/// same number and no coordination is needed; numbers a shard has not reached yet are
/// gaps, which the serving line passes over (admission stays within the rate).
pub fn sharded_seq(n: u64, shard: u64, shards: u64) -> u64 {
    n.saturating_sub(1)
        .saturating_mul(shards.max(1))
        .saturating_add(shard.min(shards.max(1) - 1))
        .saturating_add(1)
}

/// Applies a verified rules push to the stored state (`None`: first push). Run
/// atomically; store the result only when `Ok`.
///
/// * Not newer than what is stored ([`EdgeRules::is_newer_than`]): refused, nothing
///   changes; the caller answers 409 with the current version.
/// * The sale had not opened under the old rules: the anchor follows the (possibly
///   moved) opening, so a push can open a sale early or postpone it.
/// * The sale was open: the serving line continues from its current value at the new
///   rate ([`queue::anchor_on_rate_change`]), never jumping.
/// * The seed is replaced when the push reveals one; it is dropped when the commitment
///   changed without a new seed.
pub fn apply_push(
    current: Option<EventState>,
    push: RulesPush,
    now_ms: i64,
) -> Result<EventState, PushRejected> {
    let Some(mut state) = current else {
        let mut state = EventState::first(push);
        state.observe(now_ms);
        return Ok(state);
    };
    if !push.rules.is_newer_than(&state.rules) {
        return Err(PushRejected::NotNewer {
            current_version: state.rules.version,
        });
    }
    let old = &state.rules;
    let counter = &mut state.counter;
    if now_ms < ms(old.sale_opens_at) && counter.n_pre.is_none() {
        counter.anchor = push.rules.opening_anchor();
    } else {
        counter.anchor = queue::anchor_on_rate_change(
            counter.anchor,
            old.new_users_per_minute,
            push.rules.new_users_per_minute,
            counter.issued,
            now_ms,
        );
    }
    if push.draw_seed.is_some() {
        counter.seed = push.draw_seed;
    } else if old.draw_seed_commitment != push.rules.draw_seed_commitment {
        counter.seed = None;
    }
    state.rules = push.rules;
    if push.event_name.is_some() {
        state.event_name = push.event_name;
    }
    state.observe(now_ms);
    Ok(state)
}

/// A visitor's standing, as the status JSON reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub event_id: Uuid,
    pub phase: Phase,
    pub mode: Mode,
    /// The visitor's join sequence.
    pub seq: u64,
    /// Queue position; `null` in a random draw's pre-queue (not drawn yet).
    pub position: Option<u64>,
    pub serving: u64,
    /// People in front; `null` while the position is unknown.
    pub ahead: Option<u64>,
    /// Estimated seconds until served; `null` when unknown.
    pub eta_seconds: Option<u64>,
    /// When to poll again.
    pub poll_after_ms: u32,
    pub rules_version: u64,
    /// Unix seconds.
    pub sale_opens_at: i64,
    /// Whether the position is served now (a pass comes with it).
    pub served: bool,
    /// The pass (edge-signed, 10 minutes), once served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Where to take the pass (same site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_url: Option<String>,
}

impl Standing {
    /// Computes the standing of join sequence `seq` from a snapshot at `now_ms`;
    /// `jitter` spreads the poll interval (a random number per request).
    pub fn compute(state: &EventState, event: Uuid, seq: u64, now_ms: i64, jitter: u64) -> Self {
        let rules = &state.rules;
        let phase = state.phase(now_ms);
        let position = state.position(seq);
        // In passthrough everyone is served at once, also a joiner whose sequence the
        // snapshot's `issued` does not cover yet (sharded counters report late).
        let serving = match rules.mode {
            Mode::Passthrough => state.serving(now_ms).max(seq),
            _ => state.serving(now_ms),
        };
        let open = phase == Phase::Open || rules.mode == Mode::Passthrough;
        let served = open
            && phase != Phase::Ended
            && matches!(rules.mode, Mode::Queue | Mode::Passthrough)
            && position.is_some_and(|p| queue::is_served(p, serving));
        let ahead = position.map(|p| queue::people_ahead(p, serving));
        let eta_seconds = match (position, rules.mode) {
            (_, Mode::Passthrough) => Some(0),
            (Some(p), _) if served || p <= serving => Some(0),
            (Some(p), _) => {
                queue::served_at_ms(state.counter.anchor, rules.new_users_per_minute, p).map(|t| {
                    let wait = u64::try_from(t.saturating_sub(now_ms)).unwrap_or(0);
                    wait.div_ceil(1000)
                })
            }
            (None, _) => None,
        };
        let until_open = ms(rules.sale_opens_at).saturating_sub(now_ms);
        let poll_after_ms = match ahead {
            Some(a) if until_open <= 0 => queue::poll_after_ms(a, jitter),
            Some(a) => queue::poll_after_ms(a, jitter).min(clamp_poll(until_open)),
            // Waiting for the draw: poll a little after the opening, then every second
            // or two until the seed arrives.
            None if until_open > 0 => clamp_poll(until_open + (jitter % 1_000) as i64),
            None => queue::poll_after_ms(0, jitter),
        };
        Standing {
            event_id: event,
            phase,
            mode: rules.mode,
            seq,
            position,
            serving,
            ahead,
            eta_seconds: eta_seconds.map(|s| s.min(queue::poll::MAX_ETA_SECS)),
            poll_after_ms,
            rules_version: rules.version,
            sale_opens_at: rules.sale_opens_at,
            served,
            pass: None,
            pass_url: None,
        }
    }
}

fn clamp_poll(ms: i64) -> u32 {
    u32::try_from(ms.clamp(
        i64::from(queue::poll::MIN_POLL_MS),
        i64::from(queue::poll::MAX_POLL_MS),
    ))
    .unwrap_or(queue::poll::MAX_POLL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_S: i64 = 1_800_000_000;
    const OPEN_MS: i64 = OPEN_S * 1000;

    fn evt() -> Uuid {
        Uuid::from_u128(0xe1)
    }

    #[test]
    fn state_is_kept_a_week_past_the_close_and_never_less_than_a_day() {
        let mut s = EventState::first(push(1));
        let close_s = OPEN_S + 3600;
        s.rules.sale_closes_at = Some(close_s);
        // During the sale: a week past the close.
        assert_eq!(
            s.retain_until_ms(OPEN_MS),
            Some(close_s * 1000 + RETAIN_AFTER_CLOSE_MS)
        );
        // A write long after the close still keeps it a day.
        let late = close_s * 1000 + 30 * RETAIN_AT_LEAST_MS;
        assert_eq!(s.retain_until_ms(late), Some(late + RETAIN_AT_LEAST_MS));
        // No close: kept.
        s.rules.sale_closes_at = None;
        assert_eq!(s.retain_until_ms(OPEN_MS), None);
    }

    fn push(version: u64) -> RulesPush {
        let mut rules = EdgeRules::default_for(evt(), OPEN_S);
        rules.version = version;
        rules.new_users_per_minute = 60;
        RulesPush {
            rules,
            event_name: Some("Concert".into()),
            draw_seed: None,
        }
    }

    #[test]
    fn older_or_equal_versions_never_overwrite() {
        let s = apply_push(None, push(3), OPEN_MS - 10_000).expect("first");
        assert_eq!(
            apply_push(Some(s.clone()), push(3), OPEN_MS),
            Err(PushRejected::NotNewer { current_version: 3 })
        );
        assert_eq!(
            apply_push(Some(s.clone()), push(2), OPEN_MS),
            Err(PushRejected::NotNewer { current_version: 3 })
        );
        assert_eq!(
            apply_push(Some(s), push(4), OPEN_MS)
                .expect("newer")
                .rules
                .version,
            4
        );
    }

    #[test]
    fn fifo_joins_are_served_at_the_rate_from_the_opening() {
        let mut s = apply_push(None, push(1), OPEN_MS - 60_000).expect("first");
        // Closed (no pre-queue) before the opening.
        assert_eq!(
            s.join(OPEN_MS - 1),
            Err(JoinRefused::NotOpen { opens_at: OPEN_S })
        );
        for i in 1..=5 {
            assert_eq!(s.join(OPEN_MS + i), Ok(i as u64));
        }
        // 60/min: one per second, plus one slot of credit for the first joiner.
        let st = Standing::compute(&s, evt(), 3, OPEN_MS + 1_500, 0);
        assert_eq!(st.position, Some(3));
        assert!(!st.served);
        assert_eq!(st.ahead, Some(3 - st.serving - 1));
        let later = Standing::compute(&s, evt(), 3, OPEN_MS + 10_000, 0);
        assert!(later.served);
        assert_eq!(later.ahead, Some(0));
        assert_eq!(later.eta_seconds, Some(0));
    }

    #[test]
    fn random_draw_freezes_the_prequeue_and_needs_the_seed() {
        let seed = [5u8; 32];
        let mut p = push(1);
        p.rules.method = Method::Random;
        p.rules.prequeue_opens_at = Some(OPEN_S - 600);
        p.rules.draw_seed_commitment = Some(queue::seed_commitment(&seed));
        let mut s = apply_push(None, p.clone(), OPEN_MS - 300_000).expect("first");
        for i in 1..=10 {
            assert_eq!(s.join(OPEN_MS - 1_000 + i), Ok(i as u64));
        }
        let st = Standing::compute(&s, evt(), 4, OPEN_MS - 500, 0);
        assert_eq!(st.phase, Phase::PreQueue);
        assert_eq!(st.position, None);
        assert!(st.poll_after_ms >= 1_000);
        // The opening: the first join after it freezes n_pre = 10 and gets seq 11.
        assert_eq!(s.join(OPEN_MS + 1), Ok(11));
        assert_eq!(s.counter.n_pre, Some(10));
        assert_eq!(s.position(11), Some(11));
        // No seed yet: the pre-queue positions are still unknown.
        assert_eq!(s.position(4), None);
        assert_eq!(s.draw_publication(OPEN_MS + 2), None);
        // The origin reveals the seed with version 2.
        let mut reveal = p;
        reveal.rules.version = 2;
        reveal.draw_seed = Some(queue::seed_to_hex(&seed));
        let s = apply_push(Some(s), reveal, OPEN_MS + 5).expect("newer");
        let mut positions: Vec<u64> = (1..=10).filter_map(|q| s.position(q)).collect();
        positions.sort_unstable();
        assert_eq!(positions, (1..=10).collect::<Vec<_>>());
        let publication = s.draw_publication(OPEN_MS + 6).expect("published");
        assert_eq!(publication.n_pre, 10);
        assert_eq!(publication.verified_seed(), Some(seed));
    }

    #[test]
    fn a_push_can_move_the_opening_before_the_sale() {
        let mut s = apply_push(None, push(1), OPEN_MS - 600_000).expect("first");
        let mut opened = push(2);
        opened.rules.sale_opens_at = OPEN_S - 600;
        let now = OPEN_MS - 300_000;
        s = apply_push(Some(s), opened, now).expect("newer");
        assert_eq!(s.counter.anchor, ServingAnchor::opening(OPEN_S - 600));
        assert_eq!(s.counter.n_pre, Some(0));
        assert_eq!(s.join(now), Ok(1));
        assert!(Standing::compute(&s, evt(), 1, now, 0).served);
    }

    #[test]
    fn modes_refuse_joins_and_passthrough_serves_everyone() {
        let base = apply_push(None, push(1), OPEN_MS).expect("first");
        for (mode, refused) in [
            (Mode::Reject, Some(JoinRefused::Rejected)),
            (Mode::Maintenance, Some(JoinRefused::Maintenance)),
            (Mode::Passthrough, None),
        ] {
            let mut s = base.clone();
            s.rules.mode = mode;
            match refused {
                Some(r) => assert_eq!(s.join(OPEN_MS + 1), Err(r)),
                None => {
                    for _ in 0..100 {
                        s.join(OPEN_MS + 1).expect("joins");
                    }
                    let st = Standing::compute(&s, evt(), 100, OPEN_MS + 1, 0);
                    assert!(st.served);
                    assert_eq!(st.ahead, Some(0));
                }
            }
        }
        let mut ended = base;
        ended.rules.sale_closes_at = Some(OPEN_S + 10);
        assert_eq!(ended.join(OPEN_MS + 10_000), Err(JoinRefused::Ended));
    }

    #[test]
    fn rate_changes_continue_the_line() {
        let mut s = apply_push(None, push(1), OPEN_MS).expect("first");
        for _ in 0..100 {
            s.join(OPEN_MS).expect("join");
        }
        let before = s.serving(OPEN_MS + 10_000);
        let mut faster = push(2);
        faster.rules.new_users_per_minute = 6_000;
        let s = apply_push(Some(s), faster, OPEN_MS + 10_000).expect("newer");
        assert_eq!(s.serving(OPEN_MS + 10_000), before);
        assert_eq!(s.serving(OPEN_MS + 11_000), 100);
    }

    #[test]
    fn sharded_sequences_never_collide_and_reports_raise_issued() {
        let mut seen = std::collections::HashSet::new();
        for shards in 1..=5u64 {
            seen.clear();
            for shard in 0..shards {
                for n in 1..=50 {
                    assert!(seen.insert(sharded_seq(n, shard, shards)));
                }
            }
            assert_eq!(seen.len() as u64, 50 * shards);
            assert!(seen.iter().all(|&q| (1..=50 * shards).contains(&q)));
        }
        let mut s = apply_push(None, push(1), OPEN_MS).expect("first");
        assert!(s.shardable());
        assert!(s.report_issued(7, OPEN_MS + 1_000));
        assert!(!s.report_issued(5, OPEN_MS + 2_000));
        assert_eq!(s.counter.issued, 7);
        // Caught up before the report: one slot of credit, then the rate (60/min).
        assert_eq!(s.serving(OPEN_MS + 1_000), 1);
        assert_eq!(s.serving(OPEN_MS + 2_000), 2);
    }

    #[test]
    fn state_round_trips_as_json() {
        let s = apply_push(None, push(1), OPEN_MS).expect("first");
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(serde_json::from_str::<EventState>(&json).expect("parse"), s);
    }
}

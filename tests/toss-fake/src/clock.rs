//! The fake's clock: every rule with a time limit reads it, tests move it.
//!
//! Toss has several clocks that matter to a client: the 30-minute READY window, the
//! 10-minute confirm window, the 1-second consecutive-cancel rule, the 15-day
//! idempotency TTL and the webhook retry schedule (up to ~3 days). A test cannot wait
//! for any of those, so every such rule in the fake asks [`FakeClock::now`], and tests
//! call [`FakeClock::advance`] (through `TossFake::advance_clock` or
//! `POST /v1/__test/clock/advance`) instead of sleeping.
//!
//! Two modes:
//! - **running** (default): real time plus an offset; good for demos, where a human
//!   clicks through the widget page.
//! - **frozen**: starts at the real time of start-up and moves only when advanced; good
//!   for tests, where "two cancels within one second" must not depend on machine load.
//!
//! Times are handed out in Korean time (`+09:00`), the offset Toss prints.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Korea Standard Time, the offset of every Toss timestamp.
pub const KST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(offset) => offset,
    None => panic!("+09:00 is a valid offset"),
};

/// [`KST`] as a function, for `with_timezone(&kst())`.
pub fn kst() -> FixedOffset {
    KST
}

/// A cheaply clonable clock that can be moved forward (never backward).
#[derive(Debug, Clone)]
pub struct FakeClock {
    /// `Some(start)` when frozen: time is `start + offset`.
    frozen_at: Option<DateTime<Utc>>,
    offset_ms: Arc<AtomicI64>,
}

impl FakeClock {
    /// Real time plus the offset.
    pub fn running() -> Self {
        FakeClock {
            frozen_at: None,
            offset_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Stands still at the current real time until advanced.
    pub fn frozen() -> Self {
        FakeClock {
            frozen_at: Some(Utc::now()),
            offset_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    /// The fake "now", in Korean time.
    pub fn now(&self) -> DateTime<FixedOffset> {
        let base = self.frozen_at.unwrap_or_else(Utc::now);
        (base + self.offset()).with_timezone(&kst())
    }

    /// Moves the clock forward by `by` (negative durations are ignored).
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds().max(0);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// How far the clock has been moved in total.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen_at.is_some()
    }
}

//! Time, injectable.
//!
//! Every rule with a deadline (holds, token expiry, sale windows) reads the time from
//! [`Clock`], never from the system directly, and passes it into SQL as a parameter
//! instead of calling `now()` in Postgres. Tests can then move time forward with
//! [`Clock::advance`] instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// Unix ms the clock stands still at (tests), or [`RUNNING`].
    frozen_ms: Arc<AtomicI64>,
}

const RUNNING: i64 = i64::MIN;

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset_ms: Arc::default(),
            frozen_ms: Arc::new(AtomicI64::new(RUNNING)),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        let base = match self.frozen_ms.load(Ordering::Relaxed) {
            RUNNING => Utc::now(),
            ms => DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now),
        };
        base + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Unix seconds, as tokens use them.
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Unix milliseconds, as Redis scores use them.
    pub fn unix_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Stops this clock (and every clone of it) at `at`; [`Clock::advance`] still moves
    /// it. For tests whose windows are shorter than a test's run (per-second limits).
    pub fn freeze_at(&self, at: DateTime<Utc>) {
        self.offset_ms.store(0, Ordering::Relaxed);
        self.frozen_ms
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// Moves this clock (and every clone of it) forward. For tests and demos.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

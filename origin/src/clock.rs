//! Time, injectable.
//!
//! Every rule with a deadline (holds, token expiry, sale windows) reads the time from
//! [`Clock`], never from the system directly, and passes it into SQL as a parameter
//! instead of calling `now()` in Postgres. Tests can then move time forward with
//! [`Clock::advance`] instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Unix seconds, as tokens use them.
    pub fn unix(&self) -> i64 {
        self.now().timestamp()
    }

    /// Unix milliseconds, as Redis scores use them.
    pub fn unix_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves this clock (and every clone of it) forward. For tests and demos.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}

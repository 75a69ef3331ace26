//! Rate limits of the (unauthenticated) Toss webhook route.
//!
//! Webhooks are unsigned hints: each one is a database lookup, so an open route would
//! let anyone make the origin read (and, before the order is due, write) as fast as
//! they can send. Two token buckets, per replica and in memory, decide first:
//!
//! - per client IP (`URR_WEBHOOK_PER_IP_PER_MIN`; IPv6 per /64, the same subject as
//!   the login limits);
//! - everyone together (`URR_WEBHOOK_GLOBAL_PER_MIN`).
//!
//! Each bucket holds a minute's worth and refills evenly over the minute. Over either:
//! 429 `RATE_LIMITED` with `Retry-After` (seconds until a token is back). Nothing is
//! lost by refusing: Toss retries a webhook that was not answered 200, and the
//! reconciler settles every order on its own schedule without any webhook. The per-IP
//! buckets live in a size-capped cache (idle ones are dropped, and would be full again
//! anyway), so rotating addresses cannot grow memory. Time comes from `state.clock`.

use crate::auth::ClientIp;
use crate::http::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Client IPs with a bucket kept at most (idle ones go first).
const MAX_CLIENTS: u64 = 10_000;
/// A bucket unused this long is dropped (it would be full again anyway).
const IDLE: Duration = Duration::from_secs(60);

/// A token bucket of `per_min` tokens, refilled at `per_min` per minute. Counted in
/// exact integers: a token is 60,000 units and a millisecond adds `per_min` units.
#[derive(Debug)]
struct Bucket {
    units: i64,
    at: DateTime<Utc>,
}

const UNITS_PER_TOKEN: i64 = 60_000;

impl Bucket {
    fn full(per_min: u32, now: DateTime<Utc>) -> Bucket {
        Bucket {
            units: i64::from(per_min) * UNITS_PER_TOKEN,
            at: now,
        }
    }

    /// Takes a token, or says how many seconds until one is back.
    fn take(&mut self, per_min: u32, now: DateTime<Utc>) -> Result<(), u64> {
        let per_ms = i64::from(per_min.max(1));
        if now > self.at {
            let elapsed_ms = (now - self.at).num_milliseconds();
            self.units = self
                .units
                .saturating_add(elapsed_ms.saturating_mul(per_ms))
                .min(per_ms * UNITS_PER_TOKEN);
            self.at = now;
        }
        if self.units >= UNITS_PER_TOKEN {
            self.units -= UNITS_PER_TOKEN;
            Ok(())
        } else {
            let wait_ms = (UNITS_PER_TOKEN - self.units + per_ms - 1) / per_ms;
            Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1))
        }
    }
}

pub struct WebhookLimiter {
    per_ip: moka::sync::Cache<String, Arc<Mutex<Bucket>>>,
    global: Mutex<Option<Bucket>>,
}

impl Default for WebhookLimiter {
    fn default() -> Self {
        WebhookLimiter {
            per_ip: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_idle(IDLE)
                .build(),
            global: Mutex::new(None),
        }
    }
}

impl WebhookLimiter {
    /// One webhook call from `ip`: `Ok`, or 429 `RATE_LIMITED` with `Retry-After`.
    pub(crate) fn check(&self, state: &AppState, ip: &ClientIp) -> Result<(), ApiError> {
        let cfg = &state.config.payments;
        let now = state.clock.now();
        let limited = |scope: &'static str, secs: u64| {
            metrics::counter!("payments_webhooks_limited_total", "scope" => scope).increment(1);
            ApiError::too_many_requests(secs)
        };
        if cfg.webhook_per_ip_per_min > 0 {
            let rate = cfg.webhook_per_ip_per_min;
            let bucket = self.per_ip.get_with(ip.subject(), || {
                Arc::new(Mutex::new(Bucket::full(rate, now)))
            });
            let taken = bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(rate, now);
            taken.map_err(|secs| limited("ip", secs))?;
        }
        if cfg.webhook_global_per_min > 0 {
            let rate = cfg.webhook_global_per_min;
            let mut global = self.global.lock().unwrap_or_else(|p| p.into_inner());
            global
                .get_or_insert_with(|| Bucket::full(rate, now))
                .take(rate, now)
                .map_err(|secs| limited("global", secs))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_and_refills_evenly() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let mut b = Bucket::full(4, t0);
        for _ in 0..4 {
            assert_eq!(b.take(4, t0), Ok(()));
        }
        // One token comes back every 15 s.
        assert_eq!(b.take(4, t0), Err(15));
        let t1 = t0 + chrono::Duration::seconds(10);
        assert_eq!(b.take(4, t1), Err(5));
        let t2 = t0 + chrono::Duration::seconds(15);
        assert_eq!(b.take(4, t2), Ok(()));
        assert!(b.take(4, t2).is_err());
        // Idle for long: full again, never more than a minute's worth.
        let t3 = t2 + chrono::Duration::hours(1);
        for _ in 0..4 {
            assert_eq!(b.take(4, t3), Ok(()));
        }
        assert!(b.take(4, t3).is_err());
        // A clock that goes backwards refills nothing.
        assert!(b.take(4, t0).is_err());
    }
}

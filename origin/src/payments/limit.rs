//! Rate limits of the (unauthenticated) Toss webhook route.
//!
//! Webhooks are unsigned hints: each one is a database lookup, so an open route would
//! let anyone make the origin read (and, before the order is due, write) as fast as
//! they can send. Two token buckets, per replica and in memory, decide first:
//!
//! - per client IP (`URR_WEBHOOK_RATE_PER_IP` per second, the bucket holds one
//!   second's worth; IPv6 per /64, the same subject as the login limits);
//! - everyone together (`URR_WEBHOOK_RATE_GLOBAL` per second).
//!
//! Over either: 429 `RATE_LIMITED` with `Retry-After` (seconds until a token is back).
//! Nothing is lost by refusing: Toss retries a webhook that was not answered 200, and
//! the reconciler settles every order from its own schedule without any webhook. The
//! per-IP buckets live in a size-capped cache (idle ones are dropped), so spoofed or
//! rotating addresses cannot grow memory. Time comes from `state.clock`.

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

/// A token bucket of `rate` tokens, refilled at `rate` per second.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn full(rate: u32, now: DateTime<Utc>) -> Bucket {
        Bucket {
            tokens: f64::from(rate),
            at: now,
        }
    }

    /// Takes a token, or says how many seconds until one is back.
    fn take(&mut self, rate: u32, now: DateTime<Utc>) -> Result<(), u64> {
        let rate = f64::from(rate.max(1));
        if now > self.at {
            let elapsed = (now - self.at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            self.tokens = (self.tokens + elapsed * rate).min(rate);
            self.at = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
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
        if cfg.webhook_rate_per_ip > 0 {
            let rate = cfg.webhook_rate_per_ip;
            let bucket = self
                .per_ip
                .get_with(ip.subject(), || Arc::new(Mutex::new(Bucket::full(rate, now))));
            let taken = bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(rate, now);
            taken.map_err(|secs| limited("ip", secs))?;
        }
        if cfg.webhook_rate_global > 0 {
            let rate = cfg.webhook_rate_global;
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
    fn a_bucket_holds_one_second_and_refills_at_the_rate() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let mut b = Bucket::full(4, t0);
        for _ in 0..4 {
            assert_eq!(b.take(4, t0), Ok(()));
        }
        assert_eq!(b.take(4, t0), Err(1));
        // A quarter second later one token is back, not more.
        let t1 = t0 + chrono::Duration::milliseconds(250);
        assert_eq!(b.take(4, t1), Ok(()));
        assert_eq!(b.take(4, t1), Err(1));
        // Idle for long: full again, never more than the rate.
        let t2 = t1 + chrono::Duration::hours(1);
        for _ in 0..4 {
            assert_eq!(b.take(4, t2), Ok(()));
        }
        assert!(b.take(4, t2).is_err());
        // A clock that goes backwards refills nothing.
        assert!(b.take(4, t0).is_err());
    }
}

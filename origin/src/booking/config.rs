//! Booking's settings: hold times, the expiry sweeper, the hold writer, the caches.

use crate::config::Vars;
use anyhow::{Result, bail};
use std::time::Duration;

/// Holds and their expiry.
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// `URR_HOLD_SECS`, default 300: how long an unpaid hold lasts.
    pub hold_secs: u64,
    /// `URR_HOLD_MARGIN_SECS`, default 30: extra life of the Redis key over the hold.
    pub hold_margin_secs: u64,
    /// `URR_HOLD_MAX_SECS`, default 900: a hold is never extended past this age.
    pub max_hold_secs: u64,
    /// `URR_SWEEP_INTERVAL_MS`, default 1,000: how often expired holds are swept.
    pub sweep_interval: Duration,
    /// `URR_SWEEP_BATCH`, default 500 reservations per transaction.
    pub sweep_batch: u32,
    /// `URR_SEATMAP_TTL_MS`, default 1,000: the seat map snapshot's maximum age.
    pub seatmap_ttl: Duration,
    /// `URR_EVENT_CACHE_TTL_MS`, default 1,000: how old the cached event row (sale
    /// window, cancellation, limit) a seat request checks may be, and the cached event
    /// detail (`catalog::cache`); 0 turns the detail cache off.
    pub event_cache_ttl: Duration,
    /// `URR_BOOKING_WRITERS`, default 4: hold-writing statements in flight at once
    /// (group commit: holds that arrive meanwhile wait and share the next statement).
    pub writers: usize,
    /// `URR_BOOKING_WRITE_BATCH`, default 64: most holds one statement writes.
    pub write_batch: usize,
}

impl BookingConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<BookingConfig> {
        let c = BookingConfig {
            hold_secs: v.parse("URR_HOLD_SECS", 300)?,
            hold_margin_secs: v.parse("URR_HOLD_MARGIN_SECS", 30)?,
            max_hold_secs: v.parse("URR_HOLD_MAX_SECS", 900)?,
            sweep_interval: v.millis("URR_SWEEP_INTERVAL_MS", 1000)?,
            sweep_batch: v.parse("URR_SWEEP_BATCH", 500)?,
            seatmap_ttl: v.millis("URR_SEATMAP_TTL_MS", 1000)?,
            event_cache_ttl: v.millis("URR_EVENT_CACHE_TTL_MS", 1000)?,
            writers: v.parse("URR_BOOKING_WRITERS", 4)?,
            write_batch: v.parse("URR_BOOKING_WRITE_BATCH", 64)?,
        };
        if c.hold_secs == 0 || c.max_hold_secs < c.hold_secs {
            bail!("URR_HOLD_SECS must be > 0 and URR_HOLD_MAX_SECS at least URR_HOLD_SECS");
        }
        if c.sweep_batch == 0 {
            bail!("URR_SWEEP_BATCH must be > 0");
        }
        if c.writers == 0 || c.write_batch == 0 {
            bail!("URR_BOOKING_WRITERS and URR_BOOKING_WRITE_BATCH must be > 0");
        }
        Ok(c)
    }
}

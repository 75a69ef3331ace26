//! Statistics settings.

use crate::config::Vars;
use anyhow::{Result, bail};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// `URR_STATS_POLL_MS`, default 500: how often the consumer reads the event streams.
    pub poll_interval: Duration,
    /// `URR_STATS_QUEUE_COPY_MS`, default 5000: how often the queue's per-minute
    /// counters are copied from Redis to Postgres.
    pub queue_copy_interval: Duration,
    /// `URR_STATS_LIVE_MS`, default 2000: the interval of the live statistics stream.
    pub live_interval: Duration,
}

impl StatsConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<StatsConfig> {
        let c = StatsConfig {
            poll_interval: v.millis("URR_STATS_POLL_MS", 500)?,
            queue_copy_interval: v.millis("URR_STATS_QUEUE_COPY_MS", 5000)?,
            live_interval: v.millis("URR_STATS_LIVE_MS", 2000)?,
        };
        if c.poll_interval.is_zero() || c.queue_copy_interval.is_zero() {
            bail!("URR_STATS_POLL_MS and URR_STATS_QUEUE_COPY_MS must be > 0");
        }
        if c.live_interval < Duration::from_millis(100) {
            bail!("URR_STATS_LIVE_MS must be at least 100");
        }
        Ok(c)
    }
}

//! The outbox relay's settings.

use crate::config::Vars;
use anyhow::{Result, bail};
use std::time::Duration;

/// The outbox relay (see `outbox`).
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `URR_OUTBOX_RELAY_INTERVAL_MS`, default 250: how often unpublished rows are sent.
    pub relay_interval: Duration,
    /// `URR_OUTBOX_BATCH`, default 500 rows per relay transaction.
    pub batch: u32,
    /// `URR_OUTBOX_STREAM_MAXLEN`, default 1,000,000: approximate length cap per stream.
    pub stream_maxlen: u64,
    /// `URR_OUTBOX_RETENTION_HOURS`, default 168: published rows (and consumers'
    /// processed-event records) are purged after this long.
    pub retention: Duration,
}

impl OutboxConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<OutboxConfig> {
        let c = OutboxConfig {
            relay_interval: v.millis("URR_OUTBOX_RELAY_INTERVAL_MS", 250)?,
            batch: v.parse("URR_OUTBOX_BATCH", 500)?,
            stream_maxlen: v.parse("URR_OUTBOX_STREAM_MAXLEN", 1_000_000)?,
            retention: Duration::from_secs(
                3600 * v.parse::<u64>("URR_OUTBOX_RETENTION_HOURS", 168)?,
            ),
        };
        if c.relay_interval.is_zero() || c.batch == 0 || c.stream_maxlen == 0 {
            bail!(
                "URR_OUTBOX_RELAY_INTERVAL_MS, URR_OUTBOX_BATCH and URR_OUTBOX_STREAM_MAXLEN \
                 must be > 0"
            );
        }
        Ok(c)
    }
}

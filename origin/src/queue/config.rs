//! The queue's settings: the admission tick, tier-2 limits, the edge rules pushes.

use crate::config::Vars;
use anyhow::{Result, bail};
use std::time::Duration;

/// The tier-2 queue and the edge rules pushes (see `queue`).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `URR_QUEUE_TICK_MS`, default 1,000: how often each replica runs the admission
    /// loop (one admission batch per event per tick across all replicas).
    pub tick: Duration,
    /// `URR_QUEUE_BATCH`, default 200: most users admitted per event per tick.
    pub batch: u32,
    /// `URR_QUEUE_STALE_SECS`, default 90: a waiter who has not polled for this long is
    /// dropped (the slowest advised poll is every 60 s).
    pub stale: Duration,
    /// `URR_ENTRY_TOKEN_TTL_SECS`, default 600: an entry token's life (never past the
    /// fan's active slot).
    pub entry_ttl: Duration,
    /// `URR_EDGE_URLS`, comma-separated base URLs of the edge workers that receive
    /// every event's rules (`PUT <url>/__urr/rules/<event>`). Empty: no pushes.
    pub edge_urls: Vec<String>,
    /// `URR_EDGE_PUSH_INTERVAL_MS`, default 2,000: how often undelivered rules are
    /// retried (with per-edge backoff).
    pub push_interval: Duration,
}

impl QueueConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<QueueConfig> {
        let c = QueueConfig {
            tick: v.millis("URR_QUEUE_TICK_MS", 1000)?,
            batch: v.parse("URR_QUEUE_BATCH", 200)?,
            stale: v.secs("URR_QUEUE_STALE_SECS", 90)?,
            entry_ttl: v.secs("URR_ENTRY_TOKEN_TTL_SECS", 600)?,
            edge_urls: v
                .list("URR_EDGE_URLS")
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            push_interval: v.millis("URR_EDGE_PUSH_INTERVAL_MS", 2000)?,
        };
        if c.tick.is_zero() || c.batch == 0 || c.entry_ttl.is_zero() || c.push_interval.is_zero() {
            bail!(
                "URR_QUEUE_TICK_MS, URR_QUEUE_BATCH, URR_ENTRY_TOKEN_TTL_SECS and \
                 URR_EDGE_PUSH_INTERVAL_MS must be > 0"
            );
        }
        if c.stale < Duration::from_secs(75) {
            bail!(
                "URR_QUEUE_STALE_SECS must be at least 75: waiters far back are told to poll every 60 s"
            );
        }
        for u in &c.edge_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bail!("URR_EDGE_URLS: {u:?} is not an http(s) URL");
            }
        }
        Ok(c)
    }
}

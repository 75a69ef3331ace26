//! Statistics from the event streams, exact: what a promoter's dashboard and the
//! operator's daily figures show.
//!
//! # Where the figures come from
//!
//! - **Sales, holds, refunds, memberships, resales, new users**: the stats consumer
//!   (consumer group `stats`) reads every outbox stream and adds each event to a
//!   per-event minute (`stats_event_minutes`) and a Korean day (`stats_days`), in the
//!   transaction that records the event id as processed ([`apply`] says which topic
//!   feeds which figure). Delivery is at least once and the apply is idempotent, so
//!   every committed change is counted exactly once, after a crash between read and
//!   acknowledge too. The lag (entries not yet read, read but not acknowledged) is
//!   exported as `urr_stats_consumer_lag` and `urr_stats_consumer_pending`.
//! - **The queue**: joins, admissions, abandonments, peaks and wait times are counted
//!   per minute by the line's own Redis scripts and copied to `stats_queue_minutes`
//!   ([`queue_minutes`]). Joins never touch Postgres: a million of them would be a
//!   million outbox rows in the hottest minute.
//! - **Live gauges** (`holds_active`, `available`, `waiting`, `active`) are read at
//!   request time from booking and the line.
//!
//! # What is never shown
//!
//! Nothing synthetic: a minute without events is left out of a series (its counts were
//! zero), and a figure that cannot be computed (a wait percentile without admissions,
//! queue figures of an event without a line) is absent, not zero. Refunds are counted
//! once, from `payment.refunded`; cancellations once, from `reservation.cancelled`.
//!
//! The reconciliation test (`origin/tests/api/stats.rs`) drives a mixed sale and
//! recomputes every figure from the source tables, requiring zero difference.

mod apply;
mod config;
mod queue_minutes;
mod routes;

pub use apply::Aggregate;
pub use config::StatsConfig;
pub use queue_minutes::{copy_all as copy_queue_minutes, copy_event as copy_queue_event};
pub use routes::router;

use crate::outbox::{Consumer, PollStats, Topic};
use crate::state::AppState;
use crate::workers::Workers;
use chrono::{DateTime, NaiveDate, Utc};

/// The consumer group of statistics.
pub const GROUP: &str = "stats";

/// The Korean calendar day of `t`: the day a figure is reported under.
pub fn day_of(t: DateTime<Utc>) -> NaiveDate {
    crate::memberships::kst_day(t)
}

/// This process's member of the stats group. Named after the host and process, so a
/// restarted process takes a new name and its predecessor's unacknowledged entries
/// are claimed once they have been idle for `Consumer::min_idle`.
pub fn consumer(state: &AppState) -> Consumer {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "origin".to_owned());
    let name = format!("{host}-{}", std::process::id());
    Consumer::new(state, GROUP, &name, &Topic::ALL)
}

/// Applies everything the streams hold for `consumer` now (bounded: at most 50
/// batches of 500 per call, the rest next time). Returns what was done. The group must
/// exist (`Consumer::ensure_groups`; the worker creates them, and again after Redis
/// lost them, see [`groups_missing`]).
pub async fn drain(state: &AppState, consumer: &Consumer) -> anyhow::Result<PollStats> {
    let mut total = PollStats::default();
    for _ in 0..50 {
        let s = consumer
            .poll_once(&Aggregate, 500, state.clock.now())
            .await?;
        total.applied += s.applied;
        total.duplicates += s.duplicates;
        total.skipped += s.skipped;
        total.failed += s.failed;
        if s.acked() + s.failed == 0 || s.failed > 0 {
            break;
        }
    }
    metrics::counter!("urr_stats_events_applied_total").increment(total.applied as u64);
    if let Ok(b) = consumer.backlog().await {
        metrics::gauge!("urr_stats_consumer_lag").set(b.lag as f64);
        metrics::gauge!("urr_stats_consumer_pending").set(b.pending as f64);
    }
    Ok(total)
}

/// Whether `e` is Redis saying a stream or its consumer group does not exist.
pub fn groups_missing(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<redis::RedisError>()
            .is_some_and(|r| r.code() == Some("NOGROUP"))
    })
}

/// The consumer and the queue copier.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    let c = consumer(state);
    // The groups are created on the first poll that reaches Redis, and again only when
    // Redis says they are gone (a flushed or replaced Redis): not on every poll.
    let groups_ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    workers.every(
        "stats_consumer",
        state.config.stats.poll_interval,
        move || {
            let (s, c, ready) = (s.clone(), c.clone(), groups_ready.clone());
            async move {
                use std::sync::atomic::Ordering;
                if !ready.load(Ordering::Acquire) {
                    c.ensure_groups().await?;
                    ready.store(true, Ordering::Release);
                }
                let drained = drain(&s, &c).await.map(|_| ());
                if let Err(e) = &drained
                    && groups_missing(e)
                {
                    ready.store(false, Ordering::Release);
                }
                drained
            }
        },
    );
    let s = state.clone();
    workers.every(
        "stats_queue_copy",
        state.config.stats.queue_copy_interval,
        move || {
            let s = s.clone();
            async move { copy_queue_minutes(&s).await.map(|_| ()) }
        },
    );
}

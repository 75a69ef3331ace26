//! Copying the queue's per-minute counters from Redis to Postgres.
//!
//! The line's scripts count joins, admissions, abandonments, peaks and wait times per
//! minute in the same step that changes the line (see `queue::minute_counters`). This
//! job copies every counted minute of every live line into `stats_queue_minutes`. A
//! copy takes the larger of the stored and the counted value for each figure (counters
//! within a minute only grow), so copying twice, or from two replicas at once, changes
//! nothing. Minutes older than [`KEEP_MINUTES`] are then dropped from Redis; a replica
//! whose clock lags by more than that could still count into a dropped minute, and its
//! smaller restarted counter would lose to the stored one: clocks must stay within
//! minutes of each other, which NTP gives by a wide margin.

use crate::queue::{MinuteCounters, forget_minutes, live_lines, minute_counters};
use crate::state::AppState;
use chrono::DateTime;
use sqlx::PgConnection;
use uuid::Uuid;

/// Minutes kept in Redis after they are copied (and still copied again each pass).
pub const KEEP_MINUTES: i64 = 5;

async fn upsert(conn: &mut PgConnection, event: Uuid, m: &MinuteCounters) -> sqlx::Result<()> {
    let minute = DateTime::from_timestamp(m.minute * 60, 0).unwrap_or_default();
    let buckets: Vec<i32> = m
        .wait_buckets
        .iter()
        .map(|n| i32::try_from(*n).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO stats_queue_minutes AS t
           (event_id, minute, joined, admitted, abandoned, waiting_peak, active_peak, wait_buckets)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (event_id, minute) DO UPDATE SET
           joined = GREATEST(t.joined, EXCLUDED.joined),
           admitted = GREATEST(t.admitted, EXCLUDED.admitted),
           abandoned = GREATEST(t.abandoned, EXCLUDED.abandoned),
           waiting_peak = GREATEST(t.waiting_peak, EXCLUDED.waiting_peak),
           active_peak = GREATEST(t.active_peak, EXCLUDED.active_peak),
           wait_buckets = ARRAY(
             SELECT GREATEST(COALESCE(a, 0), COALESCE(b, 0))
             FROM unnest(t.wait_buckets, EXCLUDED.wait_buckets) WITH ORDINALITY AS u(a, b, i)
             ORDER BY i)",
    )
    .bind(event)
    .bind(minute)
    .bind(m.joined as i32)
    .bind(m.admitted as i32)
    .bind(m.abandoned as i32)
    .bind(m.waiting_peak as i32)
    .bind(m.active_peak as i32)
    .bind(buckets)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Copies one event's counted minutes; returns how many.
pub async fn copy_event(state: &AppState, event: Uuid) -> anyhow::Result<usize> {
    let minutes = minute_counters(&state.redis, event).await?;
    if minutes.is_empty() {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    for m in &minutes {
        upsert(&mut tx, event, m).await?;
    }
    tx.commit().await?;
    let now_minute = state.clock.unix().div_euclid(60);
    let old: Vec<i64> = minutes
        .iter()
        .map(|m| m.minute)
        .filter(|m| *m < now_minute - KEEP_MINUTES)
        .collect();
    forget_minutes(&state.redis, event, &old).await?;
    Ok(minutes.len())
}

/// Copies every live line's minutes.
pub async fn copy_all(state: &AppState) -> anyhow::Result<usize> {
    let mut copied = 0;
    for event in live_lines(state).await? {
        match copy_event(state, event).await {
            Ok(n) => copied += n,
            Err(e) => tracing::warn!(%event, error = ?e, "copying queue statistics failed"),
        }
    }
    Ok(copied)
}

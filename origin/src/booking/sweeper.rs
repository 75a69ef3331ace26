//! Expiry: pending reservations past their deadline become `expired` and give their
//! seats and stock back within a sweep interval (1 s by default).
//!
//! Safe with any number of origin replicas sweeping at once: each batch claims its rows
//! with `FOR UPDATE SKIP LOCKED`, and the status change is conditional on `pending`, so
//! a reservation is expired (and its inventory returned) exactly once, even when a user
//! cancels it in the same instant.
//!
//! A reservation whose payment is being confirmed at Toss (`payments.status =
//! 'confirming'`) is never expired here: the money may already be taken, and only the
//! payments reconciler knows. Payments pushes the deadline out in the same transaction
//! that marks the order `confirming`, so even a sweep that started before that commit
//! re-checks the new deadline on the locked row and skips it.

use super::{holds, service};
use crate::state::AppState;
use uuid::Uuid;

/// Expires one batch of due reservations; returns how many it expired.
pub async fn expire_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let batch = i64::from(state.config.booking.sweep_batch);
    let mut tx = state.db.begin().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "WITH due AS (
             SELECT id FROM reservations
             WHERE status = 'pending' AND expires_at <= $1
               AND NOT EXISTS (SELECT 1 FROM payments p
                               WHERE p.reservation_id = reservations.id AND p.status = 'confirming')
             ORDER BY expires_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         UPDATE reservations r
         SET status = 'expired', closed_at = $1, close_reason = 'hold_expired',
             updated_at = $1, version = r.version + 1
         FROM due WHERE r.id = due.id
         RETURNING r.id",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let closed = service::release_inventory(&mut tx, &ids, now).await?;
    service::enqueue_closed(
        &mut tx,
        crate::outbox::Topic::ReservationExpired,
        &closed,
        "hold_expired",
        now,
    )
    .await?;
    tx.commit().await?;
    service::release_redis(state, &closed).await;
    if !ids.is_empty() {
        metrics::counter!("booking_closed_total", "reason" => "hold_expired")
            .increment(ids.len() as u64);
        tracing::info!(expired = ids.len(), "expired unpaid holds");
    }
    Ok(ids.len())
}

/// Runs [`expire_due`] until a batch comes back short.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let batch = state.config.booking.sweep_batch as usize;
    let mut total = 0;
    loop {
        let n = expire_due(state).await?;
        total += n;
        if n < batch {
            return Ok(total);
        }
    }
}

/// Rewrites the Redis stock gates of events on sale from Postgres, in case a crash
/// between the gate and Postgres left a counter too low.
pub async fn resync_stock_gates(state: &AppState) -> anyhow::Result<()> {
    let now = state.clock.now();
    let rows: Vec<(Uuid, Uuid, i32)> = sqlx::query_as(
        "SELECT t.event_id, t.id, t.available_quantity FROM ticket_types t
         JOIN events e ON e.id = t.event_id
         WHERE e.cancelled_at IS NULL AND e.sale_opens_at <= $1 AND e.sale_closes_at > $1",
    )
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    for (event, tt, available) in rows {
        holds::resync_stock(&state.redis, event, tt, i64::from(available)).await?;
    }
    Ok(())
}

//! Expiry: pending reservations past their deadline become `expired` and give their
//! seats and stock back within a sweep interval (1 s by default).
//!
//! Safe with any number of origin replicas sweeping at once: each batch claims its rows
//! with `FOR UPDATE SKIP LOCKED`, and the status change is conditional on `pending`, so
//! a reservation is expired (and its inventory returned) exactly once, even when a user
//! cancels it in the same instant.
//!
//! A reservation whose payment is being confirmed at Toss (payments says so through
//! [`super::PaymentsInFlight`], asked after the rows are locked) is never expired here: the money may already be taken, and only the
//! payments reconciler knows. Payments pushes the deadline out in the same transaction
//! that marks the order `confirming`, so even a sweep that started before that commit
//! re-checks the new deadline on the locked row and skips it.

use super::{holds, inventory};
use crate::state::AppState;
use uuid::Uuid;

/// Expires one batch of due reservations; returns how many it expired.
pub async fn expire_due(state: &AppState) -> anyhow::Result<usize> {
    Ok(expire_batch(state, &[]).await?.expired)
}

/// What one batch did.
struct Batch {
    expired: usize,
    /// Due holds left alone because their payment is being confirmed.
    paying: Vec<Uuid>,
    /// Whether the batch was full (more may be due).
    full: bool,
}

/// Expires up to one batch of due reservations, never those in `skip` (due holds whose
/// payment was being confirmed when an earlier batch looked, so they cannot crowd out
/// the rest).
async fn expire_batch(state: &AppState, skip: &[Uuid]) -> anyhow::Result<Batch> {
    let now = state.clock.now();
    let batch = i64::from(state.config.booking.sweep_batch);
    let mut tx = state.db.begin().await?;
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM reservations
         WHERE status = 'pending' AND expires_at <= $1 AND id <> ALL($3)
         ORDER BY expires_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(batch)
    .bind(skip)
    .fetch_all(&mut *tx)
    .await?;
    let full = due.len() as i64 == batch;
    let paying = state
        .booking
        .payments_in_flight
        .confirming(&mut tx, &due)
        .await?;
    let expire: Vec<Uuid> = due
        .iter()
        .copied()
        .filter(|id| !paying.contains(id))
        .collect();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'expired', closed_at = $1, close_reason = 'hold_expired',
             updated_at = $1, version = version + 1
         WHERE id = ANY($2) AND status = 'pending'
         RETURNING id",
    )
    .bind(now)
    .bind(&expire)
    .fetch_all(&mut *tx)
    .await?;
    let closed = inventory::release_inventory(&mut tx, &ids, now).await?;
    inventory::enqueue_closed(
        &mut tx,
        crate::outbox::Topic::ReservationExpired,
        &closed,
        "hold_expired",
        now,
    )
    .await?;
    tx.commit().await?;
    inventory::release_redis(state, &closed).await;
    if !ids.is_empty() {
        metrics::counter!("booking_closed_total", "reason" => "hold_expired")
            .increment(ids.len() as u64);
        tracing::info!(expired = ids.len(), "expired unpaid holds");
    }
    Ok(Batch {
        expired: ids.len(),
        paying: paying.into_iter().collect(),
        full,
    })
}

/// Expires every due reservation, one batch per transaction.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let mut skip = Vec::new();
    let mut total = 0;
    loop {
        let batch = expire_batch(state, &skip).await?;
        total += batch.expired;
        if !batch.full {
            return Ok(total);
        }
        skip.extend(batch.paying);
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

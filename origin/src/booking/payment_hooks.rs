//! The only booking functions payments calls. Each runs inside a payments transaction
//! and keeps the lock order every such transaction follows: the reservation row first,
//! then the payment row, so two of them never wait on each other.
//!
//! The other direction, booking asking payments, goes through [`PaymentsInFlight`]:
//! booking declares what it needs to know, payments answers from its own table.

use super::inventory::*;
use super::model::*;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// Payments' answer to "is a payment being confirmed at Toss for these reservations?".
/// Such a hold must not expire or be cancelled: the money may already be taken, and only
/// the payment's own outcome (paid, or failed and released) may close it. Payments
/// implements this; `app` wires it into [`super::Booking`].
///
/// Callers ask inside their transaction **after** locking the reservation rows
/// (`FOR UPDATE`): a payment is marked confirming in a transaction that updates the
/// reservation row too ([`hold_for_payment`]), so it either committed before the lock
/// (and is seen here) or waits for the caller's commit (and then finds the hold gone).
pub trait PaymentsInFlight: Send + Sync + 'static {
    /// The subset of `reservations` with a payment being confirmed.
    fn confirming<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        reservations: &'a [Uuid],
    ) -> BoxFuture<'a, sqlx::Result<HashSet<Uuid>>>;

    /// The subset of `subjects` (reservations, resale purchases) whose payment is being
    /// refunded or has been: their tickets are about to turn void (resale refuses to
    /// list them).
    fn refunding<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        subjects: &'a [Uuid],
    ) -> BoxFuture<'a, sqlx::Result<HashSet<Uuid>>>;
}

/// Payments, first statement of a transaction that will change both a reservation and
/// its payment row: locks the reservation row and returns its status. Every
/// transaction touching both locks the reservation first, then the payment, so two of
/// them can never wait on each other.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ReservationStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(status.as_deref().and_then(ReservationStatus::parse))
}

/// A pending reservation that a payment is about to be confirmed for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayableHold {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
}

/// Payments, inside the transaction that marks an order `confirming`: succeeds only if
/// the reservation is still pending **and its hold is valid at `now`**, and pushes the
/// deadline out to at least `now + grace` (never past the booking's absolute cap plus
/// `grace`), so the hold visibly outlives the call to Toss. The row lock taken here
/// serialises concurrent claims of one order. `None`: not payable (expired, cancelled,
/// confirmed).
pub async fn hold_for_payment(
    conn: &mut PgConnection,
    state: &AppState,
    id: Uuid,
    now: DateTime<Utc>,
    grace: Duration,
) -> sqlx::Result<Option<PayableHold>> {
    sqlx::query_as::<_, PayableHold>(
        "UPDATE reservations
         SET expires_at = GREATEST(expires_at,
                 LEAST($2 + make_interval(secs => $3), created_at + make_interval(secs => $4))),
             updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'pending' AND expires_at > $2
           AND NOT EXISTS (SELECT 1 FROM events e
                           WHERE e.id = reservations.event_id AND e.cancelled_at IS NOT NULL)
         RETURNING id, user_id, event_id, amount, expires_at",
    )
    .bind(id)
    .bind(now)
    .bind(grace.num_seconds() as f64)
    .bind((state.config.booking.max_hold_secs as i64 + grace.num_seconds()) as f64)
    .fetch_optional(&mut *conn)
    .await
}

/// Payments, inside the transaction that marks an order paid: `pending → confirmed`,
/// only if still pending and its hold was valid at `valid_at` (the moment the payment
/// was claimed; the sweeper never expires a reservation whose payment is in flight,
/// so a still-pending reservation still owns its seats) and its event is not
/// cancelled. `false`: the reservation is gone and the money must go back.
pub async fn confirm_held(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    valid_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // The event must not be cancelled. FOR SHARE waits for a cancellation in progress
    // (it updates the event row first) and, once taken, makes a cancellation wait for
    // this commit, after which it finds the order paid and refunds it. Either way the
    // order is refunded: here (refused, the money goes back) or by the cancellation.
    let cancelled: Option<bool> = sqlx::query_scalar(
        "SELECT e.cancelled_at IS NOT NULL FROM events e
         JOIN reservations r ON r.event_id = e.id
         WHERE r.id = $1
         FOR SHARE OF e",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if cancelled != Some(false) {
        return Ok(false);
    }
    let moved = sqlx::query(
        "UPDATE reservations
         SET status = 'confirmed', confirmed_at = $2, updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'pending' AND expires_at > $3",
    )
    .bind(id)
    .bind(now)
    .bind(valid_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Payments, inside the refund transaction, **after** Toss returned the money:
/// `confirmed → refunded`, inventory back (seats and standing stock), the
/// `reservation.cancelled` event (reason `refunded`). `None` if it was not confirmed
/// (already refunded). Call [`release_redis`] after the commit.
pub async fn refund_confirmed(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Vec<Closed>>> {
    let moved: Option<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'refunded', closed_at = $2, close_reason = 'refunded',
             updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'confirmed'
         RETURNING id",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if moved.is_none() {
        return Ok(None);
    }
    let closed = release_inventory(conn, &[id], now).await?;
    enqueue_closed(
        conn,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "refunded",
        now,
    )
    .await?;
    Ok(Some(closed))
}

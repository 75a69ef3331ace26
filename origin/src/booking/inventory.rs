//! The one way inventory goes back: a reservation leaving the live states (cancel,
//! expiry, event cancellation, refund) returns its seats, standing stock and the
//! user's ticket count in the same transaction that moved it, exactly once, and frees
//! its Redis holds after the commit.

use super::holds::{self};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A reservation that just left the live states, with what it must give back.
#[derive(Debug, Clone)]
pub struct Closed {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub fence: i64,
    pub seats: Vec<Uuid>,
    pub stock: Vec<(Uuid, i64)>,
}

/// Inside a transaction that has just moved reservations `ids` out of a live state:
/// clears their items' `live` flag, returns standing stock and the users' ticket counts.
/// Runs exactly once per reservation because the caller's status change is conditional.
pub async fn release_inventory(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Closed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "WITH freed AS (
             UPDATE reservation_items SET live = false
             WHERE reservation_id = ANY($1) AND live
             RETURNING reservation_id, seat_id, ticket_type_id, quantity
         )
         SELECT f.reservation_id, f.seat_id, f.ticket_type_id, f.quantity, r.user_id, r.event_id, r.fence
         FROM freed f JOIN reservations r ON r.id = f.reservation_id
         ORDER BY f.ticket_type_id NULLS LAST, f.seat_id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;

    let mut closed: BTreeMap<Uuid, Closed> = BTreeMap::new();
    let mut stock: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut per_user: BTreeMap<(Uuid, Uuid), i64> = BTreeMap::new();
    for r in &rows {
        let rid: Uuid = r.get("reservation_id");
        let c = closed.entry(rid).or_insert_with(|| Closed {
            id: rid,
            user_id: r.get("user_id"),
            event_id: r.get("event_id"),
            fence: r.get("fence"),
            seats: Vec::new(),
            stock: Vec::new(),
        });
        let q = i64::from(r.get::<i32, _>("quantity"));
        *per_user.entry((c.user_id, c.event_id)).or_default() += q;
        if let Some(seat) = r.get::<Option<Uuid>, _>("seat_id") {
            c.seats.push(seat);
        }
        if let Some(tt) = r.get::<Option<Uuid>, _>("ticket_type_id") {
            c.stock.push((tt, q));
            *stock.entry(tt).or_default() += q;
        }
    }

    // Ticket types in id order: the same lock order as bookings, so no deadlocks.
    for (tt, q) in &stock {
        sqlx::query(
            "UPDATE ticket_types
             SET available_quantity = available_quantity + $2, version = version + 1, updated_at = $3
             WHERE id = $1",
        )
        .bind(tt)
        .bind(*q as i32)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    for ((user, event), q) in &per_user {
        sqlx::query(
            "UPDATE user_event_tickets SET tickets = GREATEST(tickets - $3, 0)
             WHERE user_id = $1 AND event_id = $2",
        )
        .bind(user)
        .bind(event)
        .bind(*q as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(closed.into_values().collect())
}

/// After the commit that closed them: frees the Redis holds (compare-and-delete) and
/// returns gate stock. Best effort; Redis is only a filter.
pub async fn release_redis(state: &AppState, closed: &[Closed]) {
    for c in closed {
        let value = holds::hold_value(c.user_id, c.id, c.fence);
        if let Err(e) = holds::release_seats(&state.redis, c.event_id, &c.seats, &value).await {
            tracing::warn!(error = %e, reservation = %c.id, "could not free seat holds; they lapse with their TTL");
        }
        if let Err(e) = holds::give_stock(&state.redis, c.event_id, &c.stock).await {
            tracing::warn!(error = %e, reservation = %c.id, "could not return gate stock; the sweeper resyncs it");
        }
    }
}

/// Inside the transaction that cancels `event` (its row locked, `cancelled_at` set):
/// every pending hold of it is cancelled and its inventory returned, with a
/// `reservation.cancelled` event (reason `event_cancelled`). A hold whose payment is
/// being confirmed at Toss is left to that confirmation, which now refuses (see
/// [`confirm_held`]) and returns the money. Call [`release_redis`] after the commit.
pub async fn cancel_event_holds(
    state: &AppState,
    conn: &mut PgConnection,
    event: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Closed>> {
    let pending: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM reservations WHERE event_id = $1 AND status = 'pending' FOR UPDATE",
    )
    .bind(event)
    .fetch_all(&mut *conn)
    .await?;
    let paying = state
        .booking
        .payments_in_flight
        .confirming(conn, &pending)
        .await?;
    let cancel: Vec<Uuid> = pending
        .into_iter()
        .filter(|id| !paying.contains(id))
        .collect();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'cancelled', closed_at = $2, close_reason = 'event_cancelled',
             updated_at = $2, version = version + 1
         WHERE id = ANY($1) AND status = 'pending'
         RETURNING id",
    )
    .bind(&cancel)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let closed = release_inventory(conn, &ids, now).await?;
    enqueue_closed(
        conn,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "event_cancelled",
        now,
    )
    .await?;
    Ok(closed)
}

/// Inside the transaction that closed them: one outbox event per closed reservation
/// (`reservation.expired` or `reservation.cancelled`) naming what went back.
pub async fn enqueue_closed(
    conn: &mut PgConnection,
    topic: crate::outbox::Topic,
    closed: &[Closed],
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let events: Vec<crate::outbox::NewEvent> = closed
        .iter()
        .map(|c| {
            crate::outbox::NewEvent::new(
                topic,
                c.id,
                serde_json::json!({
                    "reservation_id": c.id,
                    "event_id": c.event_id,
                    "user_id": c.user_id,
                    "seat_ids": c.seats,
                    "ticket_types": c.stock.iter().map(|(t, q)| serde_json::json!({
                        "ticket_type_id": t,
                        "quantity": q,
                    })).collect::<Vec<_>>(),
                    "reason": reason,
                }),
            )
        })
        .collect();
    crate::outbox::enqueue_many(conn, &events, now).await?;
    Ok(())
}

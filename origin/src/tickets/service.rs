//! Issuing, voiding and reading tickets.
//!
//! Tickets are written only by payments, inside the transaction that marks an order
//! paid ([`issue`]) or refunded ([`void_for_reservation`]). One ticket per seat item and
//! one per unit of a standing item; the unique index on `(reservation_item_id, unit)`
//! makes a second set for the same order impossible, whatever the callers do.

use super::code;
use super::model::{Ticket, TicketStatus};
use crate::outbox::{NewEvent, Topic};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use shared_wasm::token::{self, QrClaims};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// A ticket as issued, for the `ticket.issued` event.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub ticket_id: Uuid,
    pub code: String,
    pub order_id: String,
    pub reservation_id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub seat_id: Option<Uuid>,
    pub ticket_type_id: Option<Uuid>,
    pub label: String,
    pub price: i64,
}

/// Whether `e` is a ticket-code collision (retry with new codes), as opposed to a
/// second issue for the same items (a bug the index stopped).
pub fn is_code_collision(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.constraint() == Some("tickets_code_key"))
}

/// Inside the payments transaction: issues the tickets of `reservation_id` to its
/// owner, with `ticket.issued` events. Returns them in item order. Each ticket keeps
/// the event's current `starts_at` as the show time it was bought for (the caller holds
/// the event row FOR SHARE, so an edit cannot slip in between).
pub async fn issue(
    conn: &mut PgConnection,
    order_id: &str,
    reservation_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Issued>> {
    let items = sqlx::query(
        "SELECT i.id, i.seat_id, i.ticket_type_id, i.label, i.quantity, i.unit_price,
                r.event_id, r.user_id
         FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
         WHERE i.reservation_id = $1 AND i.live
         ORDER BY i.label, i.id",
    )
    .bind(reservation_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut issued = Vec::new();
    let mut item_ids = Vec::new();
    let mut units = Vec::new();
    for r in &items {
        let quantity: i32 = r.get("quantity");
        for unit in 1..=quantity {
            item_ids.push(r.get::<Uuid, _>("id"));
            units.push(unit);
            issued.push(Issued {
                ticket_id: Uuid::now_v7(),
                code: code::generate(),
                order_id: order_id.to_owned(),
                reservation_id,
                event_id: r.get("event_id"),
                user_id: r.get("user_id"),
                seat_id: r.get("seat_id"),
                ticket_type_id: r.get("ticket_type_id"),
                label: r.get("label"),
                price: r.get("unit_price"),
            });
        }
    }
    let ids: Vec<Uuid> = issued.iter().map(|t| t.ticket_id).collect();
    let codes: Vec<&str> = issued.iter().map(|t| t.code.as_str()).collect();
    sqlx::query(
        "INSERT INTO tickets (id, code, order_id, reservation_id, reservation_item_id, unit,
                              event_id, user_id, seat_id, ticket_type_id, label, price,
                              status, issued_at, show_starts_at)
         SELECT x.id, x.code, $3, i.reservation_id, i.id, x.unit, i.event_id, r.user_id,
                i.seat_id, i.ticket_type_id, i.label, i.unit_price, 'valid', $4, e.starts_at
         FROM UNNEST($1::uuid[], $2::text[], $5::uuid[], $6::int[]) AS x(id, code, item, unit)
         JOIN reservation_items i ON i.id = x.item
         JOIN reservations r ON r.id = i.reservation_id
         JOIN events e ON e.id = r.event_id",
    )
    .bind(&ids)
    .bind(&codes)
    .bind(order_id)
    .bind(now)
    .bind(&item_ids)
    .bind(&units)
    .execute(&mut *conn)
    .await?;
    let events: Vec<NewEvent> = issued
        .iter()
        .map(|t| NewEvent::new(Topic::TicketIssued, t.ticket_id, t))
        .collect();
    crate::outbox::enqueue_many(conn, &events, now).await?;
    metrics::counter!("tickets_issued_total").increment(issued.len() as u64);
    Ok(issued)
}

/// The show time the tickets of `reservation_id` were bought for (`None`: it has no
/// tickets). Refunds count from this (or from the event's current time if the show was
/// postponed), so a show moved earlier after the sale cannot shrink what a fan gets back.
pub async fn purchased_show_time(
    db: &sqlx::PgPool,
    reservation_id: Uuid,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(show_starts_at) FROM tickets WHERE reservation_id = $1")
        .bind(reservation_id)
        .fetch_one(db)
        .await
}

/// Inside the refund transaction: voids every valid ticket of the reservation.
pub async fn void_for_reservation(
    conn: &mut PgConnection,
    reservation_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE tickets SET status = 'void', voided_at = $2, void_reason = $3
         WHERE reservation_id = $1 AND status = 'valid'",
    )
    .bind(reservation_id)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Inside the resale payment transaction: voids `old` (only if still valid and not
/// checked in) and issues its seat or unit to `buyer` as a new ticket with a new code
/// (so the seller's QR no longer gets in), paid by `order_id`, with `ticket.issued`.
/// `None`: the old ticket was no longer transferable; nothing changed.
pub async fn reissue(
    conn: &mut PgConnection,
    old: Uuid,
    buyer: Uuid,
    order_id: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Issued>> {
    let voided = sqlx::query(
        "UPDATE tickets SET status = 'void', voided_at = $2, void_reason = 'resold'
         WHERE id = $1 AND status = 'valid' AND checked_in_at IS NULL",
    )
    .bind(old)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if voided == 0 {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    let code = code::generate();
    let row = sqlx::query(
        "INSERT INTO tickets (id, code, order_id, reservation_id, reservation_item_id, unit,
                              event_id, user_id, seat_id, ticket_type_id, label, price,
                              status, issued_at, show_starts_at, resale_of)
         SELECT $1, $2, $3, reservation_id, reservation_item_id, unit, event_id, $4,
                seat_id, ticket_type_id, label, price, 'valid', $5, show_starts_at, id
         FROM tickets WHERE id = $6
         RETURNING reservation_id, event_id, seat_id, ticket_type_id, label, price",
    )
    .bind(id)
    .bind(&code)
    .bind(order_id)
    .bind(buyer)
    .bind(now)
    .bind(old)
    .fetch_one(&mut *conn)
    .await?;
    let issued = Issued {
        ticket_id: id,
        code,
        order_id: order_id.to_owned(),
        reservation_id: row.get("reservation_id"),
        event_id: row.get("event_id"),
        user_id: buyer,
        seat_id: row.get("seat_id"),
        ticket_type_id: row.get("ticket_type_id"),
        label: row.get("label"),
        price: row.get("price"),
    };
    crate::outbox::enqueue(conn, Topic::TicketIssued, id, &issued, now).await?;
    metrics::counter!("tickets_issued_total").increment(1);
    Ok(Some(issued))
}

/// Inside a refund transaction: voids every valid ticket paid by `order_id` (a resale
/// purchase's ticket).
pub async fn void_for_order(
    conn: &mut PgConnection,
    order_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE tickets SET status = 'void', voided_at = $2, void_reason = $3
         WHERE order_id = $1 AND status = 'valid'",
    )
    .bind(order_id)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The tickets paid by `order_id`, in item order.
pub async fn for_order(state: &AppState, order_id: &str) -> sqlx::Result<Vec<Ticket>> {
    let rows = sqlx::query_as::<_, TicketRow>(&format!(
        "SELECT {COLUMNS} FROM tickets t JOIN events e ON e.id = t.event_id
         WHERE t.order_id = $1 ORDER BY t.label, t.unit, t.id"
    ))
    .bind(order_id)
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(|r| to_ticket(state, r)).collect())
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: Uuid,
    code: String,
    status: String,
    order_id: String,
    reservation_id: Uuid,
    event_id: Uuid,
    event_title: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    user_id: Uuid,
    seat_id: Option<Uuid>,
    ticket_type_id: Option<Uuid>,
    label: String,
    price: i64,
    issued_at: DateTime<Utc>,
    voided_at: Option<DateTime<Utc>>,
    checked_in_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "t.id, t.code, t.status, t.order_id, t.reservation_id, t.event_id,
     e.title AS event_title, e.starts_at, e.ends_at, t.user_id, t.seat_id, t.ticket_type_id,
     t.label, t.price, t.issued_at, t.voided_at, t.checked_in_at";

/// How long after the show a QR payload stays valid (late entry, re-entry).
const QR_VALID_AFTER_SHOW_HOURS: i64 = 24;

fn to_ticket(state: &AppState, r: TicketRow) -> Ticket {
    let status = if r.status == "valid" {
        TicketStatus::Valid
    } else {
        TicketStatus::Void
    };
    let qr = (status == TicketStatus::Valid).then(|| {
        let until = r.ends_at.unwrap_or(r.starts_at) + Duration::hours(QR_VALID_AFTER_SHOW_HOURS);
        token::sign(
            &state.config.keys.origin_signing,
            &QrClaims {
                evt: r.event_id,
                tid: r.id,
                code: r.code.clone(),
                iat: state.clock.unix(),
                exp: until.timestamp(),
            },
        )
    });
    Ticket {
        id: r.id,
        code: r.code,
        status,
        order_id: r.order_id,
        reservation_id: r.reservation_id,
        event_id: r.event_id,
        event_title: r.event_title,
        starts_at: r.starts_at,
        owner_id: r.user_id,
        seat_id: r.seat_id,
        ticket_type_id: r.ticket_type_id,
        label: r.label,
        price: r.price,
        issued_at: r.issued_at,
        voided_at: r.voided_at,
        checked_in_at: r.checked_in_at,
        qr,
    }
}

/// The tickets a reservation was paid with, valid and void, in item order. Tickets
/// later resold from them belong to their buyers and are not listed.
pub async fn for_reservation(state: &AppState, reservation_id: Uuid) -> sqlx::Result<Vec<Ticket>> {
    let rows = sqlx::query_as::<_, TicketRow>(&format!(
        "SELECT {COLUMNS} FROM tickets t JOIN events e ON e.id = t.event_id
         WHERE t.reservation_id = $1 AND t.resale_of IS NULL ORDER BY t.label, t.unit, t.id"
    ))
    .bind(reservation_id)
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(|r| to_ticket(state, r)).collect())
}

/// One ticket by id, whoever owns it.
pub async fn fetch(state: &AppState, id: Uuid) -> sqlx::Result<Option<Ticket>> {
    let row = sqlx::query_as::<_, TicketRow>(&format!(
        "SELECT {COLUMNS} FROM tickets t JOIN events e ON e.id = t.event_id WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(|r| to_ticket(state, r)))
}

/// A user's tickets, newest first, keyset-paginated on `(issued_at, id)`.
pub async fn list_for(
    state: &AppState,
    user: Uuid,
    status: Option<TicketStatus>,
    limit: i64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> sqlx::Result<(Vec<Ticket>, Option<(DateTime<Utc>, Uuid)>)> {
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    let rows = sqlx::query_as::<_, TicketRow>(&format!(
        "SELECT {COLUMNS} FROM tickets t JOIN events e ON e.id = t.event_id
         WHERE t.user_id = $1 AND (t.issued_at, t.id) < ($2, $3)
           AND ($5::text IS NULL OR t.status = $5)
         ORDER BY t.issued_at DESC, t.id DESC LIMIT $4"
    ))
    .bind(user)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .bind(status.map(TicketStatus::as_str))
    .fetch_all(&state.db)
    .await?;
    let more = rows.len() as i64 > limit;
    let tickets: Vec<Ticket> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| to_ticket(state, r))
        .collect();
    let next = if more {
        tickets.last().map(|t| (t.issued_at, t.id))
    } else {
        None
    };
    Ok((tickets, next))
}

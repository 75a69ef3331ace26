//! Reading reservations (one, or the caller's list), the caller's cancel of a pending
//! hold, and whether an event has sold anything.

use super::inventory::*;
use super::model::*;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(super) struct ReservationRow {
    pub(super) id: Uuid,
    pub(super) event_id: Uuid,
    pub(super) event_title: String,
    pub(super) user_id: Uuid,
    pub(super) status: String,
    pub(super) amount: i64,
    pub(super) ticket_count: i32,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) confirmed_at: Option<DateTime<Utc>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) close_reason: Option<String>,
    pub(super) request_hash: Vec<u8>,
}

pub(super) const RESERVATION_COLUMNS: &str =
    "id, event_id, user_id, status, amount, ticket_count, expires_at,
     created_at, confirmed_at, closed_at, close_reason, request_hash,
     (SELECT title FROM events e WHERE e.id = reservations.event_id) AS event_title";

pub(super) async fn hydrate(state: &AppState, row: ReservationRow) -> ApiResult<Reservation> {
    let items = items_of(&state.db, &[row.id]).await?;
    Ok(to_reservation(
        row,
        items.into_values().next().unwrap_or_default(),
    ))
}

pub(super) fn to_reservation(row: ReservationRow, items: Vec<ReservationItem>) -> Reservation {
    let status = ReservationStatus::parse(&row.status).unwrap_or(ReservationStatus::Pending);
    Reservation {
        order: Order::for_reservation(
            row.id,
            status,
            &row.event_title,
            row.ticket_count,
            row.amount,
        ),
        id: row.id,
        event_id: row.event_id,
        event_title: row.event_title,
        user_id: row.user_id,
        status,
        items,
        amount: row.amount,
        ticket_count: row.ticket_count,
        expires_at: row.expires_at,
        created_at: row.created_at,
        confirmed_at: row.confirmed_at,
        closed_at: row.closed_at,
        close_reason: row.close_reason,
    }
}

pub(super) async fn items_of(
    db: &sqlx::PgPool,
    ids: &[Uuid],
) -> ApiResult<BTreeMap<Uuid, Vec<ReservationItem>>> {
    let rows = sqlx::query(
        "SELECT reservation_id, seat_id, ticket_type_id, label, quantity, unit_price
         FROM reservation_items WHERE reservation_id = ANY($1) ORDER BY label, id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut map: BTreeMap<Uuid, Vec<ReservationItem>> = BTreeMap::new();
    for r in rows {
        let seat_id: Option<Uuid> = r.get("seat_id");
        let quantity: i32 = r.get("quantity");
        let unit_price: i64 = r.get("unit_price");
        map.entry(r.get("reservation_id"))
            .or_default()
            .push(ReservationItem {
                kind: if seat_id.is_some() {
                    ItemKind::Seat
                } else {
                    ItemKind::Standing
                },
                seat_id,
                ticket_type_id: r.get("ticket_type_id"),
                label: r.get("label"),
                quantity,
                unit_price,
                subtotal: unit_price * i64::from(quantity),
            });
    }
    Ok(map)
}

/// A reservation by id, whoever owns it.
pub async fn fetch(state: &AppState, id: Uuid) -> ApiResult<Option<Reservation>> {
    let row = sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    match row {
        Some(r) => Ok(Some(hydrate(state, r).await?)),
        None => Ok(None),
    }
}

/// The caller's reservation, or 404 (also for other users' ids: existence is private).
pub async fn fetch_for(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Reservation> {
    match fetch(state, id).await? {
        Some(r) if r.user_id == user.id || user.is_admin() => Ok(r),
        _ => Err(ApiError::new(
            Code::RESERVATION_NOT_FOUND,
            "No such reservation",
        )),
    }
}

/// The caller's reservations, newest first, keyset-paginated.
pub async fn list_for(
    state: &AppState,
    user: Uuid,
    limit: i64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> ApiResult<(Vec<Reservation>, Option<(DateTime<Utc>, Uuid)>)> {
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    let rows = sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations
         WHERE user_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(user)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<ReservationRow> = rows.into_iter().take(limit as usize).collect();
    let next = if more {
        rows.last().map(|r| (r.created_at, r.id))
    } else {
        None
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items = items_of(&state.db, &ids).await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let its = items.remove(&r.id).unwrap_or_default();
            to_reservation(r, its)
        })
        .collect();
    Ok((out, next))
}

/// Cancels the caller's pending reservation; inventory returns at once. Refused while
/// its payment is being confirmed at Toss (the money may already be taken).
pub async fn cancel_pending(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Reservation> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM reservations WHERE id = $1 AND (user_id = $2 OR $3) FOR UPDATE",
    )
    .bind(id)
    .bind(user.id)
    .bind(user.is_admin())
    .fetch_optional(&mut *tx)
    .await?;
    let pending =
        status.as_deref().and_then(ReservationStatus::parse) == Some(ReservationStatus::Pending);
    if !pending {
        drop(tx);
        let current = fetch_for(state, user, id).await?;
        return Err(ApiError::new(
            Code::RESERVATION_NOT_PENDING,
            "Only a pending reservation can be cancelled this way",
        )
        .with("reservation_status", current.status));
    }
    let paying = state
        .booking
        .payments_in_flight
        .confirming(&mut tx, &[id])
        .await?;
    if !paying.is_empty() {
        return Err(ApiError::new(
            Code::PAYMENT_IN_PROGRESS,
            "This reservation's payment is being confirmed; it cannot be cancelled now",
        ));
    }
    sqlx::query(
        "UPDATE reservations
         SET status = 'cancelled', closed_at = $2, close_reason = 'cancelled_by_user',
             updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let closed = release_inventory(&mut tx, &[id], now).await?;
    enqueue_closed(
        &mut tx,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "cancelled_by_user",
        now,
    )
    .await?;
    tx.commit().await?;
    release_redis(state, &closed).await;
    metrics::counter!("booking_closed_total", "reason" => "cancelled_by_user").increment(1);
    fetch_for(state, user, id).await
}

/// Whether `event_id` has sold anything at `now`: a confirmed (paid) reservation, or a
/// live hold (pending and unexpired; a hold whose payment is in flight counts, its
/// claim extends it). Event edits ask this inside the transaction that locks the event row
/// FOR UPDATE: a hold being written holds the row's KEY SHARE lock, and a payment being
/// finalised holds FOR SHARE, so both either commit before the answer or wait for it.
pub async fn has_sales(
    conn: &mut PgConnection,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reservations
                        WHERE event_id = $1
                          AND (status = 'confirmed' OR (status = 'pending' AND expires_at > $2)))",
    )
    .bind(event_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

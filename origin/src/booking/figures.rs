//! Sales figures read from booking's own tables, for the consoles: per-event counters
//! (sold, held, available, revenue), platform totals, and the reservation list an
//! operator searches. Read-only; each figure is one aggregate query, so the numbers a
//! console shows always add up at one instant of the database.
//!
//! Definitions (the same everywhere a figure is shown):
//! - **sold**: tickets of `confirmed` reservations (refunded and cancelled ones are not
//!   sold);
//! - **held**: tickets of `pending` reservations whose hold has not expired;
//! - **available**: seats with no live reservation item, plus standing stock left;
//! - **revenue**: the amounts of `confirmed` reservations, in won.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One event's sale counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SalesFigures {
    pub tickets_sold: i64,
    pub held: i64,
    pub available: i64,
    /// Won.
    pub revenue: i64,
}

/// The counters of each of `events` at `now` (events without any sale get zeros for
/// sold, held and revenue, and their full stock as available).
pub async fn sales_figures(
    db: &PgPool,
    events: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<HashMap<Uuid, SalesFigures>> {
    let rows = sqlx::query(
        "SELECT e.id,
           COALESCE((SELECT sum(r.ticket_count) FILTER (WHERE r.status = 'confirmed')
                     FROM reservations r WHERE r.event_id = e.id), 0)::bigint AS sold,
           COALESCE((SELECT sum(r.ticket_count) FILTER (WHERE r.status = 'pending'
                                                          AND r.expires_at > $2)
                     FROM reservations r WHERE r.event_id = e.id), 0)::bigint AS held,
           COALESCE((SELECT sum(r.amount) FILTER (WHERE r.status = 'confirmed')
                     FROM reservations r WHERE r.event_id = e.id), 0)::bigint AS revenue,
           ((SELECT count(*) FROM seats s WHERE s.event_id = e.id)
            - (SELECT count(*) FROM reservation_items i
               WHERE i.event_id = e.id AND i.live AND i.seat_id IS NOT NULL)
            + COALESCE((SELECT sum(t.available_quantity) FROM ticket_types t
                        WHERE t.event_id = e.id), 0))::bigint AS available
         FROM unnest($1::uuid[]) AS e(id)",
    )
    .bind(events)
    .bind(now)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                SalesFigures {
                    tickets_sold: r.try_get("sold")?,
                    held: r.try_get("held")?,
                    available: r.try_get("available")?,
                    revenue: r.try_get("revenue")?,
                },
            ))
        })
        .collect()
}

/// Platform totals for the operator's dashboard.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct PlatformTotals {
    pub reservations_total: i64,
    /// Reservations confirmed (paid) and not refunded.
    pub reservations_paid: i64,
    /// Won, over confirmed reservations.
    pub revenue_total: i64,
    /// Tickets confirmed since `since` (the start of the day in Korea).
    pub today_tickets_sold: i64,
    pub today_revenue: i64,
}

pub async fn platform_totals(db: &PgPool, since: DateTime<Utc>) -> sqlx::Result<PlatformTotals> {
    let r = sqlx::query(
        "SELECT count(*)::bigint AS total,
                count(*) FILTER (WHERE status = 'confirmed')::bigint AS paid,
                COALESCE(sum(amount) FILTER (WHERE status = 'confirmed'), 0)::bigint AS revenue,
                COALESCE(sum(ticket_count) FILTER (WHERE status = 'confirmed'
                                                    AND confirmed_at >= $1), 0)::bigint AS today_sold,
                COALESCE(sum(amount) FILTER (WHERE status = 'confirmed'
                                              AND confirmed_at >= $1), 0)::bigint AS today_revenue
         FROM reservations",
    )
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(PlatformTotals {
        reservations_total: r.try_get("total")?,
        reservations_paid: r.try_get("paid")?,
        revenue_total: r.try_get("revenue")?,
        today_tickets_sold: r.try_get("today_sold")?,
        today_revenue: r.try_get("today_revenue")?,
    })
}

/// One reservation as an operator sees it (with who made it and for what).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminReservation {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub user_id: Uuid,
    pub user_email: String,
    pub user_name: String,
    /// `pending`, `confirmed`, `cancelled`, `expired` or `refunded`.
    pub status: String,
    /// Won.
    pub total_amount: i64,
    pub quantity: i32,
    pub created_at: DateTime<Utc>,
}

/// What an operator filters the reservation list by.
#[derive(Debug, Default)]
pub struct ReservationFilter {
    pub status: Option<super::ReservationStatus>,
    pub event_id: Option<Uuid>,
    /// Matches the fan's email or name, or the event's title (case-insensitive).
    pub q: Option<String>,
    /// Continue after this `(created_at, id)`, newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Newest first.
pub async fn admin_reservations(
    db: &PgPool,
    f: &ReservationFilter,
) -> sqlx::Result<Vec<AdminReservation>> {
    let pattern = f.q.as_deref().map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let (after_t, after_id) = f.after.unzip();
    let rows = sqlx::query(
        "SELECT r.id, r.event_id, e.title AS event_title, r.user_id, u.email AS user_email,
                u.display_name AS user_name, r.status, r.amount, r.ticket_count, r.created_at
         FROM reservations r
         JOIN events e ON e.id = r.event_id
         JOIN users u ON u.id = r.user_id
         WHERE ($1::text IS NULL OR r.status = $1)
           AND ($2::uuid IS NULL OR r.event_id = $2)
           AND ($3::text IS NULL OR u.email ILIKE $3 OR u.display_name ILIKE $3
                OR e.title ILIKE $3)
           AND ($4::timestamptz IS NULL OR (r.created_at, r.id) < ($4, $5))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $6",
    )
    .bind(f.status.map(|s| s.as_str()))
    .bind(f.event_id)
    .bind(pattern)
    .bind(after_t)
    .bind(after_id)
    .bind(f.limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(AdminReservation {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                event_title: r.try_get("event_title")?,
                user_id: r.try_get("user_id")?,
                user_email: r.try_get("user_email")?,
                user_name: r.try_get("user_name")?,
                status: r.try_get("status")?,
                total_amount: r.try_get("amount")?,
                quantity: r.try_get("ticket_count")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// What cancelling an event would touch right now.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct OpenOrders {
    /// Unpaid holds that would be released, and their tickets.
    pub holds_to_release: i64,
    pub tickets_held: i64,
    /// Paid orders that would be refunded in full, their tickets and amount (won).
    pub paid_orders: i64,
    pub tickets_paid: i64,
    pub refund_total: i64,
}

pub async fn open_orders(db: &PgPool, event: Uuid, now: DateTime<Utc>) -> sqlx::Result<OpenOrders> {
    let r = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'pending' AND expires_at > $2)::bigint AS holds,
                COALESCE(sum(ticket_count) FILTER (WHERE status = 'pending' AND expires_at > $2), 0)::bigint AS held,
                count(*) FILTER (WHERE status = 'confirmed')::bigint AS paid,
                COALESCE(sum(ticket_count) FILTER (WHERE status = 'confirmed'), 0)::bigint AS tickets,
                COALESCE(sum(amount) FILTER (WHERE status = 'confirmed'), 0)::bigint AS amount
         FROM reservations WHERE event_id = $1",
    )
    .bind(event)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(OpenOrders {
        holds_to_release: r.try_get("holds")?,
        tickets_held: r.try_get("held")?,
        paid_orders: r.try_get("paid")?,
        tickets_paid: r.try_get("tickets")?,
        refund_total: r.try_get("amount")?,
    })
}

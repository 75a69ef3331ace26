//! Listing a ticket, the market, withdrawing, and the cut-off.

use super::model::{Listing, ListingStatus, NewListing};
use crate::auth::AuthUser;
use crate::catalog::Tier;
use crate::http::{ApiError, ApiResult, Code};
use crate::outbox::{self, Topic};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// Toss's smallest card payment (KRW).
const MIN_PRICE: i64 = 100;

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: Uuid,
    ticket_id: Uuid,
    event_id: Uuid,
    event_title: String,
    starts_at: DateTime<Utc>,
    venue_name: String,
    artist_id: Option<Uuid>,
    artist_name: Option<String>,
    label: String,
    face_value: i64,
    price: i64,
    fee: i64,
    fee_percent: i32,
    status: String,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    seller_id: Uuid,
}

pub(super) const SELECT: &str = "SELECT l.id, l.ticket_id, l.event_id, e.title AS event_title,
        e.starts_at, v.name AS venue_name, l.artist_id, a.name AS artist_name, t.label,
        l.face_value, l.price, l.fee, l.fee_percent, l.status, l.expires_at, l.created_at,
        l.seller_id
     FROM transfer_listings l
     JOIN tickets t ON t.id = l.ticket_id
     JOIN events e ON e.id = l.event_id
     JOIN venues v ON v.id = e.venue_id
     LEFT JOIN artists a ON a.id = l.artist_id";

impl Row {
    pub(super) fn view(self, now: DateTime<Utc>, viewer: Option<Uuid>) -> Listing {
        Listing {
            status: ListingStatus::at(&self.status, self.expires_at, now),
            mine: viewer.map(|v| v == self.seller_id),
            id: self.id,
            ticket_id: self.ticket_id,
            event_id: self.event_id,
            event_title: self.event_title,
            starts_at: self.starts_at,
            venue_name: self.venue_name,
            artist_id: self.artist_id,
            artist_name: self.artist_name,
            label: self.label,
            face_value: self.face_value,
            price: self.price,
            fee: self.fee,
            fee_percent: self.fee_percent,
            total: self.price,
            payout: self.price - self.fee,
            expires_at: self.expires_at,
            created_at: self.created_at,
        }
    }
}

pub(super) async fn fetch(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(&format!("{SELECT} WHERE l.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(Code::LISTING_NOT_FOUND, "No such listing")
}

/// The resale cut-off of a show starting at `starts_at`.
pub(super) fn cutoff(state: &AppState, starts_at: DateTime<Utc>) -> DateTime<Utc> {
    starts_at - Duration::hours(state.config.resale.cutoff_hours)
}

/// The tier a fan needs to list or buy a ticket of an event: events with an artist
/// require an active membership (BRONZE is refused); others need none.
pub(super) async fn resale_tier(
    conn: &mut PgConnection,
    user: Uuid,
    artist: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<Tier> {
    let Some(artist) = artist else {
        return Ok(Tier::Bronze);
    };
    let tier = crate::memberships::tier_of(conn, user, artist, now).await?;
    if tier == Tier::Bronze {
        return Err(ApiError::new(
            Code::MEMBERSHIP_REQUIRED,
            "Resale of this artist's tickets is for members: join (or renew) the membership first",
        )
        .with("artist_id", artist));
    }
    Ok(tier)
}

#[derive(sqlx::FromRow)]
struct TicketToList {
    order_id: String,
    user_id: Uuid,
    status: String,
    checked_in_at: Option<DateTime<Utc>>,
    price: i64,
    event_id: Uuid,
    artist_id: Option<Uuid>,
    starts_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/tickets/{ticket_id}/transfer-listing`.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    ticket: Uuid,
    body: NewListing,
) -> ApiResult<Listing> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // The ticket row lock serialises listing against check-in, refund and a second
    // listing of the same ticket.
    let t: Option<TicketToList> = sqlx::query_as(
        "SELECT t.order_id, t.user_id, t.status, t.checked_in_at, t.price, t.event_id, e.artist_id,
                e.starts_at, e.cancelled_at
         FROM tickets t JOIN events e ON e.id = t.event_id
         WHERE t.id = $1 FOR UPDATE OF t",
    )
    .bind(ticket)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(t) = t.filter(|t| t.user_id == user.id) else {
        return Err(ApiError::new(Code::TICKET_NOT_FOUND, "No such ticket"));
    };
    if t.status != "valid" || t.checked_in_at.is_some() || t.cancelled_at.is_some() {
        return Err(ApiError::new(
            Code::TICKET_NOT_LISTABLE,
            "Only a valid ticket that has not been used can be listed",
        ));
    }
    // A refund of the ticket's own order may be on its way at Toss: the ticket turns
    // void when the money is back, so it must not be sold meanwhile.
    let paid_by = crate::booking::Order::reservation_of(&t.order_id)
        .or_else(|| super::purchase::order_of(&t.order_id));
    if let Some(subject) = paid_by
        && !state
            .booking
            .payments_in_flight
            .refunding(&mut tx, &[subject])
            .await?
            .is_empty()
    {
        return Err(ApiError::new(
            Code::TICKET_NOT_LISTABLE,
            "This ticket's booking is being refunded",
        ));
    }
    let expires_at = cutoff(state, t.starts_at);
    if now >= expires_at {
        return Err(ApiError::new(
            Code::LISTING_CUTOFF_PASSED,
            format!(
                "Resale closes {} hours before the show",
                state.config.resale.cutoff_hours
            ),
        )
        .with("cutoff", expires_at));
    }
    let price = body.price.unwrap_or(t.price);
    if price > t.price {
        return Err(ApiError::validation(
            "price",
            format!(
                "at most the face value ({} KRW): no resale above face value",
                t.price
            ),
        ));
    }
    if price < MIN_PRICE {
        return Err(ApiError::validation(
            "price",
            format!("at least {MIN_PRICE} KRW"),
        ));
    }
    let tier = resale_tier(&mut tx, user.id, t.artist_id, now).await?;
    let fee_percent = crate::memberships::resale_fee_percent(tier);
    let fee = price * fee_percent as i64 / 100;
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO transfer_listings (id, ticket_id, seller_id, event_id, artist_id, face_value,
                                        price, fee, fee_percent, status, expires_at,
                                        created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'listed', $10, $11, $11)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(ticket)
    .bind(user.id)
    .bind(t.event_id)
    .bind(t.artist_id)
    .bind(t.price)
    .bind(price)
    .bind(fee)
    .bind(fee_percent)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::new(
            Code::TICKET_NOT_LISTABLE,
            "This ticket is already listed",
        ));
    }
    outbox::enqueue(
        &mut tx,
        Topic::ResaleListed,
        id,
        json!({"listing_id": id, "ticket_id": ticket, "event_id": t.event_id,
               "seller_id": user.id, "price": price, "fee": fee}),
        now,
    )
    .await?;
    let row = fetch(&mut tx, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(row.view(now, Some(user.id)))
}

/// The market: listings for sale now, newest first.
pub async fn market(
    state: &AppState,
    event: Option<Uuid>,
    artist: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
    viewer: Option<Uuid>,
) -> sqlx::Result<Vec<(Listing, DateTime<Utc>)>> {
    let now = state.clock.now();
    let (t, i) = after.unzip();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE l.status = 'listed' AND l.expires_at > $1 AND e.cancelled_at IS NULL
           AND ($2::uuid IS NULL OR l.event_id = $2)
           AND ($3::uuid IS NULL OR l.artist_id = $3)
           AND ($4::timestamptz IS NULL OR (l.created_at, l.id) < ($4, $5))
         ORDER BY l.created_at DESC, l.id DESC
         LIMIT $6"
    ))
    .bind(now)
    .bind(event)
    .bind(artist)
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let at = r.created_at;
            (r.view(now, viewer), at)
        })
        .collect())
}

/// The seller's listings, every status, newest first.
pub async fn mine(state: &AppState, user: Uuid) -> sqlx::Result<Vec<Listing>> {
    let now = state.clock.now();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE l.seller_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT 200"
    ))
    .bind(user)
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(|r| r.view(now, Some(user))).collect())
}

/// `DELETE /api/v1/transfer-listings/{id}`: the seller takes a listing back, unless a
/// buyer is paying for it right now.
pub async fn withdraw(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Listing> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT seller_id, status FROM transfer_listings WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((seller, status)) = row.filter(|(s, _)| *s == user.id || user.is_admin()) else {
        return Err(not_found());
    };
    if status != "listed" {
        return Err(ApiError::new(
            Code::LISTING_UNAVAILABLE,
            "The listing is no longer for sale",
        )
        .with("listing_status", status));
    }
    if let Some(until) = super::purchase::live_hold(&mut tx, state, id, now).await? {
        return Err(ApiError::new(
            Code::LISTING_RESERVED,
            "A buyer is paying for this listing; it can be withdrawn if their hold ends unpaid",
        )
        .with("held_until", until)
        .with_retry_after((until - now).num_seconds().max(1) as u64));
    }
    close(&mut tx, id, seller, "withdrawn", now).await?;
    let row = fetch(&mut tx, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(row.view(now, Some(user.id)))
}

/// Ends a listed listing unsold (`withdrawn` or `expired`), with `resale.closed`.
async fn close(
    conn: &mut PgConnection,
    id: Uuid,
    seller: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let closed: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE transfer_listings SET status = $2, closed_at = $3, updated_at = $3
         WHERE id = $1 AND status = 'listed'
         RETURNING ticket_id, event_id",
    )
    .bind(id)
    .bind(status)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((ticket, event)) = closed else {
        return Ok(false);
    };
    outbox::enqueue(
        conn,
        Topic::ResaleClosed,
        id,
        json!({"listing_id": id, "ticket_id": ticket, "event_id": event, "seller_id": seller,
               "reason": status}),
        now,
    )
    .await?;
    Ok(true)
}

/// The cut-off job: listings past their cut-off become `expired` (buying already
/// stopped at the cut-off; this makes it visible and announces it). A listing a buyer
/// is still paying for is left until that payment ends.
pub async fn expire_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, seller_id FROM transfer_listings
         WHERE status = 'listed' AND expires_at <= $1
         ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut n = 0;
    for (id, seller) in due {
        if super::purchase::live_hold(&mut tx, state, id, now)
            .await?
            .is_some()
        {
            continue;
        }
        if close(&mut tx, id, seller, "expired", now).await? {
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// Whether a ticket of `reservation` is listed or was resold: its booking cannot be
/// refunded by its fan then (withdraw the listing first; a resold seat is the buyer's).
pub async fn blocks_refund(db: &sqlx::PgPool, reservation: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transfer_listings l JOIN tickets t ON t.id = l.ticket_id
                        WHERE t.reservation_id = $1 AND l.status IN ('listed', 'sold'))",
    )
    .bind(reservation)
    .fetch_one(db)
    .await
}

/// Inside the event-cancellation transaction: open listings of the event expire (their
/// tickets are refunded with their bookings).
pub async fn close_for_event(
    conn: &mut PgConnection,
    event: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let open: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, seller_id FROM transfer_listings WHERE event_id = $1 AND status = 'listed'
         FOR UPDATE",
    )
    .bind(event)
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for (id, seller) in open {
        if close(conn, id, seller, "expired", now).await? {
            n += 1;
        }
    }
    Ok(n)
}

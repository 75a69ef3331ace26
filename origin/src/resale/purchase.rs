//! Buying a listing: a hold on it while the buyer pays (like a reservation's on
//! seats), and the payment hooks that move the ticket.
//!
//! One live purchase per listing (a partial unique index): a second buyer is told the
//! listing is being paid for and when that hold ends. A hold that lapsed unpaid is
//! replaced by the next buyer's, unless its payment is being confirmed at Toss (asked
//! through booking's `PaymentsInFlight`, which payments answers for any order subject):
//! then it stays until the payment's outcome is known.
//!
//! Paying is payments' job. In the transaction that marks the payment paid, payments
//! calls [`complete`]: the purchase is paid, the listing sold, the seller's ticket void
//! and a new one (new code, new QR) issued to the buyer, and the seller's payout
//! written, all or nothing. If the listing is gone by then (the hold lapsed and another
//! buyer won, or the event was cancelled), `complete` changes nothing and payments
//! refunds the money in full: a losing buyer is never left charged.

use super::listings::{self, not_found, resale_tier};
use super::model::{PurchaseOrder, PurchaseResponse};
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code};
use crate::outbox::{self, Topic};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// `rsl_<purchase id, 32 hex>`.
pub fn order_id_for(purchase: Uuid) -> String {
    format!("rsl_{}", purchase.simple())
}

/// The purchase an order id names, if it is one.
pub fn order_of(order_id: &str) -> Option<Uuid> {
    let hex = order_id.strip_prefix("rsl_")?;
    (hex.len() == 32)
        .then(|| Uuid::try_parse(hex).ok())
        .flatten()
}

/// Until when the listing is held for a buyer (`None`: free). A lapsed hold whose
/// payment is still being confirmed counts as held.
pub(super) async fn live_hold(
    conn: &mut PgConnection,
    state: &AppState,
    listing: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    let hold: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, expires_at FROM resale_purchases WHERE listing_id = $1 AND status = 'pending'
         FOR UPDATE",
    )
    .bind(listing)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, until)) = hold else {
        return Ok(None);
    };
    if until > now {
        return Ok(Some(until));
    }
    let paying = state
        .booking
        .payments_in_flight
        .confirming(conn, &[id])
        .await?;
    Ok(paying.contains(&id).then(|| now + Duration::seconds(5)))
}

/// The answer of a purchase request: 201 a new hold, 200 the caller's own again.
pub enum Purchased {
    New(PurchaseResponse),
    Existing(PurchaseResponse),
}

#[derive(sqlx::FromRow)]
struct ForSale {
    seller_id: Uuid,
    status: String,
    cutoff: DateTime<Utc>,
    artist_id: Option<Uuid>,
    price: i64,
    cancelled: bool,
}

/// `POST /api/v1/transfer-listings/{id}/purchase`.
pub async fn purchase(state: &AppState, user: &AuthUser, listing: Uuid) -> ApiResult<Purchased> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row: Option<ForSale> = sqlx::query_as(
        "SELECT l.seller_id, l.status, l.expires_at AS cutoff, l.artist_id, l.price,
                e.cancelled_at IS NOT NULL AS cancelled
         FROM transfer_listings l JOIN events e ON e.id = l.event_id
         WHERE l.id = $1 FOR UPDATE OF l",
    )
    .bind(listing)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ForSale {
        seller_id: seller,
        status,
        cutoff,
        artist_id: artist,
        price,
        cancelled,
    }) = row
    else {
        return Err(not_found());
    };
    if status != "listed" || cancelled {
        return Err(ApiError::new(
            Code::LISTING_UNAVAILABLE,
            "The listing is no longer for sale",
        ));
    }
    if now >= cutoff {
        return Err(ApiError::new(
            Code::LISTING_CUTOFF_PASSED,
            "Resale of this show has closed",
        )
        .with("cutoff", cutoff));
    }
    if seller == user.id {
        return Err(ApiError::new(
            Code::OWN_LISTING,
            "You cannot buy your own listing",
        ));
    }
    resale_tier(&mut tx, user.id, artist, now).await?;
    let current: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, buyer_id, expires_at FROM resale_purchases
         WHERE listing_id = $1 AND status = 'pending'",
    )
    .bind(listing)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, buyer, until)) = current {
        if buyer == user.id && until > now {
            let view = listings::fetch(&mut tx, listing)
                .await?
                .ok_or_else(not_found)?;
            tx.commit().await?;
            let listing = view.view(now, Some(user.id));
            return Ok(Purchased::Existing(response(listing, id, price, until)));
        }
        if let Some(until) = live_hold(&mut tx, state, listing, now).await? {
            return Err(ApiError::new(
                Code::LISTING_RESERVED,
                "Another fan is paying for this listing; if their hold ends unpaid it is for sale again",
            )
            .with("held_until", until)
            .with_retry_after((until - now).num_seconds().max(1) as u64));
        }
        // Lapsed unpaid and not being confirmed: it no longer holds the listing.
        sqlx::query(
            "UPDATE resale_purchases SET status = 'expired' WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let id = Uuid::now_v7();
    let until = (now + Duration::seconds(state.config.resale.hold_secs)).min(cutoff);
    sqlx::query(
        "INSERT INTO resale_purchases (id, listing_id, buyer_id, amount, status, expires_at, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
    )
    .bind(id)
    .bind(listing)
    .bind(user.id)
    .bind(price)
    .bind(until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let view = listings::fetch(&mut tx, listing)
        .await?
        .ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(Purchased::New(response(
        view.view(now, Some(user.id)),
        id,
        price,
        until,
    )))
}

fn response(
    listing: super::model::Listing,
    purchase: Uuid,
    amount: i64,
    expires_at: DateTime<Utc>,
) -> PurchaseResponse {
    let mut name = format!("Resale: {} {}", listing.event_title, listing.label);
    if name.chars().count() > 100 {
        name = name.chars().take(100).collect();
    }
    PurchaseResponse {
        order: PurchaseOrder {
            order_id: order_id_for(purchase),
            order_name: name,
            amount,
            expires_at,
        },
        listing,
    }
}

/// A purchase as payments needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayablePurchase {
    pub buyer_id: Uuid,
    pub amount: i64,
}

/// The purchase `id` (any state).
pub async fn fetch_purchase(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<PayablePurchase>> {
    sqlx::query_as("SELECT buyer_id, amount FROM resale_purchases WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Payments, first statement of a transaction changing a purchase and its payment:
/// locks the purchase row (lock order: subject, then payment).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("SELECT 1 FROM resale_purchases WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Payments, inside the claim transaction: succeeds only while the hold is valid at
/// `now`, the listing still listed and its event not cancelled, and extends the hold to
/// at least `now + grace` so it outlives the call to Toss. `None`: not payable.
pub async fn hold_for_payment(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    grace: Duration,
) -> sqlx::Result<Option<(Uuid, i64)>> {
    sqlx::query_as(
        "UPDATE resale_purchases p SET expires_at = GREATEST(p.expires_at, $2 + make_interval(secs => $3))
         FROM transfer_listings l JOIN events e ON e.id = l.event_id
         WHERE p.id = $1 AND l.id = p.listing_id AND p.status = 'pending' AND p.expires_at > $2
           AND l.status = 'listed' AND e.cancelled_at IS NULL
         RETURNING p.buyer_id, p.amount",
    )
    .bind(id)
    .bind(now)
    .bind(grace.num_seconds() as f64)
    .fetch_optional(&mut *conn)
    .await
}

/// Whether the hold is still valid (the reconciler never confirms after it lapsed).
pub async fn hold_valid(db: &sqlx::PgPool, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT status = 'pending' AND expires_at > $2 FROM resale_purchases WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(db)
    .await?;
    Ok(valid.unwrap_or(false))
}

/// What [`complete`] did: the event whose ticket moved.
pub struct Completed {
    pub event_id: Uuid,
}

/// Payments, inside the transaction that marks the purchase's payment paid (see the
/// module doc). `valid_at`: when the payment was claimed (the hold was valid then and
/// nothing could take the listing since). `None`: the listing is gone; the caller rolls
/// back and refunds.
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    order_id: &str,
    now: DateTime<Utc>,
    valid_at: DateTime<Utc>,
) -> sqlx::Result<Option<Completed>> {
    // The event must not be cancelled; FOR SHARE makes a cancellation wait for this
    // commit (it then finds the payment paid and refunds it) or this wait for it.
    let listing: Option<(Uuid, Uuid, Uuid, Uuid, i64, i64, bool)> = sqlx::query_as(
        "SELECT l.id, l.ticket_id, l.seller_id, l.event_id, l.price, l.fee, e.cancelled_at IS NOT NULL
         FROM resale_purchases p
         JOIN transfer_listings l ON l.id = p.listing_id
         JOIN events e ON e.id = l.event_id
         WHERE p.id = $1
         FOR UPDATE OF l FOR SHARE OF e",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((listing, old_ticket, seller, event, price, fee, cancelled)) = listing else {
        return Ok(None);
    };
    if cancelled {
        return Ok(None);
    }
    let buyer: Option<Uuid> = sqlx::query_scalar(
        "UPDATE resale_purchases SET status = 'paid', paid_at = $2
         WHERE id = $1 AND status = 'pending' AND expires_at > $3
         RETURNING buyer_id",
    )
    .bind(id)
    .bind(now)
    .bind(valid_at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(buyer) = buyer else {
        return Ok(None);
    };
    let sold = sqlx::query(
        "UPDATE transfer_listings SET status = 'sold', buyer_id = $2, closed_at = $3, updated_at = $3
         WHERE id = $1 AND status = 'listed'",
    )
    .bind(listing)
    .bind(buyer)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if sold == 0 {
        return Ok(None);
    }
    let Some(issued) = crate::tickets::reissue(conn, old_ticket, buyer, order_id, now).await?
    else {
        return Ok(None);
    };
    sqlx::query("UPDATE resale_purchases SET ticket_id = $2 WHERE id = $1")
        .bind(id)
        .bind(issued.ticket_id)
        .execute(&mut *conn)
        .await?;
    let payout = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payouts (id, seller_id, listing_id, amount, status, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5)",
    )
    .bind(payout)
    .bind(seller)
    .bind(listing)
    .bind(price - fee)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(
        conn,
        Topic::ResaleSold,
        listing,
        json!({"listing_id": listing, "order_id": order_id, "event_id": event,
               "seller_id": seller, "buyer_id": buyer, "old_ticket_id": old_ticket,
               "new_ticket_id": issued.ticket_id, "price": price, "fee": fee,
               "payout_id": payout}),
        now,
    )
    .await?;
    metrics::counter!("resale_sold_total").increment(1);
    Ok(Some(Completed { event_id: event }))
}

/// Inside the event-cancellation transaction: the paid resale orders of the event (to
/// refund in full) and its pending payouts cancelled (the seller's own booking is
/// refunded in full instead).
pub async fn paid_orders_of_event(conn: &mut PgConnection, event: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query(
        "UPDATE payouts po SET status = 'cancelled'
         FROM transfer_listings l
         WHERE po.listing_id = l.id AND l.event_id = $1 AND po.status = 'pending'",
    )
    .bind(event)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "SELECT p.id FROM resale_purchases p JOIN transfer_listings l ON l.id = p.listing_id
         WHERE l.event_id = $1 AND p.status = 'paid' ORDER BY p.id",
    )
    .bind(event)
    .fetch_all(&mut *conn)
    .await
}

//! Joining and renewing: an order per year bought, paid through payments.
//!
//! A fan asks to join; the membership row (pending until its first payment) and an order
//! are written, and the order is paid like any other through `POST
//! /api/v1/payments/confirm`. Payments calls [`activate`] in the transaction that marks
//! the payment paid, so a membership is active if and only if money was taken for it.
//!
//! Asking again while an order is unpaid returns that order (the same order id, so a
//! payment window already open still pays it). An active member may renew in the last
//! [`RENEW_WITHIN_DAYS`] days; a renewal extends from the current expiry, never from the
//! payment day, so renewing early loses nothing.

use super::model::{MembershipOrder, MembershipStatus, MembershipView, OrderView};
use super::points::{self, Reason};
use crate::auth::AuthUser;
use crate::catalog::Tier;
use crate::http::{ApiError, ApiResult, Code};
use crate::outbox::{self, Topic};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// An active member may renew this many days before the expiry.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// Toss's smallest card payment (KRW); a cheaper plan cannot be paid by card.
const MIN_PAYABLE: i64 = 100;

/// How long one paid order makes a membership last.
pub fn term() -> Duration {
    Duration::days(365)
}

/// `mbr_<order id, 32 hex>`: 36 characters of `[A-Za-z0-9_]`, as Toss requires.
pub fn order_id_for(order: Uuid) -> String {
    format!("mbr_{}", order.simple())
}

/// The membership order an order id names, if it is one.
pub fn order_of(order_id: &str) -> Option<Uuid> {
    let hex = order_id.strip_prefix("mbr_")?;
    (hex.len() == 32)
        .then(|| Uuid::try_parse(hex).ok())
        .flatten()
}

/// Whether `POST /artists/{id}/memberships` wrote a new order or found one.
pub enum Joined {
    New(MembershipView, OrderView),
    Existing(MembershipView, OrderView),
}

/// `POST /api/v1/artists/{artist_id}/memberships`.
pub async fn join(state: &AppState, user: &AuthUser, artist: Uuid) -> ApiResult<Joined> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let offer: Option<(String, i64)> =
        sqlx::query_as("SELECT name, membership_price::int8 FROM artists WHERE id = $1 FOR SHARE")
            .bind(artist)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((artist_name, price)) = offer else {
        return Err(ApiError::new(Code::ARTIST_NOT_FOUND, "No such artist"));
    };
    // One row per fan and artist; the upsert also takes its lock, so two joins of one
    // fan serialise here.
    let membership: (Uuid, String, Option<DateTime<Utc>>) = sqlx::query_as(
        "INSERT INTO memberships (id, user_id, artist_id, status, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $4)
         ON CONFLICT (user_id, artist_id) DO UPDATE SET updated_at = memberships.updated_at
         RETURNING id, status, expires_at",
    )
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(artist)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let (membership_id, _, expires_at) = membership;
    let pending: Option<MembershipOrder> = sqlx::query_as(
        "SELECT id, amount, renewal FROM membership_orders
         WHERE membership_id = $1 AND status = 'pending'",
    )
    .bind(membership_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(order) = pending {
        tx.commit().await?;
        let view = super::model::fetch_view(&state.db, membership_id, now).await?;
        return Ok(Joined::Existing(view, order.view(&artist_name)));
    }
    if let Some(expires_at) = expires_at
        && expires_at - now > Duration::days(RENEW_WITHIN_DAYS)
    {
        return Err(ApiError::new(
            Code::MEMBERSHIP_ACTIVE,
            format!(
                "You are a member until {}; renew within {RENEW_WITHIN_DAYS} days of it",
                expires_at.to_rfc3339()
            ),
        )
        .with("expires_at", expires_at));
    }
    if price < MIN_PAYABLE {
        return Err(ApiError::new(
            Code::MEMBERSHIP_NOT_OFFERED,
            "This artist offers no paid membership",
        ));
    }
    let order: MembershipOrder = sqlx::query_as(
        "INSERT INTO membership_orders (id, membership_id, user_id, amount, renewal, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)
         RETURNING id, amount, renewal",
    )
    .bind(Uuid::now_v7())
    .bind(membership_id)
    .bind(user.id)
    .bind(price)
    .bind(expires_at.is_some())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let view = super::model::fetch_view(&state.db, membership_id, now).await?;
    Ok(Joined::New(view, order.view(&artist_name)))
}

/// A membership order as payments needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayableOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub amount: i64,
    pub status: String,
}

/// The order `id` (any state), for the checks before a payment is claimed.
pub async fn fetch_order(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<PayableOrder>> {
    sqlx::query_as("SELECT id, user_id, amount, status FROM membership_orders WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Payments, first statement of a transaction that changes an order and its payment:
/// locks the order row (lock order: subject, then payment). `Some` only while the order
/// is unpaid: a membership order never lapses, it is payable until paid.
pub async fn lock_payable(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PayableOrder>> {
    sqlx::query_as(
        "SELECT id, user_id, amount, status FROM membership_orders
         WHERE id = $1 AND status = 'pending' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// Payments, inside the transaction that marks the order's payment paid: the order is
/// paid, the membership active for another [`term`] (from its expiry if still running,
/// else from now), the join or renewal points awarded, `membership.activated` written.
/// `false`: the order was not pending (already activated by a concurrent finaliser).
pub async fn activate(
    conn: &mut PgConnection,
    order: Uuid,
    order_id: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let paid: Option<(Uuid, bool, i64, Uuid)> = sqlx::query_as(
        "UPDATE membership_orders SET status = 'paid', paid_at = $2
         WHERE id = $1 AND status = 'pending'
         RETURNING membership_id, renewal, amount, user_id",
    )
    .bind(order)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((membership, renewal, amount, user)) = paid else {
        return Ok(false);
    };
    let (artist, expires_at): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "UPDATE memberships
         SET status = 'active', joined_at = COALESCE(joined_at, $2),
             expires_at = GREATEST(COALESCE(expires_at, $2), $2) + make_interval(days => $3),
             updated_at = $2
         WHERE id = $1
         RETURNING artist_id, expires_at",
    )
    .bind(membership)
    .bind(now)
    .bind(term().num_days() as i32)
    .fetch_one(&mut *conn)
    .await?;
    let reason = if renewal { Reason::Renew } else { Reason::Join };
    points::award_to(conn, membership, user, artist, reason, order_id, now).await?;
    outbox::enqueue(
        conn,
        Topic::MembershipActivated,
        membership,
        json!({
            "membership_id": membership,
            "order_id": order_id,
            "user_id": user,
            "artist_id": artist,
            "renewal": renewal,
            "amount": amount,
            "expires_at": expires_at,
        }),
        now,
    )
    .await?;
    Ok(true)
}

/// The expiry job: active memberships past `expires_at` become `expired`, each with a
/// `membership.expired` event, in one transaction. Rights end at `expires_at` anyway
/// (every check compares it with the clock); this only makes the state visible.
pub async fn expire_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let expired: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE memberships m SET status = 'expired', updated_at = $1
         FROM (SELECT id FROM memberships
               WHERE status = 'active' AND expires_at <= $1
               ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED) due
         WHERE m.id = due.id
         RETURNING m.id, m.user_id, m.artist_id, m.expires_at",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<_> = expired
        .iter()
        .map(|(id, user, artist, at)| {
            outbox::NewEvent::new(
                Topic::MembershipExpired,
                *id,
                json!({"membership_id": id, "user_id": user, "artist_id": artist, "expired_at": at}),
            )
        })
        .collect();
    outbox::enqueue_many(&mut tx, &events, now).await?;
    tx.commit().await?;
    Ok(expired.len())
}

/// Tier of `user` with `artist` at `now`: by points while active, else BRONZE.
pub async fn tier_of(
    conn: &mut PgConnection,
    user: Uuid,
    artist: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Tier> {
    let points: Option<i32> = sqlx::query_scalar(
        "SELECT points FROM memberships
         WHERE user_id = $1 AND artist_id = $2 AND status = 'active' AND expires_at > $3",
    )
    .bind(user)
    .bind(artist)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(points.map_or(Tier::Bronze, Tier::of_points))
}

impl MembershipStatus {
    /// The status at `now`: an active row past its expiry is already expired.
    pub fn at(
        stored: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> MembershipStatus {
        match (stored, expires_at) {
            ("pending", _) | (_, None) => MembershipStatus::Pending,
            (_, Some(at)) if at > now => MembershipStatus::Active,
            _ => MembershipStatus::Expired,
        }
    }
}

/// The demo seed: `user` is an active member of `artist` for (at least) another year
/// with `points`, written as one ledger entry so the balance stays the ledger's sum.
/// Idempotent.
pub async fn seed_member(
    db: &sqlx::PgPool,
    clock: &crate::clock::Clock,
    user: Uuid,
    artist: Uuid,
    points: i32,
) -> anyhow::Result<()> {
    let now = clock.now();
    let mut tx = db.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO memberships (id, user_id, artist_id, status, joined_at, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $4, $4)
         ON CONFLICT (user_id, artist_id) DO UPDATE
         SET status = 'active', joined_at = COALESCE(memberships.joined_at, $4),
             expires_at = GREATEST(COALESCE(memberships.expires_at, $5), $5), updated_at = $4
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(user)
    .bind(artist)
    .bind(now)
    .bind(now + term())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO membership_points (id, membership_id, reason, source, points, kst_day, created_at)
         VALUES ($1, $2, 'join', 'demo', $3, $4, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(id)
    .bind(points)
    .bind(super::points::kst_day(now))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE memberships SET points = (SELECT COALESCE(sum(points), 0) FROM membership_points
                                          WHERE membership_id = $1)
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

//! What the memberships API shows.

use crate::catalog::Tier;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// `pending` until the first order is paid, `active` until `expires_at`, then
/// `expired` (renewable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    Pending,
    Active,
    Expired,
}

/// An artist as a membership shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipArtist {
    pub id: Uuid,
    pub name: String,
    pub name_en: Option<String>,
    pub image_url: Option<String>,
    /// The yearly price (KRW).
    pub membership_price: i64,
}

/// One membership of the caller.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipView {
    pub id: Uuid,
    pub artist_id: Uuid,
    pub artist: MembershipArtist,
    pub status: MembershipStatus,
    /// By points while active; BRONZE when pending or expired.
    pub tier: Tier,
    pub points: i32,
    pub joined_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// An unpaid join or renewal order, if any: pay it to activate or extend.
    pub pending_order: Option<OrderView>,
}

/// What the payment window needs (the same shape as a reservation's order).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    /// `mbr_<32 hex>`.
    pub order_id: String,
    pub order_name: String,
    pub amount: i64,
    pub renewal: bool,
}

/// Answer of `POST /api/v1/artists/{id}/memberships`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JoinResponse {
    pub membership: MembershipView,
    pub order: OrderView,
}

/// A list of the caller's memberships.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipList {
    pub items: Vec<MembershipView>,
}

/// One row of the points ledger.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PointsEntry {
    pub id: Uuid,
    /// `join`, `renew`, `ticket_purchase`, `post`, `comment`.
    pub reason: String,
    /// What earned it (an order id, a post id).
    pub source: String,
    /// Positive: awarded (possibly cut by the daily cap); negative: taken back.
    pub points: i32,
    /// The award a negative entry takes back.
    pub clawback_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MembershipOrder {
    pub id: Uuid,
    pub amount: i64,
    pub renewal: bool,
}

impl MembershipOrder {
    pub fn view(&self, artist_name: &str) -> OrderView {
        let what = if self.renewal {
            "renewal"
        } else {
            "membership"
        };
        let mut name = format!("{artist_name} {what} (1 year)");
        if name.chars().count() > 100 {
            name = name.chars().take(100).collect();
        }
        OrderView {
            order_id: super::orders::order_id_for(self.id),
            order_name: name,
            amount: self.amount,
            renewal: self.renewal,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    status: String,
    points: i32,
    joined_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    artist_id: Uuid,
    name: String,
    name_en: Option<String>,
    image_url: Option<String>,
    membership_price: i64,
    order_id: Option<Uuid>,
    order_amount: Option<i64>,
    order_renewal: Option<bool>,
}

const SELECT: &str = "SELECT m.id, m.status, m.points, m.joined_at, m.expires_at,
        a.id AS artist_id, a.name, a.name_en, a.image_url, a.membership_price::int8 AS membership_price,
        o.id AS order_id, o.amount AS order_amount, o.renewal AS order_renewal
     FROM memberships m
     JOIN artists a ON a.id = m.artist_id
     LEFT JOIN membership_orders o ON o.membership_id = m.id AND o.status = 'pending'";

impl Row {
    fn view(self, now: DateTime<Utc>) -> MembershipView {
        let status = MembershipStatus::at(&self.status, self.expires_at, now);
        let pending_order = match (self.order_id, self.order_amount, self.order_renewal) {
            (Some(id), Some(amount), Some(renewal)) => Some(
                MembershipOrder {
                    id,
                    amount,
                    renewal,
                }
                .view(&self.name),
            ),
            _ => None,
        };
        MembershipView {
            id: self.id,
            artist_id: self.artist_id,
            tier: if status == MembershipStatus::Active {
                Tier::of_points(self.points)
            } else {
                Tier::Bronze
            },
            status,
            points: self.points,
            joined_at: self.joined_at,
            expires_at: self.expires_at,
            pending_order,
            artist: MembershipArtist {
                id: self.artist_id,
                name: self.name,
                name_en: self.name_en,
                image_url: self.image_url,
                membership_price: self.membership_price,
            },
        }
    }
}

/// One membership by id.
pub async fn fetch_view(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<MembershipView> {
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE m.id = $1"))
        .bind(id)
        .fetch_one(db)
        .await?;
    Ok(row.view(now))
}

/// Every membership of `user`, artists by name.
pub async fn list_for(
    db: &PgPool,
    user: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<MembershipView>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.user_id = $1 ORDER BY a.name, m.id"
    ))
    .bind(user)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.view(now)).collect())
}

/// The owner of membership `id`.
pub async fn owner_of(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT user_id FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A page of the ledger of membership `id`, newest first.
pub async fn ledger(
    db: &PgPool,
    id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<PointsEntry>> {
    let (t, i) = after.unzip();
    sqlx::query_as(
        "SELECT id, reason, source, points, clawback_of, created_at FROM membership_points
         WHERE membership_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC
         LIMIT $4",
    )
    .bind(id)
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(db)
    .await
}

//! The payout ledger: what the platform owes each seller for a sale (`price − fee`),
//! written in the transaction that sells the listing, marked paid by an admin once the
//! money has been sent.

use super::model::{Payout, PayoutStatus};
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use shared_wasm::token::Role;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    listing_id: Uuid,
    seller_id: Uuid,
    event_title: String,
    label: String,
    price: i64,
    fee: i64,
    amount: i64,
    status: String,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
}

impl Row {
    fn view(self) -> Payout {
        Payout {
            id: self.id,
            listing_id: self.listing_id,
            seller_id: self.seller_id,
            event_title: self.event_title,
            label: self.label,
            price: self.price,
            fee: self.fee,
            amount: self.amount,
            status: match self.status.as_str() {
                "paid" => PayoutStatus::Paid,
                "cancelled" => PayoutStatus::Cancelled,
                _ => PayoutStatus::Pending,
            },
            created_at: self.created_at,
            paid_at: self.paid_at,
        }
    }
}

const SELECT: &str = "SELECT po.id, po.listing_id, po.seller_id, e.title AS event_title, t.label,
        l.price, l.fee, po.amount, po.status, po.created_at, po.paid_at
     FROM payouts po
     JOIN transfer_listings l ON l.id = po.listing_id
     JOIN tickets t ON t.id = l.ticket_id
     JOIN events e ON e.id = l.event_id";

/// A page of payouts, newest first: one seller's, or (admins) everyone's, optionally of
/// one status.
pub async fn list(
    state: &AppState,
    seller: Option<Uuid>,
    status: Option<PayoutStatus>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<(Payout, DateTime<Utc>)>> {
    let (t, i) = after.unzip();
    let status = status.map(|s| match s {
        PayoutStatus::Pending => "pending",
        PayoutStatus::Paid => "paid",
        PayoutStatus::Cancelled => "cancelled",
    });
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::uuid IS NULL OR po.seller_id = $1)
           AND ($2::text IS NULL OR po.status = $2)
           AND ($3::timestamptz IS NULL OR (po.created_at, po.id) < ($3, $4))
         ORDER BY po.created_at DESC, po.id DESC LIMIT $5"
    ))
    .bind(seller)
    .bind(status)
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let at = r.created_at;
            (r.view(), at)
        })
        .collect())
}

/// `POST /api/v1/admin/payouts/{id}/paid`: an admin records that the money was sent.
pub async fn mark_paid(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Payout> {
    user.require(&[Role::Admin])?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let moved = sqlx::query(
        "UPDATE payouts SET status = 'paid', paid_at = $2, paid_by = $3
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(now)
    .bind(user.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 1 {
        let change = crate::audit::Change::new("payout.paid", "payout", id)
            .before(serde_json::json!({ "status": "pending" }))
            .after(serde_json::json!({ "status": "paid" }));
        crate::audit::record(&mut tx, user.actor(), change, now).await?;
    }
    tx.commit().await?;
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE po.id = $1"))
        .bind(id)
        .fetch_optional(&state.db)
        .await?;
    let Some(row) = row else {
        return Err(ApiError::new(Code::PAYOUT_NOT_FOUND, "No such payout"));
    };
    if moved == 0 {
        return Err(
            ApiError::new(Code::PAYOUT_NOT_PENDING, "This payout is not pending")
                .with("payout_status", row.status),
        );
    }
    Ok(row.view())
}

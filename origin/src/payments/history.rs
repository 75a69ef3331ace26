//! `GET /api/v1/me/payments`: every payment of the caller, newest first, with what it
//! paid for, its state and each of its refunds, so a fan can follow their money without
//! asking support. Only the caller's own payments; failed attempts that took no money
//! are listed too, with their status, because fans see them on their card statements
//! as authorisations and ask.

use super::model::{PaymentStatus, RefundView};
use super::store::refunds_of;
use crate::auth::AuthUser;
use crate::http::page::{limit, paginate};
use crate::http::{ApiResult, Cursor, Json, Page, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

/// What a payment paid for.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Tickets of a reservation.
    Tickets,
    /// A year of an artist's membership.
    Membership,
    /// A ticket bought on the resale market.
    Resale,
}

/// One payment in the fan's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentHistoryItem {
    pub order_id: String,
    pub kind: PaymentKind,
    /// Tickets only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<Uuid>,
    /// Tickets and resale purchases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_title: Option<String>,
    /// Memberships: whose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artist_name: Option<String>,
    pub status: PaymentStatus,
    /// Won.
    pub amount: i64,
    pub refunded_amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Oldest first.
    pub refunds: Vec<RefundView>,
}

struct Keyed {
    item: PaymentHistoryItem,
    subject_id: Uuid,
}

crate::problems!(HistoryProblems: [codes::AUTH, codes::QUERY], INVALID_CURSOR);

/// Your payments, newest first: what each paid for, its state, and its refunds.
#[utoipa::path(get, path = "/api/v1/me/payments", tag = "payments",
    params(HistoryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<PaymentHistoryItem>),
        HistoryProblems))]
pub(super) async fn my_payments(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Page<PaymentHistoryItem>>> {
    let limit = limit(q.limit)?;
    let (after_t, after_id) = Cursor::decode_created(q.cursor.as_deref())?.unzip();
    let rows = sqlx::query(
        "SELECT p.order_id, p.kind, p.subject_id, p.reservation_id, e.id AS event_id,
                e.title, a.name AS artist_name, p.status, p.amount,
                p.refunded_amount, p.method, p.approved_at, p.created_at
         FROM payments p
         LEFT JOIN reservations r ON r.id = p.reservation_id
         LEFT JOIN resale_purchases rp ON p.kind = 'resale' AND rp.id = p.subject_id
         LEFT JOIN transfer_listings l ON l.id = rp.listing_id
         LEFT JOIN events e ON e.id = COALESCE(r.event_id, l.event_id)
         LEFT JOIN membership_orders mo ON p.kind = 'membership' AND mo.id = p.subject_id
         LEFT JOIN memberships m ON m.id = mo.membership_id
         LEFT JOIN artists a ON a.id = m.artist_id
         WHERE p.user_id = $1
           AND ($2::timestamptz IS NULL OR (p.created_at, p.subject_id) < ($2, $3))
         ORDER BY p.created_at DESC, p.subject_id DESC
         LIMIT $4",
    )
    .bind(user.id)
    .bind(after_t)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let status: String = r.try_get("status")?;
        let kind: String = r.try_get("kind")?;
        items.push(Keyed {
            subject_id: r.try_get("subject_id")?,
            item: PaymentHistoryItem {
                order_id: r.try_get("order_id")?,
                kind: match kind.as_str() {
                    "membership" => PaymentKind::Membership,
                    "resale" => PaymentKind::Resale,
                    _ => PaymentKind::Tickets,
                },
                reservation_id: r.try_get("reservation_id")?,
                event_id: r.try_get("event_id")?,
                event_title: r.try_get("title")?,
                artist_name: r.try_get("artist_name")?,
                status: PaymentStatus::parse(&status).unwrap_or(PaymentStatus::Failed),
                amount: r.try_get("amount")?,
                refunded_amount: r.try_get("refunded_amount")?,
                method: r.try_get("method")?,
                approved_at: r.try_get("approved_at")?,
                created_at: r.try_get("created_at")?,
                refunds: Vec::new(),
            },
        });
    }
    let orders: Vec<String> = items.iter().map(|r| r.item.order_id.clone()).collect();
    let mut refunds: HashMap<String, Vec<RefundView>> = HashMap::new();
    for refund in refunds_of(&state.db, &orders).await? {
        refunds
            .entry(refund.order_id.clone())
            .or_default()
            .push(refund.view());
    }
    Ok(Json(paginate(
        items,
        limit,
        |r| Cursor::created(r.item.created_at, r.subject_id),
        |mut r| {
            r.item.refunds = refunds.remove(&r.item.order_id).unwrap_or_default();
            r.item
        },
    )))
}

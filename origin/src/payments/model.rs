//! Request and response shapes of the payments API.

use crate::booking::Reservation;
use crate::tickets::Ticket;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /api/v1/payments/confirm`: what the Toss widget's success redirect
/// carried. Field names as Toss spells them. Nothing in it is trusted: the amount and
/// order are compared with the origin's own order before anything is sent to Toss.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfirmRequest {
    /// Toss's payment key (at most 200 characters of `[A-Za-z0-9_-]`).
    pub payment_key: String,
    /// The order id (`order.order_id` of a reservation, membership or resale purchase).
    pub order_id: String,
    /// The amount the widget charged, integer KRW; must equal the order's.
    pub amount: i64,
}

/// The life cycle of an order's payment.
///
/// ```text
///  (none) ─claim─▶ confirming ─Toss DONE + commit─▶ paid ─cancel─▶ cancel_requested ─Toss 200─▶ refunded
///                    │   ▲                                              │                      partially_refunded
///                    │   └──── claim (new paymentKey) ◀── failed        └─ refused ─▶ paid
///                    ├─ declined / expired / hold gone ─▶ failed
///                    └─ DONE but the reservation is gone ─▶ cancel_requested ─▶ refunded
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Sent (or about to be sent) to Toss; outcome not yet known. The hold is kept.
    Confirming,
    /// Money taken, tickets issued.
    Paid,
    /// Not charged (declined, expired, hold lapsed). Paying again is possible while
    /// the hold lasts.
    Failed,
    /// A refund is on its way to Toss.
    CancelRequested,
    /// All money returned.
    Refunded,
    /// Part of the money returned (refund policy), tickets void.
    PartiallyRefunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Confirming => "confirming",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::CancelRequested => "cancel_requested",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        Some(match s {
            "confirming" => PaymentStatus::Confirming,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "cancel_requested" => PaymentStatus::CancelRequested,
            "refunded" => PaymentStatus::Refunded,
            "partially_refunded" => PaymentStatus::PartiallyRefunded,
            _ => return None,
        })
    }
}

/// An order's payment as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub order_id: String,
    /// What it paid for: `reservation`, `membership` or `resale`.
    pub kind: String,
    /// Reservations only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<Uuid>,
    pub status: PaymentStatus,
    /// Integer KRW.
    pub amount: i64,
    pub refunded_amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/payments/confirm` succeeded: the order is paid and these are its
/// tickets (the same ones on every repeat; none for a membership, the buyer's new
/// ticket for a resale).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfirmResponse {
    pub payment: PaymentView,
    pub tickets: Vec<Ticket>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    Requested,
    Completed,
    Failed,
}

/// A refund of (part of) an order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    pub order_id: String,
    /// Integer KRW returned (or to be returned).
    pub amount: i64,
    pub status: RefundStatus,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// A cancellation: the reservation as it now stands, and the refund if money was paid.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CancelResponse {
    pub reservation: Reservation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundView>,
}

/// What the browser needs to open the Toss payment widget.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientConfig {
    /// Always `toss`.
    pub provider: String,
    /// The Toss widget client key (`test_gck_…` / `live_gck_…`).
    pub client_key: String,
    /// When set, open this page instead of Toss's widget (development and tests: the
    /// Toss fake), with `orderId`, `orderName`, `amount`, `successUrl` and `failUrl` in
    /// the query; it returns to the same URLs as the widget.
    pub widget_url: Option<String>,
    /// Full refund until this many days before the show.
    pub refund_full_days: u32,
    /// Partial refund (`refund_partial_percent` %) until this many days before; no
    /// cancellation after.
    pub refund_partial_days: u32,
    pub refund_partial_percent: u32,
}

/// Answer to Toss webhooks: always 200 and this same body once the body is JSON,
/// whatever order it names or whether it names one at all (so it tells nobody which
/// order ids exist).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookAck {
    /// Always `true`.
    pub received: bool,
}

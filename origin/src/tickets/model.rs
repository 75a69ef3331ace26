//! Response shapes of the tickets API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Admits its holder.
    Valid,
    /// Refunded or cancelled; admits nobody.
    Void,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Valid => "valid",
            TicketStatus::Void => "void",
        }
    }
}

/// An issued ticket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    /// 10 characters of Crockford base32, printed under the QR code.
    pub code: String,
    pub status: TicketStatus,
    pub order_id: String,
    pub reservation_id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub starts_at: DateTime<Utc>,
    pub owner_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_type_id: Option<Uuid>,
    /// Seat label (`A-1-3`) or ticket type name.
    pub label: String,
    /// Integer KRW paid for this ticket.
    pub price: i64,
    pub issued_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<DateTime<Utc>>,
    /// When it was checked in at the door; absent until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
    /// The QR code's payload: a `qr` token (EdDSA, origin key) naming the event, the
    /// ticket and its code, valid until a day after the show. The door checks it in
    /// with `POST /events/{id}/check-ins`, which refuses void and already used tickets;
    /// scanners working offline verify it with the origin's public keys and check the
    /// code against `GET /events/{id}/void-tickets`. Absent on void tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<Ticket>,
    pub next_cursor: Option<String>,
}

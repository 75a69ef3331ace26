//! What the resale API shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    /// For sale until `expires_at`.
    Listed,
    Sold,
    Withdrawn,
    /// Reached the cut-off unsold (or its event was cancelled).
    Expired,
}

impl ListingStatus {
    /// The status at `now`: a listing past its cut-off is expired whether or not the
    /// job has marked it.
    pub fn at(stored: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> ListingStatus {
        match stored {
            "listed" if expires_at > now => ListingStatus::Listed,
            "listed" | "expired" => ListingStatus::Expired,
            "sold" => ListingStatus::Sold,
            _ => ListingStatus::Withdrawn,
        }
    }
}

/// Body of `POST /api/v1/tickets/{id}/transfer-listing`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewListing {
    /// What the buyer pays (KRW), at most the ticket's face value; default the face
    /// value.
    pub price: Option<i64>,
}

/// A listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Listing {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub starts_at: DateTime<Utc>,
    pub venue_name: String,
    pub artist_id: Option<Uuid>,
    pub artist_name: Option<String>,
    /// Seat label or ticket type.
    pub label: String,
    /// What the ticket cost at the box office.
    pub face_value: i64,
    /// What the buyer pays (never above the face value).
    pub price: i64,
    /// The platform's fee, taken from the seller's proceeds.
    pub fee: i64,
    pub fee_percent: i32,
    /// What the buyer pays in all (= `price`; the fee is the seller's).
    pub total: i64,
    /// What the seller receives: `price − fee`.
    pub payout: i64,
    pub status: ListingStatus,
    /// The cut-off: the listing can be bought until then.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Only in the seller's own list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
}

/// Answer of `POST /api/v1/transfer-listings/{id}/purchase`: the order to pay.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurchaseOrder {
    /// `rsl_<32 hex>`.
    pub order_id: String,
    pub order_name: String,
    pub amount: i64,
    /// The hold on the listing ends then; pay before.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurchaseResponse {
    pub listing: Listing,
    pub order: PurchaseOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Paid,
    /// The event was cancelled before it was paid out: the buyer was refunded and the
    /// seller's booking refunded in full.
    Cancelled,
}

/// What the platform owes (or paid) a seller for one sale.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payout {
    pub id: Uuid,
    pub listing_id: Uuid,
    pub seller_id: Uuid,
    pub event_title: String,
    pub label: String,
    pub price: i64,
    pub fee: i64,
    /// `price − fee`.
    pub amount: i64,
    pub status: PayoutStatus,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

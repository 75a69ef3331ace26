//! Request and response shapes of the booking API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /api/v1/events/{event_id}/reservations`: exactly one of `seat_ids`
/// (reserved seating) or `items` (standing / general admission).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    #[serde(default)]
    pub seat_ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub items: Option<Vec<ItemRequest>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub ticket_type_id: Uuid,
    /// Wide on purpose: negative and huge numbers reach validation and get a clear 422
    /// instead of a deserialisation error.
    pub quantity: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Pending,
    Confirmed,
    Cancelled,
    Expired,
    Refunded,
}

impl ReservationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "confirmed" => Self::Confirmed,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Seat,
    Standing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationItem {
    pub kind: ItemKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_type_id: Option<Uuid>,
    /// Seat label (`VIP-1-3`) or ticket type name.
    pub label: String,
    pub quantity: i32,
    /// Integer KRW.
    pub unit_price: i64,
    pub subtotal: i64,
}

/// What the browser hands to the Toss payment widget. The amount is the server's,
/// never the client's; the order id is derived from the reservation id, so it is stable
/// across retries and unique per reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Order {
    /// `ord_<reservation id, 32 hex>`: 36 characters of `[A-Za-z0-9_]`, as Toss requires.
    pub order_id: String,
    /// Shown in the payment window, at most 100 characters.
    pub order_name: String,
    /// Integer KRW.
    pub amount: i64,
}

impl Order {
    pub fn id_for(reservation: Uuid) -> String {
        format!("ord_{}", reservation.simple())
    }

    /// The reservation id an order id names, if it is one of ours.
    pub fn reservation_of(order_id: &str) -> Option<Uuid> {
        let hex = order_id.strip_prefix("ord_")?;
        (hex.len() == 32)
            .then(|| Uuid::try_parse(hex).ok())
            .flatten()
    }

    /// The order of a pending or confirmed reservation; none once it is closed.
    pub fn for_reservation(
        reservation: Uuid,
        status: ReservationStatus,
        event_title: &str,
        tickets: i32,
        amount: i64,
    ) -> Option<Order> {
        if !matches!(
            status,
            ReservationStatus::Pending | ReservationStatus::Confirmed
        ) {
            return None;
        }
        let suffix = format!(" · {tickets}매");
        let room = 100 - suffix.chars().count();
        let title: String = event_title.chars().take(room).collect();
        Some(Order {
            order_id: Order::id_for(reservation),
            order_name: format!("{title}{suffix}"),
            amount,
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reservation {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub user_id: Uuid,
    pub status: ReservationStatus,
    pub items: Vec<ReservationItem>,
    /// Total in integer KRW, computed by the server.
    pub amount: i64,
    pub ticket_count: i32,
    /// When an unpaid hold lapses.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it ended: `hold_expired`, `cancelled_by_user`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// The payment order, while the reservation is pending or confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReservationPage {
    pub items: Vec<Reservation>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatState {
    Available,
    Held,
    Sold,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatStatus {
    pub id: Uuid,
    pub label: String,
    pub section: String,
    pub grade: String,
    pub price: i64,
    pub status: SeatState,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketTypeStock {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
    pub total_quantity: i64,
    pub available_quantity: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SeatCounts {
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

/// `GET /api/v1/events/{event_id}/seats`: live availability, at most ~1 s old.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatAvailability {
    pub event_id: Uuid,
    pub generated_at: DateTime<Utc>,
    pub counts: SeatCounts,
    pub seats: Vec<SeatStatus>,
    pub ticket_types: Vec<TicketTypeStock>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_round_trip_and_fit_toss_rules() {
        let r = Uuid::new_v4();
        let id = Order::id_for(r);
        assert_eq!(id.len(), 36);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_eq!(Order::reservation_of(&id), Some(r));
        assert_eq!(Order::reservation_of("ord_xyz"), None);
        assert_eq!(Order::reservation_of(&r.to_string()), None);
    }

    #[test]
    fn order_names_are_capped_at_100_characters() {
        let long = "가".repeat(300);
        let o = Order::for_reservation(Uuid::nil(), ReservationStatus::Pending, &long, 2, 1000)
            .expect("pending has an order");
        assert_eq!(o.order_name.chars().count(), 100);
        assert!(o.order_name.ends_with(" · 2매"));
        assert!(
            Order::for_reservation(Uuid::nil(), ReservationStatus::Expired, "x", 1, 1).is_none()
        );
    }
}

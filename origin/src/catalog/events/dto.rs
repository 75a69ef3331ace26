//! The event API's request and response shapes.

use crate::catalog::model::{EventStatus, TicketTypeRecord};
use crate::catalog::presale::{FanWindow, PresaleSchedule};
use crate::catalog::queue_mode::QueueMode;
use crate::catalog::validate::double_option;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Response shapes
// ---------------------------------------------------------------------------------------

/// An artist as shown inside an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtistRef {
    pub id: Uuid,
    pub name: String,
    pub name_en: Option<String>,
    pub image_url: Option<String>,
}

/// A venue as shown inside an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VenueRef {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub city: String,
}

/// One row of the event list.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventListItem {
    pub id: Uuid,
    pub title: String,
    pub artist: Option<ArtistRef>,
    pub venue: VenueRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub status: EventStatus,
    /// Cheapest seat or ticket type, KRW; `null` when nothing is priced yet.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// `true`: seated (pick seats on the map); `false`: standing / ticket types only.
    pub has_seat_map: bool,
    pub poster_url: Option<String>,
}

/// The full event: everything a page needs in one response.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub poster_url: Option<String>,
    pub status: EventStatus,
    pub promoter_id: Uuid,
    pub artist: Option<ArtistRef>,
    pub venue: VenueRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_tickets_per_user: i32,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub has_seat_map: bool,
    /// How fans reach booking: through the edge waiting room (`/e/{id}`), the origin's
    /// line (`/events/{id}/queue`), or directly.
    pub queue_mode: QueueMode,
    /// Events with an artist: when each membership tier may book (members of higher
    /// tiers first, everyone at the general sale). Absent for events without an artist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presale: Option<PresaleSchedule>,
    /// Signed-in callers, events with an artist: the caller's tier and when they may
    /// book. Never in the shared cached copy; added per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub your_presale: Option<FanWindow>,
    pub ticket_types: Vec<TicketTypeRecord>,
    /// `null` for standing-only events. Seats only; their live held/sold state comes
    /// from booking's `GET /api/v1/events/{id}/seats`.
    pub seat_map: Option<SeatMap>,
    /// Optimistic-concurrency version; send it back as `If-Match` or `version` on PATCH.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The seats of an event grouped by section and row, in layout order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMap {
    pub layout: LayoutRef,
    pub sections: Vec<SeatSection>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutRef {
    pub id: Uuid,
    pub name: String,
    pub total_seats: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatSection {
    pub name: String,
    pub grade: String,
    /// KRW, after the event's `section_prices` overrides.
    pub price: i64,
    pub rows: Vec<SeatRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatRow {
    pub label: String,
    pub seats: Vec<SeatView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatView {
    pub id: Uuid,
    pub number: i32,
    /// "VIP-1-3".
    pub label: String,
    pub price: i64,
}

// ---------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------

/// `POST /api/v1/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    /// 1..=200 characters.
    pub title: String,
    /// At most 10,000 characters.
    #[serde(default)]
    pub description: String,
    pub artist_id: Option<Uuid>,
    pub venue_id: Uuid,
    /// Omit for a standing-only event.
    pub seat_layout_id: Option<Uuid>,
    /// Price overrides in KRW keyed by section name or grade, e.g. `{"VIP": 170000}`.
    #[serde(default)]
    pub section_prices: Option<BTreeMap<String, i64>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Must be before `sale_closes_at`.
    pub sale_opens_at: DateTime<Utc>,
    /// Must be no later than `starts_at`: the sale closes when the show starts at latest.
    pub sale_closes_at: DateTime<Utc>,
    /// 1..=20, default 4.
    pub max_tickets_per_user: Option<i64>,
    pub poster_url: Option<String>,
    #[serde(default)]
    pub ticket_types: Vec<NewTicketType>,
    /// Admins only: create the event on behalf of this promoter.
    pub promoter_id: Option<Uuid>,
}

/// A ticket type in `POST /api/v1/events` or `POST /api/v1/events/{id}/ticket-types`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketType {
    /// 1..=100 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// KRW, 0..=10,000,000.
    pub price: i64,
    /// 0..=1,000,000.
    pub total_quantity: i64,
    /// Display order (ascending); default: after the existing ones.
    pub sort_order: Option<i64>,
}

/// `PATCH /api/v1/events/{id}`: every field optional; `null` clears nullable ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub artist_id: Option<Option<Uuid>>,
    pub venue_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub sale_closes_at: Option<DateTime<Utc>>,
    pub max_tickets_per_user: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub poster_url: Option<Option<String>>,
    /// Expected current version (alternative to the `If-Match` header).
    pub version: Option<i64>,
    /// Refused: the layout is fixed once seats exist.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub seat_layout_id: Option<Option<serde_json::Value>>,
    /// Refused: seat prices are fixed at creation.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub section_prices: Option<Option<serde_json::Value>>,
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Case-insensitive substring of the title, the artist's name, English name or
    /// aliases, or the venue name: `아이유` and `IU` find the same events. ≤ 100 chars.
    pub q: Option<String>,
    pub artist_id: Option<Uuid>,
    pub venue_id: Option<Uuid>,
    pub promoter_id: Option<Uuid>,
    /// Shows starting at or after: `YYYY-MM-DD` (a day in Korea, UTC+9) or RFC 3339.
    pub from: Option<String>,
    /// Shows starting before: `YYYY-MM-DD` (inclusive: the whole day, UTC+9) or an RFC 3339
    /// timestamp (exclusive).
    pub to: Option<String>,
    /// Comma-separated `upcoming`, `on_sale`, `ended`, `cancelled`, or `all`. Default:
    /// every event that is not cancelled.
    pub status: Option<String>,
    /// 1..=100, default 20; anything else is 400 `INVALID_QUERY`.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventPath {
    pub event_id: Uuid,
}

//! The first gate of a reservation: what the fan asks for, checked against the event
//! (seats of this event, ticket types of this event, quantities, the sale window).
//! Answered from the seat-map cache or one Postgres read; changes nothing.

use super::model::*;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// What an event must satisfy to be booked; read from the catalog's tables.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookableEvent {
    pub title: String,
    pub seat_layout_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub max_tickets_per_user: i32,
    /// Events with an artist open per membership tier (presale).
    pub artist_id: Option<Uuid>,
}

/// The sale-window rule: reservations only while the event is on sale, and for events
/// with an artist only once the caller's presale window has opened (members of higher
/// tiers first). A fan refused for their window is told when it opens.
pub async fn check_sale_window(
    state: &AppState,
    event_id: Uuid,
    event: &BookableEvent,
    user: &AuthUser,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if event.cancelled_at.is_some() {
        return Err(ApiError::new(
            Code::EVENT_CANCELLED,
            "This event has been cancelled",
        ));
    }
    if now < event.sale_opens_at {
        return Err(
            ApiError::new(Code::SALE_NOT_OPEN, "The sale has not opened yet")
                .with("sale_opens_at", event.sale_opens_at)
                .with("opens_at", event.sale_opens_at),
        );
    }
    if now >= event.sale_closes_at || now >= event.starts_at {
        return Err(ApiError::new(Code::SALE_CLOSED, "The sale has closed")
            .with("sale_closes_at", event.sale_closes_at));
    }
    let window = crate::catalog::fan_window(
        &*state.catalog.presales,
        &state.db,
        event_id,
        event.artist_id,
        event.sale_opens_at,
        user.id,
        now,
    )
    .await?;
    match window {
        Some(w) if !w.open => Err(w.not_open()),
        _ => Ok(()),
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Seat ids, sorted (a consistent order keeps concurrent inserts deadlock-free).
    Seats(Vec<Uuid>),
    /// `(ticket type, quantity)`, sorted by ticket type.
    Standing(Vec<(Uuid, i64)>),
}

/// Most items one request may carry; far above any per-user limit.
pub(super) const MAX_REQUEST_ITEMS: usize = 50;

impl Want {
    /// Checks the shape of a request; errors are 422 naming the field.
    pub fn from_request(req: CreateReservation) -> ApiResult<Want> {
        match (req.seat_ids, req.items) {
            (Some(_), Some(_)) => Err(ApiError::validation(
                "seat_ids",
                "send either `seat_ids` or `items`, not both",
            )
            .and_field("items", "send either `seat_ids` or `items`, not both")),
            (None, None) => Err(ApiError::validation(
                "seat_ids",
                "send `seat_ids` (seated) or `items` (standing)",
            )),
            (Some(seats), None) => {
                if seats.is_empty() {
                    return Err(ApiError::validation("seat_ids", "pick at least one seat"));
                }
                if seats.len() > MAX_REQUEST_ITEMS {
                    return Err(ApiError::validation(
                        "seat_ids",
                        format!("at most {MAX_REQUEST_ITEMS} seats per request"),
                    ));
                }
                let unique: HashSet<_> = seats.iter().collect();
                if unique.len() != seats.len() {
                    return Err(ApiError::validation("seat_ids", "a seat is listed twice"));
                }
                let mut seats = seats;
                seats.sort();
                Ok(Want::Seats(seats))
            }
            (None, Some(items)) => {
                if items.is_empty() {
                    return Err(ApiError::validation("items", "add at least one item"));
                }
                if items.len() > MAX_REQUEST_ITEMS {
                    return Err(ApiError::validation(
                        "items",
                        format!("at most {MAX_REQUEST_ITEMS} items per request"),
                    ));
                }
                let mut merged: BTreeMap<Uuid, i64> = BTreeMap::new();
                for (i, it) in items.iter().enumerate() {
                    if !(1..=1000).contains(&it.quantity) {
                        return Err(ApiError::validation(
                            format!("items[{i}].quantity"),
                            "quantity must be between 1 and the per-user limit",
                        ));
                    }
                    if merged.insert(it.ticket_type_id, it.quantity).is_some() {
                        return Err(ApiError::validation(
                            format!("items[{i}].ticket_type_id"),
                            "a ticket type is listed twice",
                        ));
                    }
                }
                Ok(Want::Standing(merged.into_iter().collect()))
            }
        }
    }

    pub fn ticket_count(&self) -> i64 {
        match self {
            Want::Seats(s) => s.len() as i64,
            Want::Standing(items) => items.iter().map(|(_, q)| q).sum(),
        }
    }

    /// A canonical digest: the same request (in any order) has the same hash, so an
    /// idempotent replay can be told apart from a different request under the same key.
    pub fn digest(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        match self {
            Want::Seats(seats) => {
                h.update(b"seats");
                for s in seats {
                    h.update(s.as_bytes());
                }
            }
            Want::Standing(items) => {
                h.update(b"items");
                for (t, q) in items {
                    h.update(t.as_bytes());
                    h.update(q.to_be_bytes());
                }
            }
        }
        h.finalize().to_vec()
    }
}

/// One priced line of a request.
#[derive(Debug, Clone)]
pub struct Line {
    pub(super) seat_id: Option<Uuid>,
    pub(super) ticket_type_id: Option<Uuid>,
    pub(super) label: String,
    pub(super) quantity: i64,
    pub(super) unit_price: i64,
    /// Standing only: Postgres' available quantity when read.
    pub(super) available: i64,
}

/// Seat requests: the event and seat prices from the in-memory cache (`cache`).
pub(super) async fn price_seats(
    state: &AppState,
    event_id: Uuid,
    seats: &[Uuid],
) -> ApiResult<(BookableEvent, Vec<Line>)> {
    use super::cache::SeatLookup;
    let (event, map) = state.booking.events.get(&state.db, event_id).await?;
    if event.seat_layout_id.is_none() {
        return Err(ApiError::validation(
            "seat_ids",
            "this event has no seat map; book standing `items` instead",
        ));
    }
    let mut lines = Vec::with_capacity(seats.len());
    let mut unknown = Vec::new();
    for id in seats {
        match map.seat(id) {
            Some(info) => lines.push(Line {
                seat_id: Some(*id),
                ticket_type_id: None,
                label: info.label.clone(),
                quantity: 1,
                unit_price: info.price,
                available: 0,
            }),
            None => unknown.push(*id),
        }
    }
    if !unknown.is_empty() {
        return Err(
            ApiError::validation("seat_ids", "some seats do not belong to this event")
                .with("unknown_seats", unknown),
        );
    }
    Ok((event, lines))
}

/// Loads the event and prices every line in one query, checking each line belongs to
/// the event. Errors: 404 for an unknown event, 422 naming unknown seats/types.
pub(super) async fn load_request(
    state: &AppState,
    event_id: Uuid,
    want: &Want,
) -> ApiResult<(BookableEvent, Vec<Line>)> {
    // Seats are priced from the seat-map cache; only standing requests read here.
    let items = match want {
        Want::Seats(seats) => return price_seats(state, event_id, seats).await,
        Want::Standing(items) => items,
    };
    let ids: Vec<Uuid> = items.iter().map(|(t, _)| *t).collect();
    let db = &state.db;
    let sql =
        "SELECT e.id, e.title, e.seat_layout_id, e.starts_at, e.sale_opens_at, e.sale_closes_at,
                e.cancelled_at, e.max_tickets_per_user, e.artist_id,
                t.id AS line_id, t.name AS line_label, t.price::bigint AS line_price,
                t.available_quantity::bigint AS line_available
         FROM events e LEFT JOIN ticket_types t ON t.event_id = e.id AND t.id = ANY($2)
         WHERE e.id = $1 ORDER BY t.id";
    let rows = sqlx::query(sql)
        .bind(event_id)
        .bind(&ids)
        .fetch_all(db)
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| ApiError::new(Code::EVENT_NOT_FOUND, "No such event"))?;
    let event = BookableEvent {
        title: first.get("title"),
        seat_layout_id: first.get("seat_layout_id"),
        starts_at: first.get("starts_at"),
        sale_opens_at: first.get("sale_opens_at"),
        sale_closes_at: first.get("sale_closes_at"),
        cancelled_at: first.get("cancelled_at"),
        max_tickets_per_user: first.get("max_tickets_per_user"),
        artist_id: first.get("artist_id"),
    };
    let found: Vec<(Uuid, String, i64, i64)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get::<Option<Uuid>, _>("line_id")?,
                r.get("line_label"),
                r.get("line_price"),
                r.get("line_available"),
            ))
        })
        .collect();
    if found.len() != ids.len() {
        let known: HashSet<Uuid> = found.iter().map(|f| f.0).collect();
        let unknown: Vec<Uuid> = ids.iter().filter(|s| !known.contains(s)).copied().collect();
        return Err(
            ApiError::validation("items", "some ticket types do not belong to this event")
                .with("unknown_ticket_types", unknown),
        );
    }
    // Both lists are sorted by ticket type id, so they zip.
    let lines = found
        .into_iter()
        .zip(items)
        .map(|((id, label, price, available), (_, q))| Line {
            seat_id: None,
            ticket_type_id: Some(id),
            label,
            quantity: *q,
            unit_price: price,
            available,
        })
        .collect();
    Ok((event, lines))
}

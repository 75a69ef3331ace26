//! What a seat request needs to know about its event, kept in memory.
//!
//! Every seat request must check the sale window and price its seats. Both come from
//! Postgres, but they change rarely or never: a seat's label and price are fixed when
//! the event is created (the catalog refuses to change an event's layout or section
//! prices), and the event row (sale window, cancellation, per-user limit) changes only
//! when a promoter edits it. So each replica keeps, per event, the seats until nobody
//! booked from them for ten minutes and
//! the event row for `URR_EVENT_CACHE_TTL_MS` (default 1 s): an edit or a cancellation
//! takes effect within that time. This takes one Postgres round trip off every booking
//! during a stampede. Standing requests are not cached: they read stock levels anyway.

use super::request::BookableEvent;
use crate::cache::Cache;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Seats kept at most, over all events (a stadium has about 5,000).
const MAX_SEATS: u64 = 1_000_000;
/// Event rows kept at most.
const MAX_EVENTS: u64 = 10_000;
/// A seat map nobody booked from for this long is dropped.
const IDLE: Duration = Duration::from_secs(600);

/// A seat's label and price (integer KRW).
#[derive(Debug, Clone)]
pub struct SeatInfo {
    pub label: String,
    pub price: i64,
}

/// An event's seats by id.
pub struct Seats(HashMap<Uuid, SeatInfo>);

pub struct EventCache {
    /// Fixed at creation: kept until idle.
    seats: Cache<Uuid, Arc<Seats>>,
    /// The sale window, cancellation and limit: kept `URR_EVENT_CACHE_TTL_MS`.
    events: Option<Cache<Uuid, BookableEvent>>,
}

const EVENT_COLUMNS: &str = "id, title, seat_layout_id, starts_at, sale_opens_at, sale_closes_at,
     cancelled_at, max_tickets_per_user, artist_id";

impl EventCache {
    /// Event rows live `ttl` (0: read every time).
    pub fn new(ttl: Duration) -> EventCache {
        EventCache {
            seats: Cache::builder("booking_seats", MAX_SEATS)
                .weigh(|s: &Arc<Seats>| u32::try_from(s.0.len().max(1)).unwrap_or(u32::MAX))
                .time_to_idle(IDLE)
                .build(),
            events: (!ttl.is_zero()).then(|| {
                Cache::builder("booking_events", MAX_EVENTS)
                    .time_to_live(ttl)
                    .build()
            }),
        }
    }

    /// The event (at most the TTL old) and its seats; 404 for an unknown event.
    pub async fn get(
        &self,
        db: &PgPool,
        event_id: Uuid,
    ) -> ApiResult<(BookableEvent, Arc<impl SeatLookup>)> {
        let event = match &self.events {
            Some(events) => events
                .get_or_load(event_id, fetch_event(db, event_id))
                .await
                .map_err(ApiError::from_shared)?,
            None => fetch_event(db, event_id).await?,
        };
        let seats = self
            .seats
            .get_or_load(event_id, load_seats(db, event_id))
            .await
            .map_err(ApiError::from_shared)?;
        Ok((event, seats))
    }
}

/// Seat lookups on a cached event.
pub trait SeatLookup {
    fn seat(&self, id: &Uuid) -> Option<&SeatInfo>;
}

impl SeatLookup for Seats {
    fn seat(&self, id: &Uuid) -> Option<&SeatInfo> {
        self.0.get(id)
    }
}

async fn fetch_event(db: &PgPool, event_id: Uuid) -> ApiResult<BookableEvent> {
    sqlx::query_as::<_, BookableEvent>(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
        .bind(event_id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| ApiError::new(Code::EVENT_NOT_FOUND, "No such event"))
}

async fn load_seats(db: &PgPool, event_id: Uuid) -> ApiResult<Arc<Seats>> {
    let seats =
        sqlx::query("SELECT id, label, price::bigint AS price FROM seats WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(db)
            .await?
            .iter()
            .map(|r| {
                (
                    r.get::<Uuid, _>("id"),
                    SeatInfo {
                        label: r.get("label"),
                        price: r.get("price"),
                    },
                )
            })
            .collect();
    Ok(Arc::new(Seats(seats)))
}

//! What a seat request needs to know about its event, kept in memory.
//!
//! Every seat request must check the sale window and price its seats. Both come from
//! Postgres, but they change rarely or never: a seat's label and price are fixed when
//! the event is created (the catalog refuses to change an event's layout or section
//! prices), and the event row (sale window, cancellation, per-user limit) changes only
//! when a promoter edits it. So each replica keeps, per event, the seat map forever and
//! the event row for `URR_EVENT_CACHE_TTL_MS` (default 1 s): an edit or a cancellation
//! takes effect within that time. This takes one Postgres round trip off every booking
//! during a stampede. Standing requests are not cached: they read stock levels anyway.

use super::request::BookableEvent;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Events kept at most; beyond that the cache starts over (on-sales are few at a time).
const MAX_EVENTS: usize = 1024;

/// A seat's label and price (integer KRW).
#[derive(Debug, Clone)]
pub struct SeatInfo {
    pub label: String,
    pub price: i64,
}

struct Entry {
    event: RwLock<(Instant, BookableEvent)>,
    seats: HashMap<Uuid, SeatInfo>,
}

#[derive(Default)]
pub struct EventCache {
    entries: Mutex<HashMap<Uuid, Arc<Entry>>>,
}

const EVENT_COLUMNS: &str = "id, title, seat_layout_id, starts_at, sale_opens_at, sale_closes_at,
     cancelled_at, max_tickets_per_user";

impl EventCache {
    /// The event (at most `ttl` old) and its seat map; 404 for an unknown event.
    pub async fn get(
        &self,
        db: &PgPool,
        event_id: Uuid,
        ttl: Duration,
    ) -> ApiResult<(BookableEvent, Arc<impl SeatLookup>)> {
        let cached = self.lock().get(&event_id).cloned();
        let entry = match cached {
            Some(e) => e,
            None => {
                let e = Arc::new(load(db, event_id).await?);
                let mut map = self.lock();
                if map.len() >= MAX_EVENTS {
                    map.clear();
                }
                map.entry(event_id).or_insert(e).clone()
            }
        };
        let fresh = {
            let guard = entry.event.read().unwrap_or_else(|p| p.into_inner());
            (guard.0.elapsed() < ttl).then(|| guard.1.clone())
        };
        let event = match fresh {
            Some(e) => e,
            None => {
                let e = fetch_event(db, event_id).await?;
                *entry.event.write().unwrap_or_else(|p| p.into_inner()) =
                    (Instant::now(), e.clone());
                e
            }
        };
        Ok((event, entry))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Seat lookups on a cached event.
pub trait SeatLookup {
    fn seat(&self, id: &Uuid) -> Option<&SeatInfo>;
}

impl SeatLookup for Entry {
    fn seat(&self, id: &Uuid) -> Option<&SeatInfo> {
        self.seats.get(id)
    }
}

async fn fetch_event(db: &PgPool, event_id: Uuid) -> ApiResult<BookableEvent> {
    sqlx::query_as::<_, BookableEvent>(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
        .bind(event_id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| ApiError::new(Code::EVENT_NOT_FOUND, "No such event"))
}

async fn load(db: &PgPool, event_id: Uuid) -> ApiResult<Entry> {
    let event = fetch_event(db, event_id).await?;
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
    Ok(Entry {
        event: RwLock::new((Instant::now(), event)),
        seats,
    })
}

//! Live seat availability, cheap enough for thousands of pollers.
//!
//! Each origin replica keeps, per event, the last snapshot as ready-to-send JSON bytes
//! and rebuilds it at most once per `URR_SEATMAP_TTL_MS` (default 1 s): readers take a
//! read lock and clone an `Arc`; when the snapshot is stale exactly one request rebuilds
//! it from Postgres (single flight) while the others keep serving the previous one.
//! The response also says `Cache-Control: max-age=1`, so an edge cache can absorb
//! polls too. A snapshot is therefore never older than about one second.
//!
//! The URL is public, so the per-event slots are bounded: a slot is created only once
//! a snapshot of an existing event is built (an unknown id is a 404 that leaves
//! nothing behind; concurrent first requests share one build), at most [`MAX_EVENTS`]
//! events are kept, and an event nobody polled for [`IDLE`] is dropped.

use super::model::*;
use crate::cache::Cache;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use sqlx::Row;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Most events one replica keeps seat maps of (on-sales are few at a time; a stadium
/// snapshot is about half a megabyte).
pub const MAX_EVENTS: u64 = 256;
/// A seat map nobody asked for this long is dropped.
pub const IDLE: Duration = Duration::from_secs(600);

pub struct SeatMapCache {
    events: Cache<Uuid, Arc<Slot>>,
}

impl Default for SeatMapCache {
    fn default() -> Self {
        SeatMapCache {
            events: Cache::builder("seat_maps", MAX_EVENTS)
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

struct Slot {
    snapshot: RwLock<(Instant, Bytes)>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl SeatMapCache {
    /// The event's availability as JSON, at most `ttl` old; 404 `EVENT_NOT_FOUND` for
    /// an unknown event (nothing cached).
    pub async fn get(&self, state: &AppState, event: Uuid, ttl: Duration) -> ApiResult<Bytes> {
        let mut built_now = false;
        let slot = self
            .events
            .get_or_load(event, async {
                let bytes = build(state, event).await?;
                built_now = true;
                Ok::<_, ApiError>(Arc::new(Slot {
                    snapshot: RwLock::new((Instant::now(), bytes)),
                    rebuilding: tokio::sync::Mutex::new(()),
                }))
            })
            .await
            .map_err(ApiError::from_shared)?;
        let read = |slot: &Slot| -> (Instant, Bytes) {
            slot.snapshot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        let (at, bytes) = read(&slot);
        if built_now || at.elapsed() < ttl {
            return Ok(bytes);
        }
        // Stale: one request rebuilds, the others serve the previous snapshot meanwhile.
        match slot.rebuilding.try_lock() {
            Ok(_guard) => {
                let (at, bytes) = read(&slot);
                if at.elapsed() < ttl {
                    return Ok(bytes);
                }
                let bytes = match build(state, event).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        if e.status == axum::http::StatusCode::NOT_FOUND {
                            // Deleted since: keep nothing for it.
                            self.events.forget(&event).await;
                        }
                        return Err(e);
                    }
                };
                *slot.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
                    (Instant::now(), bytes.clone());
                Ok(bytes)
            }
            Err(_) => Ok(bytes),
        }
    }

    /// How many events have a cached seat map (tests check it stays bounded).
    pub async fn len(&self) -> u64 {
        self.events.len().await
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

async fn build(state: &AppState, event: Uuid) -> ApiResult<Bytes> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)")
        .bind(event)
        .fetch_one(&state.db)
        .await?;
    if !exists {
        return Err(ApiError::new(Code::EVENT_NOT_FOUND, "No such event"));
    }
    let generated_at = state.clock.now();
    let rows = sqlx::query(
        "SELECT s.id, s.label, s.section, s.grade, s.price::bigint AS price, r.status
         FROM seats s
         LEFT JOIN reservation_items i ON i.event_id = s.event_id AND i.seat_id = s.id AND i.live
         LEFT JOIN reservations r ON r.id = i.reservation_id
         WHERE s.event_id = $1
         ORDER BY s.position, s.id",
    )
    .bind(event)
    .fetch_all(&state.db)
    .await?;
    let mut counts = SeatCounts::default();
    let seats = rows
        .iter()
        .map(|r| {
            let status = match r.get::<Option<String>, _>("status").as_deref() {
                Some("confirmed") => SeatState::Sold,
                Some(_) => SeatState::Held,
                None => SeatState::Available,
            };
            match status {
                SeatState::Available => counts.available += 1,
                SeatState::Held => counts.held += 1,
                SeatState::Sold => counts.sold += 1,
            }
            SeatStatus {
                id: r.get("id"),
                label: r.get("label"),
                section: r.get("section"),
                grade: r.get("grade"),
                price: r.get("price"),
                status,
            }
        })
        .collect();
    let ticket_types = sqlx::query(
        "SELECT id, name, price::bigint AS price, total_quantity::bigint AS total,
                available_quantity::bigint AS available
         FROM ticket_types WHERE event_id = $1 ORDER BY sort_order, name, id",
    )
    .bind(event)
    .fetch_all(&state.db)
    .await?
    .iter()
    .map(|r| TicketTypeStock {
        id: r.get("id"),
        name: r.get("name"),
        price: r.get("price"),
        total_quantity: r.get("total"),
        available_quantity: r.get("available"),
    })
    .collect();
    let body = SeatAvailability {
        event_id: event,
        generated_at,
        counts,
        seats,
        ticket_types,
    };
    Ok(Bytes::from(
        serde_json::to_vec(&body).map_err(ApiError::internal)?,
    ))
}

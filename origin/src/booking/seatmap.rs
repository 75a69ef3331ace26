//! Live seat availability, cheap enough for thousands of pollers.
//!
//! Each origin replica keeps, per event, the last snapshot as ready-to-send JSON bytes
//! and rebuilds it at most once per `URR_SEATMAP_TTL_MS` (default 1 s): readers take a
//! read lock and clone an `Arc`; when the snapshot is stale exactly one request rebuilds
//! it from Postgres (single flight) while the others keep serving the previous one.
//! The response also says `Cache-Control: max-age=1`, so an edge cache can absorb
//! polls too. A snapshot is therefore never older than about one second.

use super::model::*;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Default)]
pub struct SeatMapCache {
    events: Mutex<HashMap<Uuid, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    snapshot: RwLock<Option<(Instant, Bytes)>>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl SeatMapCache {
    fn slot(&self, event: Uuid) -> Arc<Slot> {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(event).or_default().clone()
    }

    /// The event's availability as JSON, at most `ttl` old.
    pub async fn get(&self, state: &AppState, event: Uuid, ttl: Duration) -> ApiResult<Bytes> {
        let slot = self.slot(event);
        let read = |slot: &Slot| -> Option<(Instant, Bytes)> {
            slot.snapshot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        if let Some((at, bytes)) = read(&slot)
            && at.elapsed() < ttl
        {
            return Ok(bytes);
        }
        match slot.rebuilding.try_lock() {
            Ok(_guard) => {
                let bytes = build(state, event).await?;
                *slot.snapshot.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), bytes.clone()));
                Ok(bytes)
            }
            Err(_) => {
                // Someone is rebuilding: serve the previous snapshot if there is one,
                // else wait for the rebuild.
                if let Some((_, bytes)) = read(&slot) {
                    return Ok(bytes);
                }
                let _guard = slot.rebuilding.lock().await;
                match read(&slot) {
                    Some((_, bytes)) => Ok(bytes),
                    None => build(state, event).await,
                }
            }
        }
    }
}

async fn build(state: &AppState, event: Uuid) -> ApiResult<Bytes> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)")
        .bind(event)
        .fetch_one(&state.db)
        .await?;
    if !exists {
        return Err(ApiError::not_found("EVENT_NOT_FOUND", "No such event"));
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

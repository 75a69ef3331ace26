//! A short-lived copy of each event's detail (`GET /api/v1/events/{id}`).
//!
//! The detail of a stadium event carries its whole seat map: about 4,900 seat rows
//! read and serialised per request, on the page every fan opens during an on-sale. So
//! each replica keeps the serialised detail per event for `URR_EVENT_CACHE_TTL_MS`
//! (default 1 s, like booking's event row), in a [`crate::cache::Cache`]:
//!
//! - **Only events that exist are cached.** A load that finds no event is an error,
//!   and moka never stores errors, so random ids in public URLs leave nothing behind.
//! - **Bounded**: entries are weighed by their JSON size, at most [`MAX_BYTES`] in all;
//!   the least used go first.
//! - **Single flight**: concurrent misses for one event share one load.
//! - **Fresh enough**: an edit through this replica drops the entry at once
//!   ([`DetailCache::forget`]); edits through other replicas and changes of artists,
//!   venues or stock show within the TTL. The derived `status` is never stale: an entry
//!   whose status at the current clock differs from the one it was built with is
//!   rebuilt.
//!
//! A TTL of 0 turns the cache off (the tests' default, which edit rows directly).

use super::events::{EventDetail, load_detail};
use super::model::{EventStatus, event_not_found, event_status};
use super::presale::Presales;
use super::queue_mode::QueueModes;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Most bytes of serialised details one replica keeps (a 4,900-seat detail is about
/// 0.6 MB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Catalog's share of the app state.
pub struct Catalog {
    pub details: DetailCache,
    /// The queue module's answer to how an event queues (see [`QueueModes`]).
    pub(crate) queue_modes: Arc<dyn QueueModes>,
    /// The memberships module's presale answers (see [`Presales`]).
    pub(crate) presales: Arc<dyn Presales>,
}

impl Catalog {
    /// Details live `ttl` (`URR_EVENT_CACHE_TTL_MS`; 0 turns the cache off).
    pub fn new(
        ttl: std::time::Duration,
        queue_modes: Arc<dyn QueueModes>,
        presales: Arc<dyn Presales>,
    ) -> Catalog {
        Catalog {
            details: DetailCache::new(ttl),
            queue_modes,
            presales,
        }
    }
}

/// One cached detail: its JSON and what its status was derived from.
pub struct Cached {
    pub json: Bytes,
    /// Events with an artist have a presale; the caller's window is added per request.
    pub artist_id: Option<Uuid>,
    pub sale_opens_at: DateTime<Utc>,
    status: EventStatus,
    sale_closes_at: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
}

impl Cached {
    fn of(detail: &EventDetail) -> ApiResult<Cached> {
        Ok(Cached {
            json: Bytes::from(serde_json::to_vec(detail).map_err(ApiError::internal)?),
            status: detail.status,
            artist_id: detail.artist.as_ref().map(|a| a.id),
            sale_opens_at: detail.sale_opens_at,
            sale_closes_at: detail.sale_closes_at,
            starts_at: detail.starts_at,
            cancelled_at: detail.cancelled_at,
        })
    }

    fn status_at(&self, now: DateTime<Utc>) -> EventStatus {
        event_status(
            now,
            self.sale_opens_at,
            self.sale_closes_at,
            self.starts_at,
            self.cancelled_at,
        )
    }
}

pub struct DetailCache {
    /// `None`: caching is off.
    entries: Option<crate::cache::Cache<Uuid, Arc<Cached>>>,
}

impl DetailCache {
    pub fn new(ttl: std::time::Duration) -> DetailCache {
        let entries = (!ttl.is_zero()).then(|| {
            crate::cache::Cache::builder("event_details", MAX_BYTES)
                .weigh(|c: &Arc<Cached>| u32::try_from(c.json.len()).unwrap_or(u32::MAX))
                .time_to_live(ttl)
                .build()
        });
        DetailCache { entries }
    }

    /// The detail of `id` (its JSON and what the caller-specific parts need); 404 `EVENT_NOT_FOUND` (never cached) for an unknown
    /// event.
    pub async fn get(&self, state: &AppState, id: Uuid) -> ApiResult<Arc<Cached>> {
        let now = state.clock.now();
        let Some(entries) = &self.entries else {
            return Ok(Arc::new(load(state, id, now).await?));
        };
        let cached = entries
            .get_or_load(id, async { load(state, id, now).await.map(Arc::new) })
            .await
            .map_err(ApiError::from_shared)?;
        if cached.status_at(now) == cached.status {
            return Ok(cached);
        }
        // The clock crossed a sale or show boundary since it was built.
        let fresh = Arc::new(load(state, id, now).await?);
        entries.insert(id, fresh.clone()).await;
        Ok(fresh)
    }

    /// Drops the entry of `id` (after an edit through this replica).
    pub async fn forget(&self, id: Uuid) {
        if let Some(entries) = &self.entries {
            entries.forget(&id).await;
        }
    }

    /// How many events are cached now (tests check it stays bounded).
    pub async fn len(&self) -> u64 {
        match &self.entries {
            Some(entries) => entries.len().await,
            None => 0,
        }
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

async fn load(state: &AppState, id: Uuid, now: DateTime<Utc>) -> ApiResult<Cached> {
    let mut conn = state.db.acquire().await?;
    let detail = load_detail(&mut conn, id, now, &state.catalog)
        .await?
        .ok_or_else(event_not_found)?;
    Cached::of(&detail)
}

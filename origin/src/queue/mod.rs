//! The waiting room's tier 2 at the origin, and the promoter's queue rules.
//!
//! A fan served by the edge (tier 1) brings its signed pass here; the pass's tier-1
//! position orders the origin's line, so nobody can claim a better place than the edge
//! gave them, and the line's order is the edge's order, not whoever polls fastest. Every
//! tick, one Lua script per event drops lapsed slots and fans who stopped polling and
//! moves the head of the line into free slots; it is atomic, so it is safe on any
//! number of replicas. An admitted fan receives an entry token on its
//! next status poll, and booking for a queued event requires it ([`require_entry`]).
//!
//! - `routes`: `POST /queue/join`, `GET /queue/status`, `POST /queue/leave`;
//! - `line`: the Redis line and its scripts (`*.lua` beside this file);
//! - `entry`: signing entry tokens and the booking guard;
//! - `settings`: each event's queue settings in Postgres, cached ~1 s;
//! - `rules`: `GET/PUT /edge-rules`, and the pushes to the edges (an outbox table).

mod config;
mod entry;
mod line;
mod preview;
mod room;
mod routes;
mod rules;
mod settings;

pub use config::QueueConfig;
pub use entry::{require as require_entry, sign as sign_entry};
pub use line::{MinuteCounters, WAIT_BUCKETS_SECS, forget_minutes, minute_counters, sizes};
pub use rules::{push_due, refresh_presale, reject_cancelled, store_rules};
pub use settings::load as load_settings;

use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::workers::Workers;
use settings::SettingsCache;
pub use settings::{Modes, QueueSettings};
use std::time::Duration;
use uuid::Uuid;

/// The queue's share of the app state.
pub struct Queue {
    pub(crate) settings: SettingsCache,
    /// Pushes rules to the edges.
    pub(crate) http: reqwest::Client,
}

impl Queue {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<Queue> {
        Ok(Queue {
            settings: SettingsCache::new(config.booking.event_cache_ttl),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
        })
    }
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router()
        .merge(rules::router())
        .routes(utoipa_axum::routes!(preview::preview_rules))
        .routes(utoipa_axum::routes!(room::room_stats))
        .routes(utoipa_axum::routes!(room::pause))
        .routes(utoipa_axum::routes!(room::resume))
        .routes(utoipa_axum::routes!(room::set_rate))
}

/// The admission loop and the rules pusher.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every("queue_admission", state.config.queue.tick, move || {
        let s = s.clone();
        async move { tick_all(&s).await.map(|_| ()) }
    });
    let s = state.clone();
    workers.every(
        "edge_rules_push",
        state.config.queue.push_interval,
        move || {
            let s = s.clone();
            async move { rules::push_due(&s, None).await.map(|_| ()) }
        },
    );
}

/// The event's queue settings; 404 `EVENT_NOT_FOUND` or `QUEUE_NOT_FOUND` without.
pub async fn event_settings(
    state: &AppState,
    event: Uuid,
) -> ApiResult<std::sync::Arc<QueueSettings>> {
    if let Some(s) = state.queue.settings.get(&state.db, event).await? {
        return Ok(s);
    }
    crate::catalog::find_event(&state.db, event)
        .await?
        .ok_or_else(crate::catalog::event_not_found)?;
    Err(ApiError::new(
        Code::QUEUE_NOT_FOUND,
        "this event has no queue: book directly",
    ))
}

pub fn limits(settings: &QueueSettings) -> line::Limits {
    line::Limits {
        capacity: settings.rules.max_active,
        slot_ms: settings.slot_ms(),
    }
}

/// 503 when the line (Redis) is unreachable: the queue cannot say who is next.
pub fn redis_down(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "queue store unavailable");
    ApiError::new(
        Code::QUEUE_UNAVAILABLE,
        "the queue is briefly unavailable; keep this page open and try again",
    )
    .with_retry_after(2)
}

/// One admission tick for `event` with its settings (see `admit.lua`); records metrics.
pub async fn tick(
    state: &AppState,
    event: Uuid,
    settings: &QueueSettings,
) -> redis::RedisResult<line::Tick> {
    let now_ms = state.clock.unix_ms();
    let cfg = &state.config.queue;
    let spec = line::TickSpec {
        limits: limits(settings),
        batch: cfg.batch,
        stale_before_ms: now_ms - cfg.stale.as_millis() as i64,
        tick_ms: cfg.tick.as_millis() as u64,
    };
    // Before the opening the line only collects (and sheds stale) waiters.
    let spec = if settings.admits(state.clock.unix()) {
        spec
    } else {
        line::TickSpec { batch: 0, ..spec }
    };
    let t = line::admit(&state.redis, event, spec, now_ms).await?;
    if t.ran {
        let e = event.to_string();
        metrics::gauge!("urr_queue_waiting", "event" => e.clone()).set(t.waiting as f64);
        metrics::gauge!("urr_queue_active", "event" => e.clone()).set(t.active as f64);
        metrics::counter!("urr_queue_admitted_total", "event" => e.clone())
            .increment(t.admitted.len() as u64);
        metrics::counter!("urr_queue_abandoned_total", "event" => e.clone()).increment(t.abandoned);
        metrics::counter!("urr_queue_slots_expired_total", "event" => e).increment(t.expired);
        for (_, joined_ms) in &t.admitted {
            metrics::histogram!("urr_queue_wait_seconds")
                .record((now_ms - joined_ms).max(0) as f64 / 1000.0);
        }
    }
    Ok(t)
}

/// The events whose lines are live (queue mode, sale not long over): the ones the
/// admission loop ticks and statistics copy.
pub async fn live_lines(state: &AppState) -> sqlx::Result<Vec<Uuid>> {
    let events = settings::admitting(&state.db, state.clock.now()).await?;
    Ok(events.into_iter().map(|(e, _)| e).collect())
}

/// Runs one admission tick for every event that queues. Returns the ticks that ran.
pub async fn tick_all(state: &AppState) -> anyhow::Result<Vec<(Uuid, line::Tick)>> {
    let events = settings::admitting(&state.db, state.clock.now()).await?;
    let mut out = Vec::with_capacity(events.len());
    for (event, s) in events {
        match tick(state, event, &s).await {
            Ok(t) => out.push((event, t)),
            Err(e) => tracing::warn!(%event, error = %e, "admission tick failed"),
        }
    }
    Ok(out)
}

/// Frees `user`'s slot on `event` (they paid, or are done) so the next fan is admitted.
/// Best effort: if Redis is down, the slot lapses by itself.
pub async fn release_slot(state: &AppState, event: Uuid, user: Uuid) {
    match line::leave(&state.redis, event, user, state.clock.unix_ms()).await {
        Ok((_, true)) => tracing::debug!(%event, %user, "queue slot released"),
        Ok(_) => {}
        Err(e) => tracing::warn!(%event, %user, error = %e, "could not release a queue slot"),
    }
}

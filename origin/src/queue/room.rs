//! A promoter's live view of the waiting room and its controls.
//!
//! - `GET /api/v1/events/{id}/queue/stats`: tier 1 per edge (joined and served, asked
//!   from each edge with a token only the origin can sign), tier 2 now (waiting,
//!   active, the measured admission rate) and the last minutes the line counted.
//! - `POST /api/v1/events/{id}/queue/pause` and `/resume`, `PUT /api/v1/events/{id}/queue/rate`:
//!   each writes the next rules version (a rate of 0 pauses: the edge serves nobody new
//!   and tier 2 admits nobody new; whoever holds a slot may finish), pushes it to every
//!   edge at once and answers like `PUT /edge-rules`, with each edge's acknowledgement.
//!   The rate a paused room had is kept and restored by resume.

use super::rules::{self, EdgeRulesView};
use super::{line, settings};
use crate::audit::{self, Change};
use crate::auth::AuthUser;
use crate::catalog::authorize_event_manager;
use crate::http::{ApiError, ApiResult, Code, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared_wasm::rules::RATE_RANGE;
use shared_wasm::token::{self, RulesClaims};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long the origin waits for one edge's counters.
const EDGE_STATS_TIMEOUT: Duration = Duration::from_secs(2);
/// Minutes of the line shown.
const RECENT_MINUTES: i64 = 30;

/// One edge's tier-1 counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeRoom {
    pub edge_url: String,
    /// Fans who took a place in this edge's line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<u64>,
    /// Places let through so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<u64>,
    /// The rules version the edge runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Why the edge could not be asked (then the figures are absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One minute as the line counted it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineMinute {
    pub minute: DateTime<Utc>,
    pub joined: i64,
    pub admitted: i64,
    pub abandoned: i64,
    pub waiting_peak: i64,
    pub active_peak: i64,
}

/// The waiting room right now.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomStats {
    pub event_id: Uuid,
    pub rules_version: u64,
    pub paused: bool,
    /// Tier-1 admissions per minute the rules allow (0 while paused).
    pub new_users_per_minute: u32,
    /// The rate resume restores, while paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_rate: Option<u32>,
    pub max_active: u32,
    pub edge_tier: bool,
    pub edges: Vec<EdgeRoom>,
    /// Tier 2 now; absent while Redis cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<u64>,
    /// Measured tier-2 admissions per minute (smoothed over about ten ticks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted_per_minute: Option<f64>,
    /// The last minutes counted by the line (not yet older than the copy window),
    /// oldest first.
    pub minutes: Vec<LineMinute>,
}

async fn paused_rate(state: &AppState, event: Uuid) -> sqlx::Result<Option<u32>> {
    let rate: Option<Option<i32>> =
        sqlx::query_scalar("SELECT paused_rate FROM event_queues WHERE event_id = $1")
            .bind(event)
            .fetch_optional(&state.db)
            .await?;
    Ok(rate.flatten().and_then(|r| u32::try_from(r).ok()))
}

/// Asks one edge for the room's tier-1 counters.
async fn ask_edge(state: &AppState, url: &str, token: &str, event: Uuid) -> EdgeRoom {
    let mut room = EdgeRoom {
        edge_url: url.to_owned(),
        joined: None,
        served: None,
        version: None,
        error: None,
    };
    let sent = state
        .queue
        .http
        .post(format!("{url}/__urr/stats/{event}"))
        .header("content-type", "application/jwt")
        .timeout(EDGE_STATS_TIMEOUT)
        .body(token.to_owned())
        .send()
        .await;
    match sent {
        Err(e) => room.error = Some(format!("unreachable: {e}")),
        Ok(r) if !r.status().is_success() => {
            room.error = Some(format!("answered {}", r.status()));
        }
        Ok(r) => match r.json::<serde_json::Value>().await {
            Err(e) => room.error = Some(format!("unreadable answer: {e}")),
            Ok(v) => {
                room.joined = v["issued"].as_u64();
                room.served = v["serving"].as_u64();
                room.version = v["version"].as_u64();
            }
        },
    }
    room
}

crate::problems!(
    RoomStatsProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, QUEUE_NOT_FOUND,
);

/// The waiting room now: tier 1 per edge, tier 2, the last minutes.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/queue/stats", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses((status = 200, body = RoomStats), RoomStatsProblems))]
pub(super) async fn room_stats(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Json<RoomStats>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    let s = settings::load(&state.db, event_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::QUEUE_NOT_FOUND, "this event has no waiting room"))?;
    let now = state.clock.unix();
    // A token only the origin can sign, without the draw seed: it proves who asks.
    let claims = RulesClaims {
        evt: event_id,
        rules: s.rules.clone(),
        event_name: None,
        draw_seed: None,
        iat: now,
        exp: now + 60,
    };
    let token = token::sign(&state.config.keys.origin_signing, &claims);
    let edges = if s.edge_tier {
        futures::future::join_all(
            state
                .config
                .queue
                .edge_urls
                .iter()
                .map(|url| ask_edge(&state, url, &token, event_id)),
        )
        .await
    } else {
        Vec::new()
    };
    let sizes = line::sizes(&state.redis, event_id, state.clock.unix_ms())
        .await
        .ok();
    let now_minute = now.div_euclid(60);
    let minutes = line::minute_counters(&state.redis, event_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.minute > now_minute - RECENT_MINUTES)
        .map(|m| LineMinute {
            minute: DateTime::from_timestamp(m.minute * 60, 0).unwrap_or_default(),
            joined: m.joined,
            admitted: m.admitted,
            abandoned: m.abandoned,
            waiting_peak: m.waiting_peak,
            active_peak: m.active_peak,
        })
        .collect();
    Ok(Json(RoomStats {
        event_id,
        rules_version: s.rules.version,
        paused: s.rules.new_users_per_minute == 0,
        new_users_per_minute: s.rules.new_users_per_minute,
        paused_rate: paused_rate(&state, event_id).await?,
        max_active: s.rules.max_active,
        edge_tier: s.edge_tier,
        edges,
        waiting: sizes.map(|s| s.0),
        active: sizes.map(|s| s.1),
        admitted_per_minute: sizes.map(|s| s.2),
        minutes,
    }))
}

/// What a control does to the stored rules.
enum Control {
    Pause,
    Resume,
    Rate(u32),
}

async fn control(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    what: Control,
) -> ApiResult<EdgeRulesView> {
    authorize_event_manager(&state.db, user, event_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    rules::refuse_if_cancelled(&mut tx, event_id).await?;
    let current = rules::current_for_update(&mut tx, event_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                Code::EDGE_RULES_NOT_SET,
                "this event has no queue rules yet; PUT them to create its waiting room",
            )
        })?;
    let stored_pause: Option<i32> =
        sqlx::query_scalar("SELECT paused_rate FROM event_queues WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
    let before = current.rules.new_users_per_minute;
    let (rate, pause_memo, action) = match what {
        Control::Pause if before == 0 => {
            return Err(ApiError::new(
                Code::ROOM_PAUSED,
                "the room is already paused",
            ));
        }
        Control::Pause => (0, Some(before as i32), "event.room_paused"),
        Control::Resume => match stored_pause {
            Some(r) if before == 0 => (r as u32, None, "event.room_resumed"),
            _ => {
                return Err(ApiError::new(
                    Code::ROOM_NOT_PAUSED,
                    "the room is not paused",
                ));
            }
        },
        Control::Rate(r) => {
            if !RATE_RANGE.contains(&r) || r == 0 {
                return Err(ApiError::validation(
                    "new_users_per_minute",
                    format!(
                        "must be 1..={} (pause the room to stop admissions)",
                        RATE_RANGE.end()
                    ),
                ));
            }
            (r, None, "event.room_rate_changed")
        }
    };
    let mut next = current.rules;
    next.new_users_per_minute = rate;
    next.version += 1;
    rules::write_and_schedule(&mut tx, event_id, &next, current.edge_tier, now).await?;
    sqlx::query("UPDATE event_queues SET paused_rate = $2, updated_by = $3 WHERE event_id = $1")
        .bind(event_id)
        .bind(pause_memo)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        user.actor(),
        Change::new(action, "event", event_id)
            .before(json!({ "new_users_per_minute": before, "version": next.version - 1 }))
            .after(json!({ "new_users_per_minute": rate, "version": next.version })),
        now,
    )
    .await?;
    tx.commit().await?;
    state.queue.settings.forget(event_id).await;
    tracing::info!(%event_id, version = next.version, rate, action, "waiting room control");
    if let Err(e) = rules::push_due(state, Some(event_id)).await {
        tracing::warn!(%event_id, error = ?e, "immediate rules push failed; the pusher retries");
    }
    rules::view(state, event_id).await
}

crate::problems!(
    ControlProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EVENT_CANCELLED, EDGE_RULES_NOT_SET,
    ROOM_PAUSED, ROOM_NOT_PAUSED,
);

/// Pauses admissions: the edge serves nobody new and tier 2 admits nobody new (those
/// holding a slot may finish). A new rules version, pushed at once.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue/pause", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses((status = 200, body = EdgeRulesView), ControlProblems))]
pub(super) async fn pause(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Json<EdgeRulesView>> {
    Ok(Json(
        control(&state, &user, event_id, Control::Pause).await?,
    ))
}

/// Resumes admissions at the rate the room had when it was paused.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue/resume", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses((status = 200, body = EdgeRulesView), ControlProblems))]
pub(super) async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Json<EdgeRulesView>> {
    Ok(Json(
        control(&state, &user, event_id, Control::Resume).await?,
    ))
}

/// `PUT /queue/rate` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRate {
    /// Tier-1 admissions per minute, 1..=1,000,000.
    pub new_users_per_minute: u32,
}

crate::problems!(
    RateProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EVENT_CANCELLED, EDGE_RULES_NOT_SET,
    ROOM_PAUSED, ROOM_NOT_PAUSED,
);

/// Changes the admission rate (also resumes a paused room).
#[utoipa::path(put, path = "/api/v1/events/{event_id}/queue/rate", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = SetRate,
    security(("bearer" = [])),
    responses((status = 200, body = EdgeRulesView), RateProblems))]
pub(super) async fn set_rate(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Json(body): Json<SetRate>,
) -> ApiResult<Json<EdgeRulesView>> {
    let what = Control::Rate(body.new_users_per_minute);
    Ok(Json(control(&state, &user, event_id, what).await?))
}

//! Tier-2 HTTP API: join, status, leave.

use super::line::{self, Joined, Standing, Ticket};
use super::settings::QueueSettings;
use super::{entry, event_settings};
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::queue::{eta_seconds, poll_after_ms};
use shared_wasm::rules::{Mode, Phase};
use shared_wasm::token::{self, CLOCK_SKEW_SECS, PassClaims, TokenError};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An admitted fan polls this often to renew the entry token while booking.
const ADMITTED_POLL_MS: u32 = 30_000;

/// `POST /queue/join` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The pass from the edge (`GET /vwr/{event_id}/status` once served). Required
    /// when the event's edge tier is on, here or as the HttpOnly `urr_pass_<event>`
    /// cookie the edge sets for pages (the body wins); the position is read from it,
    /// never from the client.
    #[serde(default)]
    pub pass: Option<String>,
}

/// Where the entry token goes once admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryDelivery {
    /// In the body (`entry_token`) and in the event's entry cookie: for API clients.
    #[default]
    Body,
    /// Only in the event's HttpOnly entry cookie, so page scripts never hold it.
    Cookie,
}

/// Other query parameters are ignored (clients have sent `position` there; it never
/// counts: the place comes from the pass).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `cookie`: the entry token is set only as an HttpOnly cookie (web pages).
    #[serde(default)]
    #[param(inline)]
    pub delivery: EntryDelivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    Waiting,
    Admitted,
    Expired,
}

/// Where the fan stands in the event's tier-2 line.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatus {
    pub event_id: Uuid,
    pub state: QueueState,
    /// Tier-1 position (or arrival number when the event has no edge tier).
    pub position: u64,
    /// People waiting ahead (waiting only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ahead: Option<u64>,
    /// Estimated wait from the measured admission rate; absent while nobody is
    /// being admitted (before the opening, or every slot taken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Poll again after this long; farther back polls less often.
    pub poll_after_ms: u32,
    /// Admitted only: send it as `X-Entry-Token` when booking. Renewed on every poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_token_expires_at: Option<DateTime<Utc>>,
    /// Admitted only: when the booking slot ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_expires_at: Option<DateTime<Utc>>,
}

fn at_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn pass_refused(e: &TokenError) -> ApiError {
    let code = match e {
        TokenError::WrongKind { .. } => Code::PASS_WRONG_TYPE,
        TokenError::WrongEvent => Code::PASS_WRONG_EVENT,
        TokenError::Expired => Code::PASS_EXPIRED,
        TokenError::NotYetValid => Code::PASS_NOT_YET_VALID,
        TokenError::Malformed => Code::PASS_MALFORMED,
        TokenError::UnknownKey | TokenError::BadSignature | TokenError::Algorithm => {
            Code::PASS_INVALID
        }
    };
    ApiError::new(code, format!("the pass was refused: {e}"))
}

/// Turns a standing into the API answer, signing an entry token for the admitted.
fn answer(
    state: &AppState,
    event: Uuid,
    user: Uuid,
    standing: Standing,
    rate_per_min: f64,
    admitting: bool,
) -> ApiResult<QueueStatus> {
    let jitter = u64::from_le_bytes(user.as_bytes()[..8].try_into().unwrap_or([0; 8]))
        ^ state.clock.unix_ms() as u64;
    let mut s = QueueStatus {
        event_id: event,
        state: QueueState::Expired,
        position: 0,
        ahead: None,
        eta_seconds: None,
        poll_after_ms: ADMITTED_POLL_MS,
        entry_token: None,
        entry_token_expires_at: None,
        slot_expires_at: None,
    };
    match standing {
        Standing::Waiting { position, ahead } => {
            s.state = QueueState::Waiting;
            s.position = position;
            s.ahead = Some(ahead);
            s.eta_seconds = admitting
                .then(|| eta_seconds(ahead, rate_per_min))
                .flatten();
            s.poll_after_ms = poll_after_ms(ahead, jitter);
        }
        Standing::Admitted {
            position,
            slot_expires_ms,
        } => {
            let (token, exp) = entry::sign(state, event, user, slot_expires_ms);
            s.state = QueueState::Admitted;
            s.position = position;
            s.entry_token = Some(token);
            s.entry_token_expires_at = DateTime::from_timestamp(exp, 0);
            s.slot_expires_at = at_ms(slot_expires_ms);
        }
        Standing::Expired { position } => s.position = position,
        Standing::None => {
            return Err(ApiError::new(
                Code::NOT_IN_QUEUE,
                "you are not in this event's queue; join it first",
            ));
        }
    }
    Ok(s)
}

/// The answer with the entry token also set as the event's entry cookie
/// (`urr_entry_<event id, 32 hex>`, for pages); with [`EntryDelivery::Cookie`] only there.
fn respond(
    state: &AppState,
    status: StatusCode,
    mut body: QueueStatus,
    delivery: EntryDelivery,
) -> Response {
    let cookie = body.entry_token.as_ref().map(|t| {
        let max_age = body
            .entry_token_expires_at
            .map(|e| (e.timestamp() - state.clock.unix()).max(0))
            .unwrap_or(0);
        let secure = if state.config.auth.cookie_secure {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={t}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            entry::cookie(body.event_id)
        )
    });
    if delivery == EntryDelivery::Cookie {
        body.entry_token = None;
    }
    let mut resp = (status, Json(body)).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn check_open(settings: &QueueSettings, now_s: i64) -> ApiResult<()> {
    match settings.rules.mode {
        Mode::Queue => {}
        Mode::Passthrough => {
            return Err(ApiError::new(
                Code::QUEUE_NOT_REQUIRED,
                "this event has no waiting line right now: book directly",
            ));
        }
        Mode::Reject => {
            return Err(ApiError::new(
                Code::QUEUE_CLOSED,
                "the queue for this event is closed",
            ));
        }
        Mode::Maintenance => {
            return Err(ApiError::new(
                Code::QUEUE_MAINTENANCE,
                "the queue for this event is under maintenance; try again shortly",
            )
            .with_retry_after(30));
        }
    }
    match settings.rules.phase(now_s) {
        Phase::Closed => Err(ApiError::new(
            Code::QUEUE_NOT_OPEN,
            "the queue for this event has not opened yet",
        )
        .with(
            "opens_at",
            DateTime::from_timestamp(
                settings
                    .rules
                    .prequeue_opens_at
                    .unwrap_or(settings.rules.sale_opens_at),
                0,
            ),
        )),
        Phase::Ended => Err(ApiError::new(Code::SALE_CLOSED, "the sale has closed")),
        Phase::PreQueue | Phase::Open => Ok(()),
    }
}

/// How long a consumed tier-1 position stays taken: until the sale closes plus
/// [`POSITION_LOCK_GRACE_SECS`] (a week without a close), and never less than the pass
/// could still verify. The edge re-signs a fresh pass for a served position on every
/// poll, so a shorter lock would let a second account join with the same low position.
fn position_lock_secs(settings: &QueueSettings, pass_exp: i64, now_s: i64) -> u64 {
    let pass_life = pass_exp + CLOCK_SKEW_SECS - now_s;
    let sale_life = match settings.rules.sale_closes_at {
        Some(close) => close + POSITION_LOCK_GRACE_SECS - now_s,
        None => POSITION_LOCK_WITHOUT_CLOSE_SECS,
    };
    pass_life.max(sale_life).max(1) as u64
}

/// Past the sale's close a position stays taken this long (late passes still verify).
const POSITION_LOCK_GRACE_SECS: i64 = 3_600;
/// A sale without a closing time keeps its positions taken a week.
const POSITION_LOCK_WITHOUT_CLOSE_SECS: i64 = 7 * 24 * 3_600;

crate::problems!(
    JoinProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH, codes::QUERY],
    PASS_REQUIRED, PASS_INVALID, PASS_EXPIRED, PASS_WRONG_EVENT, PASS_WRONG_TYPE, PASS_MALFORMED,
    EVENT_NOT_FOUND, QUEUE_NOT_FOUND, PASS_ALREADY_USED, QUEUE_NOT_OPEN, QUEUE_CLOSED,
    QUEUE_NOT_REQUIRED, SALE_CLOSED, RATE_LIMITED, PASS_NOT_YET_VALID, QUEUE_MAINTENANCE,
    QUEUE_UNAVAILABLE, EDGE_KEYS_NOT_CONFIGURED, SALE_NOT_OPEN,
);

/// Events with an artist: a fan whose presale window has not opened may not take a
/// place in the booking line (they could not book from it anyway), and is told when
/// their window opens. Checked before the pass is spent, so it still works later.
async fn presale_gate(state: &AppState, event_id: Uuid, user: Uuid) -> ApiResult<()> {
    let row: Option<(Option<Uuid>, DateTime<Utc>)> =
        sqlx::query_as("SELECT artist_id, sale_opens_at FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_optional(&state.db)
            .await?;
    let Some((artist, sale_opens_at)) = row else {
        return Ok(());
    };
    let window = crate::catalog::fan_window(
        &*state.catalog.presales,
        &state.db,
        event_id,
        artist,
        sale_opens_at,
        user,
        state.clock.now(),
    )
    .await?;
    match window {
        Some(w) if !w.open => Err(w.not_open()),
        _ => Ok(()),
    }
}

/// Joins the event's booking line (tier 2). With the edge tier on, send the pass the
/// edge handed out; your place is the pass's tier-1 position. A pass seats one user,
/// once. Joining again while in the line answers where you stand.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue/join", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id"), DeliveryQuery),
    request_body = JoinRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Joined (or admitted at once)", body = QueueStatus),
        (status = 200, description = "Already in the line", body = QueueStatus),
        JoinProblems))]
async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Query(q): Query<DeliveryQuery>,
    headers: HeaderMap,
    Json(body): Json<JoinRequest>,
) -> ApiResult<Response> {
    crate::auth::limit_per_user(&state, crate::auth::RateLimit::QueueJoinUser, user.id).await?;
    let settings = event_settings(&state, event_id).await?;
    let now_s = state.clock.unix();
    check_open(&settings, now_s)?;
    presale_gate(&state, event_id, user.id).await?;
    let edge_kid: String;
    let ticket = if settings.edge_tier {
        let from_cookie =
            || crate::http::cookie(&headers, &shared_wasm::edge::pass_cookie(event_id));
        let Some(raw) = body
            .pass
            .as_deref()
            .or_else(from_cookie)
            .map(str::trim)
            .filter(|p| !p.is_empty())
        else {
            return Err(ApiError::new(
                Code::PASS_REQUIRED,
                "join the waiting room at the edge first; send its pass as {\"pass\": ...} \
                 (pages: the edge's pass cookie)",
            ));
        };
        let keys = state.config.keys.edge_public.as_ref().ok_or_else(|| {
            ApiError::new(
                Code::EDGE_KEYS_NOT_CONFIGURED,
                "the origin cannot verify edge passes (URR_EDGE_PUBLIC_KEYS is unset)",
            )
        })?;
        let pass: PassClaims =
            token::verify_for_event(keys, raw, event_id, now_s).map_err(|e| pass_refused(&e))?;
        // Verified above, so the header parses and names one of our edge keys.
        edge_kid = token::key_id(raw).unwrap_or_default();
        if pass.pos == 0 {
            return Err(ApiError::new(
                Code::PASS_INVALID,
                "the pass has no position",
            ));
        }
        Ticket::Pass {
            edge_kid: edge_kid.as_str(),
            position: pass.pos,
            life_secs: position_lock_secs(&settings, pass.exp, now_s),
        }
    } else {
        Ticket::Arrival
    };
    let limits = super::limits(&settings);
    let admitting = settings.admits(now_s);
    let joined = line::join(
        &state.redis,
        event_id,
        user.id,
        ticket,
        limits,
        admitting,
        state.clock.unix_ms(),
    )
    .await
    .map_err(super::redis_down)?;
    let (standing, fresh, rate) = match joined {
        Joined::PassUsed => {
            return Err(ApiError::new(
                Code::PASS_ALREADY_USED,
                "this pass has already been used to join; a pass seats one fan, once",
            ));
        }
        Joined::In {
            standing,
            fresh,
            rate_per_min,
        } => (standing, fresh, rate_per_min),
    };
    if fresh {
        let e = event_id.to_string();
        metrics::counter!("urr_queue_joins_total", "event" => e.clone()).increment(1);
        if matches!(standing, Standing::Admitted { .. }) {
            metrics::counter!("urr_queue_admitted_total", "event" => e).increment(1);
            metrics::histogram!("urr_queue_wait_seconds").record(0.0);
        }
    }
    let body = answer(&state, event_id, user.id, standing, rate, admitting)?;
    let code = if fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond(&state, code, body, q.delivery))
}

crate::problems!(
    StatusProblems: [codes::AUTH, codes::PATH, codes::QUERY],
    EVENT_NOT_FOUND, QUEUE_NOT_FOUND, NOT_IN_QUEUE, QUEUE_CLOSED, QUEUE_MAINTENANCE,
    QUEUE_UNAVAILABLE,
);

/// Where you stand: waiting (position, people ahead, ETA, when to poll again),
/// admitted (with a fresh entry token) or expired (slot over, dropped for not polling,
/// or left: join again). Polling keeps your place; stop for 90 s and you are dropped.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/queue/status", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id"), DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = QueueStatus),
        StatusProblems))]
async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Response> {
    let settings = event_settings(&state, event_id).await?;
    if settings.rules.mode == Mode::Reject {
        // Cancelled or closed for good: tell pollers to stop instead of "waiting".
        return Err(ApiError::new(
            Code::QUEUE_CLOSED,
            "the queue for this event is closed",
        ));
    }
    let (standing, rate) = line::status(&state.redis, event_id, user.id, state.clock.unix_ms())
        .await
        .map_err(super::redis_down)?;
    let admitting = settings.admits(state.clock.unix());
    let body = answer(&state, event_id, user.id, standing, rate, admitting)?;
    Ok(respond(&state, StatusCode::OK, body, q.delivery))
}

crate::problems!(
    LeaveProblems: [codes::AUTH, codes::PATH],
    EVENT_NOT_FOUND, QUEUE_NOT_FOUND, QUEUE_UNAVAILABLE,
);

/// Leaves the line, or gives up your booking slot so the next fan gets it.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/queue/leave", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Out of the line (also when you were not in it)"),
        LeaveProblems))]
async fn leave(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    event_settings(&state, event_id).await?;
    line::leave(&state.redis, event_id, user.id, state.clock.unix_ms())
        .await
        .map_err(super::redis_down)?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(join))
        .routes(routes!(status))
        .routes(routes!(leave))
}

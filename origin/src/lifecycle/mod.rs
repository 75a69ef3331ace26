//! Changes to an event that reach across capabilities: editing an event once tickets
//! are sold, and cancelling it. Catalog owns the event row, booking the holds and
//! sales, payments the money, queue the waiting room; this module is the one place
//! that runs them together, each step inside the transaction that locks the event row
//! so a cancellation happens exactly once.

use crate::auth::AuthUser;
use crate::catalog::{
    EventDetail, EventPath, EventRecord, apply_edit, check_edit, check_version, event_cancelled,
    event_not_found, if_match, load_detail, lock_for_write, mark_cancelled,
};
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared_wasm::token::Role;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The cross-capability event routes, under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update))
        .routes(routes!(cancel))
        .routes(routes!(cancel_preview))
}

crate::problems!(
    UpdateProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    INVALID_IF_MATCH, FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, VERSION_CONFLICT,
    EVENT_CANCELLED, EVENT_HAS_SALES,
);

/// Edit an event (everything but its seat layout and seat prices).
///
/// Optimistic concurrency: send the `version` you read (as `If-Match` or in the body);
/// a stale one is 409 `VERSION_CONFLICT`. Every change bumps `version`.
///
/// Once anything is sold or held (a paid reservation or a live hold), the show time and
/// sale window (`starts_at`, `ends_at`, `sale_opens_at`, `sale_closes_at`) are frozen
/// for promoters: changing them is 409 `EVENT_HAS_SALES` (with `fields`). Admins may
/// still move them; fans' refunds keep using the show time they bought for.
#[utoipa::path(patch, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath, ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    request_body = crate::catalog::UpdateEvent,
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventDetail),
        UpdateProblems))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
    headers: HeaderMap,
    Json(body): Json<crate::catalog::UpdateEvent>,
) -> ApiResult<Json<EventDetail>> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let expected = if_match(&headers)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let cur = lock_for_write(&mut tx, &user, p.event_id).await?;
    if cur.cancelled_at.is_some() {
        return Err(event_cancelled());
    }
    check_version(&[expected, body.version], cur.version)?;
    let before = crate::audit::row(&mut tx, "events", cur.id).await?;
    let edit = check_edit(&mut tx, &cur, body).await?;
    // The show time and sale window are what fans bought; once anything is sold or
    // held only an admin may move them. A hold being written holds the event row's KEY
    // SHARE lock and a payment being finalised FOR SHARE, so with the row locked here
    // both are either counted or wait for this edit.
    if !edit.schedule_moved.is_empty()
        && !user.is_admin()
        && crate::booking::has_sales(&mut tx, cur.id, now).await?
    {
        return Err(ApiError::new(
            Code::EVENT_HAS_SALES,
            "Tickets are sold or held: the show time and sale window are frozen; ask an \
             admin to move them",
        )
        .with("fields", &edit.schedule_moved));
    }
    apply_edit(&mut tx, &cur, edit, now).await?;
    let after = crate::audit::row(&mut tx, "events", cur.id).await?;
    let (id, actor) = (cur.id, user.actor());
    crate::audit::record_rows(
        &mut tx,
        actor,
        "event.updated",
        "event",
        id,
        before,
        after,
        now,
    )
    .await?;
    let detail = load_detail(&mut tx, cur.id, now, &state.catalog)
        .await?
        .ok_or_else(event_not_found)?;
    tx.commit().await?;
    state.catalog.details.forget(cur.id).await;
    Ok(Json(detail))
}

/// What cancelling an event set in motion.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancellation {
    /// Unpaid holds cancelled at once, their seats and standing stock returned.
    pub holds_released: usize,
    /// Paid orders with a full refund requested; the money goes back through Toss
    /// (within one reconciler interval, retried until done), then the tickets are voided.
    pub refunds_requested: usize,
}

/// The cancelled event, with what its cancellation set in motion.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledEvent {
    #[serde(flatten)]
    pub event: EventDetail,
    pub cancellation: Cancellation,
}

/// Runs inside the cancel transaction, after `cancelled_at` is set and while the event
/// row is locked, so it happens exactly once (a second cancel finds `cancelled_at` set and stops): every unpaid
/// hold is cancelled with its inventory returned, every paid order gets a full refund
/// request, and a queued event's rules turn to `reject` (the waiting room closes at
/// the edge and in the origin's line; pushed to the edges after the commit). Returns the closed holds (their Redis keys are freed after the
/// commit) and what was done.
async fn on_event_cancelled(
    state: &AppState,
    conn: &mut PgConnection,
    event: &EventRecord,
    now: DateTime<Utc>,
) -> ApiResult<(Vec<crate::booking::Closed>, Cancellation)> {
    let closed = crate::booking::cancel_event_holds(state, conn, event.id, now).await?;
    let refunds = crate::payments::request_event_refunds(conn, event.id, now).await?;
    crate::queue::reject_cancelled(conn, event.id, now).await?;
    let done = Cancellation {
        holds_released: closed.len(),
        refunds_requested: refunds.len(),
    };
    Ok((closed, done))
}

crate::problems!(
    CancelPreviewProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND,
);

/// What cancelling the event would do right now: the unpaid holds it would release and
/// the paid orders it would refund in full (for the confirmation a console shows
/// before `POST .../cancel`). Figures move while the sale runs; the cancel's own
/// answer counts what it actually did.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/cancel-preview", tag = "catalog",
    params(EventPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = crate::booking::OpenOrders),
        CancelPreviewProblems))]
pub(crate) async fn cancel_preview(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<Json<crate::booking::OpenOrders>> {
    crate::catalog::authorize_event_manager(&state.db, &user, p.event_id).await?;
    let now = state.clock.now();
    Ok(Json(
        crate::booking::open_orders(&state.db, p.event_id, now).await?,
    ))
}

crate::problems!(
    CancelProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EVENT_ALREADY_CANCELLED,
);

/// Cancel an event. Its status becomes `cancelled` at once, in the same transaction
/// every unpaid hold is released and every paid order gets a full refund request
/// (`cancellation` says how many); a second cancel is 409 `EVENT_ALREADY_CANCELLED`.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/cancel", tag = "catalog",
    params(EventPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CancelledEvent),
        CancelProblems))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<Json<CancelledEvent>> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, p.event_id).await?;
    if event.cancelled_at.is_some() {
        return Err(ApiError::new(
            Code::EVENT_ALREADY_CANCELLED,
            "The event is already cancelled",
        ));
    }
    mark_cancelled(&mut tx, event.id, now).await?;
    let (closed, cancellation) = on_event_cancelled(&state, &mut tx, &event, now).await?;
    crate::audit::record(
        &mut tx,
        user.actor(),
        crate::audit::Change::new("event.cancelled", "event", event.id).after(serde_json::json!({
            "holds_released": cancellation.holds_released,
            "refunds_requested": cancellation.refunds_requested,
        })),
        now,
    )
    .await?;
    let detail = load_detail(&mut tx, event.id, now, &state.catalog)
        .await?
        .ok_or_else(event_not_found)?;
    tx.commit().await?;
    state.catalog.details.forget(event.id).await;
    crate::booking::release_redis(&state, &closed).await;
    state.queue.settings.forget(event.id).await;
    // Tell the edges now; the pusher retries any that miss it.
    let pusher = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::queue::push_due(&pusher, Some(event.id)).await {
            tracing::warn!(error = %e, "pushing a cancelled event's rules failed; the pusher retries");
        }
    });
    metrics::counter!("booking_closed_total", "reason" => "event_cancelled")
        .increment(closed.len() as u64);
    tracing::info!(
        event = %event.id,
        holds_released = cancellation.holds_released,
        refunds_requested = cancellation.refunds_requested,
        "event cancelled"
    );
    Ok(Json(CancelledEvent {
        event: detail,
        cancellation,
    }))
}

//! Booking's HTTP routes: seat availability, create / read / cancel a reservation, and
//! the caller's list.

use super::model::*;
use super::{create, reservations};
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::Cursor;
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

crate::problems!(SeatAvailabilityProblems: [codes::PATH], EVENT_NOT_FOUND);

/// Live seat map: every seat's status (available, held, sold) and the remaining
/// quantity per ticket type. At most ~1 s old.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/seats", tag = "booking",
    params(("event_id" = Uuid, Path, description = "Event id")),
    responses(
        (status = 200, body = SeatAvailability),
        SeatAvailabilityProblems))]
pub(super) async fn seat_availability(
    State(state): State<AppState>,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Response> {
    let ttl = state.config.booking.seatmap_ttl;
    let bytes = state.booking.seatmaps.get(&state, event_id, ttl).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=1"),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v.to_str().ok().map(str::trim).unwrap_or_default();
    let ok = (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::new(
            Code::INVALID_IDEMPOTENCY_KEY,
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_owned()))
}

crate::problems!(
    CreateReservationProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    ENTRY_TOKEN_REQUIRED, ENTRY_TOKEN_INVALID, ENTRY_TOKEN_MALFORMED, ENTRY_TOKEN_EXPIRED,
    ENTRY_TOKEN_WRONG_EVENT, ENTRY_TOKEN_WRONG_TYPE, ENTRY_TOKEN_WRONG_USER,
    ENTRY_TOKEN_NOT_YET_VALID, QUEUE_SLOT_ENDED, EVENT_NOT_FOUND, SEAT_UNAVAILABLE, SOLD_OUT,
    TICKET_LIMIT_EXCEEDED, SALE_NOT_OPEN, SALE_CLOSED, EVENT_CANCELLED, INVALID_IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_CONFLICT, DUPLICATE_REQUEST, BUSY, RATE_LIMITED,
);

/// Holds seats (`seat_ids`) or standing tickets (`items`) for 5 minutes: all of them
/// or none. Send an `Idempotency-Key` header to make retries safe.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/reservations", tag = "booking",
    params(
        ("event_id" = Uuid, Path, description = "Event id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the same reservation"),
        ("X-Entry-Token" = Option<String>, Header, description = "Required when the event queues: the entry token from GET /queue/status (or the event's urr_entry_<event id, 32 hex> cookie)")),
    request_body = CreateReservation,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Held (or an idempotent replay)", body = Reservation),
        (status = 200, description = "You already hold exactly this; hold extended", body = Reservation),
        CreateReservationProblems))]
pub(super) async fn create_reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<CreateReservation>,
) -> ApiResult<Response> {
    crate::auth::limit_per_user(&state, crate::auth::RateLimit::ReservationUser, user.id).await?;
    crate::queue::require_entry(&state, &user, event_id, &headers).await?;
    let key = idempotency_key(&headers)?;
    let want = super::request::Want::from_request(body)?;
    let created = create::create(&state, &user, event_id, want, key).await?;
    Ok(match created {
        create::Created::New(r) => (StatusCode::CREATED, Json(r)).into_response(),
        create::Created::Replayed(r) => (
            StatusCode::CREATED,
            [("idempotent-replayed", "true")],
            Json(r),
        )
            .into_response(),
        create::Created::Existing(r) => (StatusCode::OK, Json(r)).into_response(),
    })
}

crate::problems!(GetReservationProblems: [codes::AUTH, codes::PATH], RESERVATION_NOT_FOUND);

/// One of your reservations.
#[utoipa::path(get, path = "/api/v1/reservations/{reservation_id}", tag = "booking",
    params(("reservation_id" = Uuid, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reservation),
        GetReservationProblems))]
pub(super) async fn get_reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    Ok(Json(reservations::fetch_for(&state, &user, id).await?))
}

crate::problems!(
    CancelReservationProblems: [codes::AUTH, codes::PATH],
    RESERVATION_NOT_PENDING, RESERVATION_NOT_FOUND, PAYMENT_IN_PROGRESS,
);

/// Cancels a pending (unpaid) reservation; its seats and tickets are bookable again at
/// once. Paid reservations are refunded through the payments API instead.
#[utoipa::path(delete, path = "/api/v1/reservations/{reservation_id}", tag = "booking",
    params(("reservation_id" = Uuid, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reservation),
        CancelReservationProblems))]
pub(super) async fn cancel_reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Reservation>> {
    Ok(Json(reservations::cancel_pending(&state, &user, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1-100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

crate::problems!(MyReservationsProblems: [codes::AUTH, codes::QUERY], INVALID_CURSOR);

/// Your reservations, newest first.
#[utoipa::path(get, path = "/api/v1/me/reservations", tag = "booking",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ReservationPage),
        MyReservationsProblems))]
pub(super) async fn my_reservations(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<ReservationPage>> {
    let limit = crate::http::page::limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    let (items, next) = reservations::list_for(&state, user.id, limit, after).await?;
    Ok(Json(ReservationPage {
        items,
        next_cursor: next.map(|(at, id)| Cursor::created(at, id).encode()),
    }))
}

//! At the door: checking tickets in, and the void list offline scanners sync.
//!
//! A QR payload proves that the origin issued a ticket for an event; it cannot say
//! whether the ticket is still good (a refunded ticket keeps a QR that verifies until
//! a day after the show, while its seat is sold again). So admission is decided here,
//! against the row:
//!
//! - `POST /api/v1/events/{event_id}/check-ins` with `{"qr"}` or `{"code"}`: one
//!   conditional UPDATE (`status = 'valid' AND checked_in_at IS NULL`), so of any
//!   number of scanners racing on one ticket exactly one admits it; the others get
//!   409 `ALREADY_CHECKED_IN` with the time. A void ticket (refunded, or its event
//!   cancelled and refunded) is 409 `TICKET_VOID`. A ticket of another event is 404,
//!   as if it did not exist.
//! - `GET /api/v1/events/{event_id}/void-tickets?since=`: what a scanner working
//!   offline must refuse, in `(voided_at, id)` order with a cursor.
//!
//! Both are for the event's promoter and admins only.

use super::code;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::page::{Cursor, Page, invalid_query, limit as page_limit, paginate};
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::{self, QrClaims};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest QR payload accepted (ours are about 300 characters).
const MAX_QR_LEN: usize = 2048;

/// `POST /api/v1/events/{event_id}/check-ins`: exactly one of `qr` and `code`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The ticket's QR payload, as scanned.
    pub qr: Option<String>,
    /// The 10-character code printed under the QR code, as typed (case, hyphens,
    /// spaces and I/L/O misreadings are forgiven).
    pub code: Option<String>,
}

/// A ticket admitted at the door.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedIn {
    pub ticket_id: Uuid,
    /// Seat label (`A-1-3`) or ticket type name.
    pub label: String,
    pub checked_in_at: DateTime<Utc>,
}

/// A ticket that must not be admitted.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct VoidTicket {
    pub id: Uuid,
    pub code: String,
    pub voided_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VoidTicketsQuery {
    /// Only tickets voided at or after this RFC 3339 time. To stay complete, ask
    /// again from a little before the last `voided_at` you have (a minute): a refund
    /// committing late can carry a slightly earlier time.
    pub since: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Which ticket the scanner means: by code, and by id too when the QR named it.
struct Wanted {
    code: String,
    id: Option<Uuid>,
}

fn ticket_not_found() -> ApiError {
    ApiError::new(Code::TICKET_NOT_FOUND, "No such ticket for this event")
}

/// Validates the body; 422 for anything malformed, 404 for a QR of another event.
fn wanted(state: &AppState, event_id: Uuid, body: CheckInRequest) -> ApiResult<Wanted> {
    match (body.qr, body.code) {
        (Some(qr), None) => {
            if qr.len() > MAX_QR_LEN {
                return Err(ApiError::validation("qr", "is too long to be a ticket QR"));
            }
            let claims: QrClaims = token::verify(
                &state.config.keys.origin_public,
                qr.trim(),
                state.clock.unix(),
            )
            .map_err(|e| {
                ApiError::new(
                    Code::QR_INVALID,
                    "The QR code is not a valid ticket of ours",
                )
                .with("reason", e.code())
            })?;
            if claims.evt != event_id {
                return Err(ticket_not_found());
            }
            Ok(Wanted {
                code: claims.code,
                id: Some(claims.tid),
            })
        }
        (None, Some(typed)) => match code::normalize(&typed) {
            Some(code) => Ok(Wanted { code, id: None }),
            None => Err(ApiError::validation(
                "code",
                "must be a ticket code: 10 characters of 0-9 and A-Z",
            )),
        },
        _ => Err(ApiError::validation(
            "body",
            "send exactly one of `qr` and `code`",
        )),
    }
}

crate::problems!(
    CheckInProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, NOT_ASSIGNED, EVENT_NOT_FOUND, TICKET_NOT_FOUND,
    ALREADY_CHECKED_IN, TICKET_VOID, EVENT_CANCELLED, QR_INVALID,
);

/// Check a ticket in at the door (the event's promoter, an admin, or staff assigned to
/// the event).
///
/// The first scan of a valid ticket admits it (200); every later scan, from any
/// scanner, is 409 `ALREADY_CHECKED_IN` with `checked_in_at`. Refunded or otherwise
/// void tickets are 409 `TICKET_VOID` (with `voided_at`), whatever their QR says.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/check-ins", tag = "tickets",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = CheckInRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Admitted", body = CheckedIn),
        CheckInProblems))]
pub(crate) async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Json(body): Json<CheckInRequest>,
) -> ApiResult<Json<CheckedIn>> {
    let event = super::staff::authorize_door(&state.db, &user, event_id).await?;
    let wanted = wanted(&state, event_id, body)?;
    if event.cancelled_at.is_some() {
        return Err(ApiError::new(
            Code::EVENT_CANCELLED,
            "The event is cancelled; nobody is admitted",
        ));
    }
    let now = state.clock.now();
    let admitted = sqlx::query(
        "UPDATE tickets SET checked_in_at = $4, checked_in_by = $5
         WHERE event_id = $1 AND code = $2 AND ($3::uuid IS NULL OR id = $3)
           AND status = 'valid' AND checked_in_at IS NULL
         RETURNING id, label, checked_in_at",
    )
    .bind(event_id)
    .bind(&wanted.code)
    .bind(wanted.id)
    .bind(now)
    .bind(user.id)
    .fetch_optional(&state.db)
    .await?;
    if let Some(r) = admitted {
        metrics::counter!("door_check_ins_total", "result" => "admitted").increment(1);
        return Ok(Json(CheckedIn {
            ticket_id: r.get("id"),
            label: r.get("label"),
            checked_in_at: r.get("checked_in_at"),
        }));
    }
    // Nothing admitted: say why, from the row as it is now.
    let row = sqlx::query(
        "SELECT status, voided_at, void_reason, checked_in_at FROM tickets
         WHERE event_id = $1 AND code = $2 AND ($3::uuid IS NULL OR id = $3)",
    )
    .bind(event_id)
    .bind(&wanted.code)
    .bind(wanted.id)
    .fetch_optional(&state.db)
    .await?;
    let refused = |result: &'static str| {
        metrics::counter!("door_check_ins_total", "result" => result).increment(1);
    };
    let Some(row) = row else {
        refused("not_found");
        return Err(ticket_not_found());
    };
    if row.get::<String, _>("status") != "valid" {
        refused("void");
        return Err(ApiError::new(
            Code::TICKET_VOID,
            "This ticket is void (refunded or cancelled); do not admit it",
        )
        .with(
            "voided_at",
            row.get::<Option<DateTime<Utc>>, _>("voided_at"),
        )
        .with("void_reason", row.get::<Option<String>, _>("void_reason")));
    }
    refused("already_checked_in");
    Err(ApiError::new(
        Code::ALREADY_CHECKED_IN,
        "This ticket was already checked in",
    )
    .with(
        "checked_in_at",
        row.get::<Option<DateTime<Utc>>, _>("checked_in_at"),
    ))
}

/// Parses `since`: RFC 3339 (an unencoded `+09:00` arrives as ` 09:00`).
fn parse_since(s: &str) -> ApiResult<DateTime<Utc>> {
    let s = s.trim();
    let plus = s.replace(' ', "+");
    [s, plus.as_str()]
        .into_iter()
        .find_map(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(|| invalid_query("since", "must be an RFC 3339 timestamp"))
}

crate::problems!(
    VoidTicketsProblems: [codes::AUTH, codes::PATH, codes::QUERY],
    INVALID_CURSOR, FORBIDDEN_ROLE, NOT_EVENT_OWNER, NOT_ASSIGNED, EVENT_NOT_FOUND,
);

/// Void tickets of an event, for scanners that check offline (the event's promoter or
/// an admin).
///
/// Ordered by `voided_at`, then id; page with `cursor`. Sync with `since` = a little
/// before the last `voided_at` you have.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/void-tickets", tag = "tickets",
    params(("event_id" = Uuid, Path, description = "Event id"), VoidTicketsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<VoidTicket>),
        VoidTicketsProblems))]
pub(crate) async fn void_tickets(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Query(q): Query<VoidTicketsQuery>,
) -> ApiResult<Json<Page<VoidTicket>>> {
    super::staff::authorize_door(&state.db, &user, event_id).await?;
    let since = q
        .since
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(parse_since)
        .transpose()?;
    let limit = page_limit(q.limit)?;
    let after = Cursor::decode_voided(q.cursor.as_deref())?;
    let rows = sqlx::query_as::<_, VoidTicket>(
        "SELECT id, code, voided_at FROM tickets
         WHERE event_id = $1 AND status = 'void' AND voided_at IS NOT NULL
           AND ($2::timestamptz IS NULL OR voided_at >= $2)
           AND ($3::timestamptz IS NULL OR (voided_at, id) > ($3, $4::uuid))
         ORDER BY voided_at, id
         LIMIT $5",
    )
    .bind(event_id)
    .bind(since)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(paginate(
        rows,
        limit,
        |r| Cursor::voided(r.voided_at, r.id),
        |r| r,
    )))
}

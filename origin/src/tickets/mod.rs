//! Tickets: what a paid reservation turns into.
//!
//! - `service`: issuing (only from the payments transaction that marks an order
//!   paid, so there are never tickets without money nor money without tickets), voiding
//!   (from the refund transaction), reading;
//! - `code`: the human-readable codes;
//! - `door`: check-ins and the void list for offline scanners;
//! - routes: `GET /api/v1/me/tickets`, `GET /api/v1/tickets/{id}`,
//!   `POST /api/v1/events/{id}/check-ins`, `GET /api/v1/events/{id}/void-tickets`;
//! - `staff`: door staff assigned per event (`/api/v1/events/{id}/staff`), who may do
//!   the door's two routes and nothing else.
//!
//! Each valid ticket carries a QR payload: a `qr` token of `shared_wasm::token`
//! (`QrClaims {evt, tid, code}`) signed with the origin key, minted on read. It proves
//! at the door that the origin issued this ticket for this event; whether it is still
//! valid (not refunded, not already used) is decided by the check-in against the row.
//!
//! Each ticket also keeps the show time it was bought for (`show_starts_at`, set at
//! issue): refunds apply the policy to that time, not to the event's current one.

mod code;
mod door;
mod model;
mod service;
mod staff;

pub use service::{
    Issued, for_order, for_reservation, is_code_collision, issue, purchased_show_time, reissue,
    void_for_order, void_for_reservation,
};

use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::Cursor;
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
pub use model::Ticket;
use model::{TicketPage, TicketStatus};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(door::check_in))
        .routes(routes!(door::void_tickets))
        .routes(routes!(staff::event_staff, staff::assign_by_email))
        .routes(routes!(staff::assign, staff::unassign))
        .routes(routes!(staff::my_door_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// 1-100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only `valid` or only `void` tickets.
    pub status: Option<TicketStatus>,
}

crate::problems!(MyTicketsProblems: [codes::AUTH, codes::QUERY], INVALID_CURSOR);

/// Your tickets, newest first, with their QR payloads.
#[utoipa::path(get, path = "/api/v1/me/tickets", tag = "tickets",
    params(TicketQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketPage),
        MyTicketsProblems))]
async fn my_tickets(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<TicketQuery>,
) -> ApiResult<Json<TicketPage>> {
    let limit = crate::http::page::limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    let (items, next) = service::list_for(&state, user.id, q.status, limit, after).await?;
    Ok(Json(TicketPage {
        items,
        next_cursor: next.map(|(at, id)| Cursor::created(at, id).encode()),
    }))
}

crate::problems!(GetTicketProblems: [codes::AUTH, codes::PATH], TICKET_NOT_FOUND);

/// One of your tickets (admins: any ticket).
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}", tag = "tickets",
    params(("ticket_id" = Uuid, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Ticket),
        GetTicketProblems))]
async fn get_ticket(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Ticket>> {
    match service::fetch(&state, id).await? {
        Some(t) if t.owner_id == user.id || user.is_admin() => Ok(Json(t)),
        _ => Err(ApiError::new(Code::TICKET_NOT_FOUND, "No such ticket")),
    }
}

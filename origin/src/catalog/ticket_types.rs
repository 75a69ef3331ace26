//! Ticket types: quantity-based inventory (standing, general admission).
//!
//! `available_quantity` is the live stock that booking decrements atomically;
//! `total_quantity - available_quantity` is what is sold or held. A promoter changing the
//! total moves the available stock by the same delta in ONE conditional UPDATE, so a
//! concurrent sale can never be lost or double counted, and a total below what is
//! already sold or held is refused (409 `QUANTITY_BELOW_SOLD`) rather than clamped.

use super::events::{
    NewTicketType, check_ticket_type, check_version, event_cancelled, insert_ticket_type,
    lock_for_write,
};
use super::model::{
    TICKET_TYPE_COLUMNS, TicketTypeRecord, ensure_owner, event_not_found, find_event,
    find_ticket_type, list_ticket_types,
};
use super::validate::{Checks, MAX_TICKET_TYPES};
use crate::audit;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TicketTypePath {
    pub ticket_type_id: Uuid,
}

/// `PATCH /api/v1/ticket-types/{id}`: every field optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketType {
    pub name: Option<String>,
    pub description: Option<String>,
    /// KRW; applies to future sales only.
    pub price: Option<i64>,
    /// New total; must stay ≥ what is already sold or held.
    pub total_quantity: Option<i64>,
    pub sort_order: Option<i64>,
    /// Expected current version of the ticket type.
    pub version: Option<i64>,
}

fn ticket_type_not_found() -> ApiError {
    ApiError::new(Code::TICKET_TYPE_NOT_FOUND, "No such ticket type")
}

crate::problems!(ListProblems: [codes::PATH], EVENT_NOT_FOUND);

/// The ticket types of an event with their stock.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/ticket-types", tag = "catalog",
    params(super::events::EventPath),
    responses(
        (status = 200, body = Vec<TicketTypeRecord>),
        ListProblems))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(p): Path<super::events::EventPath>,
) -> ApiResult<Json<Vec<TicketTypeRecord>>> {
    find_event(&state.db, p.event_id)
        .await?
        .ok_or_else(event_not_found)?;
    Ok(Json(list_ticket_types(&state.db, p.event_id).await?))
}

crate::problems!(
    CreateProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EVENT_CANCELLED,
);

/// Add a ticket type to an event (its promoter or an admin).
#[utoipa::path(post, path = "/api/v1/events/{event_id}/ticket-types", tag = "catalog",
    params(super::events::EventPath),
    request_body = NewTicketType,
    security(("bearer" = [])),
    responses(
        (status = 201, body = TicketTypeRecord),
        CreateProblems))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<super::events::EventPath>,
    Json(body): Json<NewTicketType>,
) -> ApiResult<(StatusCode, Json<TicketTypeRecord>)> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let mut c = Checks::new();
    let t = check_ticket_type(&mut c, "", &body);
    c.finish()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // The event row lock serialises concurrent adds, so the count limit holds.
    let event = lock_for_write(&mut tx, &user, p.event_id).await?;
    if event.cancelled_at.is_some() {
        return Err(event_cancelled());
    }
    let (count, next_order): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(max(sort_order) + 1, 0)::int8
         FROM ticket_types WHERE event_id = $1",
    )
    .bind(event.id)
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_TICKET_TYPES as i64 {
        return Err(ApiError::validation(
            "event_id",
            format!("an event has at most {MAX_TICKET_TYPES} ticket types"),
        ));
    }
    let order = t.sort_order.unwrap_or(next_order);
    let record = insert_ticket_type(&mut tx, event.id, &t, order, now).await?;
    let after = audit::row(&mut tx, "ticket_types", record.id).await?;
    let (id, actor) = (record.id, user.actor());
    audit::record_rows(
        &mut tx,
        actor,
        "ticket_type.created",
        "ticket_type",
        id,
        None,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    state.catalog.details.forget(event.id).await;
    Ok((StatusCode::CREATED, Json(record)))
}

crate::problems!(GetProblems: [codes::PATH], TICKET_TYPE_NOT_FOUND);

/// One ticket type with its stock.
#[utoipa::path(get, path = "/api/v1/ticket-types/{ticket_type_id}", tag = "catalog",
    params(TicketTypePath),
    responses(
        (status = 200, body = TicketTypeRecord),
        GetProblems))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(p): Path<TicketTypePath>,
) -> ApiResult<Json<TicketTypeRecord>> {
    find_ticket_type(&state.db, p.ticket_type_id)
        .await?
        .map(Json)
        .ok_or_else(ticket_type_not_found)
}

/// Loads a ticket type and checks the caller may change its event.
async fn authorize(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> ApiResult<(TicketTypeRecord, super::model::EventRecord)> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let t = find_ticket_type(&state.db, id)
        .await?
        .ok_or_else(ticket_type_not_found)?;
    let event = find_event(&state.db, t.event_id)
        .await?
        .ok_or_else(ticket_type_not_found)?;
    ensure_owner(user, &event)?;
    Ok((t, event))
}

crate::problems!(
    UpdateProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, TICKET_TYPE_NOT_FOUND, QUANTITY_BELOW_SOLD, VERSION_CONFLICT,
    EVENT_CANCELLED,
);

/// Edit a ticket type. Changing `total_quantity` moves `available_quantity` by the same
/// delta atomically; below the sold/held count it is 409 `QUANTITY_BELOW_SOLD`.
#[utoipa::path(patch, path = "/api/v1/ticket-types/{ticket_type_id}", tag = "catalog",
    params(TicketTypePath),
    request_body = UpdateTicketType,
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketTypeRecord),
        UpdateProblems))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<TicketTypePath>,
    Json(body): Json<UpdateTicketType>,
) -> ApiResult<Json<TicketTypeRecord>> {
    let (cur, event) = authorize(&state, &user, p.ticket_type_id).await?;
    if event.cancelled_at.is_some() {
        return Err(event_cancelled());
    }
    let mut c = Checks::new();
    let name = body
        .name
        .as_deref()
        .map(|n| c.required_text("name", n, 100));
    let description = body
        .description
        .as_deref()
        .map(|d| c.free_text("description", d, 1000));
    if let Some(price) = body.price {
        c.price("price", price);
    }
    if let Some(q) = body.total_quantity {
        c.quantity("total_quantity", q);
    }
    if let Some(o) = body.sort_order {
        c.range("sort_order", o, -1_000_000, 1_000_000);
    }
    c.finish()?;
    check_version(&[body.version], cur.version)?;

    let at = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "ticket_types", cur.id).await?;
    // All right-hand sides read the old row: the new available stock is the old one plus
    // (new total - old total), checked in the same statement that writes it.
    let updated = sqlx::query_as::<_, TicketTypeRecord>(&format!(
        "UPDATE ticket_types SET
             name = COALESCE($2, name),
             description = COALESCE($3, description),
             price = COALESCE($4, price),
             available_quantity = available_quantity + (COALESCE($5, total_quantity) - total_quantity),
             total_quantity = COALESCE($5, total_quantity),
             sort_order = COALESCE($6, sort_order),
             version = version + 1,
             updated_at = $7
         WHERE id = $1
           AND available_quantity + (COALESCE($5, total_quantity) - total_quantity) >= 0
           AND ($8::int8 IS NULL OR version = $8)
         RETURNING {TICKET_TYPE_COLUMNS}"
    ))
    .bind(cur.id)
    .bind(name)
    .bind(description)
    .bind(body.price)
    .bind(body.total_quantity)
    .bind(body.sort_order)
    .bind(at)
    .bind(body.version)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(t) = updated {
        let after = audit::row(&mut tx, "ticket_types", t.id).await?;
        let (id, actor) = (t.id, user.actor());
        let action = "ticket_type.updated";
        audit::record_rows(&mut tx, actor, action, "ticket_type", id, before, after, at).await?;
        tx.commit().await?;
        state.catalog.details.forget(t.event_id).await;
        return Ok(Json(t));
    }
    drop(tx);
    // Nothing written: say why, from a fresh read.
    let now = find_ticket_type(&state.db, cur.id)
        .await?
        .ok_or_else(ticket_type_not_found)?;
    check_version(&[body.version], now.version)?;
    let taken = i64::from(now.total_quantity) - i64::from(now.available_quantity);
    Err(ApiError::new(
        Code::QUANTITY_BELOW_SOLD,
        format!("{taken} tickets are already sold or held; total_quantity cannot go below that"),
    )
    .with("sold_or_held", taken))
}

crate::problems!(
    DeleteProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, TICKET_TYPE_NOT_FOUND, TICKET_TYPE_HAS_SALES,
);

/// Delete a ticket type nobody has bought or held (else 409 `TICKET_TYPE_HAS_SALES`).
#[utoipa::path(delete, path = "/api/v1/ticket-types/{ticket_type_id}", tag = "catalog",
    params(TicketTypePath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        DeleteProblems))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<TicketTypePath>,
) -> ApiResult<StatusCode> {
    let (cur, _) = authorize(&state, &user, p.ticket_type_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "ticket_types", cur.id).await?;
    // Conditional delete: a sale racing with this request either lands first (and the
    // delete matches nothing) or finds the row gone.
    let done = sqlx::query(
        "DELETE FROM ticket_types WHERE id = $1 AND available_quantity = total_quantity",
    )
    .bind(cur.id)
    .execute(&mut *tx)
    .await;
    let has_sales = || {
        ApiError::new(
            Code::TICKET_TYPE_HAS_SALES,
            "Tickets of this type are sold or held; it cannot be deleted",
        )
    };
    match done {
        Ok(d) if d.rows_affected() == 1 => {
            let (id, actor, action) = (cur.id, user.actor(), "ticket_type.deleted");
            audit::record_rows(&mut tx, actor, action, "ticket_type", id, before, None, now)
                .await?;
            tx.commit().await?;
            state.catalog.details.forget(cur.event_id).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(_) => match find_ticket_type(&state.db, cur.id).await? {
            None => Err(ticket_type_not_found()),
            Some(_) => Err(has_sales()),
        },
        Err(e) if super::validate::is_fk_violation(&e) => Err(has_sales()),
        Err(e) => Err(e.into()),
    }
}

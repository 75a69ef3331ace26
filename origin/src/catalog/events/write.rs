//! Promoter and admin writes: create, edit, delete.

use super::detail::*;
use super::dto::*;
use crate::auth::AuthUser;
use crate::catalog::layout::{self, LayoutConfig, generate_seats, insert_seats};
use crate::catalog::model::{
    EVENT_RECORD_COLUMNS, EventRecord, TicketTypeRecord, ensure_owner, event_not_found,
};
use crate::catalog::validate::{Checks, MAX_TICKET_TYPES, MAX_TICKETS_PER_USER, is_fk_violation};
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use shared_wasm::token::Role;
use sqlx::{PgConnection, PgExecutor};
use std::collections::BTreeMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------

/// A validated new event, ready to insert. Shared by the API and the demo seeder.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub promoter_id: Uuid,
    pub artist_id: Option<Uuid>,
    pub venue_id: Uuid,
    pub seat_layout_id: Option<Uuid>,
    pub layout: Option<LayoutConfig>,
    pub section_prices: BTreeMap<String, i64>,
    pub title: String,
    pub description: String,
    pub poster_url: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_tickets_per_user: i32,
    pub ticket_types: Vec<NewTicketType>,
}

/// Sane calendar bounds: catches typos like year 20255 or 0202 before they reach a page.
fn check_time(c: &mut Checks, field: &str, t: DateTime<Utc>) {
    let lo = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    let hi = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single();
    if lo.is_some_and(|lo| t < lo) || hi.is_some_and(|hi| t >= hi) {
        c.add(field, "must be between the years 2000 and 2199");
    }
}

/// The sale-window rules: `sale_opens_at < sale_closes_at <= starts_at < ends_at`.
fn check_window(
    c: &mut Checks,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
) {
    check_time(c, "starts_at", starts_at);
    check_time(c, "sale_opens_at", sale_opens_at);
    check_time(c, "sale_closes_at", sale_closes_at);
    if sale_opens_at >= sale_closes_at {
        c.add("sale_closes_at", "must be after sale_opens_at");
    }
    if sale_closes_at > starts_at {
        c.add(
            "sale_closes_at",
            "must be no later than starts_at: the sale closes when the show starts at the latest",
        );
    }
    if let Some(e) = ends_at {
        check_time(c, "ends_at", e);
        if e <= starts_at {
            c.add("ends_at", "must be after starts_at");
        }
    }
}

/// Validates one ticket type; `prefix` is e.g. `ticket_types[0].` or empty.
pub(crate) fn check_ticket_type(c: &mut Checks, prefix: &str, t: &NewTicketType) -> NewTicketType {
    let name = c.required_text(&format!("{prefix}name"), &t.name, 100);
    let description = c.free_text(&format!("{prefix}description"), &t.description, 1000);
    c.price(&format!("{prefix}price"), t.price);
    c.quantity(&format!("{prefix}total_quantity"), t.total_quantity);
    if let Some(o) = t.sort_order {
        c.range(&format!("{prefix}sort_order"), o, -1_000_000, 1_000_000);
    }
    NewTicketType {
        name,
        description,
        ..t.clone()
    }
}

/// Does the referenced row exist? (`table` is a constant of this module.)
async fn exists<'e>(db: impl PgExecutor<'e>, table: &str, id: Uuid) -> ApiResult<bool> {
    Ok(sqlx::query_scalar::<_, bool>(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)"
    ))
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// The config of layout `id`, or `None` if there is no such layout.
pub(crate) async fn layout_config<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> ApiResult<Option<LayoutConfig>> {
    let config: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT config FROM seat_layouts WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    config
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("layout {id} config: {e}")))
        })
        .transpose()
}

/// Checks section price overrides against the layout.
fn check_section_prices(
    c: &mut Checks,
    layout: Option<&LayoutConfig>,
    prices: &BTreeMap<String, i64>,
) {
    if prices.is_empty() {
        return;
    }
    let Some(layout) = layout else {
        c.add(
            "section_prices",
            "only events with a seat layout have sections",
        );
        return;
    };
    if prices.len() > layout::MAX_SECTIONS * 2 {
        c.add("section_prices", "has too many entries");
        return;
    }
    for (key, price) in prices {
        let field = format!("section_prices.{key}");
        let known = layout
            .sections
            .iter()
            .any(|s| &s.name == key || s.grade() == key);
        if !known {
            c.add(&field, "is neither a section nor a grade of the layout");
        }
        c.price(&field, *price);
    }
}

/// Inserts an event with its seats and ticket types; returns its id. Runs inside the
/// caller's transaction so the event never exists without its inventory.
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    id: Uuid,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, promoter_id, artist_id, venue_id, seat_layout_id, title,
                             description, poster_url, starts_at, ends_at, sale_opens_at,
                             sale_closes_at, max_tickets_per_user, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(id)
    .bind(e.promoter_id)
    .bind(e.artist_id)
    .bind(e.venue_id)
    .bind(e.seat_layout_id)
    .bind(&e.title)
    .bind(&e.description)
    .bind(&e.poster_url)
    .bind(e.starts_at)
    .bind(e.ends_at)
    .bind(e.sale_opens_at)
    .bind(e.sale_closes_at)
    .bind(e.max_tickets_per_user)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(err) if is_fk_violation(&err) => {
            return Err(ApiError::validation(
                "body",
                "a referenced artist, venue, layout or promoter no longer exists",
            ));
        }
        other => {
            other?;
        }
    }
    if let Some(layout) = &e.layout {
        let seats = generate_seats(layout, &e.section_prices);
        insert_seats(conn, id, &seats).await?;
    }
    for (i, t) in e.ticket_types.iter().enumerate() {
        let order = t
            .sort_order
            .unwrap_or_else(|| i64::try_from(i).unwrap_or(0));
        insert_ticket_type(conn, id, t, order, now).await?;
    }
    Ok(())
}

/// Inserts one (validated) ticket type with all of its stock available.
pub(crate) async fn insert_ticket_type(
    conn: &mut PgConnection,
    event_id: Uuid,
    t: &NewTicketType,
    sort_order: i64,
    now: DateTime<Utc>,
) -> ApiResult<TicketTypeRecord> {
    Ok(sqlx::query_as::<_, TicketTypeRecord>(&format!(
        "INSERT INTO ticket_types (id, event_id, name, description, price, total_quantity,
                                   available_quantity, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $8)
         RETURNING {}",
        crate::catalog::model::TICKET_TYPE_COLUMNS
    ))
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(&t.name)
    .bind(&t.description)
    .bind(t.price)
    .bind(t.total_quantity)
    .bind(i32::try_from(sort_order).unwrap_or(0))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Validates a create request against the rules and the database.
async fn validate_create(
    state: &AppState,
    user: &AuthUser,
    body: CreateEvent,
) -> ApiResult<NewEvent> {
    let promoter_id = match body.promoter_id {
        Some(p) if p != user.id && !user.is_admin() => {
            return Err(ApiError::new(
                Code::NOT_EVENT_OWNER,
                "Only admins may create events for another promoter",
            ));
        }
        Some(p) => p,
        None => user.id,
    };
    let mut c = Checks::new();
    let title = c.required_text("title", &body.title, 200);
    let description = c.free_text("description", &body.description, 10_000);
    let poster_url = body.poster_url.as_deref().map(|u| c.url("poster_url", u));
    check_window(
        &mut c,
        body.starts_at,
        body.ends_at,
        body.sale_opens_at,
        body.sale_closes_at,
    );
    let max_tickets = body.max_tickets_per_user.unwrap_or(4);
    c.range("max_tickets_per_user", max_tickets, 1, MAX_TICKETS_PER_USER);
    if body.ticket_types.len() > MAX_TICKET_TYPES {
        c.add(
            "ticket_types",
            format!("at most {MAX_TICKET_TYPES} ticket types per event"),
        );
    }
    let ticket_types: Vec<_> = body
        .ticket_types
        .iter()
        .enumerate()
        .map(|(i, t)| check_ticket_type(&mut c, &format!("ticket_types[{i}]."), t))
        .collect();

    // References.
    if promoter_id != user.id {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(promoter_id)
            .fetch_optional(&state.db)
            .await?;
        if !matches!(role.as_deref(), Some("promoter" | "admin")) {
            c.add("promoter_id", "no promoter with this id");
        }
    }
    if let Some(a) = body.artist_id
        && !exists(&state.db, "artists", a).await?
    {
        c.add("artist_id", "no artist with this id");
    }
    if !exists(&state.db, "venues", body.venue_id).await? {
        c.add("venue_id", "no venue with this id");
    }
    let layout = match body.seat_layout_id {
        Some(l) => {
            let config = layout_config(&state.db, l).await?;
            if config.is_none() {
                c.add("seat_layout_id", "no seat layout with this id");
            }
            config
        }
        None => None,
    };
    let section_prices = body.section_prices.unwrap_or_default();
    if body.seat_layout_id.is_none() || layout.is_some() {
        check_section_prices(&mut c, layout.as_ref(), &section_prices);
    }
    c.finish()?;
    Ok(NewEvent {
        promoter_id,
        artist_id: body.artist_id,
        venue_id: body.venue_id,
        seat_layout_id: body.seat_layout_id,
        layout,
        section_prices,
        title,
        description,
        poster_url,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        sale_opens_at: body.sale_opens_at,
        sale_closes_at: body.sale_closes_at,
        max_tickets_per_user: i32::try_from(max_tickets).unwrap_or(4),
        ticket_types,
    })
}

crate::problems!(CreateProblems: [codes::AUTH, codes::JSON_BODY], FORBIDDEN_ROLE, NOT_EVENT_OWNER);

/// Create an event (promoter: their own; admin: anyone's via `promoter_id`).
///
/// Seats are generated from the layout in the same transaction (one `UNNEST` insert;
/// a 4,900-seat stadium is one statement).
#[utoipa::path(post, path = "/api/v1/events", tag = "catalog",
    request_body = CreateEvent,
    security(("bearer" = [])),
    responses(
        (status = 201, body = EventDetail),
        CreateProblems))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateEvent>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<EventDetail>,
)> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let new = validate_create(&state, &user, body).await?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    insert_event(&mut tx, id, &new, now).await?;
    let after = crate::audit::row(&mut tx, "events", id).await?;
    let actor = user.actor();
    crate::audit::record_rows(
        &mut tx,
        actor,
        "event.created",
        "event",
        id,
        None,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let detail = load_detail(&mut conn, id, now, &state.catalog)
        .await?
        .ok_or_else(event_not_found)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/events/{id}"))],
        Json(detail),
    ))
}

// ---------------------------------------------------------------------------------------
// Update, cancel, delete
// ---------------------------------------------------------------------------------------

/// Locks the event row for this transaction and checks the caller may change it.
pub(crate) async fn lock_for_write(
    conn: &mut PgConnection,
    user: &AuthUser,
    id: Uuid,
) -> ApiResult<EventRecord> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let event = sqlx::query_as::<_, EventRecord>(&format!(
        "SELECT {EVENT_RECORD_COLUMNS} FROM events WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(event_not_found)?;
    ensure_owner(user, &event)?;
    Ok(event)
}

pub(crate) fn event_cancelled() -> ApiError {
    ApiError::new(
        Code::EVENT_CANCELLED,
        "The event is cancelled; it can no longer be changed",
    )
}

/// `If-Match: "3"` (or `W/"3"`, `3`; `*` matches any version).
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            Code::INVALID_IF_MATCH,
            "If-Match must be the event's version, e.g. \"3\"",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<i64>().map(Some).map_err(|_| bad())
}

/// 409 `VERSION_CONFLICT` unless every expected version equals `current`.
pub(crate) fn check_version(expected: &[Option<i64>], current: i32) -> ApiResult<()> {
    for e in expected.iter().flatten() {
        if *e != i64::from(current) {
            return Err(ApiError::new(
                Code::VERSION_CONFLICT,
                format!(
                    "Changed meanwhile: you sent version {e}, it is now {current}; reload and retry"
                ),
            )
            .with("current_version", current));
        }
    }
    Ok(())
}

/// A checked edit of an event, ready to write with [`apply_edit`].
pub(crate) struct EventEdit {
    title: Option<String>,
    description: Option<String>,
    poster_url: Option<Option<String>>,
    artist_id: Option<Option<Uuid>>,
    venue_id: Option<Uuid>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    max_tickets_per_user: Option<i64>,
    /// The schedule fields (show time, sale window) this edit moves.
    pub schedule_moved: Vec<&'static str>,
}

/// Checks an edit of `cur` (locked by [`lock_for_write`]); 422 naming every bad field.
/// The seat layout and seat prices cannot change once the event exists.
pub(crate) async fn check_edit(
    conn: &mut PgConnection,
    cur: &EventRecord,
    body: UpdateEvent,
) -> ApiResult<EventEdit> {
    let mut c = Checks::new();
    if body.seat_layout_id.is_some() {
        c.add(
            "seat_layout_id",
            "cannot change once the event exists (its seats are generated from it)",
        );
    }
    if body.section_prices.is_some() {
        c.add(
            "section_prices",
            "cannot change once the event exists (seat prices are fixed at creation)",
        );
    }
    let title = body
        .title
        .as_deref()
        .map(|t| c.required_text("title", t, 200));
    let description = body
        .description
        .as_deref()
        .map(|d| c.free_text("description", d, 10_000));
    let poster_url = body
        .poster_url
        .map(|u| u.as_deref().map(|u| c.url("poster_url", u)));
    let starts_at = body.starts_at.unwrap_or(cur.starts_at);
    let ends_at = body.ends_at.unwrap_or(cur.ends_at);
    let sale_opens_at = body.sale_opens_at.unwrap_or(cur.sale_opens_at);
    let sale_closes_at = body.sale_closes_at.unwrap_or(cur.sale_closes_at);
    check_window(&mut c, starts_at, ends_at, sale_opens_at, sale_closes_at);
    if let Some(m) = body.max_tickets_per_user {
        c.range("max_tickets_per_user", m, 1, MAX_TICKETS_PER_USER);
    }
    if let Some(Some(a)) = body.artist_id
        && !exists(&mut *conn, "artists", a).await?
    {
        c.add("artist_id", "no artist with this id");
    }
    if let Some(v) = body.venue_id
        && !exists(&mut *conn, "venues", v).await?
    {
        c.add("venue_id", "no venue with this id");
    }
    c.finish()?;
    let schedule_moved = [
        ("starts_at", starts_at != cur.starts_at),
        ("ends_at", ends_at != cur.ends_at),
        ("sale_opens_at", sale_opens_at != cur.sale_opens_at),
        ("sale_closes_at", sale_closes_at != cur.sale_closes_at),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect();
    Ok(EventEdit {
        title,
        description,
        poster_url,
        artist_id: body.artist_id,
        venue_id: body.venue_id,
        starts_at,
        ends_at,
        sale_opens_at,
        sale_closes_at,
        max_tickets_per_user: body.max_tickets_per_user,
        schedule_moved,
    })
}

/// Writes a checked edit; every change bumps the event's `version`.
pub(crate) async fn apply_edit(
    conn: &mut PgConnection,
    cur: &EventRecord,
    edit: EventEdit,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let updated = sqlx::query(
        "UPDATE events SET
             title = COALESCE($2, title),
             description = COALESCE($3, description),
             poster_url = CASE WHEN $4 THEN $5 ELSE poster_url END,
             artist_id = CASE WHEN $6 THEN $7 ELSE artist_id END,
             venue_id = COALESCE($8, venue_id),
             starts_at = $9, ends_at = $10, sale_opens_at = $11, sale_closes_at = $12,
             max_tickets_per_user = COALESCE($13, max_tickets_per_user),
             version = version + 1, updated_at = $14
         WHERE id = $1",
    )
    .bind(cur.id)
    .bind(edit.title)
    .bind(edit.description)
    .bind(edit.poster_url.is_some())
    .bind(edit.poster_url.flatten())
    .bind(edit.artist_id.is_some())
    .bind(edit.artist_id.flatten())
    .bind(edit.venue_id)
    .bind(edit.starts_at)
    .bind(edit.ends_at)
    .bind(edit.sale_opens_at)
    .bind(edit.sale_closes_at)
    .bind(
        edit.max_tickets_per_user
            .and_then(|m| i32::try_from(m).ok()),
    )
    .bind(now)
    .execute(&mut *conn)
    .await;
    match updated {
        // The artist or venue was deleted between the check and this write.
        Err(e) if is_fk_violation(&e) => Err(ApiError::validation(
            "body",
            "a referenced artist or venue no longer exists",
        )),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Sets `cancelled_at` (the event's status becomes `cancelled`) inside the transaction
/// that locked the row with [`lock_for_write`].
pub(crate) async fn mark_cancelled(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE events SET cancelled_at = $2, version = version + 1, updated_at = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Hook: decides inside the delete transaction (event row locked) whether the event may
/// be deleted. Today: refused once any standing stock is sold or held (available <
/// total). The booking module will add "no reservations/tickets reference it"; a
/// foreign key from its tables is also caught as 409 `EVENT_HAS_SALES`.
async fn ensure_deletable(conn: &mut PgConnection, event: &EventRecord) -> ApiResult<()> {
    let touched: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ticket_types
                        WHERE event_id = $1 AND available_quantity < total_quantity)",
    )
    .bind(event.id)
    .fetch_one(&mut *conn)
    .await?;
    if touched {
        return Err(has_sales());
    }
    Ok(())
}

fn has_sales() -> ApiError {
    ApiError::new(
        Code::EVENT_HAS_SALES,
        "Tickets of this event are sold or held; cancel the event instead of deleting it",
    )
}

crate::problems!(
    DeleteProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EVENT_HAS_SALES,
);

/// Delete an event with its seats and ticket types, while nothing is sold or held.
#[utoipa::path(delete, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        DeleteProblems))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, p.event_id).await?;
    ensure_deletable(&mut tx, &event).await?;
    let before = crate::audit::row(&mut tx, "events", event.id).await?;
    let done = sqlx::query("DELETE FROM events WHERE id = $1")
        .bind(event.id)
        .execute(&mut *tx)
        .await;
    match done {
        Err(e) if is_fk_violation(&e) => return Err(has_sales()),
        other => {
            other?;
        }
    }
    let (now, actor) = (state.clock.now(), user.actor());
    crate::audit::record_rows(
        &mut tx,
        actor,
        "event.deleted",
        "event",
        event.id,
        before,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    state.catalog.details.forget(event.id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sale_window_rules_name_fields() {
        let t = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("t");
        let h = chrono::Duration::hours(1);
        let mut c = Checks::new();
        check_window(&mut c, t, Some(t - h), t, t - h);
        assert!(c.has("sale_closes_at") && c.has("ends_at"), "{c:?}");
        let mut c = Checks::new();
        check_window(&mut c, t, None, t - h * 2, t + h);
        assert!(c.has("sale_closes_at"), "{c:?}");
        let mut c = Checks::new();
        check_window(&mut c, t, Some(t + h), t - h * 2, t);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn version_checks() {
        assert!(check_version(&[None, None], 3).is_ok());
        assert!(check_version(&[Some(3), None], 3).is_ok());
        assert!(check_version(&[Some(3), Some(2)], 3).is_err());
    }
}

//! Venues: public list/detail, admin writes.

use super::artists::NameListQuery;
use super::validate::{Checks, like_pattern};
use crate::audit;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::page::{self, Cursor, Page};
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Venue {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub city: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVenue {
    /// 1..=200 characters.
    pub name: String,
    /// 1..=300 characters.
    pub address: String,
    /// 1..=100 characters.
    pub city: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVenue {
    pub name: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VenuePath {
    pub venue_id: Uuid,
}

const VENUE_COLUMNS: &str = "id, name, address, city, created_at, updated_at";

fn venue_not_found() -> ApiError {
    ApiError::new(Code::VENUE_NOT_FOUND, "No such venue")
}

crate::problems!(ListProblems: [codes::QUERY], INVALID_CURSOR);

/// List venues by name.
#[utoipa::path(get, path = "/api/v1/venues", tag = "catalog",
    params(NameListQuery),
    responses(
        (status = 200, body = Page<Venue>),
        ListProblems))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<NameListQuery>,
) -> ApiResult<Json<Page<Venue>>> {
    let limit = page::limit(q.limit)?;
    let search = page::search_text(q.q.as_deref())?;
    let after = Cursor::decode_name(q.cursor.as_deref())?;
    let rows = sqlx::query_as::<_, Venue>(&format!(
        "SELECT {VENUE_COLUMNS} FROM venues
         WHERE ($1::text IS NULL OR name ILIKE $1 OR city ILIKE $1 OR address ILIKE $1)
           AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid))
         ORDER BY name, id
         LIMIT $4"
    ))
    .bind(search.as_deref().map(like_pattern))
    .bind(after.as_ref().map(|a| a.0.clone()))
    .bind(after.as_ref().map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(page::paginate(
        rows,
        limit,
        |v| Cursor::name(&v.name, v.id),
        |v| v,
    )))
}

async fn load(state: &AppState, id: Uuid) -> ApiResult<Venue> {
    sqlx::query_as::<_, Venue>(&format!("SELECT {VENUE_COLUMNS} FROM venues WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(venue_not_found)
}

crate::problems!(GetProblems: [codes::PATH], VENUE_NOT_FOUND);

/// One venue.
#[utoipa::path(get, path = "/api/v1/venues/{venue_id}", tag = "catalog",
    params(VenuePath),
    responses(
        (status = 200, body = Venue),
        GetProblems))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(p): Path<VenuePath>,
) -> ApiResult<Json<Venue>> {
    Ok(Json(load(&state, p.venue_id).await?))
}

fn check_fields(
    c: &mut Checks,
    f: &UpdateVenue,
) -> (Option<String>, Option<String>, Option<String>) {
    (
        f.name.as_deref().map(|v| c.required_text("name", v, 200)),
        f.address
            .as_deref()
            .map(|v| c.required_text("address", v, 300)),
        f.city.as_deref().map(|v| c.required_text("city", v, 100)),
    )
}

crate::problems!(CreateProblems: [codes::AUTH, codes::JSON_BODY], FORBIDDEN_ROLE);

/// Create a venue (admin).
#[utoipa::path(post, path = "/api/v1/venues", tag = "catalog",
    request_body = CreateVenue,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Venue),
        CreateProblems))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateVenue>,
) -> ApiResult<(StatusCode, Json<Venue>)> {
    user.require(&[Role::Admin])?;
    let mut c = Checks::new();
    let (name, address, city) = check_fields(
        &mut c,
        &UpdateVenue {
            name: Some(body.name),
            address: Some(body.address),
            city: Some(body.city),
        },
    );
    c.finish()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let venue = sqlx::query_as::<_, Venue>(&format!(
        "INSERT INTO venues (id, name, address, city, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         RETURNING {VENUE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(address)
    .bind(city)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let after = audit::row(&mut tx, "venues", venue.id).await?;
    let actor = user.actor();
    audit::record_rows(
        &mut tx,
        actor,
        "venue.created",
        "venue",
        venue.id,
        None,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(venue)))
}

crate::problems!(
    UpdateProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, VENUE_NOT_FOUND,
);

/// Edit a venue (admin).
#[utoipa::path(patch, path = "/api/v1/venues/{venue_id}", tag = "catalog",
    params(VenuePath),
    request_body = UpdateVenue,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Venue),
        UpdateProblems))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<VenuePath>,
    Json(body): Json<UpdateVenue>,
) -> ApiResult<Json<Venue>> {
    user.require(&[Role::Admin])?;
    let mut c = Checks::new();
    let (name, address, city) = check_fields(&mut c, &body);
    c.finish()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "venues", p.venue_id).await?;
    let venue = sqlx::query_as::<_, Venue>(&format!(
        "UPDATE venues SET name = COALESCE($2, name), address = COALESCE($3, address),
                           city = COALESCE($4, city), updated_at = $5
         WHERE id = $1
         RETURNING {VENUE_COLUMNS}"
    ))
    .bind(p.venue_id)
    .bind(name)
    .bind(address)
    .bind(city)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(venue_not_found)?;
    let after = audit::row(&mut tx, "venues", p.venue_id).await?;
    let (id, actor) = (p.venue_id, user.actor());
    audit::record_rows(
        &mut tx,
        actor,
        "venue.updated",
        "venue",
        id,
        before,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(venue))
}

crate::problems!(
    DeleteProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, VENUE_NOT_FOUND, VENUE_IN_USE,
);

/// Delete a venue (admin) that no event references (else 409 `VENUE_IN_USE`).
#[utoipa::path(delete, path = "/api/v1/venues/{venue_id}", tag = "catalog",
    params(VenuePath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        DeleteProblems))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<VenuePath>,
) -> ApiResult<StatusCode> {
    user.require(&[Role::Admin])?;
    super::model::delete_unreferenced(
        &state,
        &user,
        ("venues", "venue"),
        p.venue_id,
        || ApiError::new(Code::VENUE_IN_USE, "Events still take place at this venue"),
        venue_not_found,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

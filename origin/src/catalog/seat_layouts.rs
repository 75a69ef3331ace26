//! Seat layouts: public list/detail, admin import.

use super::artists::NameListQuery;
use super::layout::LayoutConfig;
use super::validate::{Checks, is_unique_violation, like_pattern};
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
use serde_json::json;
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatLayout {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub total_seats: i32,
    pub config: LayoutConfig,
    /// Seats and price range per grade, derived from `config`, for the create form.
    pub grades: Vec<GradeSummary>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GradeSummary {
    pub grade: String,
    pub seats: i64,
    pub min_price: i64,
    pub max_price: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct LayoutRow {
    id: Uuid,
    name: String,
    description: String,
    total_seats: i32,
    config: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl LayoutRow {
    fn into_api(self) -> ApiResult<SeatLayout> {
        let config: LayoutConfig = serde_json::from_value(self.config)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("layout {} config: {e}", self.id)))?;
        let mut grades: Vec<GradeSummary> = Vec::new();
        for s in &config.sections {
            match grades.iter_mut().find(|g| g.grade == s.grade()) {
                Some(g) => {
                    g.seats += s.seat_count();
                    g.min_price = g.min_price.min(s.price);
                    g.max_price = g.max_price.max(s.price);
                }
                None => grades.push(GradeSummary {
                    grade: s.grade().to_owned(),
                    seats: s.seat_count(),
                    min_price: s.price,
                    max_price: s.price,
                }),
            }
        }
        Ok(SeatLayout {
            id: self.id,
            name: self.name,
            description: self.description,
            total_seats: self.total_seats,
            config,
            grades,
            created_at: self.created_at,
        })
    }
}

/// `POST /api/v1/seat-layouts`: import a layout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeatLayout {
    /// Unique, 1..=100 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Optional cross-check: must equal Σ rows × seats_per_row.
    pub total_seats: Option<i64>,
    pub config: LayoutConfig,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LayoutPath {
    pub layout_id: Uuid,
}

const LAYOUT_COLUMNS: &str = "id, name, description, total_seats, config, created_at";

fn layout_not_found() -> ApiError {
    ApiError::new(Code::LAYOUT_NOT_FOUND, "No such seat layout")
}

crate::problems!(ListProblems: [codes::QUERY], INVALID_CURSOR);

/// List seat layouts by name (for the event form).
#[utoipa::path(get, path = "/api/v1/seat-layouts", tag = "catalog",
    params(NameListQuery),
    responses(
        (status = 200, body = Page<SeatLayout>),
        ListProblems))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<NameListQuery>,
) -> ApiResult<Json<Page<SeatLayout>>> {
    let limit = page::limit(q.limit)?;
    let search = page::search_text(q.q.as_deref())?;
    let after = Cursor::decode_name(q.cursor.as_deref())?;
    let rows = sqlx::query_as::<_, LayoutRow>(&format!(
        "SELECT {LAYOUT_COLUMNS} FROM seat_layouts
         WHERE ($1::text IS NULL OR name ILIKE $1 OR description ILIKE $1)
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
    let page = page::paginate(rows, limit, |l| Cursor::name(&l.name, l.id), |l| l);
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(LayoutRow::into_api)
            .collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    }))
}

crate::problems!(GetProblems: [codes::PATH], LAYOUT_NOT_FOUND);

/// One seat layout.
#[utoipa::path(get, path = "/api/v1/seat-layouts/{layout_id}", tag = "catalog",
    params(LayoutPath),
    responses(
        (status = 200, body = SeatLayout),
        GetProblems))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(p): Path<LayoutPath>,
) -> ApiResult<Json<SeatLayout>> {
    sqlx::query_as::<_, LayoutRow>(&format!(
        "SELECT {LAYOUT_COLUMNS} FROM seat_layouts WHERE id = $1"
    ))
    .bind(p.layout_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(layout_not_found)?
    .into_api()
    .map(Json)
}

crate::problems!(
    CreateProblems: [codes::AUTH, codes::JSON_BODY],
    FORBIDDEN_ROLE, LAYOUT_NAME_TAKEN,
);

/// Import a seat layout (admin). Validated: 1..=100 sections with unique names, rows and
/// seats per row 1..=200, prices 0..=10,000,000 KRW, at most 100,000 seats, and
/// `total_seats` (if sent) equal to the computed count. Layouts are immutable.
#[utoipa::path(post, path = "/api/v1/seat-layouts", tag = "catalog",
    request_body = CreateSeatLayout,
    security(("bearer" = [])),
    responses(
        (status = 201, body = SeatLayout),
        CreateProblems))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateSeatLayout>,
) -> ApiResult<(StatusCode, Json<SeatLayout>)> {
    user.require(&[Role::Admin])?;
    let mut c = Checks::new();
    let name = c.required_text("name", &body.name, 100);
    let description = c.free_text("description", &body.description, 2000);
    body.config.check("config", &mut c);
    let total = body.config.total_seats();
    if let Some(t) = body.total_seats
        && t != total
    {
        c.add(
            "total_seats",
            format!("is {t}, but the sections hold {total} seats"),
        );
    }
    c.finish()?;
    let config = serde_json::to_value(&body.config).map_err(ApiError::internal)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row = sqlx::query_as::<_, LayoutRow>(&format!(
        "INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING {LAYOUT_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(description)
    .bind(i32::try_from(total).map_err(ApiError::internal)?)
    .bind(config)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let row = match row {
        Err(e) if is_unique_violation(&e, None) => {
            return Err(ApiError::new(
                Code::LAYOUT_NAME_TAKEN,
                "A seat layout with this name already exists",
            ));
        }
        other => other?,
    };
    let layout = row.into_api()?;
    // The seat map itself can hold 100,000 seats: the log keeps its size, not its body.
    let summary = json!({ "name": layout.name, "total_seats": total });
    audit::record(
        &mut tx,
        user.actor(),
        audit::Change::new("seat_layout.created", "seat_layout", layout.id).after(summary),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(layout)))
}

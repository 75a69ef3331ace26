//! `GET /api/v1/promoter/events`: the promoter console's list, each event with its
//! sale counters at this instant.

use crate::auth::AuthUser;
use crate::booking::{SalesFigures, sales_figures};
use crate::catalog::{EventStatus, event_status, managed_events};
use crate::http::page::{limit, paginate};
use crate::http::{ApiResult, Cursor, Json, Page, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MyEventsQuery {
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

/// One event in the promoter console.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagedEventView {
    pub id: Uuid,
    pub title: String,
    pub status: EventStatus,
    pub venue_name: String,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: SalesFigures,
}

crate::problems!(MyEventsProblems: [codes::AUTH, codes::QUERY], FORBIDDEN_ROLE, INVALID_CURSOR);

/// Your events (admins: every event), newest first, with tickets sold, held now,
/// still available and revenue.
#[utoipa::path(get, path = "/api/v1/promoter/events", tag = "console",
    params(MyEventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<ManagedEventView>),
        MyEventsProblems))]
pub(super) async fn my_events(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<MyEventsQuery>,
) -> ApiResult<Json<Page<ManagedEventView>>> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let limit = limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    let promoter = (user.role != Role::Admin).then_some(user.id);
    let events = managed_events(&state.db, promoter, after, limit + 1).await?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let now = state.clock.now();
    let figures = sales_figures(&state.db, &ids, now).await?;
    Ok(Json(paginate(
        events,
        limit,
        |e| Cursor::created(e.created_at, e.id),
        |e| ManagedEventView {
            status: event_status(
                now,
                e.sale_opens_at,
                e.sale_closes_at,
                e.starts_at,
                e.cancelled_at,
            ),
            figures: figures.get(&e.id).copied().unwrap_or_default(),
            id: e.id,
            title: e.title,
            venue_name: e.venue_name,
            starts_at: e.starts_at,
            sale_opens_at: e.sale_opens_at,
            sale_closes_at: e.sale_closes_at,
            cancelled_at: e.cancelled_at,
            created_at: e.created_at,
        },
    )))
}

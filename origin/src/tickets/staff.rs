//! Door staff: accounts with the `staff` role that an event's promoter (or an admin)
//! assigns to the event, so they may check its tickets in and sync its void list, and
//! nothing else: no sales figures, no edits.
//!
//! - `GET /api/v1/events/{id}/staff`, `POST /api/v1/events/{id}/staff` (by email),
//!   `PUT` and `DELETE /api/v1/events/{id}/staff/{user_id}` (the event's promoter,
//!   admins), each change in the audit log;
//! - `GET /api/v1/me/door-events`: the events a staff account works at.

use crate::audit::{self, Change};
use crate::auth::AuthUser;
use crate::catalog::{EventRecord, authorize_event_manager, event_not_found, find_event};
use crate::http::{ApiError, ApiResult, Code, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared_wasm::token::Role;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// Who may work `event_id`'s door: its promoter, admins, and staff assigned to it.
pub(crate) async fn authorize_door(
    db: &PgPool,
    user: &AuthUser,
    event_id: Uuid,
) -> ApiResult<EventRecord> {
    if user.role != Role::Staff {
        return authorize_event_manager(db, user, event_id).await;
    }
    let event = find_event(db, event_id)
        .await?
        .ok_or_else(event_not_found)?;
    let assigned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM event_staff WHERE event_id = $1 AND user_id = $2)",
    )
    .bind(event_id)
    .bind(user.id)
    .fetch_one(db)
    .await?;
    if !assigned {
        return Err(ApiError::new(
            Code::NOT_ASSIGNED,
            "you are not assigned to this event's door",
        ));
    }
    Ok(event)
}

/// One staff member of an event.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StaffMember {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub assigned_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffList {
    pub items: Vec<StaffMember>,
}

async fn list(db: &PgPool, event_id: Uuid) -> sqlx::Result<Vec<StaffMember>> {
    sqlx::query_as(
        "SELECT s.user_id, u.display_name, u.email, s.assigned_at
         FROM event_staff s JOIN users u ON u.id = s.user_id
         WHERE s.event_id = $1 ORDER BY s.assigned_at, s.user_id",
    )
    .bind(event_id)
    .fetch_all(db)
    .await
}

crate::problems!(
    StaffListProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND,
);

/// The staff assigned to the event's door.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/staff", tag = "tickets",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses((status = 200, body = StaffList), StaffListProblems))]
pub(crate) async fn event_staff(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Json<StaffList>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    Ok(Json(StaffList {
        items: list(&state.db, event_id).await?,
    }))
}

crate::problems!(
    AssignProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, USER_NOT_FOUND, NOT_STAFF,
);

/// Assigns a staff account to the event's door (again: nothing changes).
#[utoipa::path(put, path = "/api/v1/events/{event_id}/staff/{user_id}", tag = "tickets",
    params(
        ("event_id" = Uuid, Path, description = "Event id"),
        ("user_id" = Uuid, Path, description = "The staff account")),
    security(("bearer" = [])),
    responses((status = 200, body = StaffList), AssignProblems))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, staff_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<StaffList>> {
    Ok(Json(
        assign_to(&state, &user, event_id, Who::Id(staff_id)).await?,
    ))
}

/// `POST /staff` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignByEmail {
    /// The staff account's email (promoters cannot search accounts; they know their
    /// crew's addresses).
    pub email: String,
}

/// Assigns the staff account with this email to the event's door.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/staff", tag = "tickets",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = AssignByEmail,
    security(("bearer" = [])),
    responses((status = 200, body = StaffList), AssignByEmailProblems))]
pub(crate) async fn assign_by_email(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Json(body): Json<AssignByEmail>,
) -> ApiResult<Json<StaffList>> {
    let email = body.email.trim().to_lowercase();
    Ok(Json(
        assign_to(&state, &user, event_id, Who::Email(email)).await?,
    ))
}

crate::problems!(
    AssignByEmailProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, USER_NOT_FOUND, NOT_STAFF,
);

enum Who {
    Id(Uuid),
    Email(String),
}

async fn assign_to(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    who: Who,
) -> ApiResult<StaffList> {
    authorize_event_manager(&state.db, user, event_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let found: Option<(Uuid, String)> = match &who {
        Who::Id(id) => {
            sqlx::query_as("SELECT id, role FROM users WHERE id = $1 FOR SHARE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
        Who::Email(email) => {
            sqlx::query_as("SELECT id, role FROM users WHERE lower(email) = $1 FOR SHARE")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    let Some((staff_id, role)) = found else {
        return Err(ApiError::new(Code::USER_NOT_FOUND, "no such account"));
    };
    if role != "staff" {
        return Err(ApiError::new(
            Code::NOT_STAFF,
            "only staff accounts can work a door; ask an admin to make this account staff",
        ));
    }
    let added = sqlx::query(
        "INSERT INTO event_staff (event_id, user_id, assigned_by, assigned_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(staff_id)
    .bind(user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 1 {
        audit::record(
            &mut tx,
            user.actor(),
            Change::new("event.staff_assigned", "event", event_id)
                .after(json!({ "staff_id": staff_id })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(StaffList {
        items: list(&state.db, event_id).await?,
    })
}

crate::problems!(
    UnassignProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND,
);

/// Takes a staff account off the event's door (absent: nothing changes).
#[utoipa::path(delete, path = "/api/v1/events/{event_id}/staff/{user_id}", tag = "tickets",
    params(
        ("event_id" = Uuid, Path, description = "Event id"),
        ("user_id" = Uuid, Path, description = "The staff account")),
    security(("bearer" = [])),
    responses((status = 204, description = "Not assigned (any more)"), UnassignProblems))]
pub(crate) async fn unassign(
    State(state): State<AppState>,
    user: AuthUser,
    Path((event_id, staff_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let removed = sqlx::query("DELETE FROM event_staff WHERE event_id = $1 AND user_id = $2")
        .bind(event_id)
        .bind(staff_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 1 {
        audit::record(
            &mut tx,
            user.actor(),
            Change::new("event.staff_removed", "event", event_id)
                .before(json!({ "staff_id": staff_id })),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An event a staff account works at.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DoorEvent {
    pub event_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub cancelled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoorEvents {
    pub items: Vec<DoorEvent>,
}

crate::problems!(DoorEventsProblems: [codes::AUTH], FORBIDDEN_ROLE);

/// Staff: the events whose door you are assigned to, soonest first.
#[utoipa::path(get, path = "/api/v1/me/door-events", tag = "tickets",
    security(("bearer" = [])),
    responses((status = 200, body = DoorEvents), DoorEventsProblems))]
pub(crate) async fn my_door_events(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<DoorEvents>> {
    user.require(&[Role::Staff])?;
    let items = sqlx::query_as(
        "SELECT e.id AS event_id, e.title, e.starts_at, e.cancelled_at IS NOT NULL AS cancelled
         FROM event_staff s JOIN events e ON e.id = s.event_id
         WHERE s.user_id = $1 ORDER BY e.starts_at, e.id",
    )
    .bind(user.id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(DoorEvents { items }))
}

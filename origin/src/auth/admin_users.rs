//! `GET /api/v1/admin/users`: the operator's account search (by name or email, by
//! role), newest first. Role changes and disabling are `PATCH /api/v1/admin/users/{id}`
//! (`routes`).

use super::AuthUser;
use super::users::{UserProfile, UserRow};
use crate::http::{ApiResult, Cursor, Json, Page, Query};
use crate::state::AppState;
use axum::extract::State;
use serde::Deserialize;
use shared_wasm::token::Role;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of the display name or email (case-insensitive).
    pub q: Option<String>,
    /// `fan`, `promoter`, `staff` or `admin`.
    #[param(value_type = Option<String>)]
    pub role: Option<Role>,
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

crate::problems!(
    ListUsersProblems: [codes::AUTH, codes::QUERY],
    FORBIDDEN_ROLE, INVALID_CURSOR,
);

/// Admin: accounts by name, email or role, newest first.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "auth",
    params(UserQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<UserProfile>), ListUsersProblems))]
pub(super) async fn list_users(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<Page<UserProfile>>> {
    caller.require(&[Role::Admin])?;
    let limit = crate::http::page::limit(q.limit)?;
    let (t, i) = Cursor::decode_created(q.cursor.as_deref())?.unzip();
    let pattern =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                format!(
                    "%{}%",
                    s.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            });
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, email, password_hash, display_name, phone, role, google_sub, email_verified,
                created_at, disabled_at
         FROM users
         WHERE ($1::text IS NULL OR email ILIKE $1 OR display_name ILIKE $1)
           AND ($2::text IS NULL OR role = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(pattern)
    .bind(q.role.map(Role::as_str))
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    let mut profiles = Vec::with_capacity(rows.len());
    for r in rows {
        profiles.push(r.profile()?);
    }
    Ok(Json(crate::http::page::paginate(
        profiles,
        limit,
        |p| Cursor::created(p.created_at, p.id),
        |p| p,
    )))
}

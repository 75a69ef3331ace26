//! `GET /api/v1/admin/audit`: the audit log (written by `crate::audit` in each changing
//! transaction), newest first, by actor, resource or action.

use crate::auth::AuthUser;
use crate::http::page::{invalid_query, limit, paginate};
use crate::http::{ApiResult, Cursor, Json, Page, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only changes by this account.
    pub actor: Option<Uuid>,
    /// `<type>` (e.g. `event`) or `<type>:<id>` (one resource).
    pub resource: Option<String>,
    /// One action, e.g. `user.updated`.
    pub action: Option<String>,
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

/// Who made a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    pub id: Uuid,
    pub display_name: String,
    /// The role they acted in.
    pub role: String,
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub actor: AuditActor,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// The changed fields before and after (absent for creations and deletions).
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    actor_id: Uuid,
    display_name: String,
    actor_role: String,
    action: String,
    resource_type: String,
    resource_id: String,
    before: Option<Value>,
    after: Option<Value>,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
}

crate::problems!(
    AuditProblems: [codes::AUTH, codes::QUERY],
    FORBIDDEN_ROLE, INVALID_CURSOR,
);

/// Admin: every change admins and promoters made, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "console",
    params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEntry>), AuditProblems))]
pub(super) async fn audit_log(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    user.require(&[Role::Admin])?;
    let limit = limit(q.limit)?;
    let (t, i) = Cursor::decode_created(q.cursor.as_deref())?.unzip();
    let (rtype, rid) = match q.resource.as_deref().map(str::trim) {
        None | Some("") => (None, None),
        Some(r) => match r.split_once(':') {
            Some((ty, id)) if !ty.is_empty() && !id.is_empty() => {
                (Some(ty.to_owned()), Some(id.to_owned()))
            }
            Some(_) => {
                return Err(invalid_query(
                    "resource",
                    "must be `<type>` or `<type>:<id>`",
                ));
            }
            None => (Some(r.to_owned()), None),
        },
    };
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT a.id, a.actor_id, u.display_name, a.actor_role, a.action, a.resource_type,
                a.resource_id, a.before, a.after, a.request_id, a.created_at
         FROM audit_log a JOIN users u ON u.id = a.actor_id
         WHERE ($1::uuid IS NULL OR a.actor_id = $1)
           AND ($2::text IS NULL OR a.resource_type = $2)
           AND ($3::text IS NULL OR a.resource_id = $3)
           AND ($4::text IS NULL OR a.action = $4)
           AND ($5::timestamptz IS NULL OR (a.created_at, a.id) < ($5, $6))
         ORDER BY a.created_at DESC, a.id DESC LIMIT $7",
    )
    .bind(q.actor)
    .bind(rtype)
    .bind(rid)
    .bind(q.action.as_deref().map(str::trim).filter(|a| !a.is_empty()))
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(paginate(
        rows,
        limit,
        |r| Cursor::created(r.created_at, r.id),
        |r| AuditEntry {
            id: r.id,
            actor: AuditActor {
                id: r.actor_id,
                display_name: r.display_name,
                role: r.actor_role,
            },
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            created_at: r.created_at,
        },
    )))
}

//! The audit log: who changed what, written in the transaction that changes it.
//!
//! Every mutation an admin or a promoter makes (roles, accounts, events, rules, rooms,
//! refunds, posts they moderate, payouts, staff) calls [`record`] on the same
//! connection as the change, so a change without its entry (or an entry for a change
//! that rolled back) cannot exist. An entry names the actor and their role at the time,
//! the action (`<resource>.<verb>`, e.g. `user.role_changed`), the resource, a short
//! before/after summary (the fields that changed, never secrets), the request id the
//! edge or the origin gave the request, and the time.
//!
//! Reading is `GET /api/v1/admin/audit` (console): newest first, by actor or resource.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Who is acting: an account and the role it acted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub role: &'static str,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// `<resource>.<verb>`, e.g. `event.updated`.
    pub action: &'a str,
    /// `user`, `event`, `post`, `reservation`, ...
    pub resource_type: &'a str,
    pub resource_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl<'a> Change<'a> {
    pub fn new(action: &'a str, resource_type: &'a str, resource_id: impl ToString) -> Self {
        Change {
            action,
            resource_type,
            resource_id: resource_id.to_string(),
            before: None,
            after: None,
        }
    }

    pub fn before(mut self, v: Value) -> Self {
        self.before = Some(v);
        self
    }

    pub fn after(mut self, v: Value) -> Self {
        self.after = Some(v);
        self
    }
}

/// Writes `change` by `actor` on `conn`, which must be the transaction making the
/// change. The request id is the current request's, if any.
pub async fn record(
    conn: &mut PgConnection,
    actor: Actor,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_id, actor_role, action, resource_type, resource_id,
                                before, after, request_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(Uuid::now_v7())
    .bind(actor.id)
    .bind(actor.role)
    .bind(change.action)
    .bind(change.resource_type)
    .bind(&change.resource_id)
    .bind(&change.before)
    .bind(&change.after)
    .bind(crate::http::middleware::current_request_id())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    metrics::counter!("urr_audit_entries_total", "action" => change.action.to_owned()).increment(1);
    Ok(())
}

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

/// A row of `table` as JSON (`None`: no such row), locked for the change about to be
/// recorded. `table` is one of ours, never input.
pub async fn row(
    conn: &mut PgConnection,
    table: &'static str,
    id: Uuid,
) -> sqlx::Result<Option<Value>> {
    sqlx::query_scalar(&format!(
        "SELECT to_jsonb(t) FROM {table} t WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
}

/// Columns never worth a line in the log (bookkeeping), or never to be copied into it.
const NOT_SUMMARISED: [&str; 5] = ["updated_at", "version", "password_hash", "id", "search"];

/// The fields that differ between two snapshots of a row: `(before, after)` with only
/// those keys. A creation or deletion (one side `None`) keeps the whole other side.
pub fn summarise(before: Option<Value>, after: Option<Value>) -> (Option<Value>, Option<Value>) {
    let strip = |v: Value| match v {
        Value::Object(mut m) => {
            for k in NOT_SUMMARISED {
                m.remove(k);
            }
            Value::Object(m)
        }
        other => other,
    };
    match (before.map(strip), after.map(strip)) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: Vec<&String> = a.keys().filter(|k| b.get(*k) != a.get(*k)).collect();
            let pick = |m: &serde_json::Map<String, Value>| {
                Value::Object(
                    keys.iter()
                        .map(|k| ((*k).clone(), m.get(*k).cloned().unwrap_or(Value::Null)))
                        .collect(),
                )
            };
            (Some(pick(&b)), Some(pick(&a)))
        }
        other => other,
    }
}

/// Records a change to a row given its snapshots before and after (see [`row`]):
/// only the fields that changed are kept.
#[allow(clippy::too_many_arguments)]
pub async fn record_rows(
    conn: &mut PgConnection,
    actor: Actor,
    action: &str,
    resource_type: &str,
    id: Uuid,
    before: Option<Value>,
    after: Option<Value>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let (before, after) = summarise(before, after);
    let mut change = Change::new(action, resource_type, id);
    change.before = before;
    change.after = after;
    record(conn, actor, change, now).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_keep_only_what_changed_and_never_secrets() {
        let before =
            json!({"id": 1, "name": "A", "price": 10, "updated_at": "x", "password_hash": "h"});
        let after =
            json!({"id": 1, "name": "A", "price": 12, "updated_at": "y", "password_hash": "h2"});
        let (b, a) = summarise(Some(before.clone()), Some(after));
        assert_eq!(
            (b, a),
            (Some(json!({"price": 10})), Some(json!({"price": 12})))
        );
        let (b, a) = summarise(Some(before), None);
        assert_eq!(b, Some(json!({"name": "A", "price": 10})));
        assert_eq!(a, None);
    }
}

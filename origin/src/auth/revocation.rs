//! Revoking access tokens within seconds, on every replica.
//!
//! Access tokens are verified without a database read, which is what lets a replica
//! answer an on-sale's flood; the price is that a token stays valid until it expires
//! (30 minutes) unless something tells every replica otherwise. Two things must:
//!
//! - **ending a session** (logout, refresh-token reuse, an account takeover): every
//!   access token carries its session (refresh-token family) as `sid`; the family's id
//!   is recorded and those tokens are refused;
//! - **a role change**: the user's new role is recorded and their tokens carrying any
//!   other role are refused. A refresh (which reads the role from the database) issues a
//!   token with the new role, so the client's silent refresh is all it takes.
//!
//! Both are rows of `session_revocations`, written in the transaction that makes the
//! change. Each replica keeps the rows of the last token lifetime in memory
//! ([`Revocations`]) and reads the new ones every second ([`Revocations::sync`]), so a
//! change takes effect everywhere within about a second, and at once on the replica
//! that made it (it syncs right after committing). The read overlaps the previous one
//! by [`OVERLAP_SECS`], because rows do not always commit in the order of their
//! timestamps; applying a row twice changes nothing.
//!
//! Tokens issued before `sid` existed have none: they can only be revoked by a role
//! change, and expire within their 30 minutes anyway.

use chrono::{DateTime, Duration, Utc};
use shared_wasm::token::Role;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::RwLock;
use uuid::Uuid;

/// How far each read reaches back before the newest revocation already seen.
pub const OVERLAP_SECS: i64 = 10;

/// The revocations of the last token lifetime (see the module docs).
#[derive(Debug)]
pub struct Revocations {
    /// How long a revocation matters: the access-token lifetime plus the clock skew
    /// tokens are allowed.
    keep: Duration,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Ended sessions → when the revocation stops mattering.
    families: HashMap<Uuid, DateTime<Utc>>,
    /// User → (row id, current role, when it stops mattering); the highest row wins.
    roles: HashMap<Uuid, (i64, Role, DateTime<Utc>)>,
    /// The newest `revoked_at` seen.
    newest: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    user_id: Uuid,
    family_id: Option<Uuid>,
    role: Option<String>,
    revoked_at: DateTime<Utc>,
}

impl Revocations {
    /// `keep`: the access-token lifetime plus the allowed clock skew.
    pub fn new(keep: std::time::Duration) -> Self {
        Revocations {
            keep: Duration::from_std(keep).unwrap_or(Duration::hours(1)),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Whether a token of `user` with `role`, issued for session `sid`, is revoked.
    pub fn is_revoked(&self, user: Uuid, role: Role, sid: Option<Uuid>) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if inner.families.is_empty() && inner.roles.is_empty() {
            return false;
        }
        sid.is_some_and(|s| inner.families.contains_key(&s))
            || inner.roles.get(&user).is_some_and(|(_, r, _)| *r != role)
    }

    /// Reads revocations newer than what this replica has seen (minus the overlap) and
    /// forgets those older than a token lifetime. Returns how many rows it read.
    pub async fn sync(&self, db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<usize> {
        let since = {
            let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
            match inner.newest {
                Some(n) => (n - Duration::seconds(OVERLAP_SECS)).max(now - self.keep),
                None => now - self.keep,
            }
        };
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, user_id, family_id, role, revoked_at FROM session_revocations
             WHERE revoked_at >= $1 ORDER BY id",
        )
        .bind(since)
        .fetch_all(db)
        .await?;
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for row in &rows {
            let until = row.revoked_at + self.keep;
            if let Some(family) = row.family_id {
                inner.families.insert(family, until);
            }
            if let Some(role) = row.role.as_deref().and_then(Role::parse) {
                let newer = inner
                    .roles
                    .get(&row.user_id)
                    .is_none_or(|(id, _, _)| *id < row.id);
                if newer {
                    inner.roles.insert(row.user_id, (row.id, role, until));
                }
            }
            inner.newest = Some(
                inner
                    .newest
                    .map_or(row.revoked_at, |n| n.max(row.revoked_at)),
            );
        }
        inner.families.retain(|_, until| *until > now);
        inner.roles.retain(|_, (_, _, until)| *until > now);
        Ok(rows.len())
    }
}

/// Syncs right after this replica committed a revocation, so it takes effect here at
/// once; a failure only delays it to the next second's sync.
pub(crate) async fn sync_after_commit(state: &crate::state::AppState) {
    if let Err(e) = state
        .auth
        .revocations
        .sync(&state.db, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "revocation sync after a commit failed; the worker retries");
    }
}

/// Deletes revocations that no longer matter (older than `keep` plus an hour).
pub async fn purge(
    db: &PgPool,
    now: DateTime<Utc>,
    keep: std::time::Duration,
) -> sqlx::Result<u64> {
    let keep = Duration::from_std(keep).unwrap_or(Duration::hours(1)) + Duration::hours(1);
    Ok(
        sqlx::query("DELETE FROM session_revocations WHERE revoked_at < $1")
            .bind(now - keep)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Records `user`'s new role (inside the transaction that changes it): their tokens
/// carrying another role are refused from the next sync on.
pub async fn record_role_change(
    db: impl sqlx::PgExecutor<'_>,
    user: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO session_revocations (user_id, role, revoked_at) VALUES ($1, $2, $3)")
        .bind(user)
        .bind(role.as_str())
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_set_revokes_nothing() {
        let r = Revocations::new(std::time::Duration::from_secs(60));
        assert!(!r.is_revoked(Uuid::new_v4(), Role::Fan, Some(Uuid::new_v4())));
        assert!(!r.is_revoked(Uuid::new_v4(), Role::Fan, None));
    }
}

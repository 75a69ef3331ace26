//! Presale schedules: stored per event by its promoter, the default otherwise, and the
//! memberships module's answer to the catalog's [`crate::catalog::Presales`] question.

use super::orders::tier_of;
use crate::auth::AuthUser;
use crate::catalog::{PresaleOffsets, PresaleSchedule, Presales, Tier};
use crate::http::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use uuid::Uuid;

/// Answers the catalog's presale questions from the memberships tables.
pub struct Windows;

impl Presales for Windows {
    fn offsets<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: Uuid,
    ) -> BoxFuture<'a, sqlx::Result<PresaleOffsets>> {
        Box::pin(async move { offsets_of(conn, event).await })
    }

    fn tier<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        user: Uuid,
        artist: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, sqlx::Result<Tier>> {
        Box::pin(async move { tier_of(conn, user, artist, now).await })
    }
}

/// The event's own schedule, or the default.
pub async fn offsets_of(conn: &mut PgConnection, event: Uuid) -> sqlx::Result<PresaleOffsets> {
    let row: Option<(i32, i32, i32, i32)> = sqlx::query_as(
        "SELECT diamond_mins, gold_mins, silver_mins, general_mins
         FROM presale_schedules WHERE event_id = $1",
    )
    .bind(event)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(
        row.map_or(PresaleOffsets::DEFAULT, |(d, g, s, b)| PresaleOffsets {
            diamond_mins: d,
            gold_mins: g,
            silver_mins: s,
            general_mins: b,
        }),
    )
}

/// 422 naming the first offset out of order or range.
pub fn validate(o: &PresaleOffsets) -> ApiResult<()> {
    let fields = [
        ("diamond_mins", o.diamond_mins),
        ("gold_mins", o.gold_mins),
        ("silver_mins", o.silver_mins),
        ("general_mins", o.general_mins),
    ];
    let mut previous = 0;
    for (name, value) in fields {
        if !(0..=PresaleOffsets::MAX_MINS).contains(&value) {
            return Err(ApiError::validation(
                name,
                format!("must be between 0 and {} minutes", PresaleOffsets::MAX_MINS),
            ));
        }
        if value < previous {
            return Err(ApiError::validation(
                name,
                "a lower tier cannot open before a higher one",
            ));
        }
        previous = value;
    }
    Ok(())
}

/// `PUT /api/v1/events/{id}/presale`: the event's promoter (or an admin) sets its
/// schedule. Only events with an artist have one. The change shows in the event's
/// detail after the cache's TTL, applies to the next booking and queue join, and
/// reaches the event's waiting room as a new rules version.
pub async fn put(
    state: &crate::state::AppState,
    user: &AuthUser,
    event: Uuid,
    offsets: PresaleOffsets,
) -> ApiResult<PresaleSchedule> {
    validate(&offsets)?;
    let mut tx = state.db.begin().await?;
    let record = crate::catalog::authorize_event_manager(&mut *tx, user, event).await?;
    let (artist, opens): (Option<Uuid>, DateTime<Utc>) =
        sqlx::query_as("SELECT artist_id, sale_opens_at FROM events WHERE id = $1 FOR UPDATE")
            .bind(record.id)
            .fetch_one(&mut *tx)
            .await?;
    if artist.is_none() {
        return Err(ApiError::validation(
            "event",
            "only events with an artist have a presale",
        ));
    }
    let before: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT to_jsonb(p) - 'event_id' - 'updated_at' FROM presale_schedules p
         WHERE event_id = $1",
    )
    .bind(event)
    .fetch_optional(&mut *tx)
    .await?;
    upsert(&mut tx, event, &offsets, state.clock.now()).await?;
    let change = crate::audit::Change::new("event.presale_changed", "event", event)
        .after(serde_json::to_value(offsets).unwrap_or_default());
    let change = match before {
        Some(b) => change.before(b),
        None => change,
    };
    crate::audit::record(&mut tx, user.actor(), change, state.clock.now()).await?;
    // The waiting room shows the schedule too: a new rules version carries it.
    let pushed = crate::queue::refresh_presale(state, &mut tx, event, state.clock.now()).await?;
    tx.commit().await?;
    state.catalog.details.forget(event).await;
    if pushed && let Err(e) = crate::queue::push_due(state, Some(event)).await {
        tracing::warn!(%event, error = ?e, "immediate rules push failed; the pusher retries");
    }
    Ok(PresaleSchedule::new(offsets, opens))
}

async fn upsert(
    conn: &mut PgConnection,
    event: Uuid,
    o: &PresaleOffsets,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO presale_schedules (event_id, diamond_mins, gold_mins, silver_mins, general_mins, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (event_id) DO UPDATE
         SET diamond_mins = $2, gold_mins = $3, silver_mins = $4, general_mins = $5, updated_at = $6",
    )
    .bind(event)
    .bind(o.diamond_mins)
    .bind(o.gold_mins)
    .bind(o.silver_mins)
    .bind(o.general_mins)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets a schedule without the promoter checks (the demo seed).
pub async fn set_schedule(
    db: &sqlx::PgPool,
    clock: &crate::clock::Clock,
    event: Uuid,
    offsets: PresaleOffsets,
) -> anyhow::Result<()> {
    validate(&offsets).map_err(|e| anyhow::anyhow!("invalid schedule: {e:?}"))?;
    let mut conn = db.acquire().await?;
    upsert(&mut conn, event, &offsets, clock.now()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_must_not_decrease_and_stay_in_range() {
        assert!(validate(&PresaleOffsets::DEFAULT).is_ok());
        let zero = PresaleOffsets {
            diamond_mins: 0,
            gold_mins: 0,
            silver_mins: 0,
            general_mins: 0,
        };
        assert!(validate(&zero).is_ok());
        assert!(
            validate(&PresaleOffsets {
                gold_mins: 2_000,
                ..PresaleOffsets::DEFAULT
            })
            .is_err()
        );
        assert!(
            validate(&PresaleOffsets {
                diamond_mins: -1,
                ..zero
            })
            .is_err()
        );
        assert!(
            validate(&PresaleOffsets {
                general_mins: PresaleOffsets::MAX_MINS + 1,
                ..PresaleOffsets::DEFAULT
            })
            .is_err()
        );
    }
}

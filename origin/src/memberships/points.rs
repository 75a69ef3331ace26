//! The points ledger: awards with daily caps, clawbacks that take an award back.
//!
//! Every change is a ledger row written in the transaction of what earned it (a paid
//! order, a post) with the membership row locked, so the balance (`memberships.points`)
//! always equals the ledger's sum and the caps hold however many requests race:
//!
//! - an award is written once per `(membership, reason, source)` (unique index), so a
//!   retried payment or a replayed event never pays twice;
//! - awards per reason and Korean calendar day are capped ([`Reason::daily_cap`]); an
//!   award over the cap is cut to what is left (and skipped at zero);
//! - a clawback names the award it takes back (unique), for exactly the points that
//!   award gave; deleting a post or refunding tickets can never push a balance below
//!   zero, and posting and deleting again cannot farm points (the cap counts awards,
//!   not the balance).
//!
//! Only an active membership earns points: a fan without one, or whose membership has
//! expired (by the clock, whatever the expiry job has marked), earns nothing.

use crate::catalog::Tier;
use crate::outbox::{self, Topic};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

/// Why points moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Join,
    Renew,
    TicketPurchase,
    Post,
    Comment,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Join => "join",
            Reason::Renew => "renew",
            Reason::TicketPurchase => "ticket_purchase",
            Reason::Post => "post",
            Reason::Comment => "comment",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        [
            Reason::Join,
            Reason::Renew,
            Reason::TicketPurchase,
            Reason::Post,
            Reason::Comment,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Points one such action earns.
    pub fn points(self) -> i32 {
        match self {
            Reason::Join | Reason::Renew => 200,
            Reason::TicketPurchase => 100,
            Reason::Post => 30,
            Reason::Comment => 10,
        }
    }

    /// Most points this reason may earn one membership per Korean calendar day
    /// (`None`: once per paid order, no daily cap needed).
    pub fn daily_cap(self) -> Option<i32> {
        match self {
            Reason::Join | Reason::Renew => None,
            Reason::TicketPurchase => Some(300),
            Reason::Post => Some(90),
            Reason::Comment => Some(50),
        }
    }
}

/// The Korean calendar day of `at` (caps reset at midnight KST).
pub fn kst_day(at: DateTime<Utc>) -> NaiveDate {
    let kst = FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset");
    at.with_timezone(&kst).date_naive()
}

/// The membership a fan holds with an artist, locked for a ledger change; `None` unless
/// it is active at `now`.
async fn lock_active(
    conn: &mut PgConnection,
    user: Uuid,
    artist: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM memberships
         WHERE user_id = $1 AND artist_id = $2 AND status = 'active' AND expires_at > $3
         FOR UPDATE",
    )
    .bind(user)
    .bind(artist)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
}

/// Inside the caller's transaction: awards `reason`'s points for `source` to `user`'s
/// active membership of `artist`, within the daily cap. Returns the points given (0: no
/// active membership, cap reached, or already awarded for this source).
pub async fn award(
    conn: &mut PgConnection,
    user: Uuid,
    artist: Uuid,
    reason: Reason,
    source: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i32> {
    let Some(membership) = lock_active(conn, user, artist, now).await? else {
        return Ok(0);
    };
    award_to(conn, membership, user, artist, reason, source, now).await
}

/// [`award`] for a membership the caller has locked (activation).
pub(super) async fn award_to(
    conn: &mut PgConnection,
    membership: Uuid,
    user: Uuid,
    artist: Uuid,
    reason: Reason,
    source: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i32> {
    let day = kst_day(now);
    let mut points = reason.points();
    if let Some(cap) = reason.daily_cap() {
        let today: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(points), 0)::int8 FROM membership_points
             WHERE membership_id = $1 AND reason = $2 AND kst_day = $3 AND clawback_of IS NULL",
        )
        .bind(membership)
        .bind(reason.as_str())
        .bind(day)
        .fetch_one(&mut *conn)
        .await?;
        points = points.min((cap as i64 - today).max(0) as i32);
    }
    if points == 0 {
        return Ok(0);
    }
    let entry = Uuid::now_v7();
    let written = sqlx::query(
        "INSERT INTO membership_points (id, membership_id, reason, source, points, kst_day, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(entry)
    .bind(membership)
    .bind(reason.as_str())
    .bind(source)
    .bind(points)
    .bind(day)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if written == 0 {
        return Ok(0);
    }
    moved(
        conn, membership, user, artist, entry, reason, source, points, now,
    )
    .await?;
    Ok(points)
}

/// Inside the caller's transaction: takes back every award for `source` of `reason`
/// not yet taken back (a refund, a deleted post). Returns the points taken.
pub async fn claw_back(
    conn: &mut PgConnection,
    reason: Reason,
    source: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<i32> {
    let awards: Vec<(Uuid, Uuid, i32, Uuid, Uuid)> = sqlx::query_as(
        "SELECT p.id, p.membership_id, p.points, m.user_id, m.artist_id
         FROM membership_points p JOIN memberships m ON m.id = p.membership_id
         WHERE p.reason = $1 AND p.source = $2 AND p.clawback_of IS NULL
           AND NOT EXISTS (SELECT 1 FROM membership_points c WHERE c.clawback_of = p.id)
         ORDER BY p.id",
    )
    .bind(reason.as_str())
    .bind(source)
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = 0;
    for (award, membership, points, user, artist) in awards {
        sqlx::query("SELECT 1 FROM memberships WHERE id = $1 FOR UPDATE")
            .bind(membership)
            .execute(&mut *conn)
            .await?;
        let entry = Uuid::now_v7();
        let written = sqlx::query(
            "INSERT INTO membership_points
                 (id, membership_id, reason, source, points, kst_day, clawback_of, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(entry)
        .bind(membership)
        .bind(reason.as_str())
        .bind(source)
        .bind(-points)
        .bind(kst_day(now))
        .bind(award)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if written == 1 {
            moved(
                conn, membership, user, artist, entry, reason, source, -points, now,
            )
            .await?;
            taken += points;
        }
    }
    Ok(taken)
}

/// Applies a ledger row to the balance and announces it.
#[allow(clippy::too_many_arguments)]
async fn moved(
    conn: &mut PgConnection,
    membership: Uuid,
    user: Uuid,
    artist: Uuid,
    entry: Uuid,
    reason: Reason,
    source: &str,
    points: i32,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let balance: i32 = sqlx::query_scalar(
        "UPDATE memberships SET points = points + $2, updated_at = $3 WHERE id = $1
         RETURNING points",
    )
    .bind(membership)
    .bind(points)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    outbox::enqueue(
        conn,
        Topic::MembershipPoints,
        membership,
        json!({
            "membership_id": membership,
            "user_id": user,
            "artist_id": artist,
            "entry_id": entry,
            "reason": reason,
            "source": source,
            "points": points,
            "balance": balance,
            "tier": Tier::of_points(balance),
        }),
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_reset_at_midnight_in_korea() {
        let before = DateTime::parse_from_rfc3339("2026-12-04T14:59:59Z").map(|d| d.to_utc());
        let after = DateTime::parse_from_rfc3339("2026-12-04T15:00:00Z").map(|d| d.to_utc());
        let (Ok(before), Ok(after)) = (before, after) else {
            panic!("timestamps parse");
        };
        assert_eq!(kst_day(before).to_string(), "2026-12-04");
        assert_eq!(kst_day(after).to_string(), "2026-12-05");
    }

    #[test]
    fn reasons_round_trip_and_only_repeatable_ones_are_capped() {
        for r in [
            Reason::Join,
            Reason::Renew,
            Reason::TicketPurchase,
            Reason::Post,
            Reason::Comment,
        ] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(
                r.daily_cap().is_some(),
                !matches!(r, Reason::Join | Reason::Renew)
            );
        }
    }
}

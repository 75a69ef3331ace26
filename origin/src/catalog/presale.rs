//! Presales: fans with a membership of an event's artist may book before everyone else,
//! earlier the higher their tier.
//!
//! The schedule and the tiers belong to the memberships module, which sits above
//! booking and the queue; those need the answer on every booking and every tier-2
//! join. So the catalog declares the question ([`Presales`]) and the shapes of the
//! answer, memberships answers it and `app` wires it in (as with [`super::QueueModes`]).
//!
//! An event without an artist has no presale: its sale opens for everyone at
//! `sale_opens_at`. An event with an artist opens per tier at `sale_opens_at` plus the
//! tier's offset; fans without an active membership (BRONZE) wait for the general sale.

use crate::http::{ApiError, Code};
use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

/// A fan's standing with an artist. Members are SILVER, GOLD or DIAMOND by points;
/// everyone else (no membership, pending, expired) is BRONZE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    Bronze,
    Silver,
    Gold,
    Diamond,
}

impl Tier {
    /// The tier an active membership with `points` has: ≥ 1,500 DIAMOND, ≥ 500 GOLD,
    /// else SILVER.
    pub fn of_points(points: i32) -> Tier {
        match points {
            p if p >= 1_500 => Tier::Diamond,
            p if p >= 500 => Tier::Gold,
            _ => Tier::Silver,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Bronze => "BRONZE",
            Tier::Silver => "SILVER",
            Tier::Gold => "GOLD",
            Tier::Diamond => "DIAMOND",
        }
    }
}

/// When each tier may book, as minutes after the event's `sale_opens_at`. Offsets never
/// decrease from DIAMOND to the general sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresaleOffsets {
    pub diamond_mins: i32,
    pub gold_mins: i32,
    pub silver_mins: i32,
    /// Everyone else (BRONZE).
    pub general_mins: i32,
}

impl PresaleOffsets {
    /// DIAMOND at the sale opening, GOLD an hour later, SILVER a day later, everyone
    /// two days later.
    pub const DEFAULT: PresaleOffsets = PresaleOffsets {
        diamond_mins: 0,
        gold_mins: 60,
        silver_mins: 24 * 60,
        general_mins: 48 * 60,
    };

    /// Longest a general sale may wait after the opening (30 days).
    pub const MAX_MINS: i32 = 30 * 24 * 60;

    pub fn for_tier(&self, tier: Tier) -> i32 {
        match tier {
            Tier::Diamond => self.diamond_mins,
            Tier::Gold => self.gold_mins,
            Tier::Silver => self.silver_mins,
            Tier::Bronze => self.general_mins,
        }
    }
}

/// One tier's window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresaleWindow {
    pub tier: Tier,
    pub opens_at: DateTime<Utc>,
}

/// An event's presale, as its detail shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresaleSchedule {
    pub offsets: PresaleOffsets,
    /// DIAMOND first; BRONZE is the general sale.
    pub windows: Vec<PresaleWindow>,
}

impl PresaleSchedule {
    pub fn new(offsets: PresaleOffsets, sale_opens_at: DateTime<Utc>) -> PresaleSchedule {
        let windows = [Tier::Diamond, Tier::Gold, Tier::Silver, Tier::Bronze]
            .into_iter()
            .map(|tier| PresaleWindow {
                tier,
                opens_at: sale_opens_at + Duration::minutes(offsets.for_tier(tier) as i64),
            })
            .collect();
        PresaleSchedule { offsets, windows }
    }

    /// When a fan of `tier` may book.
    pub fn opens_for(&self, tier: Tier) -> DateTime<Utc> {
        self.windows
            .iter()
            .find(|w| w.tier == tier)
            .map(|w| w.opens_at)
            .unwrap_or_else(|| self.windows.last().map(|w| w.opens_at).unwrap_or_default())
    }
}

/// The calling fan's place in an event's presale (in `GET /api/v1/events/{id}` when
/// signed in).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FanWindow {
    pub tier: Tier,
    /// When this fan may book.
    pub opens_at: DateTime<Utc>,
    /// Whether that moment has come.
    pub open: bool,
}

impl FanWindow {
    /// 409 `SALE_NOT_OPEN` for a fan whose window is still ahead, with its opening.
    pub fn not_open(&self) -> ApiError {
        ApiError::new(
            Code::SALE_NOT_OPEN,
            format!(
                "Your window opens at {} ({} tier); members of higher tiers book first",
                self.opens_at.to_rfc3339(),
                self.tier.as_str()
            ),
        )
        .with("opens_at", self.opens_at)
        .with("tier", self.tier)
    }
}

/// The memberships module's answers (see the module doc).
pub trait Presales: Send + Sync + 'static {
    /// The schedule of an event with an artist: its own or the default.
    fn offsets<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: Uuid,
    ) -> BoxFuture<'a, sqlx::Result<PresaleOffsets>>;

    /// The tier `user` holds with `artist` at `now` (an expired membership is BRONZE
    /// whether or not the expiry job has marked it yet).
    fn tier<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        user: Uuid,
        artist: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, sqlx::Result<Tier>>;
}

/// For a catalog without memberships: every schedule is the default, everyone BRONZE.
pub struct NoPresales;

impl Presales for NoPresales {
    fn offsets<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _event: Uuid,
    ) -> BoxFuture<'a, sqlx::Result<PresaleOffsets>> {
        Box::pin(async { Ok(PresaleOffsets::DEFAULT) })
    }

    fn tier<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _user: Uuid,
        _artist: Uuid,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, sqlx::Result<Tier>> {
        Box::pin(async { Ok(Tier::Bronze) })
    }
}

/// When `user` may book an event of `artist` whose sale opens at `sale_opens_at`.
/// `None` for an event without an artist (the plain sale window applies).
pub async fn fan_window(
    presales: &dyn Presales,
    db: &PgPool,
    event: Uuid,
    artist: Option<Uuid>,
    sale_opens_at: DateTime<Utc>,
    user: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<FanWindow>> {
    let Some(artist) = artist else {
        return Ok(None);
    };
    let mut conn = db.acquire().await?;
    let offsets = presales.offsets(&mut conn, event).await?;
    let tier = presales.tier(&mut conn, user, artist, now).await?;
    let opens_at = PresaleSchedule::new(offsets, sale_opens_at).opens_for(tier);
    Ok(Some(FanWindow {
        tier,
        opens_at,
        open: now >= opens_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_by_points() {
        assert_eq!(Tier::of_points(0), Tier::Silver);
        assert_eq!(Tier::of_points(499), Tier::Silver);
        assert_eq!(Tier::of_points(500), Tier::Gold);
        assert_eq!(Tier::of_points(1_499), Tier::Gold);
        assert_eq!(Tier::of_points(1_500), Tier::Diamond);
        assert!(
            Tier::Diamond > Tier::Gold && Tier::Gold > Tier::Silver && Tier::Silver > Tier::Bronze
        );
    }

    #[test]
    fn the_default_schedule_opens_an_hour_a_day_and_two_days_later() {
        let open = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let s = PresaleSchedule::new(PresaleOffsets::DEFAULT, open);
        assert_eq!(s.opens_for(Tier::Diamond), open);
        assert_eq!(s.opens_for(Tier::Gold), open + Duration::hours(1));
        assert_eq!(s.opens_for(Tier::Silver), open + Duration::hours(24));
        assert_eq!(s.opens_for(Tier::Bronze), open + Duration::hours(48));
    }
}

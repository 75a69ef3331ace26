//! Each event's queue settings (the promoter's edge rules plus the origin-only switches)
//! in Postgres, with a short in-memory cache for the hot paths (status polls, the entry
//! guard in front of every reservation).

use shared_wasm::rules::{EdgeRules, Mode, Phase};
use sqlx::{PgExecutor, Row};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// One event's queue, as stored in `event_queues`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub rules: EdgeRules,
    /// False: tier 2 only; joins need no pass and are ordered by arrival.
    pub edge_tier: bool,
    /// The random draw's secret seed (hex), revealed to the edges only.
    pub draw_seed: Option<String>,
}

impl QueueSettings {
    /// Whether reservations need an entry token. Passthrough is the only mode that lets
    /// fans book without queueing; reject and maintenance admit nobody new, and those
    /// already admitted may finish.
    pub fn guards_booking(&self) -> bool {
        self.rules.mode != Mode::Passthrough
    }

    /// Whether tier 2 admits now (the sale is open, the mode queues and the room is
    /// not paused: a rate of 0 stops admissions at the edge and here alike).
    pub fn admits(&self, now_s: i64) -> bool {
        self.rules.mode == Mode::Queue
            && self.rules.phase(now_s) == Phase::Open
            && self.rules.new_users_per_minute > 0
    }

    pub fn slot_ms(&self) -> u64 {
        u64::from(self.rules.active_slot_secs) * 1000
    }
}

/// Reads an event's settings; `None`: the event has no queue.
pub async fn load<'e>(
    db: impl PgExecutor<'e>,
    event_id: Uuid,
) -> sqlx::Result<Option<QueueSettings>> {
    let row =
        sqlx::query("SELECT rules, edge_tier, draw_seed FROM event_queues WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(db)
            .await?;
    row.map(from_row).transpose()
}

pub(crate) fn from_row(row: sqlx::postgres::PgRow) -> sqlx::Result<QueueSettings> {
    let rules: sqlx::types::Json<EdgeRules> = row.try_get("rules")?;
    Ok(QueueSettings {
        rules: rules.0,
        edge_tier: row.try_get("edge_tier")?,
        draw_seed: row.try_get("draw_seed")?,
    })
}

/// Every event whose line the admission loop must tick: queue mode, sale not over.
pub async fn admitting<'e>(
    db: impl PgExecutor<'e>,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<Vec<(Uuid, QueueSettings)>> {
    let rows = sqlx::query(
        "SELECT q.event_id, q.rules, q.edge_tier, q.draw_seed FROM event_queues q \
         JOIN events e ON e.id = q.event_id \
         WHERE q.rules ->> 'mode' = 'queue' AND e.cancelled_at IS NULL \
           AND e.sale_closes_at > $1 - interval '1 hour'",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            let id: Uuid = r.try_get("event_id")?;
            Ok((id, from_row(r)?))
        })
        .collect()
}

/// Settings cached for at most `ttl` (a promoter's change reaches every replica within
/// it). A TTL of zero reads Postgres every time.
pub struct SettingsCache {
    /// `None`: caching is off. Events without a queue are cached too (as `None`).
    entries: Option<crate::cache::Cache<Uuid, Option<Arc<QueueSettings>>>>,
}

impl SettingsCache {
    /// Events whose settings one replica keeps at most.
    const CAPACITY: u64 = 10_000;

    pub fn new(ttl: Duration) -> Self {
        SettingsCache {
            entries: (!ttl.is_zero()).then(|| {
                crate::cache::Cache::builder("queue_settings", Self::CAPACITY)
                    .time_to_live(ttl)
                    .build()
            }),
        }
    }

    /// The settings, shared: a hit clones a pointer, not the rules (whose page template
    /// may hold 64 KiB of HTML), on every status poll and booking.
    pub async fn get(
        &self,
        db: &sqlx::PgPool,
        event_id: Uuid,
    ) -> Result<Option<Arc<QueueSettings>>, Arc<sqlx::Error>> {
        let shared = async { Ok(load(db, event_id).await?.map(Arc::new)) };
        match &self.entries {
            Some(entries) => entries.get_or_load(event_id, shared).await,
            None => shared.await.map_err(Arc::new),
        }
    }

    /// Drops the cached copy (this replica wrote new settings).
    pub async fn forget(&self, event_id: Uuid) {
        if let Some(entries) = &self.entries {
            entries.forget(&event_id).await;
        }
    }
}

/// The queue's answer to the catalog's "how does this event queue?" (wired in `app`):
/// no settings or passthrough → none; with the edge tier → edge; else the origin line.
pub struct Modes;

impl crate::catalog::QueueModes for Modes {
    fn mode<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        event: Uuid,
    ) -> futures::future::BoxFuture<'a, sqlx::Result<crate::catalog::QueueMode>> {
        use crate::catalog::QueueMode;
        Box::pin(async move {
            Ok(match load(&mut *conn, event).await? {
                None => QueueMode::None,
                Some(s) if s.rules.mode == Mode::Passthrough => QueueMode::None,
                Some(s) if s.edge_tier => QueueMode::Edge,
                Some(_) => QueueMode::Origin,
            })
        })
    }
}

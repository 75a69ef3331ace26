//! `GET /api/v1/events/{id}/stats` and `/stats/live` (the event's promoter, admins) and
//! `GET /api/v1/admin/stats` (admins).

use super::day_of;
use crate::auth::AuthUser;
use crate::catalog::authorize_event_manager;
use crate::http::page::invalid_query;
use crate::http::{ApiResult, Json, Path, Query};
use crate::queue::WAIT_BUCKETS_SECS;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use sqlx::{PgPool, Row};
use std::convert::Infallible;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest series one request may ask for.
const MAX_SERIES_DAYS: i64 = 7;
/// Longest day range of the platform figures.
const MAX_DAYS: i64 = 366;
/// A live stream ends after this long; the browser's `EventSource` (or the app)
/// reconnects, so one dashboard cannot hold a connection forever.
const LIVE_MAX: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// First minute of the series (RFC 3339); default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the series, exclusive (RFC 3339); default the next minute.
    pub to: Option<DateTime<Utc>>,
}

/// One minute of an on-sale. Sales figures are counts of what happened in the minute
/// (a minute with no row had none); queue figures are absent for events without a
/// line or minutes the line did not count.
#[derive(Debug, Serialize, ToSchema)]
pub struct MinutePoint {
    pub minute: DateTime<Utc>,
    pub holds: i64,
    pub sales: i64,
    pub tickets: i64,
    /// Won taken in the minute.
    pub revenue: i64,
    pub refunds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_joined: Option<i64>,
    /// The most fans waiting at once during the minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_waiting: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admitted: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<i64>,
}

/// The queue over the whole sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueTotals {
    pub joined: i64,
    pub admitted: i64,
    pub abandoned: i64,
    pub waiting_peak: i64,
    pub active_peak: i64,
    /// Wait before admission, seconds: the upper bound of the bucket holding the
    /// percentile. Absent without admissions, or when it lies beyond the last bound
    /// (an hour).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_p50_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_p90_secs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_p99_secs: Option<u32>,
    /// Admissions per wait bucket; bucket `i` holds waits up to `wait_bucket_secs[i]`,
    /// the last one everything longer.
    pub wait_buckets: Vec<i64>,
    pub wait_bucket_secs: Vec<u32>,
}

/// An event's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventStats {
    pub event_id: Uuid,
    /// Tickets sold and not refunded.
    pub tickets_sold: i64,
    /// Won kept: taken minus returned.
    pub revenue: i64,
    pub gross_revenue: i64,
    /// Completed refunds, and the won they returned.
    pub refunds: i64,
    pub refunded: i64,
    pub sales: i64,
    /// Holds ever taken, and how they ended without a sale.
    pub holds: i64,
    pub expiries: i64,
    pub cancellations: i64,
    pub resales: i64,
    pub resale_volume: i64,
    /// Tickets on hold right now (unpaid, not lapsed).
    pub holds_active: i64,
    /// Seats and standing tickets still for sale right now.
    pub available: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueTotals>,
    pub series: Vec<MinutePoint>,
}

crate::problems!(
    EventStatsProblems: [codes::AUTH, codes::PATH, codes::QUERY],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND,
);

/// An event's sale: totals, live holds and stock, the queue, and the per-minute series.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/stats", tag = "stats",
    params(("event_id" = Uuid, Path, description = "Event id"), SeriesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = EventStats), EventStatsProblems))]
pub(super) async fn event_stats(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<Json<EventStats>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    let now = state.clock.now();
    let to = q.to.unwrap_or(now + Duration::minutes(1));
    let from = q.from.unwrap_or(to - Duration::hours(24));
    if from >= to {
        return Err(invalid_query("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_SERIES_DAYS) {
        return Err(invalid_query(
            "to",
            format!("a series spans at most {MAX_SERIES_DAYS} days"),
        ));
    }
    Ok(Json(event_figures(&state, event_id, from, to).await?))
}

/// The figures of [`EventStats`] for `[from, to)`.
pub async fn event_figures(
    state: &AppState,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<EventStats> {
    let db = &state.db;
    let t = sqlx::query(
        "SELECT COALESCE(sum(holds), 0)::bigint AS holds, COALESCE(sum(expiries), 0)::bigint AS expiries,
                COALESCE(sum(cancellations), 0)::bigint AS cancellations,
                COALESCE(sum(sales), 0)::bigint AS sales, COALESCE(sum(tickets), 0)::bigint AS tickets,
                COALESCE(sum(revenue), 0)::bigint AS revenue, COALESCE(sum(refunds), 0)::bigint AS refunds,
                COALESCE(sum(refunded), 0)::bigint AS refunded,
                COALESCE(sum(tickets_refunded), 0)::bigint AS tickets_refunded,
                COALESCE(sum(resales), 0)::bigint AS resales,
                COALESCE(sum(resale_volume), 0)::bigint AS resale_volume
         FROM stats_event_minutes WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(db)
    .await?;
    let live = crate::booking::sales_figures(db, &[event_id], state.clock.now()).await?;
    let live = live.get(&event_id).copied().unwrap_or_default();
    let (tickets, tickets_refunded): (i64, i64) = (t.get("tickets"), t.get("tickets_refunded"));
    let (revenue, refunded): (i64, i64) = (t.get("revenue"), t.get("refunded"));
    Ok(EventStats {
        event_id,
        tickets_sold: tickets - tickets_refunded,
        revenue: revenue - refunded,
        gross_revenue: revenue,
        refunds: t.get("refunds"),
        refunded,
        sales: t.get("sales"),
        holds: t.get("holds"),
        expiries: t.get("expiries"),
        cancellations: t.get("cancellations"),
        resales: t.get("resales"),
        resale_volume: t.get("resale_volume"),
        holds_active: live.held,
        available: live.available,
        queue: queue_totals(db, event_id).await?,
        series: series(db, event_id, from, to).await?,
    })
}

async fn queue_totals(db: &PgPool, event_id: Uuid) -> sqlx::Result<Option<QueueTotals>> {
    let row = sqlx::query(
        "SELECT count(*) AS minutes, COALESCE(sum(joined), 0)::bigint AS joined,
                COALESCE(sum(admitted), 0)::bigint AS admitted,
                COALESCE(sum(abandoned), 0)::bigint AS abandoned,
                COALESCE(max(waiting_peak), 0)::bigint AS waiting_peak,
                COALESCE(max(active_peak), 0)::bigint AS active_peak
         FROM stats_queue_minutes WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(db)
    .await?;
    if row.get::<i64, _>("minutes") == 0 {
        return Ok(None);
    }
    let sums: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT i, sum(b)::bigint FROM stats_queue_minutes,
                unnest(wait_buckets) WITH ORDINALITY AS u(b, i)
         WHERE event_id = $1 GROUP BY i ORDER BY i",
    )
    .bind(event_id)
    .fetch_all(db)
    .await?;
    let mut buckets = vec![0i64; WAIT_BUCKETS_SECS.len() + 1];
    for (i, n) in sums {
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| buckets.get_mut(i)) {
            *slot = n;
        }
    }
    Ok(Some(QueueTotals {
        joined: row.get("joined"),
        admitted: row.get("admitted"),
        abandoned: row.get("abandoned"),
        waiting_peak: row.get("waiting_peak"),
        active_peak: row.get("active_peak"),
        wait_p50_secs: percentile(&buckets, 0.50),
        wait_p90_secs: percentile(&buckets, 0.90),
        wait_p99_secs: percentile(&buckets, 0.99),
        wait_buckets: buckets,
        wait_bucket_secs: WAIT_BUCKETS_SECS.to_vec(),
    }))
}

/// The upper bound of the bucket holding quantile `q` of `buckets`; `None` without
/// samples or in the open last bucket.
pub fn percentile(buckets: &[i64], q: f64) -> Option<u32> {
    let total: i64 = buckets.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return WAIT_BUCKETS_SECS.get(i).copied();
        }
    }
    None
}

async fn series(
    db: &PgPool,
    event_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<MinutePoint>> {
    let rows = sqlx::query(
        "SELECT COALESCE(s.minute, q.minute) AS minute,
                COALESCE(s.holds, 0)::bigint AS holds, COALESCE(s.sales, 0)::bigint AS sales,
                COALESCE(s.tickets, 0)::bigint AS tickets, COALESCE(s.revenue, 0)::bigint AS revenue,
                COALESCE(s.refunds, 0)::bigint AS refunds,
                q.joined::bigint AS joined, q.waiting_peak::bigint AS waiting,
                q.admitted::bigint AS admitted, q.abandoned::bigint AS abandoned
         FROM (SELECT * FROM stats_event_minutes
               WHERE event_id = $1 AND minute >= $2 AND minute < $3) s
         FULL JOIN (SELECT * FROM stats_queue_minutes
                    WHERE event_id = $1 AND minute >= $2 AND minute < $3) q
           ON q.minute = s.minute
         ORDER BY 1",
    )
    .bind(event_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(MinutePoint {
                minute: r.try_get("minute")?,
                holds: r.try_get("holds")?,
                sales: r.try_get("sales")?,
                tickets: r.try_get("tickets")?,
                revenue: r.try_get("revenue")?,
                refunds: r.try_get("refunds")?,
                queue_joined: r.try_get("joined")?,
                queue_waiting: r.try_get("waiting")?,
                admitted: r.try_get("admitted")?,
                abandoned: r.try_get("abandoned")?,
            })
        })
        .collect()
}

/// One frame of the live stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveFrame {
    pub at: DateTime<Utc>,
    pub tickets_sold: i64,
    pub revenue: i64,
    pub sales: i64,
    pub holds_active: i64,
    pub available: i64,
    /// The line right now; absent for events without one (or while Redis is away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<u64>,
    /// Measured admissions per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_rate: Option<f64>,
    /// The last few minutes of the series (the dashboard appends them).
    pub recent: Vec<MinutePoint>,
}

async fn live_frame(state: &AppState, event_id: Uuid) -> sqlx::Result<LiveFrame> {
    let now = state.clock.now();
    let figures = event_figures(
        state,
        event_id,
        now - Duration::minutes(3),
        now + Duration::minutes(1),
    )
    .await?;
    let has_line = state
        .queue
        .settings
        .get(&state.db, event_id)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?
        .is_some();
    let line = if has_line {
        crate::queue::sizes(&state.redis, event_id, state.clock.unix_ms())
            .await
            .ok()
    } else {
        None
    };
    Ok(LiveFrame {
        at: now,
        tickets_sold: figures.tickets_sold,
        revenue: figures.revenue,
        sales: figures.sales,
        holds_active: figures.holds_active,
        available: figures.available,
        waiting: line.map(|l| l.0),
        active: line.map(|l| l.1),
        admission_rate: line.map(|l| l.2),
        recent: figures.series,
    })
}

crate::problems!(
    LiveProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND,
);

/// The event's figures as server-sent events (`event: stats`, one `LiveFrame` as JSON
/// every `URR_STATS_LIVE_MS`), for the promoter's dashboard during an on-sale. The
/// stream ends after an hour; reconnect to go on.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/stats/live", tag = "stats",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = LiveFrame),
        LiveProblems))]
pub(super) async fn live(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    let every = state.config.stats.live_interval;
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = futures::stream::unfold((state, ticker), move |(state, mut ticker)| async move {
        ticker.tick().await;
        if started.elapsed() > LIVE_MAX {
            return None;
        }
        let event = match live_frame(&state, event_id).await {
            Ok(frame) => SseEvent::default()
                .event("stats")
                .json_data(&frame)
                .unwrap_or_else(|_| SseEvent::default().event("error").data("encoding")),
            Err(e) => {
                tracing::warn!(%event_id, error = %e, "live statistics frame failed");
                SseEvent::default()
                    .event("error")
                    .data("figures briefly unavailable")
            }
        };
        Some((Ok(event), (state, ticker)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// First Korean day (`YYYY-MM-DD`); default 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last Korean day, inclusive; default today in Korea.
    pub to: Option<NaiveDate>,
}

/// One Korean day of the platform. Days without any event are left out.
#[derive(Debug, Default, Serialize, ToSchema, sqlx::FromRow)]
pub struct DayFigures {
    #[sqlx(default)]
    pub day: Option<NaiveDate>,
    pub holds: i64,
    pub expiries: i64,
    pub cancellations: i64,
    pub sales: i64,
    pub tickets: i64,
    /// Ticket money taken, won.
    pub revenue: i64,
    pub refunds: i64,
    pub refunded: i64,
    pub memberships_joined: i64,
    pub memberships_renewed: i64,
    pub memberships_expired: i64,
    pub membership_revenue: i64,
    pub listings: i64,
    pub resales: i64,
    pub resale_volume: i64,
    /// The platform's resale fees, won.
    pub resale_fees: i64,
    pub resale_refunds: i64,
    pub resale_refunded: i64,
    pub new_users: i64,
}

/// The platform's figures over a range of days.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<DayFigures>,
    /// The sums over the range (`day` absent).
    pub totals: DayFigures,
}

const DAY_COLUMNS: &str = "holds::bigint, expiries::bigint, cancellations::bigint, sales::bigint,
    tickets::bigint, revenue::bigint, refunds::bigint, refunded::bigint,
    memberships_joined::bigint, memberships_renewed::bigint, memberships_expired::bigint,
    membership_revenue::bigint, listings::bigint, resales::bigint, resale_volume::bigint,
    resale_fees::bigint, resale_refunds::bigint, resale_refunded::bigint, new_users::bigint";

crate::problems!(
    AdminStatsProblems: [codes::AUTH, codes::QUERY],
    FORBIDDEN_ROLE,
);

/// Admin: the platform's daily figures (Korean days): sales, refunds, memberships,
/// resales, new accounts.
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "stats",
    params(DaysQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PlatformStats), AdminStatsProblems))]
pub(super) async fn admin_stats(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<DaysQuery>,
) -> ApiResult<Json<PlatformStats>> {
    user.require(&[Role::Admin])?;
    let to = q.to.unwrap_or_else(|| day_of(state.clock.now()));
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(invalid_query("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(invalid_query(
            "to",
            format!("at most {MAX_DAYS} days at once"),
        ));
    }
    let days: Vec<DayFigures> = sqlx::query_as(&format!(
        "SELECT day, {DAY_COLUMNS} FROM stats_days WHERE day BETWEEN $1 AND $2 ORDER BY day"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&state.db)
    .await?;
    let sum_columns = DAY_COLUMNS
        .split(',')
        .map(|c| {
            let name = c.trim().trim_end_matches("::bigint");
            format!("COALESCE(sum({name}), 0)::bigint AS {name}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let totals: DayFigures = sqlx::query_as(&format!(
        "SELECT {sum_columns} FROM stats_days WHERE day BETWEEN $1 AND $2"
    ))
    .bind(from)
    .bind(to)
    .fetch_one(&state.db)
    .await?;
    Ok(Json(PlatformStats {
        from,
        to,
        days,
        totals,
    }))
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(event_stats))
        .routes(routes!(live))
        .routes(routes!(admin_stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds_or_absent() {
        let mut b = vec![0i64; WAIT_BUCKETS_SECS.len() + 1];
        assert_eq!(percentile(&b, 0.5), None);
        b[0] = 50;
        b[3] = 49;
        b[10] = 1;
        assert_eq!(percentile(&b, 0.5), Some(1));
        assert_eq!(percentile(&b, 0.9), Some(30));
        assert_eq!(percentile(&b, 0.99), Some(30));
        assert_eq!(
            percentile(&b, 1.0),
            None,
            "the open last bucket has no bound"
        );
    }
}

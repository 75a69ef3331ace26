//! The operator's dashboard and reservation search (admins only). Refunds go through
//! payments' own route (`POST /api/v1/admin/reservations/{id}/refund`): status changes
//! only by the legal transitions, never by a free-form write here.

use crate::auth::AuthUser;
use crate::booking::{
    AdminReservation, ReservationFilter, ReservationStatus, admin_reservations, platform_totals,
};
use crate::catalog::event_counts;
use crate::http::page::{invalid_query, limit, paginate, search_text};
use crate::http::{ApiResult, Cursor, Json, Page, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Korea's offset from UTC (no daylight saving): "today" on the dashboard is a day in
/// Korea, where the fans and promoters are.
const KST_OFFSET_SECS: i64 = 9 * 3600;

/// The start of the current day in Korea, as a UTC instant.
fn start_of_day_kst(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.timestamp() + KST_OFFSET_SECS;
    let midnight_local = local - local.rem_euclid(86_400);
    DateTime::from_timestamp(midnight_local - KST_OFFSET_SECS, 0).unwrap_or(now)
}

/// The dashboard's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub events_total: i64,
    pub events_on_sale: i64,
    pub reservations_total: i64,
    pub reservations_paid: i64,
    /// Won.
    pub revenue_total: i64,
    /// Since midnight in Korea.
    pub today_tickets_sold: i64,
    pub today_revenue: i64,
    pub today_starts_at: DateTime<Utc>,
    /// The ten newest reservations.
    pub latest_reservations: Vec<AdminReservation>,
}

crate::problems!(DashboardProblems: [codes::AUTH], FORBIDDEN_ROLE);

/// Platform figures: events, reservations, revenue, today's sales (Korean day) and the
/// newest reservations.
#[utoipa::path(get, path = "/api/v1/admin/dashboard", tag = "console",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Dashboard),
        DashboardProblems))]
pub(super) async fn dashboard(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Dashboard>> {
    user.require(&[Role::Admin])?;
    let now = state.clock.now();
    let today = start_of_day_kst(now);
    let (events_total, events_on_sale) = event_counts(&state.db, now).await?;
    let totals = platform_totals(&state.db, today).await?;
    let latest = admin_reservations(
        &state.db,
        &ReservationFilter {
            limit: 10,
            ..Default::default()
        },
    )
    .await?;
    Ok(Json(Dashboard {
        events_total,
        events_on_sale,
        reservations_total: totals.reservations_total,
        reservations_paid: totals.reservations_paid,
        revenue_total: totals.revenue_total,
        today_tickets_sold: totals.today_tickets_sold,
        today_revenue: totals.today_revenue,
        today_starts_at: today,
        latest_reservations: latest,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReservationsQuery {
    /// `pending`, `confirmed`, `cancelled`, `expired` or `refunded`.
    pub status: Option<String>,
    pub event_id: Option<Uuid>,
    /// Part of the fan's email or name, or of the event's title.
    pub q: Option<String>,
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

crate::problems!(ReservationsProblems: [codes::AUTH, codes::QUERY], FORBIDDEN_ROLE, INVALID_CURSOR);

/// Every reservation, newest first, with the fan's name and email, filtered by status,
/// event and text.
#[utoipa::path(get, path = "/api/v1/admin/reservations", tag = "console",
    params(ReservationsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<AdminReservation>),
        ReservationsProblems))]
pub(super) async fn reservations(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<ReservationsQuery>,
) -> ApiResult<Json<Page<AdminReservation>>> {
    user.require(&[Role::Admin])?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ReservationStatus::parse(s).ok_or_else(|| {
            invalid_query(
                "status",
                "must be pending, confirmed, cancelled, expired or refunded",
            )
        })?),
    };
    let limit = limit(q.limit)?;
    let filter = ReservationFilter {
        status,
        event_id: q.event_id,
        q: search_text(q.q.as_deref())?,
        after: Cursor::decode_created(q.cursor.as_deref())?,
        limit: limit + 1,
    };
    let rows = admin_reservations(&state.db, &filter).await?;
    Ok(Json(paginate(
        rows,
        limit,
        |r| Cursor::created(r.created_at, r.id),
        |r| r,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_starts_at_midnight_in_korea() {
        // 2026-12-05 14:59:59 UTC is 23:59:59 in Korea: the day began at 15:00 UTC before.
        let now = DateTime::parse_from_rfc3339("2026-12-05T14:59:59Z").map(|t| t.to_utc());
        let start = now.map(start_of_day_kst).ok();
        let want = DateTime::parse_from_rfc3339("2026-12-04T15:00:00Z")
            .map(|t| t.to_utc())
            .ok();
        assert_eq!(start, want);
        // One second later a new Korean day starts.
        let next = DateTime::parse_from_rfc3339("2026-12-05T15:00:00Z").map(|t| t.to_utc());
        assert_eq!(next.map(start_of_day_kst).ok(), next.ok());
    }
}

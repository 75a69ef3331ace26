//! Fan memberships of artists: yearly orders paid through payments, a points ledger
//! with daily caps and clawbacks, tiers from points, and the presale windows tiers open.
//!
//! - `orders`: joining and renewing (`mbr_…` orders), activation from the payment
//!   transaction, the expiry job, a fan's tier;
//! - `points`: the ledger (awards with caps, clawbacks);
//! - `presale`: per-event schedules and the answers booking and the queue ask through
//!   `catalog::Presales`;
//! - `model`: what the API shows.
//!
//! ## Rules
//!
//! - A membership is active only between a paid order and `expires_at`; every check
//!   (presale, resale, points) compares `expires_at` with the clock, so rights end on
//!   time even before the expiry job marks the row.
//! - Tier: ≥ 1,500 points DIAMOND, ≥ 500 GOLD, else SILVER; not active: BRONZE.
//! - Points: join or renew +200, tickets bought for the artist's event +100 (at most
//!   300 a day), a post +30 (90 a day), a comment +10 (50 a day); a refund or a deleted
//!   post takes its points back.
//!
//! ## HTTP
//!
//! | route | answers |
//! |---|---|
//! | `POST /api/v1/artists/{artist_id}/memberships` | 201 a new order; 200 the unpaid one; 409 `MEMBERSHIP_ACTIVE`, `MEMBERSHIP_NOT_OFFERED` |
//! | `GET /api/v1/me/memberships` | the caller's memberships with tier and points |
//! | `GET /api/v1/me/memberships/{id}/points` | its ledger, newest first |
//! | `GET /api/v1/memberships/tiers` | what each tier gets |
//! | `PUT /api/v1/events/{event_id}/presale` | the event's presale schedule (its promoter, admins) |

mod model;
mod orders;
mod points;
mod presale;

pub use model::{MembershipStatus, MembershipView, OrderView};
pub use orders::{
    PayableOrder, activate, expire_due, fetch_order, lock_payable, order_id_for, order_of,
    seed_member, tier_of,
};
pub use points::{Reason, award, claw_back, kst_day};
pub use presale::{Windows, set_schedule};

use crate::auth::AuthUser;
use crate::catalog::{PresaleOffsets, PresaleSchedule, Tier};
use crate::http::{ApiError, ApiResult, Code, Cursor, Json, Page, Path, Query};
use crate::state::AppState;
use crate::workers::Workers;
use axum::extract::State;
use axum::http::StatusCode;
use model::{JoinResponse, MembershipList, PointsEntry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join))
        .routes(routes!(my_memberships))
        .routes(routes!(my_points))
        .routes(routes!(tiers))
        .routes(routes!(put_presale))
}

/// Registers the expiry job (every minute; safe with many replicas: `SKIP LOCKED`).
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every(
        "membership_expiry",
        std::time::Duration::from_secs(60),
        move || {
            let s = s.clone();
            async move { orders::expire_due(&s).await.map(|_| ()) }
        },
    );
}

/// The resale fee a seller of `tier` pays, in percent of the price: 5 % for GOLD and
/// DIAMOND, 10 % for SILVER and for events without an artist (BRONZE).
pub fn resale_fee_percent(tier: Tier) -> i32 {
    match tier {
        Tier::Diamond | Tier::Gold => 5,
        Tier::Silver | Tier::Bronze => 10,
    }
}

crate::problems!(
    JoinProblems: [codes::AUTH, codes::PATH],
    ARTIST_NOT_FOUND, MEMBERSHIP_ACTIVE, MEMBERSHIP_NOT_OFFERED,
);

/// Join (or renew) an artist's membership: answers the membership and an order to pay
/// through the Toss widget and `POST /api/v1/payments/confirm`; paying activates it for
/// a year (a renewal extends from the current expiry). Asking again while the order is
/// unpaid answers the same order (200).
#[utoipa::path(post, path = "/api/v1/artists/{artist_id}/memberships", tag = "memberships",
    params(("artist_id" = Uuid, Path, description = "Artist id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new order", body = JoinResponse),
        (status = 200, description = "The unpaid order you already have", body = JoinResponse),
        JoinProblems))]
async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    Path(artist): Path<Uuid>,
) -> ApiResult<(StatusCode, Json<JoinResponse>)> {
    Ok(match orders::join(&state, &user, artist).await? {
        orders::Joined::New(membership, order) => (
            StatusCode::CREATED,
            Json(JoinResponse { membership, order }),
        ),
        orders::Joined::Existing(membership, order) => {
            (StatusCode::OK, Json(JoinResponse { membership, order }))
        }
    })
}

crate::problems!(MyMembershipsProblems: [codes::AUTH]);

/// Your memberships: artist, status, tier, points, dates, and any unpaid order.
#[utoipa::path(get, path = "/api/v1/me/memberships", tag = "memberships",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MembershipList),
        MyMembershipsProblems))]
async fn my_memberships(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<MembershipList>> {
    let items = model::list_for(&state.db, user.id, state.clock.now()).await?;
    Ok(Json(MembershipList { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

crate::problems!(
    PointsProblems: [codes::AUTH, codes::PATH, codes::QUERY],
    MEMBERSHIP_NOT_FOUND, INVALID_CURSOR,
);

/// The points ledger of one of your memberships, newest first: every award (cut to
/// the daily cap where it applied) and every clawback.
#[utoipa::path(get, path = "/api/v1/me/memberships/{membership_id}/points", tag = "memberships",
    params(("membership_id" = Uuid, Path, description = "Membership id"), LedgerQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<PointsEntry>),
        PointsProblems))]
async fn my_points(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LedgerQuery>,
) -> ApiResult<Json<Page<PointsEntry>>> {
    let limit = crate::http::page::limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    match model::owner_of(&state.db, id).await? {
        Some(owner) if owner == user.id || user.is_admin() => {}
        _ => {
            return Err(ApiError::new(
                Code::MEMBERSHIP_NOT_FOUND,
                "No such membership",
            ));
        }
    }
    let rows = model::ledger(&state.db, id, after, limit).await?;
    Ok(Json(crate::http::page::paginate(
        rows,
        limit,
        |r| Cursor::created(r.created_at, r.id),
        |r| r,
    )))
}

/// What one tier gets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierBenefits {
    pub tier: Tier,
    /// Points needed (BRONZE: no active membership).
    pub min_points: Option<i32>,
    /// Minutes after the sale opening this tier may book, in the default schedule
    /// (promoters may set another per event).
    pub default_presale_mins: i32,
    /// May list and buy resale tickets of the artist's events.
    pub resale: bool,
    /// Fee on a resale, percent of the price, taken from the seller's proceeds.
    pub resale_fee_percent: Option<i32>,
}

/// The tiers and what each gets (the benefits table of the membership pages).
#[utoipa::path(get, path = "/api/v1/memberships/tiers", tag = "memberships",
    responses((status = 200, body = Vec<TierBenefits>)))]
async fn tiers() -> Json<Vec<TierBenefits>> {
    let d = PresaleOffsets::DEFAULT;
    let row = |tier: Tier, min_points: Option<i32>| TierBenefits {
        tier,
        min_points,
        default_presale_mins: d.for_tier(tier),
        resale: tier != Tier::Bronze,
        resale_fee_percent: (tier != Tier::Bronze).then(|| resale_fee_percent(tier)),
    };
    Json(vec![
        row(Tier::Diamond, Some(1_500)),
        row(Tier::Gold, Some(500)),
        row(Tier::Silver, Some(0)),
        row(Tier::Bronze, None),
    ])
}

crate::problems!(
    PutPresaleProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    EVENT_NOT_FOUND, FORBIDDEN_ROLE, NOT_EVENT_OWNER,
);

/// Sets an event's presale schedule: minutes after `sale_opens_at` at which each tier
/// may book (never decreasing from DIAMOND to the general sale; at most 30 days). Only
/// events with an artist; its promoter or an admin.
#[utoipa::path(put, path = "/api/v1/events/{event_id}/presale", tag = "memberships",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = PresaleOffsets,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PresaleSchedule),
        PutPresaleProblems))]
async fn put_presale(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event): Path<Uuid>,
    Json(body): Json<PresaleOffsets>,
) -> ApiResult<Json<PresaleSchedule>> {
    Ok(Json(presale::put(&state, &user, event, body).await?))
}

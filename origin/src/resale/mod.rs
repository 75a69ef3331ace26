//! Resale at face value: a fan lists a ticket, another buys it through the same Toss
//! payment flow, the ticket moves (the seller's turns void, the buyer's is new, with a
//! new code and QR) and the seller is owed `price − fee`.
//!
//! - `listings`: listing, the market, withdrawing, the cut-off job;
//! - `purchase`: a buyer's hold on a listing and the payment hooks that move the
//!   ticket;
//! - `payouts`: what the platform owes sellers;
//! - `model`, `config`.
//!
//! ## Rules
//!
//! - **No scalping**: the price is at most the ticket's face value. The buyer pays the
//!   price; the fee (5 % for GOLD and DIAMOND sellers, 10 % otherwise) comes out of the
//!   seller's proceeds.
//! - Events with an artist: only members (active, by the clock) may list or buy.
//! - Only a valid ticket that has not been used, once at a time; listing and buying
//!   stop at the cut-off (`URR_RESALE_CUTOFF_HOURS` before the show), when open
//!   listings expire.
//! - A listed or resold ticket's booking cannot be refunded by its fan.
//! - Two buyers, one listing: one holds it while paying; the other is told when the
//!   hold ends and is never charged. Money taken for a purchase that can no longer
//!   complete is refunded in full by payments.
//!
//! ## HTTP
//!
//! | route | answers |
//! |---|---|
//! | `POST /api/v1/tickets/{ticket_id}/transfer-listing` | 201 the listing |
//! | `GET /api/v1/transfer-listings?event_id=&artist_id=&cursor=` | the market |
//! | `GET /api/v1/transfer-listings/{id}` | one listing |
//! | `GET /api/v1/me/transfer-listings` | the caller's listings |
//! | `DELETE /api/v1/transfer-listings/{id}` | withdrawn |
//! | `POST /api/v1/transfer-listings/{id}/purchase` | 201 an order to pay (200: the caller's own hold again) |
//! | `GET /api/v1/me/payouts` | the caller's payouts |
//! | `GET /api/v1/admin/payouts?status=` | every payout (admins) |
//! | `POST /api/v1/admin/payouts/{id}/paid` | marks one paid (admins) |

mod config;
mod listings;
mod model;
mod payouts;
mod purchase;

pub use config::ResaleConfig;
pub use listings::{blocks_refund, close_for_event, expire_due};
pub use purchase::{
    Completed, PayablePurchase, complete, fetch_purchase, hold_for_payment, hold_valid, lock,
    order_id_for, order_of, paid_orders_of_event,
};

use crate::auth::{AuthUser, MaybeAuthUser};
use crate::http::{ApiResult, Cursor, Json, Page, Path, Query};
use crate::state::AppState;
use crate::workers::Workers;
use axum::extract::State;
use axum::http::StatusCode;
use model::{Listing, NewListing, Payout, PayoutStatus, PurchaseResponse};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_listing))
        .routes(routes!(market))
        .routes(routes!(get_listing, withdraw))
        .routes(routes!(my_listings))
        .routes(routes!(purchase_listing))
        .routes(routes!(my_payouts))
        .routes(routes!(admin_payouts))
        .routes(routes!(mark_payout_paid))
}

/// Registers the cut-off job.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every(
        "resale_cutoff",
        std::time::Duration::from_secs(30),
        move || {
            let s = s.clone();
            async move { listings::expire_due(&s).await.map(|_| ()) }
        },
    );
}

crate::problems!(
    CreateListingProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    TICKET_NOT_FOUND, TICKET_NOT_LISTABLE, LISTING_CUTOFF_PASSED, MEMBERSHIP_REQUIRED,
);

/// Lists one of your tickets for resale, at most at its face value (default: the face
/// value). The fee (by your membership tier) comes out of what you receive.
#[utoipa::path(post, path = "/api/v1/tickets/{ticket_id}/transfer-listing", tag = "resale",
    params(("ticket_id" = Uuid, Path, description = "Ticket id")),
    request_body(content = NewListing, description = "Optional: `{}` lists at face value"),
    security(("bearer" = [])),
    responses(
        (status = 201, body = Listing),
        CreateListingProblems))]
async fn create_listing(
    State(state): State<AppState>,
    user: AuthUser,
    Path(ticket): Path<Uuid>,
    Json(body): Json<NewListing>,
) -> ApiResult<(StatusCode, Json<Listing>)> {
    let listing = listings::create(&state, &user, ticket, body).await?;
    Ok((StatusCode::CREATED, Json(listing)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MarketQuery {
    pub event_id: Option<Uuid>,
    pub artist_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

crate::problems!(MarketProblems: [codes::QUERY], INVALID_CURSOR);

/// The resale market: tickets for sale now, newest first, by event or artist.
#[utoipa::path(get, path = "/api/v1/transfer-listings", tag = "resale",
    params(MarketQuery),
    responses(
        (status = 200, body = Page<Listing>),
        MarketProblems))]
async fn market(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Query(q): Query<MarketQuery>,
) -> ApiResult<Json<Page<Listing>>> {
    let limit = crate::http::page::limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    let rows = listings::market(
        &state,
        q.event_id,
        q.artist_id,
        after,
        limit,
        user.map(|u| u.id),
    )
    .await?;
    Ok(Json(crate::http::page::paginate(
        rows,
        limit,
        |(l, at)| Cursor::created(*at, l.id),
        |(l, _)| l,
    )))
}

crate::problems!(GetListingProblems: [codes::PATH], LISTING_NOT_FOUND);

/// One listing.
#[utoipa::path(get, path = "/api/v1/transfer-listings/{listing_id}", tag = "resale",
    params(("listing_id" = Uuid, Path, description = "Listing id")),
    responses(
        (status = 200, body = Listing),
        GetListingProblems))]
async fn get_listing(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Listing>> {
    let mut conn = state.db.acquire().await?;
    let row = listings::fetch(&mut conn, id)
        .await?
        .ok_or_else(listings::not_found)?;
    Ok(Json(row.view(state.clock.now(), user.map(|u| u.id))))
}

crate::problems!(
    WithdrawProblems: [codes::AUTH, codes::PATH],
    LISTING_NOT_FOUND, LISTING_UNAVAILABLE, LISTING_RESERVED,
);

/// Withdraws one of your listings (not while a buyer is paying for it).
#[utoipa::path(delete, path = "/api/v1/transfer-listings/{listing_id}", tag = "resale",
    params(("listing_id" = Uuid, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Listing),
        WithdrawProblems))]
async fn withdraw(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Listing>> {
    Ok(Json(listings::withdraw(&state, &user, id).await?))
}

/// The caller's listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingList {
    pub items: Vec<Listing>,
}

crate::problems!(MyListingsProblems: [codes::AUTH]);

/// Your listings, every status, newest first.
#[utoipa::path(get, path = "/api/v1/me/transfer-listings", tag = "resale",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ListingList),
        MyListingsProblems))]
async fn my_listings(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ListingList>> {
    Ok(Json(ListingList {
        items: listings::mine(&state, user.id).await?,
    }))
}

crate::problems!(
    PurchaseProblems: [codes::AUTH, codes::PATH],
    LISTING_NOT_FOUND, LISTING_UNAVAILABLE, LISTING_RESERVED, LISTING_CUTOFF_PASSED, OWN_LISTING,
    MEMBERSHIP_REQUIRED,
);

/// Holds a listing for you and answers the order to pay (Toss widget, then `POST
/// /api/v1/payments/confirm`). Paying moves the ticket to you with a new code and QR.
/// Asking again while your hold lasts answers the same order (200).
#[utoipa::path(post, path = "/api/v1/transfer-listings/{listing_id}/purchase", tag = "resale",
    params(("listing_id" = Uuid, Path, description = "Listing id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Held for you; pay the order", body = PurchaseResponse),
        (status = 200, description = "Your hold, again", body = PurchaseResponse),
        PurchaseProblems))]
async fn purchase_listing(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, Json<PurchaseResponse>)> {
    Ok(match purchase::purchase(&state, &user, id).await? {
        purchase::Purchased::New(r) => (StatusCode::CREATED, Json(r)),
        purchase::Purchased::Existing(r) => (StatusCode::OK, Json(r)),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PayoutQuery {
    pub status: Option<PayoutStatus>,
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

crate::problems!(MyPayoutsProblems: [codes::AUTH, codes::QUERY], INVALID_CURSOR);

/// What you are owed (or were paid) for your resold tickets, newest first.
#[utoipa::path(get, path = "/api/v1/me/payouts", tag = "resale",
    params(PayoutQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Payout>),
        MyPayoutsProblems))]
async fn my_payouts(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PayoutQuery>,
) -> ApiResult<Json<Page<Payout>>> {
    payout_page(&state, Some(user.id), q).await
}

crate::problems!(AdminPayoutsProblems: [codes::AUTH, codes::QUERY], FORBIDDEN_ROLE, INVALID_CURSOR);

/// Admin: every payout, newest first (`status=pending` for the ones to send).
#[utoipa::path(get, path = "/api/v1/admin/payouts", tag = "resale",
    params(PayoutQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<Payout>),
        AdminPayoutsProblems))]
async fn admin_payouts(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<PayoutQuery>,
) -> ApiResult<Json<Page<Payout>>> {
    user.require(&[Role::Admin])?;
    payout_page(&state, None, q).await
}

async fn payout_page(
    state: &AppState,
    seller: Option<Uuid>,
    q: PayoutQuery,
) -> ApiResult<Json<Page<Payout>>> {
    let limit = crate::http::page::limit(q.limit)?;
    let after = Cursor::decode_created(q.cursor.as_deref())?;
    let rows = payouts::list(state, seller, q.status, after, limit).await?;
    Ok(Json(crate::http::page::paginate(
        rows,
        limit,
        |(p, at)| Cursor::created(*at, p.id),
        |(p, _)| p,
    )))
}

crate::problems!(
    MarkPaidProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, PAYOUT_NOT_FOUND, PAYOUT_NOT_PENDING,
);

/// Admin: records that a payout's money was sent to the seller.
#[utoipa::path(post, path = "/api/v1/admin/payouts/{payout_id}/paid", tag = "resale",
    params(("payout_id" = Uuid, Path, description = "Payout id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Payout),
        MarkPaidProblems))]
async fn mark_payout_paid(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Payout>> {
    Ok(Json(payouts::mark_paid(&state, &user, id).await?))
}

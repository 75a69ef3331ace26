//! Payments with Toss: confirm, refund, reconcile. Money is the one thing that must be
//! exactly right, so every step is written down here.
//!
//! - `toss`: the HTTP client (four calls, timeouts, error classification, strict
//!   response checks);
//! - `service`: confirming a payment, from the widget's success redirect to tickets;
//! - `refund`: cancellations and refunds under the refund policy, admin refunds;
//! - `reconcile`: settles every order whose outcome is unknown from Toss's own
//!   answer; webhooks only make an order due;
//! - `store`: the rows and their conditional state changes; `model`: API shapes.
//!
//! ## Invariants
//!
//! 1. **Never charged without tickets.** An order is persisted as `confirming` with its
//!    paymentKey *before* Toss is called; the sweeper never expires a reservation whose
//!    order is `confirming`; the reconciler settles every such order from
//!    `GET /v1/payments/orders/{orderId}`: tickets if the seats are still ours, a full
//!    refund otherwise. A `failed` order is watched while Toss might still approve it.
//! 2. **One set of tickets per order.** Tickets are issued only in the transaction that
//!    moves the order `confirming|failed → paid` (conditional) and the reservation
//!    `pending → confirmed` (conditional), under a unique index per item unit.
//! 3. **The amount is ours.** The posted amount must equal the reservation's before
//!    anything is sent, and Toss's answer must carry our orderId, amount and KRW.
//! 4. **Retries reuse the Idempotency-Key.** `confirm:<orderId>` (a later attempt with
//!    a new paymentKey: `confirm:<orderId>:<n>`), `cancel:<orderId>:<refundId>`, both
//!    stored before the first call.
//! 5. **Refunds move money before inventory returns.** Tickets are voided and seats
//!    and stock returned only in the transaction that records Toss's successful cancel.
//! 6. **The hold decides whether we confirm.** No confirm is sent for a hold that is
//!    not valid at the claim; the claim extends it by `URR_PAYMENT_GRACE_SECS` so it
//!    outlives the call; the reconciler never confirms after the hold lapsed.
//!
//! ## HTTP
//!
//! Orders pay for reservations (`ord_…`), membership years (`mbr_…`) and resale
//! purchases (`rsl_…`); `subject` is where payments meets the module owning each.
//!
//! | route | answers |
//! |---|---|
//! | `POST /api/v1/payments/confirm` | 200 paid + tickets (also on repeats); 402 `PAYMENT_DECLINED`; 404 `ORDER_NOT_FOUND`; 409 `HOLD_EXPIRED`, `PAYMENT_IN_PROGRESS`, `ORDER_REFUNDED`, `RESERVATION_CLOSED`; 422 `PAYMENT_AMOUNT_MISMATCH`, `AMOUNT_BELOW_MINIMUM`; 502 `PAYMENT_PROVIDER_UNAVAILABLE`, `PAYMENT_VERIFICATION_FAILED` |
//! | `GET /api/v1/payments/{order_id}` | the order's payment state |
//! | `GET /api/v1/payments/config` | the widget client key and the refund policy |
//! | `GET /api/v1/me/payments` | the caller's payments, newest first, with their refunds |
//! | `POST /api/v1/payments/toss/webhook` | 200 with the same body for any JSON (400 for non-JSON, 429 over the rate limits) |
//! | `POST /api/v1/reservations/{id}/cancel` | 200 cancelled/refunded; 202 refund pending at Toss; 409 `REFUND_WINDOW_CLOSED`, `REFUND_REFUSED`, `RESERVATION_NOT_CANCELLABLE`, `PAYMENT_IN_PROGRESS` |
//! | `POST /api/v1/admin/reservations/{id}/refund` | as above, always a full refund |

mod config;
mod history;
mod limit;
mod model;
mod reconcile;
mod refund;
mod service;
mod store;
mod subject;
mod toss;

pub use config::{PaymentsConfig, RefundPolicy, TOSS_DOCS_CLIENT_KEY, TOSS_DOCS_SECRET_KEY};
pub use reconcile::{Outcome as ReconcileOutcome, ReconcileStats, reconcile_once, reconcile_order};
pub use refund::request_event_refunds;
pub use store::{InFlight, PaymentRow, lease_due, release_lease};

use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use crate::workers::Workers;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use model::*;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

/// Payments' share of the app state.
pub struct Payments {
    pub(crate) toss: toss::TossClient,
    pub(crate) webhook_limit: limit::WebhookLimiter,
}

impl Payments {
    pub fn new(config: &crate::payments::PaymentsConfig) -> anyhow::Result<Payments> {
        Ok(Payments {
            toss: toss::TossClient::new(config)?,
            webhook_limit: Default::default(),
        })
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(confirm_payment))
        .routes(routes!(client_config))
        .routes(routes!(get_payment))
        .routes(routes!(toss_webhook))
        .routes(routes!(cancel_reservation))
        .routes(routes!(admin_refund))
        .routes(routes!(history::my_payments))
}

/// Registers the reconciler.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every(
        "payments_reconciler",
        state.config.payments.reconcile_interval,
        move || {
            let s = s.clone();
            async move { reconcile::reconcile_once(&s).await.map(|_| ()) }
        },
    );
}

crate::problems!(
    ConfirmPaymentProblems: [codes::AUTH, codes::JSON_BODY],
    PAYMENT_DECLINED, ORDER_NOT_FOUND, HOLD_EXPIRED, PAYMENT_IN_PROGRESS, ORDER_REFUNDED,
    RESERVATION_CLOSED, PAYMENT_AMOUNT_MISMATCH, AMOUNT_BELOW_MINIMUM, PAYMENT_PROVIDER_UNAVAILABLE,
    PAYMENT_VERIFICATION_FAILED, EVENT_CANCELLED,
);

/// Confirms a payment the Toss widget authorised: post the success redirect's
/// `paymentKey`, `orderId` and `amount`. On success the reservation is confirmed and
/// its tickets are issued; repeating the call returns the same tickets.
#[utoipa::path(post, path = "/api/v1/payments/confirm", tag = "payments",
    request_body = ConfirmRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paid; the order's tickets", body = ConfirmResponse),
        ConfirmPaymentProblems))]
async fn confirm_payment(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<ConfirmRequest>,
) -> ApiResult<Json<ConfirmResponse>> {
    Ok(Json(service::confirm(&state, &user, body).await?))
}

/// What the browser needs to open the Toss payment widget, and the refund policy.
#[utoipa::path(get, path = "/api/v1/payments/config", tag = "payments",
    responses((status = 200, body = ClientConfig)))]
async fn client_config(State(state): State<AppState>) -> Json<ClientConfig> {
    let cfg = &state.config.payments;
    Json(ClientConfig {
        provider: "toss".to_owned(),
        client_key: cfg.toss_client_key.clone(),
        widget_url: cfg.toss_widget_url.clone(),
        refund_full_days: cfg.refund_policy.full_days,
        refund_partial_days: cfg.refund_policy.partial_days,
        refund_partial_percent: cfg.refund_policy.partial_percent,
    })
}

crate::problems!(GetPaymentProblems: [codes::AUTH, codes::PATH], ORDER_NOT_FOUND);

/// The payment state of one of your orders (admins: any order). Poll it after a 502
/// from confirm.
#[utoipa::path(get, path = "/api/v1/payments/{order_id}", tag = "payments",
    params(("order_id" = String, Path, description = "Order id (`ord_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = PaymentView),
        GetPaymentProblems))]
async fn get_payment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult<Json<PaymentView>> {
    Ok(Json(service::view(&state, &user, &order_id).await?))
}

crate::problems!(TossWebhookProblems: [codes::JSON_BODY], RATE_LIMITED);

/// Toss's `PAYMENT_STATUS_CHANGED` webhook. Unsigned, so never trusted: it only makes
/// the named order due for reconciliation (unless it is already due or a reconciler
/// run holds it), which re-fetches the payment from Toss and acts on Toss's answer.
/// 200 with the same body for any JSON, whether or not it names an order of ours (Toss
/// retries anything else for days). Rate-limited per client IP
/// (`URR_WEBHOOK_PER_IP_PER_MIN`) and in total (`URR_WEBHOOK_GLOBAL_PER_MIN`).
#[utoipa::path(post, path = "/api/v1/payments/toss/webhook", tag = "payments",
    request_body(content = Object, description = "Toss webhook event", content_type = "application/json"),
    responses(
        (status = 200, body = WebhookAck),
        TossWebhookProblems))]
async fn toss_webhook(
    State(state): State<AppState>,
    ip: crate::auth::ClientIp,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    state.payments.webhook_limit.check(&state, &ip)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(Code::MALFORMED_JSON, "The webhook body is not JSON"))?;
    reconcile::on_webhook(&state, &value).await?;
    Ok(Json(WebhookAck { received: true }))
}

crate::problems!(
    CancelReservationProblems: [codes::AUTH, codes::PATH],
    RESERVATION_NOT_FOUND, REFUND_WINDOW_CLOSED, REFUND_REFUSED, RESERVATION_NOT_CANCELLABLE,
    PAYMENT_IN_PROGRESS, TICKET_LISTED,
);

/// Cancels one of your reservations. Pending: released at once. Paid: refunded under
/// the refund policy (full until 7 days before the show, 90 % until 1 day before, then
/// no cancellation); tickets are voided and seats return once Toss has refunded.
#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/cancel", tag = "payments",
    params(("reservation_id" = Uuid, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled; refunded if it was paid", body = CancelResponse),
        (status = 202, description = "Refund requested; Toss has not answered yet, it completes automatically", body = CancelResponse),
        CancelReservationProblems))]
async fn cancel_reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (status, body) = refund::cancel_reservation(&state, &user, id).await?;
    Ok((status, Json(body)).into_response())
}

crate::problems!(
    AdminRefundProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, RESERVATION_NOT_FOUND, REFUND_REFUSED, RESERVATION_NOT_CANCELLABLE,
    PAYMENT_IN_PROGRESS, REFUND_WINDOW_CLOSED, TICKET_LISTED,
);

/// Admin: refunds a paid reservation in full, whatever the policy says.
#[utoipa::path(post, path = "/api/v1/admin/reservations/{reservation_id}/refund", tag = "payments",
    params(("reservation_id" = Uuid, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Refunded", body = CancelResponse),
        (status = 202, description = "Refund requested; completes automatically", body = CancelResponse),
        AdminRefundProblems))]
async fn admin_refund(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let (status, body) = refund::admin_refund(&state, &user, id).await?;
    Ok((status, Json(body)).into_response())
}

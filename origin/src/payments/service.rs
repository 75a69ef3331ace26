//! Confirming a payment: from the widget's success redirect to tickets.
//!
//! [`confirm`] is the request path; [`confirm_at_toss`] and [`settle`] are shared with
//! the reconciler, so an order in flight ends the same way whoever finishes it.
//!
//! The Toss contract points these steps follow are in `docs/toss-payments.md`.
//!
//! The steps are the same for every kind of order (a reservation's tickets, a
//! membership year, a resale purchase); "the hold" and "the goods" below are asked of
//! the module owning the order's subject through `subject`. Reservations are the
//! running example.
//!
//! 1. **Own the amount**: the posted orderId must name a reservation of
//!    the caller and the posted amount must equal its amount, or nothing is sent.
//! 2. **Claim**, one transaction: booking's `hold_for_payment` checks the
//!    hold is pending and unexpired *now* and extends it to at least now +
//!    `URR_PAYMENT_GRACE_SECS`; the payment row enters `confirming` with the paymentKey
//!    and its Idempotency-Key. From this commit on the sweeper leaves the reservation
//!    alone and the reconciler knows the order.
//! 3. **Confirm at Toss** with that key, retrying only with the same key, within
//!    `URR_TOSS_BUDGET_MS` and `URR_TOSS_MAX_ATTEMPTS`. A timeout or
//!    5xx is "outcome unknown": read the payment before deciding, never call it failed.
//!    `ALREADY_PROCESSED_PAYMENT` means an earlier attempt won: read it.
//! 4. **Settle**: a `DONE` payment that is ours (orderId, amount, KRW) is
//!    finalised in ONE transaction: payment `paid`, reservation `confirmed`, tickets
//!    issued, `payment.confirmed` and `ticket.issued` events. Every step is
//!    conditional, so a double confirm issues one set of tickets and the loser returns
//!    the winner's. If the reservation is gone (only possible if the sweeper expired it
//!    while the order was `failed`, i.e. a late confirm landed), the money goes back
//!    with a full cancel: never charged without tickets.
//!
//! Why extend the hold rather than refuse short holds: a fan who pays in the last
//! seconds of a hold should not lose the seat to a timer while Toss is answering; the
//! extension is bounded (grace, and never past the booking's absolute cap + grace),
//! and it also guards the race with a sweep already running (the sweeper re-checks the
//! deadline on the row it locks). The sweeper additionally skips every reservation
//! whose order is `confirming`, however long Toss takes.

use super::model::{ConfirmRequest, ConfirmResponse, PaymentStatus};
use super::refund;
use super::store::{self, Initiator, PaymentRow};
use super::subject::{self, Subject};
use super::toss::{TossError, TossPayment, TossStatus};
use crate::auth::AuthUser;
use crate::booking::ReservationStatus;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tickets;
use rand::Rng;
use std::time::{Duration, Instant};

/// Toss's card minimum (KRW): smaller orders are refused before any call.
pub const MIN_CARD_AMOUNT: i64 = 100;

/// How long and how often one confirm or cancel may try.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
    pub max_attempts: u32,
}

impl Budget {
    /// A client is waiting: `URR_TOSS_BUDGET_MS`, `URR_TOSS_MAX_ATTEMPTS`.
    pub fn request(state: &AppState) -> Budget {
        let cfg = &state.config.payments;
        Budget {
            deadline: Instant::now() + cfg.toss_budget,
            max_attempts: cfg.toss_max_attempts,
        }
    }

    /// The reconciler: one call per order per run; the next run retries.
    pub fn single(state: &AppState) -> Budget {
        let cfg = &state.config.payments;
        Budget {
            deadline: Instant::now() + cfg.toss_timeout,
            max_attempts: 1,
        }
    }

    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Waits before attempt `attempt + 1`, if there is time and attempts left.
    pub async fn pause(&self, attempt: u32, error: &TossError) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        let wait = backoff(attempt, error.wants_slow_retry());
        if wait + Duration::from_millis(50) >= self.left() {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }
}

/// Exponential back-off with jitter: ~100 ms, 200 ms, 400 ms ... capped at 2 s; more
/// than a second when Toss asked for it (consecutive cancels).
pub fn backoff(attempt: u32, slow: bool) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    let capped = base.min(2_000);
    let jittered = rand::thread_rng().gen_range(capped / 2..=capped);
    let ms = if slow { jittered.max(1_100) } else { jittered };
    Duration::from_millis(ms)
}

/// How an attempt to get an order paid ended.
#[derive(Debug)]
pub enum Settlement {
    /// Money taken, tickets issued (now or earlier).
    Paid(Box<PaymentRow>),
    /// Toss refused it for good (declined card, session expired, bad paymentKey, ...):
    /// not charged, the order is `failed`, the hold stays until it expires.
    Declined { code: String, message: String },
    /// Outcome unknown or Toss unavailable: the order stays `confirming`, the hold is
    /// kept, the reconciler settles it.
    Pending { error: String },
    /// Toss took the money but the reservation was gone: a full refund was requested
    /// (`completed` if Toss already answered it).
    Reversed { completed: bool },
    /// Toss answered something that is not our payment (another order, another
    /// amount); an operator must look. Our order is `failed` (and refunded if the money
    /// was taken for it).
    Rejected { detail: String },
}

/// `POST /api/v1/payments/confirm`.
pub async fn confirm(
    state: &AppState,
    user: &AuthUser,
    req: ConfirmRequest,
) -> ApiResult<ConfirmResponse> {
    validate_payment_key(&req.payment_key)?;
    let order_not_found = || ApiError::new(Code::ORDER_NOT_FOUND, "No such order");
    let subject = Subject::parse(&req.order_id).ok_or_else(order_not_found)?;
    let owned = subject::owner(state, subject)
        .await?
        .filter(|o| o.user_id == user.id)
        .ok_or_else(order_not_found)?;
    if owned.amount < MIN_CARD_AMOUNT {
        // Toss refuses card payments under 100 KRW (BELOW_MINIMUM_AMOUNT); say so
        // before anything is sent.
        return Err(ApiError::new(
            Code::AMOUNT_BELOW_MINIMUM,
            "Orders under 100 KRW cannot be paid by card",
        )
        .with("order_id", &req.order_id));
    }
    if req.amount != owned.amount {
        metrics::counter!("payments_refused_total", "reason" => "amount_mismatch").increment(1);
        return Err(ApiError::new(
            Code::PAYMENT_AMOUNT_MISMATCH,
            "The amount differs from the order's; nothing was charged",
        )
        .with("order_id", &req.order_id)
        .with("expected_amount", owned.amount));
    }

    let row = match store::load(state, &req.order_id).await? {
        Some(row) => match existing(state, row, &req).await? {
            Next::Done(response) => return Ok(response),
            Next::Resume(row) => resume(state, row).await?,
            Next::Claim => claim(state, &req, subject).await?,
        },
        None => claim(state, &req, subject).await?,
    };
    let row = match row {
        Claimed::Row(row) => row,
        Claimed::Done(response) => return Ok(*response),
    };

    let settlement = confirm_at_toss(state, &row, &Budget::request(state)).await?;
    let paid = respond(state, &req.order_id, settlement).await?;
    // Done booking: the fan's queue slot goes to the next in line.
    if let Some(event) = owned.queue_event {
        crate::queue::release_slot(state, event, user.id).await;
    }
    Ok(paid)
}

/// paymentKeys are Toss-generated ASCII (`tgen_…`); anything else is refused here, so it
/// never reaches a URL path.
fn validate_payment_key(key: &str) -> ApiResult<()> {
    let ok = (1..=200).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "paymentKey",
            "must be 1-200 characters of A-Z, a-z, 0-9, `_` and `-`",
        ))
    }
}

enum Next {
    Done(ConfirmResponse),
    Resume(PaymentRow),
    Claim,
}

enum Claimed {
    Row(Box<PaymentRow>),
    Done(Box<ConfirmResponse>),
}

/// What to do about an order that already has a payment row.
async fn existing(state: &AppState, row: PaymentRow, req: &ConfirmRequest) -> ApiResult<Next> {
    Ok(match row.status() {
        PaymentStatus::Paid => Next::Done(paid_response(state, &row).await?),
        PaymentStatus::Confirming if row.payment_key == req.payment_key => Next::Resume(row),
        PaymentStatus::Confirming => {
            return Err(ApiError::new(
                Code::PAYMENT_IN_PROGRESS,
                "Another payment for this order is being confirmed; this one was not charged",
            ));
        }
        PaymentStatus::Failed => Next::Claim,
        PaymentStatus::CancelRequested
        | PaymentStatus::Refunded
        | PaymentStatus::PartiallyRefunded => {
            return Err(ApiError::new(
                Code::ORDER_REFUNDED,
                "This order has been refunded (or its refund is under way)",
            )
            .with("payment_status", row.status()));
        }
    })
}

/// Step 2: hold valid now → extended, order `confirming`, in one transaction.
async fn claim(state: &AppState, req: &ConfirmRequest, subject: Subject) -> ApiResult<Claimed> {
    let cfg = &state.config.payments;
    let now = state.clock.now();
    let grace = chrono::Duration::from_std(cfg.confirm_grace).map_err(ApiError::internal)?;
    let min_age = chrono::Duration::from_std(cfg.reconcile_min_age).map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let hold = subject::hold_for_payment(&mut tx, state, subject, now, grace).await?;
    let Some(hold) = hold else {
        drop(tx);
        return not_payable(state, req, subject).await;
    };
    let claimed = store::claim(
        &mut tx,
        &req.order_id,
        subject,
        &hold,
        &req.payment_key,
        now,
        now + min_age,
    )
    .await?;
    match claimed {
        Some(row) => {
            tx.commit().await?;
            Ok(Claimed::Row(Box::new(row)))
        }
        None => {
            // A concurrent request claimed it first (we waited on its row lock).
            drop(tx);
            let row = store::load(state, &req.order_id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("claim lost its row")))?;
            match existing(state, row, req).await? {
                Next::Done(r) => Ok(Claimed::Done(Box::new(r))),
                Next::Resume(row) => resume(state, row).await,
                Next::Claim => Err(ApiError::new(
                    Code::PAYMENT_IN_PROGRESS,
                    "This order changed while you paid; retry",
                )),
            }
        }
    }
}

/// A repeat of a confirm already in flight (a retry, a second tab, a lost answer). While
/// the hold is valid, it confirms again with the same Idempotency-Key. Once the hold
/// has lapsed it never sends a confirm: it asks Toss what happened, by the reconciler's
/// rules (the money may already be taken; then the tickets are issued, since the
/// sweeper kept the seats).
async fn resume(state: &AppState, row: PaymentRow) -> ApiResult<Claimed> {
    if subject::hold_valid(state, Subject::of_row(&row)).await? {
        return Ok(Claimed::Row(Box::new(row)));
    }
    super::reconcile::reconcile_order(state, &row).await?;
    match store::load(state, &row.order_id).await? {
        Some(now) if now.status() == PaymentStatus::Paid => {
            Ok(Claimed::Done(Box::new(paid_response(state, &now).await?)))
        }
        _ => Err(ApiError::new(
            Code::HOLD_EXPIRED,
            "The hold on these tickets has ended; the payment was not completed. If Toss \
             charged you, the money is returned automatically.",
        )),
    }
}

/// The hold was not payable: paid meanwhile (a concurrent confirm), or expired/closed.
async fn not_payable(
    state: &AppState,
    req: &ConfirmRequest,
    subject: Subject,
) -> ApiResult<Claimed> {
    if let Some(row) = store::load(state, &req.order_id).await?
        && row.status() == PaymentStatus::Paid
    {
        return Ok(Claimed::Done(Box::new(paid_response(state, &row).await?)));
    }
    let Subject::Reservation(reservation_id) = subject else {
        metrics::counter!("payments_refused_total", "reason" => "hold_expired").increment(1);
        return Err(ApiError::new(
            Code::HOLD_EXPIRED,
            "This order can no longer be paid (its hold ended or it was sold to someone else); \
             nothing was charged.",
        ));
    };
    let reservation = crate::booking::fetch(state, reservation_id).await?;
    let status = reservation
        .as_ref()
        .map(|r| r.status)
        .unwrap_or(ReservationStatus::Expired);
    let event_cancelled = match &reservation {
        Some(r) => sqlx::query_scalar::<_, bool>(
            "SELECT cancelled_at IS NOT NULL FROM events WHERE id = $1",
        )
        .bind(r.event_id)
        .fetch_optional(&state.db)
        .await?
        .unwrap_or(false),
        None => false,
    };
    if event_cancelled {
        metrics::counter!("payments_refused_total", "reason" => "event_cancelled").increment(1);
        return Err(ApiError::new(
            Code::EVENT_CANCELLED,
            "This event has been cancelled; nothing was charged.",
        )
        .with("reservation_status", status));
    }
    metrics::counter!("payments_refused_total", "reason" => "hold_expired").increment(1);
    Err(ApiError::new(
        Code::HOLD_EXPIRED,
        "The hold on these tickets has ended; nothing was charged. Book again.",
    )
    .with("reservation_status", status))
}

/// Steps 3 and 4 for a `confirming` row.
pub async fn confirm_at_toss(
    state: &AppState,
    row: &PaymentRow,
    budget: &Budget,
) -> anyhow::Result<Settlement> {
    let toss = &state.payments.toss;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = budget.left();
        if left.is_zero() {
            return Ok(Settlement::Pending {
                error: "no time left to call Toss".into(),
            });
        }
        let result = toss
            .confirm(
                &row.confirm_key,
                &row.payment_key,
                &row.order_id,
                row.amount,
                toss.post_timeout(left),
            )
            .await;
        let err = match result {
            Ok(p) => return settle(state, row, p, budget).await,
            Err(e) => e,
        };
        tracing::info!(order_id = %row.order_id, payment_key = %row.payment_key, attempt, error = %err.summary(), "Toss confirm did not succeed");
        if err.code() == Some("ALREADY_PROCESSED_PAYMENT") {
            // An earlier attempt (ours, or another paymentKey of this order) won.
            return match toss.get_by_order(&row.order_id).await {
                Ok(p) if p.status() == TossStatus::Done => settle(state, row, p, budget).await,
                Ok(p) => {
                    store::mark_failed(state, row, "ALREADY_PROCESSED_PAYMENT", Some(&p), None)
                        .await?;
                    Ok(Settlement::Declined {
                        code: "ALREADY_PROCESSED_PAYMENT".into(),
                        message: format!("Toss says the payment is {}", p.status_text),
                    })
                }
                Err(e) => {
                    store::note_failure(state, &row.order_id, &e.summary(), None).await?;
                    Ok(Settlement::Pending { error: e.summary() })
                }
            };
        }
        if err.is_config() {
            tracing::error!(order_id = %row.order_id, error = %err.summary(), "Toss refused our credentials: check URR_TOSS_SECRET_KEY");
            store::mark_failed(state, row, &err.summary(), None, None).await?;
            return Ok(Settlement::Pending {
                error: err.summary(),
            });
        }
        if !err.is_retryable() {
            store::mark_failed(state, row, &err.summary(), None, None).await?;
            let (code, message) = match err {
                TossError::Api { code, message, .. } => (code, message),
                other => ("UNKNOWN".to_owned(), other.to_string()),
            };
            metrics::counter!("payments_declined_total").increment(1);
            return Ok(Settlement::Declined { code, message });
        }
        store::note_failure(state, &row.order_id, &err.summary(), None).await?;
        if err.outcome_unknown() && matches!(err, TossError::Api { .. }) {
            // After a 5xx the payment may have gone through: read before retrying.
            if let Ok(p) = toss.get_by_order(&row.order_id).await {
                match p.status() {
                    TossStatus::Done => return settle(state, row, p, budget).await,
                    TossStatus::Expired | TossStatus::Aborted
                        if p.payment_key == row.payment_key =>
                    {
                        return settle(state, row, p, budget).await;
                    }
                    _ => {}
                }
            }
        }
        if !budget.pause(attempt, &err).await {
            return Ok(Settlement::Pending {
                error: err.summary(),
            });
        }
    }
}

/// What Toss says about an order's payment, applied: `DONE` and ours → paid (or
/// refunded if the reservation is gone); `EXPIRED`/`ABORTED` → failed; anything else
/// → still pending.
pub async fn settle(
    state: &AppState,
    row: &PaymentRow,
    p: TossPayment,
    budget: &Budget,
) -> anyhow::Result<Settlement> {
    match p.status() {
        TossStatus::Done => {}
        TossStatus::Expired | TossStatus::Aborted if p.payment_key == row.payment_key => {
            let code = p
                .failure
                .as_ref()
                .map(|f| f.code.clone())
                .unwrap_or_else(|| p.status_text.clone());
            let message = p
                .failure
                .as_ref()
                .map(|f| f.message.clone())
                .unwrap_or_default();
            store::mark_failed(state, row, &code, Some(&p), None).await?;
            return Ok(Settlement::Declined { code, message });
        }
        _ => {
            return Ok(Settlement::Pending {
                error: format!("Toss says {}", p.status_text),
            });
        }
    }
    if p.order_id != row.order_id {
        // Not our payment (an idempotency key collision would look like this): never
        // cancel someone else's payment; stop and alert.
        tracing::error!(order_id = %row.order_id, answered_for = %p.order_id, "Toss answered a confirm with another order's payment");
        store::mark_failed(state, row, "ORDER_MISMATCH", None, None).await?;
        return Ok(Settlement::Rejected {
            detail: "Toss answered for another order".into(),
        });
    }
    if let Err(why) = p.verify(&row.order_id, row.amount) {
        // Our order, but not our amount: take nothing we did not ask for.
        tracing::error!(order_id = %row.order_id, %why, "Toss approved a payment that does not match the order; cancelling it");
        let outcome = reverse(
            state,
            row,
            &p,
            &format!("verification failed: {why}"),
            budget,
        )
        .await?;
        return Ok(match outcome {
            Settlement::Reversed { .. } => Settlement::Rejected { detail: why },
            other => other,
        });
    }
    match finalize(state, row, &p).await? {
        Finalized::Paid(row) => Ok(Settlement::Paid(Box::new(row))),
        Finalized::Elsewhere(current) => Ok(match current.status() {
            PaymentStatus::Paid => Settlement::Paid(Box::new(current)),
            PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => {
                Settlement::Reversed { completed: true }
            }
            PaymentStatus::CancelRequested => Settlement::Reversed { completed: false },
            _ => Settlement::Pending {
                error: format!("order is {}", current.status),
            },
        }),
        Finalized::GoodsGone => {
            tracing::warn!(order_id = %row.order_id, "paid at Toss but the goods are gone; refunding in full");
            reverse(
                state,
                row,
                &p,
                "Reservation closed before the payment completed",
                budget,
            )
            .await
        }
    }
}

enum Finalized {
    Paid(PaymentRow),
    /// The row was no longer `confirming`/`failed`: someone else settled it.
    Elsewhere(PaymentRow),
    /// The goods are gone (a reservation closed, a listing sold to another buyer).
    GoodsGone,
}

/// Step 4: the one transaction that turns a Toss approval into tickets.
async fn finalize(
    state: &AppState,
    row: &PaymentRow,
    p: &TossPayment,
) -> anyhow::Result<Finalized> {
    for _ in 0..3 {
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        // Lock order: subject, then payment (as in the claim).
        let subject = Subject::of_row(row);
        subject::lock(&mut tx, subject).await?;
        let paid = sqlx::query_as::<_, PaymentRow>(&format!(
            "UPDATE payments
             SET status = 'paid', payment_key = $2, toss_status = $3, method = $4,
                 approved_at = $5, raw = $6, last_error = NULL, reconcile_after = NULL,
                 updated_at = $7, version = version + 1
             WHERE order_id = $1 AND status IN ('confirming', 'failed')
             RETURNING {}",
            store::PAYMENT_COLUMNS
        ))
        .bind(&row.order_id)
        .bind(&p.payment_key)
        .bind(&p.status_text)
        .bind(&p.method)
        .bind(p.approved_at().unwrap_or(now))
        .bind(&p.raw)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(paid) = paid else {
            drop(tx);
            let current = store::load(state, &row.order_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("payment row {} vanished", row.order_id))?;
            return Ok(Finalized::Elsewhere(current));
        };
        match subject::fulfil(&mut tx, &paid, now).await {
            Ok(true) => {}
            // Rolled back (the payment stays unpaid); the caller refunds.
            Ok(false) => return Ok(Finalized::GoodsGone),
            Err(e) if tickets::is_code_collision(&e) => continue,
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        metrics::counter!("payments_confirmed_total", "kind" => subject.kind()).increment(1);
        tracing::info!(order_id = %paid.order_id, kind = subject.kind(), "order paid, goods delivered");
        return Ok(Finalized::Paid(paid));
    }
    anyhow::bail!("could not draw unique ticket codes in three tries")
}

/// Toss holds money for an order that cannot be fulfilled: full refund, now if Toss
/// answers, else by the reconciler. The order ends `refunded`; no `payment.confirmed`
/// was ever written for it, so no `payment.refunded` either.
async fn reverse(
    state: &AppState,
    row: &PaymentRow,
    p: &TossPayment,
    reason: &str,
    budget: &Budget,
) -> anyhow::Result<Settlement> {
    let min_age = chrono::Duration::from_std(state.config.payments.reconcile_min_age)?;
    let amount = p.balance_amount.max(1);
    let refund = store::request_refund(
        state,
        store::RefundRequest {
            order_id: &row.order_id,
            expected: &[PaymentStatus::Confirming, PaymentStatus::Failed],
            amount,
            full_cancel: true,
            reason,
            initiator: Initiator::Reconciler,
            reconcile_after: state.clock.now() + min_age,
            payment_key: Some(&p.payment_key),
        },
    )
    .await?;
    let refund = match refund {
        Some(r) => r,
        None => match store::requested_refund(state, &row.order_id).await? {
            Some(r) => r,
            None => {
                return Ok(Settlement::Pending {
                    error: "order changed while reversing".into(),
                });
            }
        },
    };
    let outcome = refund::drive(state, &refund, &p.payment_key, budget).await?;
    Ok(Settlement::Reversed {
        completed: matches!(outcome, refund::Driven::Completed(_)),
    })
}

/// The 200 answer for a paid order: its payment and tickets.
pub async fn paid_response(state: &AppState, row: &PaymentRow) -> ApiResult<ConfirmResponse> {
    Ok(ConfirmResponse {
        payment: row.view(),
        tickets: subject::tickets_of(state, row).await?,
    })
}

/// Maps a settlement to the client's answer.
async fn respond(
    state: &AppState,
    order_id: &str,
    settlement: Settlement,
) -> ApiResult<ConfirmResponse> {
    match settlement {
        Settlement::Paid(row) => paid_response(state, &row).await,
        Settlement::Declined { code, message } => Err(ApiError::new(
            Code::PAYMENT_DECLINED,
            "Toss declined the payment; nothing was charged. You can pay again while the hold lasts.",
        )
        .with("toss_code", code)
        .with("toss_message", message)),
        Settlement::Pending { error } => Err({
            tracing::warn!(order = %order_id, %error, "confirm outcome unknown; the reconciler settles it");
            ApiError::new(
            Code::PAYMENT_PROVIDER_UNAVAILABLE,
            "The payment provider did not answer in time. Your hold is kept; if the payment \
             went through it is completed automatically, else the hold lapses as usual. \
             Check the order's status.",
        )
            .with("order_id", order_id)
            .with_retry_after(5)
        }),
        Settlement::Reversed { completed } => Err(ApiError::new(
            Code::RESERVATION_CLOSED,
            "The reservation ended before the payment completed; the money is returned in full",
        )
        .with("refund_completed", completed)),
        Settlement::Rejected { detail } => Err({
            tracing::error!(order = %order_id, %detail, "Toss answered for another payment; an operator must look");
            ApiError::new(
                Code::PAYMENT_VERIFICATION_FAILED,
                "Toss's answer did not match this order; nothing was kept. Support has been alerted.",
            )
            .with("order_id", order_id)
        }),
    }
}

/// `GET /api/v1/payments/{order_id}`: the owner's (or an admin's) view.
pub async fn view(
    state: &AppState,
    user: &AuthUser,
    order_id: &str,
) -> ApiResult<super::model::PaymentView> {
    match store::load(state, order_id).await? {
        Some(row) if row.user_id == user.id || user.is_admin() => Ok(row.view()),
        _ => Err(ApiError::new(Code::ORDER_NOT_FOUND, "No such order")),
    }
}

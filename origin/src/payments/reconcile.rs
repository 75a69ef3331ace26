//! The reconciler: every order whose outcome we do not know is settled from what Toss
//! says, by `GET /v1/payments/orders/{orderId}` (Toss's own record is the truth about
//! money). It closes the classic ticketing failure "paid, but the reservation is stuck"
//! (a lost response, a crashed replica, a webhook that never came).
//!
//! Which orders: those with `reconcile_after <= now`. An order gets a time when it
//! enters `confirming` (claim + `URR_RECONCILE_MIN_AGE_SECS`: its request has that long
//! to finish by itself) or `cancel_requested`, when a webhook names it, and while it is
//! `failed` but Toss might still approve it. Each run leases a batch (`FOR UPDATE SKIP
//! LOCKED`, then pushes their time out), so replicas never work on the same order at
//! once and a crashed replica's orders come back after the lease.
//!
//! What it does, by our state and Toss's:
//!
//! | ours | Toss | action |
//! |---|---|---|
//! | confirming / failed | `DONE` | finalise: tickets if the reservation is still pending, else full refund |
//! | confirming | `IN_PROGRESS`, hold still valid | confirm again with the same Idempotency-Key |
//! | confirming | `IN_PROGRESS`, hold lapsed | `failed`, never confirm; keep watching until Toss expires it (a confirm still in flight could land) |
//! | confirming / failed | `EXPIRED`, `ABORTED`, no payment | `failed`, settled |
//! | cancel_requested | any | drive the requested refund (same key) |
//! | paid | `CANCELED` | cancelled at Toss directly: record the refund, void tickets, return inventory |
//! | any | no answer | try again later, backing off |
//!
//! Webhooks only make an order due now; the decision is always from Toss's answer to
//! our own GET, so a forged webhook body changes nothing. A webhook never touches an
//! order that is already due or leased by a run (`leased_until`, apart from the
//! schedule), and answers the same whatever it names; the route is rate-limited per
//! client IP and in total ([`super::limit`]).

use super::model::PaymentStatus;
use super::refund::{self, Driven};
use super::service::{self, Budget, Settlement};
use super::store::{self, Initiator, PaymentRow};
use super::toss::{TossPayment, TossStatus, is_not_found};
use crate::booking::Order;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileStats {
    pub examined: usize,
    pub paid: usize,
    pub failed: usize,
    pub refunded: usize,
    /// Still unsettled; looked at again later.
    pub pending: usize,
    pub errors: usize,
}

/// How one order ended this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Paid,
    Failed,
    Refunded,
    Pending,
    /// Nothing to change.
    Settled,
}

/// One pass over the due orders. The background job runs it every
/// `URR_RECONCILE_INTERVAL_MS`; tests call it directly.
pub async fn reconcile_once(state: &AppState) -> anyhow::Result<ReconcileStats> {
    let cfg = &state.config.payments;
    let lease = Duration::from_std(
        cfg.reconcile_min_age
            .max(std::time::Duration::from_secs(60)),
    )?;
    let (rows, leased_until) = store::lease_due(state, cfg.reconcile_batch, lease).await?;
    let mut stats = ReconcileStats {
        examined: rows.len(),
        ..Default::default()
    };
    for row in rows {
        let outcome = reconcile_order(state, &row).await;
        if let Err(e) = store::release_lease(state, &row.order_id, leased_until).await {
            tracing::warn!(order_id = %row.order_id, error = %e, "releasing a reconciler lease failed; it runs out by itself");
        }
        match outcome {
            Ok(Outcome::Paid) => stats.paid += 1,
            Ok(Outcome::Failed) => stats.failed += 1,
            Ok(Outcome::Refunded) => stats.refunded += 1,
            Ok(Outcome::Pending) => stats.pending += 1,
            Ok(Outcome::Settled) => {}
            Err(e) => {
                stats.errors += 1;
                tracing::warn!(order_id = %row.order_id, error = ?e, "reconciling an order failed; retried later");
            }
        }
    }
    if stats.examined > 0 {
        tracing::info!(?stats, "reconciled orders");
        metrics::counter!("payments_reconciled_total").increment(stats.examined as u64);
    }
    Ok(stats)
}

/// Back-off for an order Toss did not answer about: the interval doubled per failure,
/// at most ten minutes.
fn later(state: &AppState, failures: i32) -> DateTime<Utc> {
    let base = state.config.payments.reconcile_interval.as_millis() as i64;
    let ms = base
        .saturating_mul(1 << failures.clamp(0, 10))
        .min(10 * 60 * 1000);
    state.clock.now() + Duration::milliseconds(ms)
}

fn next_look(state: &AppState) -> DateTime<Utc> {
    later(state, 0)
}

/// Settles one order as far as Toss allows today.
pub async fn reconcile_order(state: &AppState, row: &PaymentRow) -> anyhow::Result<Outcome> {
    match row.status() {
        PaymentStatus::Confirming | PaymentStatus::Failed => confirming(state, row).await,
        PaymentStatus::CancelRequested => cancelling(state, row).await,
        PaymentStatus::Paid => paid(state, row).await,
        PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => {
            store::schedule(state, &row.order_id, row.status(), None, None).await?;
            Ok(Outcome::Settled)
        }
    }
}

async fn confirming(state: &AppState, row: &PaymentRow) -> anyhow::Result<Outcome> {
    let status = row.status();
    let p = match state.payments.toss.get_by_order(&row.order_id).await {
        Ok(p) => p,
        Err(e) if is_not_found(&e) => {
            // Toss has no payment for this order at all: nothing was ever charged.
            if status == PaymentStatus::Confirming {
                store::mark_failed(state, row, "NOT_FOUND_PAYMENT", None, None).await?;
            } else {
                store::schedule(state, &row.order_id, status, None, None).await?;
            }
            return Ok(Outcome::Failed);
        }
        Err(e) => {
            store::note_failure(
                state,
                &row.order_id,
                &e.summary(),
                Some(later(state, row.failures + 1)),
            )
            .await?;
            return Ok(Outcome::Pending);
        }
    };
    match p.status() {
        TossStatus::Done => {
            let settled = service::settle(state, row, p, &Budget::single(state)).await?;
            outcome_of(state, row, settled).await
        }
        TossStatus::InProgress | TossStatus::Ready => {
            let ours = p.payment_key == row.payment_key;
            if status == PaymentStatus::Confirming
                && ours
                && super::subject::hold_valid(state, super::subject::Subject::of_row(row)).await?
            {
                let settled = service::confirm_at_toss(state, row, &Budget::single(state)).await?;
                return outcome_of(state, row, settled).await;
            }
            // Never confirm once the hold has lapsed (the seats may be sold again). Toss
            // expires the authorisation within ten minutes; until then, watch: a
            // confirm still travelling could yet land, and would have to be refunded.
            if status == PaymentStatus::Confirming {
                store::mark_failed(state, row, "HOLD_EXPIRED", Some(&p), Some(next_look(state)))
                    .await?;
            } else {
                store::schedule(
                    state,
                    &row.order_id,
                    status,
                    Some(next_look(state)),
                    Some(&p),
                )
                .await?;
            }
            Ok(Outcome::Failed)
        }
        TossStatus::Expired
        | TossStatus::Aborted
        | TossStatus::Canceled
        | TossStatus::PartialCanceled => {
            // Terminal without money kept for this order's tickets.
            let code = p
                .failure
                .as_ref()
                .map(|f| f.code.clone())
                .unwrap_or_else(|| p.status_text.clone());
            if status == PaymentStatus::Confirming {
                store::mark_failed(state, row, &code, Some(&p), None).await?;
            } else {
                store::schedule(state, &row.order_id, status, None, Some(&p)).await?;
            }
            Ok(Outcome::Failed)
        }
        TossStatus::WaitingForDeposit | TossStatus::Other(_) => {
            store::schedule(
                state,
                &row.order_id,
                status,
                Some(next_look(state)),
                Some(&p),
            )
            .await?;
            Ok(Outcome::Pending)
        }
    }
}

async fn outcome_of(
    state: &AppState,
    row: &PaymentRow,
    settled: Settlement,
) -> anyhow::Result<Outcome> {
    Ok(match settled {
        Settlement::Paid(_) => Outcome::Paid,
        Settlement::Declined { .. } | Settlement::Rejected { .. } => Outcome::Failed,
        Settlement::Reversed { completed: true } => Outcome::Refunded,
        Settlement::Reversed { completed: false } => Outcome::Pending,
        Settlement::Pending { .. } => {
            let current = store::load(state, &row.order_id).await?;
            if let Some(c) = current.filter(|c| c.status() == PaymentStatus::Confirming) {
                store::schedule(
                    state,
                    &c.order_id,
                    PaymentStatus::Confirming,
                    Some(later(state, c.failures)),
                    None,
                )
                .await?;
            }
            Outcome::Pending
        }
    })
}

async fn cancelling(state: &AppState, row: &PaymentRow) -> anyhow::Result<Outcome> {
    let Some(refund) = store::requested_refund(state, &row.order_id).await? else {
        tracing::error!(order_id = %row.order_id, "order is cancel_requested without a requested refund");
        store::schedule(state, &row.order_id, row.status(), None, None).await?;
        return Ok(Outcome::Settled);
    };
    match refund::drive(state, &refund, &row.payment_key, &Budget::single(state)).await? {
        Driven::Completed(_) => Ok(Outcome::Refunded),
        Driven::Refused { .. } => Ok(Outcome::Settled),
        Driven::Pending(_) => {
            store::schedule(
                state,
                &row.order_id,
                PaymentStatus::CancelRequested,
                Some(later(state, refund.attempts + 1)),
                None,
            )
            .await?;
            Ok(Outcome::Pending)
        }
    }
}

/// A paid order Toss was asked about (a webhook named it): only a cancel made at Toss
/// directly can have changed it.
async fn paid(state: &AppState, row: &PaymentRow) -> anyhow::Result<Outcome> {
    let p = match state.payments.toss.get_by_key(&row.payment_key).await {
        Ok(p) => p,
        Err(e) => {
            store::note_failure(
                state,
                &row.order_id,
                &e.summary(),
                Some(later(state, row.failures + 1)),
            )
            .await?;
            return Ok(Outcome::Pending);
        }
    };
    match p.status() {
        TossStatus::Canceled if p.order_id == row.order_id => {
            record_external_refund(state, row, &p).await
        }
        TossStatus::PartialCanceled => {
            tracing::warn!(order_id = %row.order_id, cancelled = p.cancelled_amount(), "payment partly cancelled at Toss directly; tickets kept, recorded for an operator");
            sqlx::query(
                "UPDATE payments SET refunded_amount = $2, toss_status = $3, raw = $4,
                        reconcile_after = NULL, updated_at = $5
                 WHERE order_id = $1 AND status = 'paid'",
            )
            .bind(&row.order_id)
            .bind(p.cancelled_amount())
            .bind(&p.status_text)
            .bind(&p.raw)
            .bind(state.clock.now())
            .execute(&state.db)
            .await?;
            Ok(Outcome::Settled)
        }
        _ => {
            store::schedule(state, &row.order_id, PaymentStatus::Paid, None, Some(&p)).await?;
            Ok(Outcome::Settled)
        }
    }
}

/// The money went back through Toss's dashboard: the tickets cannot stay valid.
async fn record_external_refund(
    state: &AppState,
    row: &PaymentRow,
    p: &TossPayment,
) -> anyhow::Result<Outcome> {
    tracing::warn!(order_id = %row.order_id, "payment cancelled at Toss directly; voiding its tickets");
    let refund = store::request_refund(
        state,
        store::RefundRequest {
            order_id: &row.order_id,
            expected: &[PaymentStatus::Paid],
            amount: p.cancelled_amount().max(1),
            full_cancel: true,
            reason: "Cancelled at Toss",
            initiator: Initiator::External,
            reconcile_after: state.clock.now(),
            payment_key: None,
        },
    )
    .await?;
    let Some(refund) = refund else {
        return Ok(Outcome::Settled);
    };
    refund::complete(state, &refund, p).await?;
    Ok(Outcome::Refunded)
}

/// `POST /api/v1/payments/toss/webhook`: finds the order the body names (by orderId if
/// it is one of ours, else by paymentKey) and makes it due now, unless it is already
/// due or a reconciler run holds it (see [`store::mark_due`]). Nothing in the body is
/// believed, and the caller learns nothing: the answer is the same either way.
pub async fn on_webhook(state: &AppState, body: &Value) -> anyhow::Result<()> {
    let data = body.get("data").unwrap_or(&Value::Null);
    let order_id = data
        .get("orderId")
        .and_then(Value::as_str)
        .filter(|o| Order::reservation_of(o).is_some());
    let payment_key = data
        .get("paymentKey")
        .and_then(Value::as_str)
        .filter(|k| (1..=200).contains(&k.len()));
    let row = match (order_id, payment_key) {
        (Some(o), _) => store::load(state, o).await?,
        (None, Some(k)) => store::load_by_key(state, k).await?,
        (None, None) => None,
    };
    let Some(row) = row else {
        metrics::counter!("payments_webhooks_total", "matched" => "no").increment(1);
        return Ok(());
    };
    let moved = store::mark_due(state, &row.order_id).await?;
    metrics::counter!("payments_webhooks_total", "matched" => "yes").increment(1);
    tracing::info!(order_id = %row.order_id, event = ?body.get("eventType"), made_due = moved, "webhook for an order");
    Ok(())
}

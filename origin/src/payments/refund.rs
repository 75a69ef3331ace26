//! Cancellations and refunds: money first, then tickets and inventory.
//!
//! A fan cancels a confirmed reservation (`POST /api/v1/reservations/{id}/cancel`) or
//! an admin refunds one (`POST /api/v1/admin/reservations/{id}/refund`):
//!
//! 1. **Policy** ([`policy_amount`]): full refund until `URR_REFUND_FULL_DAYS` (7) days
//!    before the show (the time the tickets were bought for, `tickets.show_starts_at`,
//!    or the current one if an admin postponed it), `URR_REFUND_PARTIAL_PERCENT` (90 %) until
//!    `URR_REFUND_PARTIAL_DAYS` (1) day before, no cancellation after. No service fee.
//!    Admins always refund in full, at any time.
//! 2. **Request**, one transaction: the order goes `paid → cancel_requested` (the mutex:
//!    at most one cancel per paymentKey in flight) and a `refunds` row is written with
//!    its Idempotency-Key `cancel:<orderId>:<refundId>`, fixed before the first call.
//! 3. **Toss cancel** ([`drive`]), after a fresh read (a partial cancel must fit the
//!    balance, and a payment already `CANCELED` needs no call). Retries only with the
//!    same key; a lost answer is replayed by Toss; `FORBIDDEN_CONSECUTIVE_REQUEST` waits
//!    more than a second.
//! 4. **Complete** ([`complete`]), one transaction, only after Toss said the money is
//!    back: refund `completed`, order `refunded` (or `partially_refunded`), tickets
//!    void, reservation `refunded` with its seats and standing stock returned through
//!    booking's `release_inventory`, events `payment.refunded` and
//!    `reservation.cancelled`. Then the Redis holds and gates are given back.
//!
//! If Toss does not answer, the order stays `cancel_requested`, the tickets stay valid
//! and the client gets 202; the reconciler drives the same refund (same key) later. If
//! Toss refuses for good, the refund fails and the order is `paid` again.

use super::RefundPolicy;
use super::model::{CancelResponse, PaymentStatus};
use super::service::Budget;
use super::store::{self, Initiator, PaymentRow, RefundRow};
use super::subject::Subject;
use super::toss::{TossError, TossPayment, TossStatus, is_not_found};
use crate::auth::AuthUser;
use crate::booking::{Order, Reservation, ReservationStatus};
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::memberships::Reason;
use crate::outbox::{self, Topic};
use crate::state::AppState;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// What the policy gives back for `amount` paid, `left` before the show: the amount
/// and the percentage, or `None` when cancelling is no longer possible.
pub fn policy_amount(policy: &RefundPolicy, amount: i64, left: Duration) -> Option<(i64, u32)> {
    let pct = if left >= Duration::days(i64::from(policy.full_days)) {
        100
    } else if left >= Duration::days(i64::from(policy.partial_days)) {
        policy.partial_percent
    } else {
        return None;
    };
    let refund = amount * i64::from(pct) / 100;
    (refund > 0).then_some((refund, pct))
}

/// How driving a refund ended.
#[derive(Debug)]
pub enum Driven {
    /// Toss returned the money and everything is recorded.
    Completed(RefundRow),
    /// No answer yet; the order stays `cancel_requested` for the reconciler.
    Pending(RefundRow),
    /// Toss refused for good.
    Refused { code: String, message: String },
}

/// Step 3 and 4 for a `requested` refund of the payment `payment_key`.
pub async fn drive(
    state: &AppState,
    refund: &RefundRow,
    payment_key: &str,
    budget: &Budget,
) -> anyhow::Result<Driven> {
    let toss = &state.payments.toss;
    match toss.get_by_key(payment_key).await {
        Ok(p) if p.status() == TossStatus::Canceled => {
            return complete(state, refund, &p).await;
        }
        Ok(p) if refund.attempts == 0 && !refund.full_cancel => {
            if !p.is_partial_cancelable {
                return refuse(
                    state,
                    refund,
                    "NOT_ALLOWED_PARTIAL_REFUND",
                    "this payment cannot be partially refunded",
                )
                .await;
            }
            if refund.amount > p.balance_amount {
                return refuse(
                    state,
                    refund,
                    "NOT_CANCELABLE_AMOUNT",
                    "the refund exceeds what is left of the payment",
                )
                .await;
            }
        }
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            return refuse(
                state,
                refund,
                "NOT_FOUND_PAYMENT",
                "Toss does not know this payment",
            )
            .await;
        }
        Err(e) => {
            store::note_refund_error(state, refund.id, &e.summary()).await?;
            return Ok(Driven::Pending(refund.clone()));
        }
    }
    let amount = (!refund.full_cancel).then_some(refund.amount);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = budget.left();
        if left.is_zero() {
            return Ok(Driven::Pending(refund.clone()));
        }
        // Counted before the call: from now on a call may have executed, so later
        // drives must send (and get the replay), not pre-check the balance.
        store::note_refund_attempt(state, refund.id).await?;
        let result = toss
            .cancel(
                &refund.idempotency_key,
                payment_key,
                &refund.reason,
                amount,
                toss.post_timeout(left),
            )
            .await;
        let err = match result {
            Ok(p) => return complete(state, refund, &p).await,
            Err(e) => e,
        };
        tracing::info!(order_id = %refund.order_id, refund_id = %refund.id, attempt, error = %err.summary(), "Toss cancel did not succeed");
        store::note_refund_error(state, refund.id, &err.summary()).await?;
        let already = matches!(
            err.code(),
            Some("NOT_CANCELABLE_PAYMENT" | "ALREADY_CANCELED_PAYMENT" | "ALREADY_REFUND_PAYMENT")
        );
        if (already || err.outcome_unknown())
            && let Ok(p) = toss.get_by_key(payment_key).await
            && p.status() == TossStatus::Canceled
        {
            return complete(state, refund, &p).await;
        }
        if !err.is_retryable() {
            let (code, message) = match &err {
                TossError::Api { code, message, .. } => (code.clone(), message.clone()),
                other => ("UNKNOWN".to_owned(), other.to_string()),
            };
            return refuse(state, refund, &code, &message).await;
        }
        if !budget.pause(attempt, &err).await {
            return Ok(Driven::Pending(refund.clone()));
        }
    }
}

/// Toss refused a refund for good. A fan's or admin's refund fails and the order is
/// `paid` again (they are told why). A reconciler or event-cancellation refund must not
/// give up (Toss holds money for an order without tickets, or for a show that will not
/// happen): it stays requested, retried rarely, and an operator is alerted.
async fn refuse(
    state: &AppState,
    refund: &RefundRow,
    code: &str,
    message: &str,
) -> anyhow::Result<Driven> {
    let must_return = [Initiator::Reconciler, Initiator::EventCancelled]
        .iter()
        .any(|i| refund.initiated_by == i.as_str());
    if must_return {
        tracing::error!(order_id = %refund.order_id, refund_id = %refund.id, code, by = %refund.initiated_by, "Toss refuses to return money that must go back; operator action needed");
        let later = state.clock.now() + Duration::hours(1);
        store::note_refund_error(state, refund.id, code).await?;
        store::schedule(
            state,
            &refund.order_id,
            PaymentStatus::CancelRequested,
            Some(later),
            None,
        )
        .await?;
        return Ok(Driven::Pending(refund.clone()));
    }
    store::fail_refund(state, refund, code, PaymentStatus::Paid).await?;
    metrics::counter!("refunds_refused_total").increment(1);
    Ok(Driven::Refused {
        code: code.to_owned(),
        message: message.to_owned(),
    })
}

/// Step 4: Toss has returned the money (`p` shows it); record everything in one
/// transaction, then free the Redis holds.
pub async fn complete(
    state: &AppState,
    refund: &RefundRow,
    p: &TossPayment,
) -> anyhow::Result<Driven> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // Lock order: reservation, then payment (as in the claim and the finalisation).
    if let Some(reservation) = Order::reservation_of(&refund.order_id) {
        crate::booking::lock(&mut tx, reservation).await?;
    }
    let completed = sqlx::query(
        "UPDATE refunds SET status = 'completed', completed_at = $2 WHERE id = $1 AND status = 'requested'",
    )
    .bind(refund.id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if completed == 0 {
        // Someone else completed it (a concurrent drive, the reconciler).
        drop(tx);
        let done = store::last_completed_refund(state, &refund.order_id)
            .await?
            .unwrap_or_else(|| refund.clone());
        return Ok(Driven::Completed(done));
    }
    let returned = p.cancelled_amount().max(refund.amount.min(p.total_amount));
    let status = if p.balance_amount == 0 {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    };
    let row = sqlx::query_as::<_, PaymentRow>(&format!(
        "UPDATE payments
         SET status = $2, refunded_amount = $3, toss_status = $4, raw = $5, reconcile_after = NULL,
             last_error = NULL, updated_at = $6, version = version + 1
         WHERE order_id = $1 AND status = 'cancel_requested'
         RETURNING {}",
        store::PAYMENT_COLUMNS
    ))
    .bind(&refund.order_id)
    .bind(status.as_str())
    .bind(returned)
    .bind(&p.status_text)
    .bind(&p.raw)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        anyhow::bail!(
            "refund {} completed but order {} was not cancel_requested",
            refund.id,
            refund.order_id
        );
    };
    let closed = match Subject::of_row(&row) {
        Subject::Reservation(reservation) => {
            let voided =
                crate::tickets::void_for_reservation(&mut tx, reservation, "refunded", now).await?;
            let closed = crate::booking::refund_confirmed(&mut tx, reservation, now).await?;
            if let Some(closed) = &closed {
                crate::memberships::claw_back(&mut tx, Reason::TicketPurchase, &row.order_id, now)
                    .await?;
                let event_id = closed.first().map(|c| c.event_id);
                refunded_event(
                    &mut tx, &row, refund, returned, status, event_id, voided, now,
                )
                .await?;
            }
            closed
        }
        Subject::Resale(_) => {
            // A resale ticket is refunded only when its event is cancelled (or its
            // payment is reversed before any ticket was issued).
            let voided =
                crate::tickets::void_for_order(&mut tx, &row.order_id, "refunded", now).await?;
            if voided > 0 {
                refunded_event(&mut tx, &row, refund, returned, status, None, voided, now).await?;
            }
            None
        }
        // Only reversals (money taken for an order that could not be fulfilled) refund
        // memberships: there is nothing to take back.
        Subject::Membership(_) => None,
    };
    tx.commit().await?;
    if let Some(closed) = &closed {
        crate::booking::release_redis(state, closed).await;
    }
    metrics::counter!("refunds_completed_total", "by" => refund.initiated_by.clone()).increment(1);
    tracing::info!(order_id = %row.order_id, refund_id = %refund.id, amount = returned, "refund completed");
    let mut done = refund.clone();
    done.status = "completed".into();
    done.completed_at = Some(now);
    Ok(Driven::Completed(done))
}

/// `payment.refunded` for a paid order whose money went back.
#[allow(clippy::too_many_arguments)]
async fn refunded_event(
    conn: &mut sqlx::PgConnection,
    row: &PaymentRow,
    refund: &RefundRow,
    returned: i64,
    status: PaymentStatus,
    event_id: Option<uuid::Uuid>,
    voided: u64,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    outbox::enqueue(
        conn,
        Topic::PaymentRefunded,
        row.subject_id,
        json!({
            "order_id": row.order_id,
            "kind": row.kind,
            "reservation_id": row.reservation_id,
            "subject_id": row.subject_id,
            "event_id": event_id,
            "user_id": row.user_id,
            "refund_id": refund.id,
            "amount": returned,
            "paid_amount": row.amount,
            "full": status == PaymentStatus::Refunded,
            "reason": refund.reason,
            "initiated_by": refund.initiated_by,
            "tickets_voided": voided,
        }),
        now,
    )
    .await?;
    Ok(())
}

/// `POST /api/v1/reservations/{id}/cancel`: a pending reservation is released (no
/// money involved); a confirmed one is refunded under the policy.
pub async fn cancel_reservation(
    state: &AppState,
    user: &AuthUser,
    id: uuid::Uuid,
) -> ApiResult<(StatusCode, CancelResponse)> {
    let reservation = crate::booking::fetch_for(state, user, id).await?;
    match reservation.status {
        ReservationStatus::Pending => {
            let reservation = crate::booking::cancel_pending(state, user, id).await?;
            Ok((
                StatusCode::OK,
                CancelResponse {
                    reservation,
                    refund: None,
                },
            ))
        }
        _ => refund_reservation(state, user, reservation, Initiator::User).await,
    }
}

/// `POST /api/v1/admin/reservations/{id}/refund`: full refund, any time.
pub async fn admin_refund(
    state: &AppState,
    admin: &AuthUser,
    id: uuid::Uuid,
) -> ApiResult<(StatusCode, CancelResponse)> {
    admin.require(&[shared_wasm::token::Role::Admin])?;
    let reservation = crate::booking::fetch_for(state, admin, id).await?;
    refund_reservation(state, admin, reservation, Initiator::Admin).await
}

async fn refund_reservation(
    state: &AppState,
    user: &AuthUser,
    reservation: Reservation,
    initiator: Initiator,
) -> ApiResult<(StatusCode, CancelResponse)> {
    let order_id = Order::id_for(reservation.id);
    if crate::resale::blocks_refund(&state.db, reservation.id).await? {
        return Err(ApiError::new(
            Code::TICKET_LISTED,
            "A ticket of this booking is listed for resale (withdraw the listing first) or was resold",
        ));
    }
    let not_cancellable = |status: ReservationStatus| {
        ApiError::new(
            Code::RESERVATION_NOT_CANCELLABLE,
            "Only pending or paid reservations can be cancelled",
        )
        .with("reservation_status", status)
    };
    let Some(row) = store::load(state, &order_id).await? else {
        return Err(not_cancellable(reservation.status));
    };
    let refund = match row.status() {
        PaymentStatus::Paid if reservation.status == ReservationStatus::Confirmed => {
            let (amount, full) = refund_amount(state, &row, &reservation, initiator).await?;
            let reason = match initiator {
                Initiator::Admin => "Refunded by an administrator",
                _ => "Cancelled by the customer",
            };
            let min_age = chrono::Duration::from_std(state.config.payments.reconcile_min_age)
                .map_err(ApiError::internal)?;
            let now = state.clock.now();
            let mut tx = state.db.begin().await?;
            let requested = store::request_refund_in(
                &mut tx,
                now,
                store::RefundRequest {
                    order_id: &order_id,
                    expected: &[PaymentStatus::Paid],
                    amount,
                    full_cancel: full,
                    reason,
                    initiator,
                    reconcile_after: now + min_age,
                    payment_key: None,
                },
            )
            .await?;
            if let (Some(r), Initiator::Admin) = (&requested, initiator) {
                let change = crate::audit::Change::new(
                    "reservation.refunded",
                    "reservation",
                    reservation.id,
                )
                .before(json!({ "status": reservation.status }))
                .after(json!({ "refund_id": r.id, "amount": amount, "full": full }));
                crate::audit::record(&mut tx, user.actor(), change, now).await?;
            }
            tx.commit().await?;
            match requested {
                Some(r) => r,
                // A concurrent cancel of the same order won: continue its refund.
                None => store::requested_refund(state, &order_id)
                    .await?
                    .ok_or_else(|| not_cancellable(reservation.status))?,
            }
        }
        PaymentStatus::CancelRequested => store::requested_refund(state, &order_id)
            .await?
            .ok_or_else(|| not_cancellable(reservation.status))?,
        PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => {
            // Already done: answer as the first time (a retry after a lost response).
            let refund = store::last_completed_refund(state, &order_id).await?;
            return Ok((
                StatusCode::OK,
                CancelResponse {
                    reservation: crate::booking::fetch_for(state, user, reservation.id).await?,
                    refund: refund.map(|r| r.view()),
                },
            ));
        }
        _ => return Err(not_cancellable(reservation.status)),
    };
    let driven = drive(state, &refund, &row.payment_key, &Budget::request(state)).await?;
    let reservation = crate::booking::fetch_for(state, user, reservation.id).await?;
    match driven {
        Driven::Completed(r) => Ok((
            StatusCode::OK,
            CancelResponse {
                reservation,
                refund: Some(r.view()),
            },
        )),
        Driven::Pending(r) => Ok((
            StatusCode::ACCEPTED,
            CancelResponse {
                reservation,
                refund: Some(r.view()),
            },
        )),
        Driven::Refused { code, message, .. } => Err(ApiError::new(
            Code::REFUND_REFUSED,
            "Toss refused the refund; the reservation and its tickets are unchanged",
        )
        .with("toss_code", code)
        .with("toss_message", message)),
    }
}

/// How much goes back: admins the whole remaining amount, fans what the policy allows,
/// counted from the show time the tickets were bought for. An admin may have moved the
/// show since: moved earlier, that must not close or shrink the fan's refund, so the
/// time bought for counts; moved later (postponed), the fan keeps the longer window of
/// the new time. So: the later of the two.
async fn refund_amount(
    state: &AppState,
    row: &PaymentRow,
    reservation: &Reservation,
    initiator: Initiator,
) -> ApiResult<(i64, bool)> {
    let remaining = row.amount - row.refunded_amount;
    if initiator == Initiator::Admin {
        return Ok((remaining, true));
    }
    let current: DateTime<Utc> = sqlx::query_scalar("SELECT starts_at FROM events WHERE id = $1")
        .bind(reservation.event_id)
        .fetch_one(&state.db)
        .await?;
    let bought_for = crate::tickets::purchased_show_time(&state.db, reservation.id).await?;
    let starts_at = bought_for.map_or(current, |b| b.max(current));
    let policy = &state.config.payments.refund_policy;
    let now = state.clock.now();
    let Some((amount, pct)) = policy_amount(policy, remaining, starts_at - now) else {
        return Err(ApiError::new(
            Code::REFUND_WINDOW_CLOSED,
            format!(
                "Tickets can no longer be cancelled: the show starts in less than {} day(s)",
                policy.partial_days
            ),
        )
        .with("starts_at", starts_at));
    };
    tracing::info!(order_id = %row.order_id, pct, amount, "refund under the policy");
    Ok((amount, amount == remaining))
}

/// Inside the transaction that cancels `event_id`: a full refund is requested for every
/// paid order of the event, each with its Idempotency-Key fixed now. The reconciler
/// drives them (due at once) and retries until Toss returns the money; tickets stay
/// valid until then, and are voided with the seats returned when it has. Returns the
/// order ids. An order already being refunded (a fan cancelled first) keeps its refund.
pub async fn request_event_refunds(
    conn: &mut sqlx::PgConnection,
    event_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    // Open listings close; resale purchases are refunded to their buyers and the
    // unpaid payouts cancelled (each seller's own booking is refunded in full below).
    crate::resale::close_for_event(&mut *conn, event_id, now).await?;
    let resold = crate::resale::paid_orders_of_event(&mut *conn, event_id).await?;
    let paid: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.order_id, p.amount - p.refunded_amount FROM payments p
         LEFT JOIN reservations r ON r.id = p.reservation_id
         WHERE ((p.kind = 'reservation' AND r.event_id = $1 AND r.status = 'confirmed')
                OR (p.kind = 'resale' AND p.subject_id = ANY($2)))
           AND p.status = 'paid' AND p.amount > p.refunded_amount
         ORDER BY p.order_id",
    )
    .bind(event_id)
    .bind(&resold)
    .fetch_all(&mut *conn)
    .await?;
    let mut requested = Vec::with_capacity(paid.len());
    for (order_id, amount) in paid {
        let refund = store::request_refund_in(
            conn,
            now,
            store::RefundRequest {
                order_id: &order_id,
                expected: &[PaymentStatus::Paid],
                amount,
                full_cancel: true,
                reason: "The event was cancelled",
                initiator: Initiator::EventCancelled,
                reconcile_after: now,
                payment_key: None,
            },
        )
        .await?;
        if refund.is_some() {
            requested.push(order_id);
        }
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RefundPolicy = RefundPolicy {
        full_days: 7,
        partial_days: 1,
        partial_percent: 90,
    };

    #[test]
    fn the_default_policy_by_time_left() {
        assert_eq!(
            policy_amount(&POLICY, 100_000, Duration::days(30)),
            Some((100_000, 100))
        );
        assert_eq!(
            policy_amount(&POLICY, 100_000, Duration::days(7)),
            Some((100_000, 100))
        );
        assert_eq!(
            policy_amount(&POLICY, 100_000, Duration::days(7) - Duration::seconds(1)),
            Some((90_000, 90))
        );
        assert_eq!(
            policy_amount(&POLICY, 100_000, Duration::days(1)),
            Some((90_000, 90))
        );
        assert_eq!(policy_amount(&POLICY, 100_000, Duration::hours(23)), None);
        assert_eq!(policy_amount(&POLICY, 100_000, Duration::days(-1)), None);
        // KRW integers, rounded down: 90 % of 15,005 is 13,504.5.
        assert_eq!(
            policy_amount(&POLICY, 15_005, Duration::days(3)),
            Some((13_504, 90))
        );
        let none = RefundPolicy {
            partial_percent: 0,
            ..POLICY
        };
        assert_eq!(policy_amount(&none, 100_000, Duration::days(3)), None);
    }
}

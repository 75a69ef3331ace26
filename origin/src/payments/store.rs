//! The `payments` and `refunds` rows and every state change on them.
//!
//! Each change is one conditional statement (`... WHERE status = <expected>`), so two
//! actors racing on one order (the request, its retry, the reconciler, a webhook) can
//! only ever make one transition each; the loser sees zero rows and re-reads.

use super::model::{PaymentStatus, PaymentView, RefundStatus, RefundView};
use super::subject::{Payable, Subject};
use super::toss::TossPayment;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// One order's payment row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub order_id: String,
    /// `reservation`, `membership` or `resale` (see `subject`).
    pub kind: String,
    /// The reservation, membership order or resale purchase paid for.
    pub subject_id: Uuid,
    /// Set for reservations only (= `subject_id`).
    pub reservation_id: Option<Uuid>,
    pub user_id: Uuid,
    pub amount: i64,
    pub status: String,
    pub payment_key: String,
    pub attempt: i32,
    pub confirm_key: String,
    pub claimed_at: DateTime<Utc>,
    pub toss_status: Option<String>,
    pub method: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub refunded_amount: i64,
    pub failures: i32,
    pub last_error: Option<String>,
    pub reconcile_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const PAYMENT_COLUMNS: &str =
    "order_id, kind, subject_id, reservation_id, user_id, amount, status, payment_key,
     attempt, confirm_key, claimed_at, toss_status, method, approved_at, refunded_amount,
     failures, last_error, reconcile_after, created_at, updated_at";

impl PaymentRow {
    pub fn status(&self) -> PaymentStatus {
        // The table's CHECK constraint admits only known values.
        PaymentStatus::parse(&self.status).unwrap_or(PaymentStatus::Failed)
    }

    pub fn view(&self) -> PaymentView {
        PaymentView {
            order_id: self.order_id.clone(),
            kind: self.kind.clone(),
            reservation_id: self.reservation_id,
            status: self.status(),
            amount: self.amount,
            refunded_amount: self.refunded_amount,
            method: self.method.clone(),
            approved_at: self.approved_at,
            updated_at: self.updated_at,
        }
    }
}

pub async fn load(state: &AppState, order_id: &str) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as::<_, PaymentRow>(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(&state.db)
    .await
}

pub async fn load_by_key(state: &AppState, payment_key: &str) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as::<_, PaymentRow>(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_key = $1"
    ))
    .bind(payment_key)
    .fetch_optional(&state.db)
    .await
}

/// The Idempotency-Key of a confirm attempt: `confirm:<orderId>` for the first, then
/// `confirm:<orderId>:<attempt>`. Toss scopes keys by URL and method, not body, so a
/// second paymentKey for the same order must not reuse the first one's key (it would
/// get the first attempt's stored answer back).
pub fn confirm_key(order_id: &str, attempt: i32) -> String {
    if attempt <= 1 {
        format!("confirm:{order_id}")
    } else {
        format!("confirm:{order_id}:{attempt}")
    }
}

/// Inside the claim transaction (after `subject::hold_for_payment` locked the
/// subject): the order enters `confirming` with this paymentKey, new or from
/// `failed`. `None`: another claim holds it, or it is already paid or refunded.
pub async fn claim(
    conn: &mut PgConnection,
    order_id: &str,
    subject: Subject,
    hold: &Payable,
    payment_key: &str,
    now: DateTime<Utc>,
    reconcile_after: DateTime<Utc>,
) -> sqlx::Result<Option<PaymentRow>> {
    sqlx::query_as::<_, PaymentRow>(&format!(
        "INSERT INTO payments (order_id, reservation_id, user_id, amount, status, payment_key,
                               attempt, confirm_key, claimed_at, reconcile_after,
                               created_at, updated_at, kind, subject_id)
         VALUES ($1, $2, $3, $4, 'confirming', $5, 1, $6, $7, $8, $7, $7, $9, $10)
         ON CONFLICT (order_id) DO UPDATE
         SET status = 'confirming', payment_key = EXCLUDED.payment_key,
             attempt = payments.attempt + 1,
             confirm_key = 'confirm:' || payments.order_id || ':' || (payments.attempt + 1),
             claimed_at = EXCLUDED.claimed_at, reconcile_after = EXCLUDED.reconcile_after,
             toss_status = NULL, last_error = NULL, raw = NULL,
             updated_at = EXCLUDED.updated_at, version = payments.version + 1
         WHERE payments.status = 'failed'
         RETURNING {PAYMENT_COLUMNS}"
    ))
    .bind(order_id)
    .bind(subject.reservation())
    .bind(hold.user_id)
    .bind(hold.amount)
    .bind(payment_key)
    .bind(confirm_key(order_id, 1))
    .bind(now)
    .bind(reconcile_after)
    .bind(subject.kind())
    .bind(subject.id())
    .fetch_optional(&mut *conn)
    .await
}

/// Records a failed call without changing the state.
pub async fn note_failure(
    state: &AppState,
    order_id: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET failures = failures + 1, last_error = $2,
                reconcile_after = COALESCE($3, reconcile_after), updated_at = $4
         WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(error)
    .bind(retry_at)
    .bind(state.clock.now())
    .execute(&state.db)
    .await?;
    Ok(())
}

/// `confirming → failed` for this attempt (a later attempt is left alone). `watch`:
/// keep asking Toss until its payment is settled (it might still turn DONE).
pub async fn mark_failed(
    state: &AppState,
    row: &PaymentRow,
    error: &str,
    toss: Option<&TossPayment>,
    watch_until: Option<DateTime<Utc>>,
) -> sqlx::Result<bool> {
    let now = state.clock.now();
    let moved = sqlx::query(
        "UPDATE payments
         SET status = 'failed', last_error = $3, toss_status = COALESCE($4, toss_status),
             raw = COALESCE($5, raw), reconcile_after = $6, updated_at = $7, version = version + 1
         WHERE order_id = $1 AND attempt = $2 AND status IN ('confirming', 'failed')",
    )
    .bind(&row.order_id)
    .bind(row.attempt)
    .bind(error)
    .bind(toss.map(|p| p.status_text.clone()))
    .bind(toss.map(|p| p.raw.clone()))
    .bind(watch_until)
    .bind(now)
    .execute(&state.db)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Sets when the reconciler looks next (`None`: settled, never).
pub async fn schedule(
    state: &AppState,
    order_id: &str,
    expected: PaymentStatus,
    at: Option<DateTime<Utc>>,
    toss: Option<&TossPayment>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET reconcile_after = $3, toss_status = COALESCE($4, toss_status),
                updated_at = $5
         WHERE order_id = $1 AND status = $2",
    )
    .bind(order_id)
    .bind(expected.as_str())
    .bind(at)
    .bind(toss.map(|p| p.status_text.clone()))
    .bind(state.clock.now())
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Makes an order due for reconciliation now (webhooks). Writes nothing when it is
/// already due, settled for good (refunded), or leased by a reconciler run (which may
/// be on another replica, mid-way through the order: pulling its time forward would
/// hand the order to a second run). `false`: nothing written.
pub async fn mark_due(state: &AppState, order_id: &str) -> sqlx::Result<bool> {
    let now = state.clock.now();
    let n = sqlx::query(
        "UPDATE payments SET reconcile_after = $2
         WHERE order_id = $1
           AND status NOT IN ('refunded', 'partially_refunded')
           AND (reconcile_after IS NULL OR reconcile_after > $2)
           AND (leased_until IS NULL OR leased_until <= $2)",
    )
    .bind(order_id)
    .bind(now)
    .execute(&state.db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Orders the reconciler should look at now, leased to this caller for `lease` (another
/// replica skips them; if this one dies, they come back after the lease). The lease is
/// `leased_until`; [`release_lease`] ends it when the caller is done with the order.
/// Returns the orders and the lease's end.
pub async fn lease_due(
    state: &AppState,
    batch: u32,
    lease: Duration,
) -> sqlx::Result<(Vec<PaymentRow>, DateTime<Utc>)> {
    let now = state.clock.now();
    let until = now + lease;
    let rows = sqlx::query_as::<_, PaymentRow>(&format!(
        "UPDATE payments p SET reconcile_after = $2, leased_until = $2
         FROM (SELECT order_id FROM payments
               WHERE reconcile_after IS NOT NULL AND reconcile_after <= $1
                 AND (leased_until IS NULL OR leased_until <= $1)
               ORDER BY reconcile_after
               LIMIT $3
               FOR UPDATE SKIP LOCKED) due
         WHERE p.order_id = due.order_id
         RETURNING {}",
        PAYMENT_COLUMNS
            .split(',')
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(now)
    .bind(until)
    .bind(i64::from(batch))
    .fetch_all(&state.db)
    .await?;
    Ok((rows, until))
}

/// Ends this caller's lease of an order (`until`: the end [`lease_due`] gave it; a
/// later lease, taken after this one ran out, is left alone).
pub async fn release_lease(
    state: &AppState,
    order_id: &str,
    until: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET leased_until = NULL
         WHERE order_id = $1 AND leased_until IS NOT NULL AND leased_until <= $2",
    )
    .bind(order_id)
    .bind(until)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// One refund row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub order_id: String,
    pub amount: i64,
    pub full_cancel: bool,
    pub reason: String,
    pub initiated_by: String,
    pub idempotency_key: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const REFUND_COLUMNS: &str = "id, order_id, amount, full_cancel, reason, initiated_by,
     idempotency_key, status, attempts, last_error, created_at, completed_at";

impl RefundRow {
    pub fn view(&self) -> RefundView {
        RefundView {
            id: self.id,
            order_id: self.order_id.clone(),
            amount: self.amount,
            status: match self.status.as_str() {
                "completed" => RefundStatus::Completed,
                "failed" => RefundStatus::Failed,
                _ => RefundStatus::Requested,
            },
            reason: self.reason.clone(),
            created_at: self.created_at,
            completed_at: self.completed_at,
        }
    }
}

/// Who asked for a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The fan, under the refund policy.
    User,
    /// An admin: always the full amount.
    Admin,
    /// The reconciler: Toss took money for an order that could not get its tickets.
    Reconciler,
    /// Someone cancelled the payment at Toss directly (dashboard); we only record it.
    External,
    /// The event was cancelled: every paid order goes back in full.
    EventCancelled,
}

impl Initiator {
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::User => "user",
            Initiator::Admin => "admin",
            Initiator::Reconciler => "reconciler",
            Initiator::External => "external",
            Initiator::EventCancelled => "event_cancelled",
        }
    }
}

/// The refund in flight for an order, if any.
pub async fn requested_refund(state: &AppState, order_id: &str) -> sqlx::Result<Option<RefundRow>> {
    sqlx::query_as::<_, RefundRow>(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 AND status = 'requested'"
    ))
    .bind(order_id)
    .fetch_optional(&state.db)
    .await
}

/// The latest completed refund of an order, if any.
pub async fn last_completed_refund(
    state: &AppState,
    order_id: &str,
) -> sqlx::Result<Option<RefundRow>> {
    sqlx::query_as::<_, RefundRow>(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 AND status = 'completed'
         ORDER BY completed_at DESC LIMIT 1"
    ))
    .bind(order_id)
    .fetch_optional(&state.db)
    .await
}

/// One transaction: `expected → cancel_requested` and a `requested` refund row with its
/// idempotency key fixed. `None`: the order was not in `expected` (a concurrent cancel
/// won; re-read and resume its refund).
pub async fn request_refund(
    state: &AppState,
    r: RefundRequest<'_>,
) -> sqlx::Result<Option<RefundRow>> {
    let mut tx = state.db.begin().await?;
    let row = request_refund_in(&mut tx, state.clock.now(), r).await?;
    tx.commit().await?;
    Ok(row)
}

/// What [`request_refund`] records.
pub struct RefundRequest<'a> {
    pub order_id: &'a str,
    /// The order must be in one of these states.
    pub expected: &'a [PaymentStatus],
    pub amount: i64,
    pub full_cancel: bool,
    pub reason: &'a str,
    pub initiator: Initiator,
    /// When the reconciler drives it if nobody does before.
    pub reconcile_after: DateTime<Utc>,
    pub payment_key: Option<&'a str>,
}

/// [`request_refund`] inside the caller's transaction (event cancellation requests a
/// refund for every paid order of the event in the transaction that cancels it).
pub async fn request_refund_in(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    r: RefundRequest<'_>,
) -> sqlx::Result<Option<RefundRow>> {
    let order_id = r.order_id;
    let expected: Vec<&str> = r.expected.iter().map(|s| s.as_str()).collect();
    let moved = sqlx::query(
        "UPDATE payments SET status = 'cancel_requested', reconcile_after = $3, updated_at = $4,
                payment_key = COALESCE($5, payment_key), version = version + 1
         WHERE order_id = $1 AND status = ANY($2)",
    )
    .bind(order_id)
    .bind(&expected)
    .bind(r.reconcile_after)
    .bind(now)
    .bind(r.payment_key)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved != 1 {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    let row = sqlx::query_as::<_, RefundRow>(&format!(
        "INSERT INTO refunds (id, order_id, amount, full_cancel, reason, initiated_by,
                              idempotency_key, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8)
         RETURNING {REFUND_COLUMNS}"
    ))
    .bind(id)
    .bind(order_id)
    .bind(r.amount)
    .bind(r.full_cancel)
    .bind(r.reason)
    .bind(r.initiator.as_str())
    .bind(format!("cancel:{order_id}:{id}"))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(row))
}

/// Counts a cancel call of a refund, before it is sent.
pub async fn note_refund_attempt(state: &AppState, refund_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE refunds SET attempts = attempts + 1 WHERE id = $1")
        .bind(refund_id)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// Records why a refund's last call did not succeed.
pub async fn note_refund_error(state: &AppState, refund_id: Uuid, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE refunds SET last_error = $2 WHERE id = $1")
        .bind(refund_id)
        .bind(error)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// A refund Toss definitively refused: the refund fails, the order is `back_to` again.
pub async fn fail_refund(
    state: &AppState,
    refund: &RefundRow,
    error: &str,
    back_to: PaymentStatus,
) -> sqlx::Result<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let moved = sqlx::query(
        "UPDATE refunds SET status = 'failed', last_error = $2, completed_at = $3
         WHERE id = $1 AND status = 'requested'",
    )
    .bind(refund.id)
    .bind(error)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 1 {
        sqlx::query(
            "UPDATE payments SET status = $2, reconcile_after = NULL, last_error = $3,
                    updated_at = $4, version = version + 1
             WHERE order_id = $1 AND status = 'cancel_requested'",
        )
        .bind(&refund.order_id)
        .bind(back_to.as_str())
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Payments' answer to "which of these holds are being paid for?" (booking's
/// reservations, resale's purchases: any order subject): those whose order is
/// `confirming` (Toss may have taken the money; only the order's outcome may close the
/// hold).
pub struct InFlight;

impl crate::booking::PaymentsInFlight for InFlight {
    fn confirming<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        reservations: &'a [Uuid],
    ) -> futures::future::BoxFuture<'a, sqlx::Result<std::collections::HashSet<Uuid>>> {
        Box::pin(async move {
            if reservations.is_empty() {
                return Ok(Default::default());
            }
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "SELECT subject_id FROM payments
                 WHERE subject_id = ANY($1) AND status = 'confirming'",
            )
            .bind(reservations)
            .fetch_all(&mut *conn)
            .await?;
            Ok(ids.into_iter().collect())
        })
    }

    fn refunding<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        subjects: &'a [Uuid],
    ) -> futures::future::BoxFuture<'a, sqlx::Result<std::collections::HashSet<Uuid>>> {
        Box::pin(async move {
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "SELECT subject_id FROM payments
                 WHERE subject_id = ANY($1)
                   AND status IN ('cancel_requested', 'refunded', 'partially_refunded')",
            )
            .bind(subjects)
            .fetch_all(&mut *conn)
            .await?;
            Ok(ids.into_iter().collect())
        })
    }
}

/// Every refund of `orders`, oldest first.
pub(super) async fn refunds_of(
    db: &sqlx::PgPool,
    orders: &[String],
) -> sqlx::Result<Vec<RefundRow>> {
    sqlx::query_as::<_, RefundRow>(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = ANY($1) ORDER BY created_at, id"
    ))
    .bind(orders)
    .fetch_all(db)
    .await
}

//! What an order pays for, and the one place payments talks to the module that owns it.
//!
//! An order id names its subject by prefix: `ord_` a reservation (booking), `mbr_` a
//! membership order (memberships), `rsl_` a resale purchase (resale). Payments drives
//! every kind through the same steps (claim, confirm at Toss, finalise, refund) and
//! asks the owner only these questions, each inside the payments transaction and
//! always locking the subject's row before the payment row:
//!
//! - is it payable now (its hold valid), and by whom, for how much: [`hold_for_payment`];
//! - deliver the goods in the transaction that marks the payment paid: [`fulfil`]
//!   (tickets issued, a membership activated, a resold ticket moved). `false` means the
//!   goods are gone (a hold lapsed and someone else took them): the caller rolls back
//!   and refunds in full, so nobody is charged without goods;
//! - take the goods back once Toss has returned the money: [`on_refunded`].

use super::store::PaymentRow;
use crate::booking::Order;
use crate::memberships::Reason;
use crate::outbox::{self, Topic};
use crate::state::AppState;
use crate::tickets::{self, Ticket};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// What an order pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Reservation(Uuid),
    Membership(Uuid),
    Resale(Uuid),
}

/// Who owns a subject and what it costs, read before anything is claimed.
pub struct Owned {
    pub user_id: Uuid,
    pub amount: i64,
    /// The event whose queue slot is released once paid (reservations only).
    pub queue_event: Option<Uuid>,
}

/// A subject that is payable now (locked, its hold extended).
pub struct Payable {
    pub user_id: Uuid,
    pub amount: i64,
}

impl Subject {
    pub fn parse(order_id: &str) -> Option<Subject> {
        Order::reservation_of(order_id)
            .map(Subject::Reservation)
            .or_else(|| crate::memberships::order_of(order_id).map(Subject::Membership))
            .or_else(|| crate::resale::order_of(order_id).map(Subject::Resale))
    }

    pub fn of_row(row: &PaymentRow) -> Subject {
        match row.kind.as_str() {
            "membership" => Subject::Membership(row.subject_id),
            "resale" => Subject::Resale(row.subject_id),
            _ => Subject::Reservation(row.subject_id),
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Subject::Reservation(id) | Subject::Membership(id) | Subject::Resale(id) => id,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Subject::Reservation(_) => "reservation",
            Subject::Membership(_) => "membership",
            Subject::Resale(_) => "resale",
        }
    }

    pub fn reservation(self) -> Option<Uuid> {
        match self {
            Subject::Reservation(id) => Some(id),
            _ => None,
        }
    }
}

/// The subject's owner and amount, whatever its state (`None`: no such subject).
pub async fn owner(state: &AppState, subject: Subject) -> crate::http::ApiResult<Option<Owned>> {
    Ok(match subject {
        Subject::Reservation(id) => crate::booking::fetch(state, id).await?.map(|r| Owned {
            user_id: r.user_id,
            amount: r.amount,
            queue_event: Some(r.event_id),
        }),
        Subject::Membership(id) => crate::memberships::fetch_order(&state.db, id)
            .await?
            .map(|o| Owned {
                user_id: o.user_id,
                amount: o.amount,
                queue_event: None,
            }),
        Subject::Resale(id) => crate::resale::fetch_purchase(&state.db, id)
            .await?
            .map(|p| Owned {
                user_id: p.buyer_id,
                amount: p.amount,
                queue_event: None,
            }),
    })
}

/// First statement of a transaction that changes a subject and its payment row.
pub async fn lock(conn: &mut PgConnection, subject: Subject) -> sqlx::Result<()> {
    match subject {
        Subject::Reservation(id) => {
            crate::booking::lock(conn, id).await?;
        }
        Subject::Membership(id) => {
            crate::memberships::lock_payable(conn, id).await?;
        }
        Subject::Resale(id) => crate::resale::lock(conn, id).await?,
    }
    Ok(())
}

/// Inside the claim transaction: `Some` if payable at `now` (a hold extended to at
/// least `now + grace`), locking the subject's row.
pub async fn hold_for_payment(
    conn: &mut PgConnection,
    state: &AppState,
    subject: Subject,
    now: DateTime<Utc>,
    grace: Duration,
) -> sqlx::Result<Option<Payable>> {
    Ok(match subject {
        Subject::Reservation(id) => crate::booking::hold_for_payment(conn, state, id, now, grace)
            .await?
            .map(|h| Payable {
                user_id: h.user_id,
                amount: h.amount,
            }),
        Subject::Membership(id) => {
            crate::memberships::lock_payable(conn, id)
                .await?
                .map(|o| Payable {
                    user_id: o.user_id,
                    amount: o.amount,
                })
        }
        Subject::Resale(id) => crate::resale::hold_for_payment(conn, id, now, grace)
            .await?
            .map(|(user_id, amount)| Payable { user_id, amount }),
    })
}

/// Whether the subject is still payable (the reconciler never confirms after a hold
/// lapsed).
pub async fn hold_valid(state: &AppState, subject: Subject) -> sqlx::Result<bool> {
    let now = state.clock.now();
    match subject {
        Subject::Reservation(id) => {
            let valid: Option<bool> = sqlx::query_scalar(
                "SELECT status = 'pending' AND expires_at > $2 FROM reservations WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&state.db)
            .await?;
            Ok(valid.unwrap_or(false))
        }
        Subject::Membership(id) => Ok(crate::memberships::fetch_order(&state.db, id)
            .await?
            .is_some_and(|o| o.status == "pending")),
        Subject::Resale(id) => crate::resale::hold_valid(&state.db, id, now).await,
    }
}

/// Inside the transaction that marked `paid` paid: delivers what it paid for, with
/// its events. `Ok(false)`: the goods are gone; the caller must roll back and refund.
pub async fn fulfil(
    conn: &mut PgConnection,
    paid: &PaymentRow,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    match Subject::of_row(paid) {
        Subject::Reservation(id) => {
            if !crate::booking::confirm_held(conn, id, now, paid.claimed_at).await? {
                return Ok(false);
            }
            let issued = tickets::issue(conn, &paid.order_id, id, now).await?;
            let event_id = issued.first().map(|t| t.event_id);
            outbox::enqueue(
                conn,
                Topic::PaymentConfirmed,
                id,
                json!({
                    "order_id": paid.order_id,
                    "kind": "reservation",
                    "reservation_id": id,
                    "event_id": event_id,
                    "user_id": paid.user_id,
                    "amount": paid.amount,
                    "payment_key": paid.payment_key,
                    "method": paid.method,
                    "approved_at": paid.approved_at,
                    "ticket_count": issued.len(),
                }),
                now,
            )
            .await?;
            // Tickets for an artist's event earn that membership points (capped daily;
            // taken back by a refund).
            let artist: Option<Uuid> = match event_id {
                Some(event) => {
                    sqlx::query_scalar("SELECT artist_id FROM events WHERE id = $1")
                        .bind(event)
                        .fetch_one(&mut *conn)
                        .await?
                }
                None => None,
            };
            if let Some(artist) = artist {
                crate::memberships::award(
                    conn,
                    paid.user_id,
                    artist,
                    Reason::TicketPurchase,
                    &paid.order_id,
                    now,
                )
                .await?;
            }
            Ok(true)
        }
        Subject::Membership(id) => {
            if !crate::memberships::activate(conn, id, &paid.order_id, now).await? {
                return Ok(false);
            }
            confirmed_event(conn, paid, "membership", None, now).await?;
            Ok(true)
        }
        Subject::Resale(id) => {
            let Some(done) =
                crate::resale::complete(conn, id, &paid.order_id, now, paid.claimed_at).await?
            else {
                return Ok(false);
            };
            confirmed_event(conn, paid, "resale", Some(done.event_id), now).await?;
            Ok(true)
        }
    }
}

/// `payment.confirmed` for an order that is not a reservation.
async fn confirmed_event(
    conn: &mut PgConnection,
    paid: &PaymentRow,
    kind: &str,
    event_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    outbox::enqueue(
        conn,
        Topic::PaymentConfirmed,
        paid.subject_id,
        json!({
            "order_id": paid.order_id,
            "kind": kind,
            "subject_id": paid.subject_id,
            "event_id": event_id,
            "user_id": paid.user_id,
            "amount": paid.amount,
            "payment_key": paid.payment_key,
            "method": paid.method,
            "approved_at": paid.approved_at,
        }),
        now,
    )
    .await?;
    Ok(())
}

/// The tickets a paid order delivered (none for a membership).
pub async fn tickets_of(state: &AppState, row: &PaymentRow) -> sqlx::Result<Vec<Ticket>> {
    match Subject::of_row(row) {
        Subject::Reservation(id) => tickets::for_reservation(state, id).await,
        Subject::Resale(_) => tickets::for_order(state, &row.order_id).await,
        Subject::Membership(_) => Ok(Vec::new()),
    }
}

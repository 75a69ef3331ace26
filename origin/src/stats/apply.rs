//! The stats consumer's handler: one event in, a few counters up, in the transaction
//! that records the event as processed (so each event counts exactly once).
//!
//! Which topic feeds which figure (and why some are ignored):
//! - `reservation.created` → holds, held tickets; `.expired` → expiries;
//!   `.cancelled` → cancellations (a refunded reservation's money is counted from
//!   `payment.refunded`, its cancellation from here: each once).
//! - `payment.confirmed` for a reservation → sales, tickets, revenue. For a membership
//!   or a resale purchase it is ignored: `membership.activated` and `resale.sold` say
//!   the same with the fields those figures need, and counting both would double them.
//! - `payment.refunded` → refunds and money returned (ticket orders), or resale refunds.
//! - `membership.activated` / `.expired`, `resale.listed` / `.sold`, `user.registered`.
//! - `ticket.issued`, `membership.points`, `resale.closed`: nothing to count.

use super::day_of;
use crate::outbox::{Event, Handler, Topic};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The stats consumer's [`Handler`].
pub struct Aggregate;

fn int(payload: &Value, field: &str) -> i64 {
    payload.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn event_of(payload: &Value) -> Option<Uuid> {
    payload
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// `figures` added to one row of `table` keyed by `key_cols = key_vals`.
async fn add(
    conn: &mut PgConnection,
    table: &str,
    key: Key,
    figures: &[(&str, i64)],
) -> sqlx::Result<()> {
    if figures.is_empty() {
        return Ok(());
    }
    // Column names come from this module's constants only, never from input.
    let cols: Vec<&str> = figures.iter().map(|(c, _)| *c).collect();
    let (key_cols, first) = match key {
        Key::EventMinute(..) => ("event_id, minute", 3),
        Key::Day(_) => ("day", 2),
    };
    let placeholders: Vec<String> = (0..cols.len()).map(|i| format!("${}", first + i)).collect();
    let updates: Vec<String> = cols
        .iter()
        .map(|c| format!("{c} = {table}.{c} + EXCLUDED.{c}"))
        .collect();
    let key_placeholders = if first == 3 { "$1, $2" } else { "$1" };
    let sql = format!(
        "INSERT INTO {table} ({key_cols}, {}) VALUES ({key_placeholders}, {}) \
         ON CONFLICT ({key_cols}) DO UPDATE SET {}",
        cols.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    );
    let mut q = sqlx::query(&sql);
    q = match key {
        Key::EventMinute(event, minute) => q.bind(event).bind(minute),
        Key::Day(day) => q.bind(day),
    };
    for (_, v) in figures {
        q = q.bind(*v);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Key {
    EventMinute(Uuid, DateTime<Utc>),
    Day(chrono::NaiveDate),
}

/// Adds to the event's minute (when the event names one) and to the day.
async fn both(
    conn: &mut PgConnection,
    e: &Event,
    event_figures: &[(&str, i64)],
    day_figures: &[(&str, i64)],
) -> sqlx::Result<()> {
    if let Some(event) = event_of(&e.payload) {
        let key = Key::EventMinute(event, minute_of(e.occurred_at));
        add(conn, "stats_event_minutes", key, event_figures).await?;
    }
    add(
        conn,
        "stats_days",
        Key::Day(day_of(e.occurred_at)),
        day_figures,
    )
    .await
}

impl Handler for Aggregate {
    async fn handle(&self, conn: &mut PgConnection, e: &Event) -> anyhow::Result<()> {
        let p = &e.payload;
        let kind = p
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("reservation");
        match e.topic {
            Topic::ReservationCreated => {
                let n = int(p, "ticket_count");
                both(
                    conn,
                    e,
                    &[("holds", 1), ("held_tickets", n)],
                    &[("holds", 1)],
                )
                .await?;
            }
            Topic::ReservationExpired => {
                both(conn, e, &[("expiries", 1)], &[("expiries", 1)]).await?;
            }
            Topic::ReservationCancelled => {
                both(conn, e, &[("cancellations", 1)], &[("cancellations", 1)]).await?;
            }
            Topic::PaymentConfirmed if kind == "reservation" => {
                let (n, amount) = (int(p, "ticket_count"), int(p, "amount"));
                let f = [("sales", 1), ("tickets", n), ("revenue", amount)];
                both(conn, e, &f, &f).await?;
            }
            Topic::PaymentRefunded if kind == "reservation" => {
                let amount = int(p, "amount");
                let voided = int(p, "tickets_voided");
                both(
                    conn,
                    e,
                    &[
                        ("refunds", 1),
                        ("refunded", amount),
                        ("tickets_refunded", voided),
                    ],
                    &[("refunds", 1), ("refunded", amount)],
                )
                .await?;
            }
            Topic::PaymentRefunded if kind == "resale" => {
                let amount = int(p, "amount");
                both(
                    conn,
                    e,
                    &[],
                    &[("resale_refunds", 1), ("resale_refunded", amount)],
                )
                .await?;
            }
            Topic::MembershipActivated => {
                let renewal = p.get("renewal").and_then(Value::as_bool).unwrap_or(false);
                let which = if renewal {
                    "memberships_renewed"
                } else {
                    "memberships_joined"
                };
                let f = [(which, 1), ("membership_revenue", int(p, "amount"))];
                both(conn, e, &[], &f).await?;
            }
            Topic::MembershipExpired => {
                both(conn, e, &[], &[("memberships_expired", 1)]).await?;
            }
            Topic::ResaleListed => {
                both(conn, e, &[("listings", 1)], &[("listings", 1)]).await?;
            }
            Topic::ResaleSold => {
                let price = int(p, "price");
                both(
                    conn,
                    e,
                    &[("resales", 1), ("resale_volume", price)],
                    &[
                        ("resales", 1),
                        ("resale_volume", price),
                        ("resale_fees", int(p, "fee")),
                    ],
                )
                .await?;
            }
            Topic::UserRegistered => {
                both(conn, e, &[], &[("new_users", 1)]).await?;
            }
            Topic::PaymentConfirmed
            | Topic::PaymentRefunded
            | Topic::TicketIssued
            | Topic::MembershipPoints
            | Topic::ResaleClosed => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_truncate_and_fields_default_to_zero() {
        let t: DateTime<Utc> = "2026-12-05T10:11:59.999Z".parse().expect("time");
        assert_eq!(minute_of(t).to_rfc3339(), "2026-12-05T10:11:00+00:00");
        let p = serde_json::json!({"amount": 5000, "event_id": "not-a-uuid"});
        assert_eq!(int(&p, "amount"), 5000);
        assert_eq!(int(&p, "ticket_count"), 0);
        assert_eq!(event_of(&p), None);
    }
}

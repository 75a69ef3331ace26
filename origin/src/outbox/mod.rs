//! The event outbox: state changes announced exactly when they commit.
//!
//! Publishing an event *after* the database write, from code that can fail in between,
//! loses events; replaying them later onto data that has changed since corrupts it. Here an event is a row in `outbox`, inserted by
//! [`enqueue`] **inside the transaction that makes the change** (booking's one-statement
//! reservation inserts it as one more CTE). So an event exists if and only if its change
//! committed; nothing is lost when a process dies between "write" and "publish".
//!
//! - `relay`: a background job publishes unpublished rows to Redis Streams (`XADD`)
//!   and stamps them `published_at`. Batches are claimed with `FOR UPDATE SKIP LOCKED`,
//!   so any number of replicas relay at once without publishing a row twice in the
//!   normal case. A crash between `XADD` and the stamp publishes that batch again:
//!   delivery is **at least once**.
//! - `consumer`: the helper every consumer uses (stats, notifications, edge pushes):
//!   consumer groups, pending-entry recovery after a crash, and idempotency by event id
//!   in `processed_events`, committed together with the consumer's own effect. At least
//!   once delivery + idempotent apply = every event takes effect exactly once.
//!
//! ## Topics and streams
//!
//! One stream per topic, `<prefix>{events}:stream:<topic>` (one hash tag, so a consumer
//! can `XREADGROUP` several topics in one call on Redis Cluster). Each entry carries the
//! fields `id` (event id, UUID v7), `topic`, `aggregate_id`, `occurred_at` (RFC 3339),
//! `seq` (outbox sequence) and `payload` (JSON). Payload shapes are in [`Topic`].
//!
//! Order: entries of a stream are roughly in commit order, not strictly (two
//! transactions commit in a different order than they took their sequence numbers;
//! two relays publish neighbouring batches concurrently). Consumers must not depend on
//! order; each event carries `occurred_at` and `seq` for the few that care.

mod config;
mod consumer;
mod relay;

pub use config::OutboxConfig;
pub use consumer::{Applied, Backlog, Consumer, Event, Handler, PollStats};
pub use relay::relay;

use crate::state::AppState;
use crate::store::Redis;
use crate::workers::Workers;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// What happened. The payload of every topic is a JSON object; the fields below are
/// the contract consumers (stats first) rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Topic {
    /// A hold was taken. `{reservation_id, event_id, user_id, amount, ticket_count,
    /// seat_ids, ticket_types: [{ticket_type_id, quantity}], expires_at}`.
    #[serde(rename = "reservation.created")]
    ReservationCreated,
    /// An unpaid hold lapsed; its inventory is back. `{reservation_id, event_id,
    /// user_id, seat_ids, ticket_types, reason: "hold_expired"}`.
    #[serde(rename = "reservation.expired")]
    ReservationExpired,
    /// A reservation was cancelled; its inventory is back. Same fields, `reason`:
    /// `cancelled_by_user` (unpaid) or `refunded` (paid; `payment.refunded` carries the
    /// money, so count a cancellation once, from this topic).
    #[serde(rename = "reservation.cancelled")]
    ReservationCancelled,
    /// Money taken and tickets issued. `{order_id, reservation_id, event_id, user_id,
    /// amount, payment_key, method, approved_at, ticket_count}`.
    #[serde(rename = "payment.confirmed")]
    PaymentConfirmed,
    /// Money returned for a paid order. `{order_id, reservation_id, event_id, user_id,
    /// refund_id, amount (returned), paid_amount, full, reason, initiated_by}`.
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    /// One ticket issued. `{ticket_id, code, order_id, reservation_id, event_id,
    /// user_id, seat_id, ticket_type_id, label, price}`.
    #[serde(rename = "ticket.issued")]
    TicketIssued,
    /// A membership order was paid: joined or renewed. `{membership_id, order_id,
    /// user_id, artist_id, renewal, amount, expires_at}`.
    #[serde(rename = "membership.activated")]
    MembershipActivated,
    /// A membership ran out. `{membership_id, user_id, artist_id, expired_at}`.
    #[serde(rename = "membership.expired")]
    MembershipExpired,
    /// Points awarded (positive) or clawed back (negative). `{membership_id, user_id,
    /// artist_id, entry_id, reason, source, points, balance, tier}`.
    #[serde(rename = "membership.points")]
    MembershipPoints,
    /// A ticket was put up for resale. `{listing_id, ticket_id, event_id, seller_id,
    /// price, fee}`.
    #[serde(rename = "resale.listed")]
    ResaleListed,
    /// A listing ended unsold. `{listing_id, ticket_id, event_id, seller_id, reason:
    /// withdrawn | expired | refunded}`.
    #[serde(rename = "resale.closed")]
    ResaleClosed,
    /// A listing was bought: the seller's ticket is void, the buyer's issued, the
    /// payout owed. `{listing_id, order_id, event_id, seller_id, buyer_id, old_ticket_id,
    /// new_ticket_id, price, fee, payout_id}`.
    #[serde(rename = "resale.sold")]
    ResaleSold,
    /// An account was created. `{user_id, role, via: password | google}`.
    #[serde(rename = "user.registered")]
    UserRegistered,
}

impl Topic {
    pub const ALL: [Topic; 13] = [
        Topic::ReservationCreated,
        Topic::ReservationExpired,
        Topic::ReservationCancelled,
        Topic::PaymentConfirmed,
        Topic::PaymentRefunded,
        Topic::TicketIssued,
        Topic::MembershipActivated,
        Topic::MembershipExpired,
        Topic::MembershipPoints,
        Topic::ResaleListed,
        Topic::ResaleClosed,
        Topic::ResaleSold,
        Topic::UserRegistered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::ReservationCreated => "reservation.created",
            Topic::ReservationExpired => "reservation.expired",
            Topic::ReservationCancelled => "reservation.cancelled",
            Topic::PaymentConfirmed => "payment.confirmed",
            Topic::PaymentRefunded => "payment.refunded",
            Topic::TicketIssued => "ticket.issued",
            Topic::MembershipActivated => "membership.activated",
            Topic::MembershipExpired => "membership.expired",
            Topic::MembershipPoints => "membership.points",
            Topic::ResaleListed => "resale.listed",
            Topic::ResaleClosed => "resale.closed",
            Topic::ResaleSold => "resale.sold",
            Topic::UserRegistered => "user.registered",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Redis stream of `topic`.
pub fn stream_key(redis: &Redis, topic: Topic) -> String {
    redis.tagged("events", &format!("stream:{}", topic.as_str()))
}

/// One event to write.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub topic: Topic,
    pub aggregate_id: Uuid,
    pub payload: Value,
}

impl NewEvent {
    pub fn new(topic: Topic, aggregate_id: Uuid, payload: impl Serialize) -> NewEvent {
        NewEvent {
            topic,
            aggregate_id,
            payload: serde_json::to_value(payload).unwrap_or(Value::Null),
        }
    }
}

/// Writes one event inside the caller's transaction; returns its event id. The event
/// is published only if that transaction commits.
pub async fn enqueue(
    conn: &mut PgConnection,
    topic: Topic,
    aggregate_id: Uuid,
    payload: impl Serialize,
    now: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    let ids = enqueue_many(conn, &[NewEvent::new(topic, aggregate_id, payload)], now).await?;
    Ok(ids.into_iter().next().unwrap_or_default())
}

/// Writes several events in one statement inside the caller's transaction.
pub async fn enqueue_many(
    conn: &mut PgConnection,
    events: &[NewEvent],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
    let aggregates: Vec<Uuid> = events.iter().map(|e| e.aggregate_id).collect();
    let payloads: Vec<Value> = events.iter().map(|e| e.payload.clone()).collect();
    sqlx::query(
        "INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
         SELECT i, t, a, p, $5
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[]) WITH ORDINALITY AS x(i, t, a, p, n)
         ORDER BY n",
    )
    .bind(&ids)
    .bind(&topics)
    .bind(&aggregates)
    .bind(&payloads)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(ids)
}

/// Registers the relay and the purge of old rows.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every(
        "outbox_relay",
        state.config.outbox.relay_interval,
        move || {
            let s = s.clone();
            async move { relay::relay(&s).await.map(|_| ()) }
        },
    );
    let s = state.clone();
    workers.every(
        "outbox_purge",
        std::time::Duration::from_secs(3600),
        move || {
            let s = s.clone();
            async move { relay::purge(&s).await.map(|_| ()) }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_and_match_serde() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).expect("serialise"),
                Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(Topic::parse("payment.unknown"), None);
    }

    #[tokio::test]
    async fn every_stream_shares_one_hash_tag() {
        let redis = Redis::connect(
            "redis://127.0.0.1:1",
            "t:x:",
            std::time::Duration::from_secs(2),
        )
        .expect("lazy client");
        for t in Topic::ALL {
            let key = stream_key(&redis, t);
            assert_eq!(crate::store::hash_tag(&key), Some("events"), "{key}");
            assert!(key.starts_with("t:x:"), "{key}");
        }
    }
}

//! Creating a reservation: the three gates, cheapest first.
//!
//! A reservation request goes through three gates, cheapest first:
//!
//! 1. **validation** (`request`) against the event (seats of this event, quantities, sale window,
//!    per-user limit) — answered from Postgres reads, changes nothing;
//! 2. **the Redis filter** (`holds`): one script takes every seat or none, or takes
//!    standing stock from a counter. Hopeless requests stop here. If Redis is
//!    unreachable the filter is skipped and Postgres alone decides ("degraded mode":
//!    slower under a stampede, never wrong);
//! 3. **the Postgres transaction**, the authority: a conditional upsert on the user's
//!    ticket count (limit), conditional decrements of standing stock (never below zero),
//!    and inserts of live items under a partial unique index (a seat is in at most one
//!    live item). Any refusal rolls back and undoes exactly what step 2 newly took.

use super::holds::{self, SeatHold, StockItem};
use super::model::*;
use super::writer::{NewReservation, Refusal, WriteError};
use super::{request::*, reservations::*};
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::Duration;
use std::sync::Arc;
use uuid::Uuid;

/// How a create call ended.
pub enum Created {
    /// A new hold (201).
    New(Reservation),
    /// The same `Idempotency-Key` and body again: the original reservation (201).
    Replayed(Reservation),
    /// The caller already holds exactly this: its hold, extended (200).
    Existing(Reservation),
}

/// Creates a pending reservation holding everything asked for, or nothing.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    event_id: Uuid,
    want: Want,
    idempotency_key: Option<String>,
) -> ApiResult<Created> {
    let cfg = &state.config.booking;
    let digest = want.digest();
    // A retry of a request that already succeeded gets its answer again before any
    // stock is looked at: with the last tickets gone since, taking stock first would
    // answer a paid-for retry with "sold out". (The race of two concurrent first
    // attempts is settled by the insert's unique key below.)
    if let Some(key) = &idempotency_key
        && let Some(existing) = find_by_key(state, user.id, key).await?
    {
        return replay(state, existing, &digest).await;
    }
    let (event, lines) = load_request(state, event_id, &want).await?;
    let now = state.clock.now();
    check_sale_window(state, event_id, &event, user, now).await?;
    let limit = i64::from(event.max_tickets_per_user);
    if want.ticket_count() > limit {
        return Err(limit_exceeded(limit, None));
    }

    let reservation_id = Uuid::now_v7();
    let expires_at = now + Duration::seconds(cfg.hold_secs as i64);
    let hold_ttl_ms = (cfg.hold_secs + cfg.hold_margin_secs) * 1000;

    // Gate 2: the Redis filter. `undo` remembers exactly what this call took there.
    let mut undo = Undo::default();
    let mut fence = 0i64;
    match &want {
        Want::Seats(seats) => {
            match holds::hold_seats(
                &state.redis,
                event_id,
                user.id,
                reservation_id,
                seats,
                hold_ttl_ms,
            )
            .await
            {
                Ok(SeatHold::Held { fence: f, fresh }) => {
                    fence = f;
                    undo.seats = fresh
                        .iter()
                        .filter_map(|i| seats.get(*i).copied())
                        .collect();
                    undo.value = holds::hold_value(user.id, reservation_id, f);
                }
                Ok(SeatHold::Conflict(idx)) => {
                    metrics::counter!("booking_rejections_total", "reason" => "redis_seat_taken")
                        .increment(1);
                    let taken: Vec<Uuid> =
                        idx.iter().filter_map(|i| seats.get(*i).copied()).collect();
                    return Err(seat_unavailable(taken));
                }
                Err(e) => degraded(&e),
            }
        }
        Want::Standing(_) => {
            let items: Vec<StockItem> = lines
                .iter()
                .filter_map(|l| {
                    Some(StockItem {
                        ticket_type: l.ticket_type_id?,
                        quantity: l.quantity,
                        available: l.available,
                    })
                })
                .collect();
            match holds::take_stock(&state.redis, event_id, &items).await {
                Ok(None) => {
                    undo.stock = items.iter().map(|i| (i.ticket_type, i.quantity)).collect()
                }
                Ok(Some(i)) => {
                    metrics::counter!("booking_rejections_total", "reason" => "redis_sold_out")
                        .increment(1);
                    return Err(sold_out(items.get(i).map(|it| it.ticket_type)));
                }
                Err(e) => degraded(&e),
            }
        }
    }

    // Gate 3: Postgres decides, in one atomic statement.
    let insert = Arc::new(NewReservation {
        id: reservation_id,
        event_title: event.title.clone(),
        user_id: user.id,
        event_id,
        lines,
        fence,
        expires_at,
        now,
        limit,
        idempotency_key: idempotency_key.clone(),
        digest: digest.clone(),
    });
    let mut swept = false;
    loop {
        let written = state.booking.writer.write(&state.db, Arc::clone(&insert));
        let refusal = match written.await {
            Ok(()) => {
                metrics::counter!("booking_reservations_total", "outcome" => "created")
                    .increment(1);
                return Ok(Created::New(new_reservation(&insert)));
            }
            Err(refusal) => refusal,
        };
        undo.run(state, event_id).await;
        undo = Undo::default();
        return match refusal {
            Refusal::SameKey => {
                // This key was used before (maybe by a concurrent request): replay it.
                let key = idempotency_key.unwrap_or_default();
                let existing = find_by_key(state, user.id, &key).await?.ok_or_else(|| {
                    ApiError::new(
                        Code::IDEMPOTENCY_CONFLICT,
                        "Retry with the same Idempotency-Key",
                    )
                })?;
                replay(state, existing, &digest).await
            }
            Refusal::Duplicate => {
                match extend_identical_hold(state, user.id, event_id, &digest).await? {
                    Some(existing) => Ok(Created::Existing(existing)),
                    // The identical hold has lapsed but is not swept yet: sweep, then retry once.
                    None if !swept => {
                        swept = true;
                        super::sweeper::sweep(state)
                            .await
                            .map_err(ApiError::internal)?;
                        continue;
                    }
                    None => Err(ApiError::new(
                        Code::DUPLICATE_REQUEST,
                        "An identical request is being processed",
                    )),
                }
            }
            Refusal::SeatTaken => {
                let Want::Seats(seats) = &want else {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "seat refusal for standing request"
                    )));
                };
                let taken = live_seats_of(state, event_id, seats).await?;
                metrics::counter!("booking_rejections_total", "reason" => "pg_seat_taken")
                    .increment(1);
                Err(seat_unavailable(taken))
            }
            Refusal::SoldOut => {
                metrics::counter!("booking_rejections_total", "reason" => "pg_sold_out")
                    .increment(1);
                let short = first_short_type(state, &insert.lines).await?;
                Err(sold_out(short))
            }
            Refusal::Limit => {
                let held: Option<i64> = sqlx::query_scalar(
                    "SELECT tickets::bigint FROM user_event_tickets WHERE user_id = $1 AND event_id = $2",
                )
                .bind(user.id)
                .bind(event_id)
                .fetch_optional(&state.db)
                .await?;
                Err(limit_exceeded(limit, held))
            }
            Refusal::Contention => Err(ApiError::new(
                Code::BUSY,
                "Too much contention right now; retry",
            )
            .with_retry_after(1)),
            Refusal::Failed(WriteError::Database(e)) => Err(e.into()),
            Refusal::Failed(e @ WriteError::Writer(_)) => Err(ApiError::internal(e)),
        };
    }
}

pub(super) fn degraded(e: &redis::RedisError) {
    metrics::counter!("booking_redis_bypass_total").increment(1);
    tracing::warn!(error = %e, "redis filter unavailable; Postgres alone decides this booking");
}

/// What a failed call must give back to Redis: only what it newly took.
#[derive(Default)]
pub(super) struct Undo {
    seats: Vec<Uuid>,
    value: String,
    stock: Vec<(Uuid, i64)>,
}

impl Undo {
    async fn run(&self, state: &AppState, event: Uuid) {
        if let Err(e) = holds::release_seats(&state.redis, event, &self.seats, &self.value).await {
            tracing::warn!(error = %e, "could not release seat holds; they lapse with their TTL");
        }
        if let Err(e) = holds::give_stock(&state.redis, event, &self.stock).await {
            tracing::warn!(error = %e, "could not return gate stock; the sweeper resyncs it");
        }
    }
}

/// The reservation just inserted, built from what was written (no read-back).
pub(super) fn new_reservation(r: &NewReservation) -> Reservation {
    let items: Vec<ReservationItem> = r
        .lines
        .iter()
        .map(|l| ReservationItem {
            kind: if l.seat_id.is_some() {
                ItemKind::Seat
            } else {
                ItemKind::Standing
            },
            seat_id: l.seat_id,
            ticket_type_id: l.ticket_type_id,
            label: l.label.clone(),
            quantity: l.quantity as i32,
            unit_price: l.unit_price,
            subtotal: l.unit_price * l.quantity,
        })
        .collect();
    let amount = items.iter().map(|i| i.subtotal).sum();
    let ticket_count = items.iter().map(|i| i.quantity).sum();
    Reservation {
        order: Order::for_reservation(
            r.id,
            ReservationStatus::Pending,
            &r.event_title,
            ticket_count,
            amount,
        ),
        id: r.id,
        event_id: r.event_id,
        event_title: r.event_title.to_owned(),
        user_id: r.user_id,
        status: ReservationStatus::Pending,
        amount,
        ticket_count,
        items,
        expires_at: r.expires_at,
        created_at: r.now,
        confirmed_at: None,
        closed_at: None,
        close_reason: None,
    }
}

/// After a SOLD_OUT refusal: the first requested type that has too little left.
pub(super) async fn first_short_type(state: &AppState, lines: &[Line]) -> ApiResult<Option<Uuid>> {
    for l in lines {
        if let Some(tt) = l.ticket_type_id {
            let left: i32 =
                sqlx::query_scalar("SELECT available_quantity FROM ticket_types WHERE id = $1")
                    .bind(tt)
                    .fetch_one(&state.db)
                    .await?;
            if i64::from(left) < l.quantity {
                return Ok(Some(tt));
            }
        }
    }
    Ok(None)
}

/// Seats among `seats` that are in a live reservation item right now.
pub(super) async fn live_seats_of(
    state: &AppState,
    event: Uuid,
    seats: &[Uuid],
) -> ApiResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT seat_id FROM reservation_items
         WHERE event_id = $1 AND live AND seat_id = ANY($2) ORDER BY seat_id",
    )
    .bind(event)
    .bind(seats)
    .fetch_all(&state.db)
    .await?)
}

pub(super) fn seat_unavailable(seats: Vec<Uuid>) -> ApiError {
    ApiError::new(
        Code::SEAT_UNAVAILABLE,
        "Some seats are already held or sold; nothing was held",
    )
    .with("seats", seats)
}

pub(super) fn sold_out(ticket_type: Option<Uuid>) -> ApiError {
    ApiError::new(Code::SOLD_OUT, "Not enough tickets left; nothing was held")
        .with("ticket_type_id", ticket_type)
}

pub(super) fn limit_exceeded(limit: i64, held: Option<i64>) -> ApiError {
    ApiError::new(
        Code::TICKET_LIMIT_EXCEEDED,
        format!("At most {limit} tickets per person for this event"),
    )
    .with("limit", limit)
    .with("held", held)
}

pub(super) async fn find_by_key(
    state: &AppState,
    user: Uuid,
    key: &str,
) -> ApiResult<Option<ReservationRow>> {
    Ok(sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user)
    .bind(key)
    .fetch_optional(&state.db)
    .await?)
}

pub(super) async fn replay(
    state: &AppState,
    row: ReservationRow,
    digest: &[u8],
) -> ApiResult<Created> {
    if row.request_hash != digest {
        return Err(ApiError::new(
            Code::IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was used for a different request",
        ));
    }
    metrics::counter!("booking_reservations_total", "outcome" => "replayed").increment(1);
    Ok(Created::Replayed(hydrate(state, row).await?))
}

/// If the user has a live pending reservation for exactly this request, pushes its
/// deadline out (capped, so nobody can hold seats forever) and returns it.
pub(super) async fn extend_identical_hold(
    state: &AppState,
    user: Uuid,
    event: Uuid,
    digest: &[u8],
) -> ApiResult<Option<Reservation>> {
    let cfg = &state.config.booking;
    let now = state.clock.now();
    let row = sqlx::query_as::<_, ReservationRow>(&format!(
        "UPDATE reservations
         SET expires_at = LEAST(GREATEST(expires_at, $4), created_at + make_interval(secs => $5)),
             updated_at = $3, version = version + 1
         WHERE id = (SELECT id FROM reservations
                     WHERE user_id = $1 AND event_id = $2 AND status = 'pending'
                       AND request_hash = $6 AND expires_at > $3
                     ORDER BY created_at DESC LIMIT 1)
           AND status = 'pending'
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(user)
    .bind(event)
    .bind(now)
    .bind(now + Duration::seconds(cfg.hold_secs as i64))
    .bind(cfg.max_hold_secs as f64)
    .bind(digest)
    .fetch_optional(&state.db)
    .await?;
    match row {
        Some(r) => {
            metrics::counter!("booking_reservations_total", "outcome" => "extended").increment(1);
            Ok(Some(hydrate(state, r).await?))
        }
        None => Ok(None),
    }
}

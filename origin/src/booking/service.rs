//! Creating, reading and cancelling reservations.
//!
//! A reservation request goes through three gates, cheapest first:
//!
//! 1. **validation** against the event (seats of this event, quantities, sale window,
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
use super::writer::{NewReservation, Refusal};
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// What an event must satisfy to be booked; read from the catalog's tables.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookableEvent {
    pub id: Uuid,
    pub title: String,
    pub seat_layout_id: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub max_tickets_per_user: i32,
}

pub async fn load_event(db: &sqlx::PgPool, event_id: Uuid) -> ApiResult<BookableEvent> {
    sqlx::query_as::<_, BookableEvent>(
        "SELECT id, title, seat_layout_id, starts_at, sale_opens_at, sale_closes_at,
                cancelled_at, max_tickets_per_user
         FROM events WHERE id = $1",
    )
    .bind(event_id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| ApiError::not_found("EVENT_NOT_FOUND", "No such event"))
}

/// The sale-window rule: reservations only while the event is on sale.
///
/// Presale hook: memberships will open earlier windows per tier here (diamond at the
/// sale opening minus N hours, ...). The signature already carries the user for that.
pub fn check_sale_window(
    event: &BookableEvent,
    _user: &AuthUser,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if event.cancelled_at.is_some() {
        return Err(ApiError::conflict(
            "EVENT_CANCELLED",
            "This event has been cancelled",
        ));
    }
    if now < event.sale_opens_at {
        return Err(
            ApiError::conflict("SALE_NOT_OPEN", "The sale has not opened yet")
                .with("sale_opens_at", event.sale_opens_at),
        );
    }
    if now >= event.sale_closes_at || now >= event.starts_at {
        return Err(ApiError::conflict("SALE_CLOSED", "The sale has closed")
            .with("sale_closes_at", event.sale_closes_at));
    }
    Ok(())
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Seat ids, sorted (a consistent order keeps concurrent inserts deadlock-free).
    Seats(Vec<Uuid>),
    /// `(ticket type, quantity)`, sorted by ticket type.
    Standing(Vec<(Uuid, i64)>),
}

/// Most items one request may carry; far above any per-user limit.
const MAX_REQUEST_ITEMS: usize = 50;

impl Want {
    /// Checks the shape of a request; errors are 422 naming the field.
    pub fn from_request(req: CreateReservation) -> ApiResult<Want> {
        match (req.seat_ids, req.items) {
            (Some(_), Some(_)) => Err(ApiError::validation(
                "seat_ids",
                "send either `seat_ids` or `items`, not both",
            )
            .and_field("items", "send either `seat_ids` or `items`, not both")),
            (None, None) => Err(ApiError::validation(
                "seat_ids",
                "send `seat_ids` (seated) or `items` (standing)",
            )),
            (Some(seats), None) => {
                if seats.is_empty() {
                    return Err(ApiError::validation("seat_ids", "pick at least one seat"));
                }
                if seats.len() > MAX_REQUEST_ITEMS {
                    return Err(ApiError::validation(
                        "seat_ids",
                        format!("at most {MAX_REQUEST_ITEMS} seats per request"),
                    ));
                }
                let unique: HashSet<_> = seats.iter().collect();
                if unique.len() != seats.len() {
                    return Err(ApiError::validation("seat_ids", "a seat is listed twice"));
                }
                let mut seats = seats;
                seats.sort();
                Ok(Want::Seats(seats))
            }
            (None, Some(items)) => {
                if items.is_empty() {
                    return Err(ApiError::validation("items", "add at least one item"));
                }
                if items.len() > MAX_REQUEST_ITEMS {
                    return Err(ApiError::validation(
                        "items",
                        format!("at most {MAX_REQUEST_ITEMS} items per request"),
                    ));
                }
                let mut merged: BTreeMap<Uuid, i64> = BTreeMap::new();
                for (i, it) in items.iter().enumerate() {
                    if !(1..=1000).contains(&it.quantity) {
                        return Err(ApiError::validation(
                            format!("items[{i}].quantity"),
                            "quantity must be between 1 and the per-user limit",
                        ));
                    }
                    if merged.insert(it.ticket_type_id, it.quantity).is_some() {
                        return Err(ApiError::validation(
                            format!("items[{i}].ticket_type_id"),
                            "a ticket type is listed twice",
                        ));
                    }
                }
                Ok(Want::Standing(merged.into_iter().collect()))
            }
        }
    }

    pub fn ticket_count(&self) -> i64 {
        match self {
            Want::Seats(s) => s.len() as i64,
            Want::Standing(items) => items.iter().map(|(_, q)| q).sum(),
        }
    }

    /// A canonical digest: the same request (in any order) has the same hash, so an
    /// idempotent replay can be told apart from a different request under the same key.
    pub fn digest(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        match self {
            Want::Seats(seats) => {
                h.update(b"seats");
                for s in seats {
                    h.update(s.as_bytes());
                }
            }
            Want::Standing(items) => {
                h.update(b"items");
                for (t, q) in items {
                    h.update(t.as_bytes());
                    h.update(q.to_be_bytes());
                }
            }
        }
        h.finalize().to_vec()
    }
}

/// One priced line of a request.
#[derive(Debug, Clone)]
pub struct Line {
    pub(super) seat_id: Option<Uuid>,
    pub(super) ticket_type_id: Option<Uuid>,
    pub(super) label: String,
    pub(super) quantity: i64,
    pub(super) unit_price: i64,
    /// Standing only: Postgres' available quantity when read.
    pub(super) available: i64,
}

/// Seat requests: the event and seat prices from the in-memory cache (`cache`).
async fn price_seats(
    state: &AppState,
    event_id: Uuid,
    seats: &[Uuid],
) -> ApiResult<(BookableEvent, Vec<Line>)> {
    use super::cache::SeatLookup;
    let ttl = state.config.booking.event_cache_ttl;
    let (event, map) = state.booking.events.get(&state.db, event_id, ttl).await?;
    if event.seat_layout_id.is_none() {
        return Err(ApiError::validation(
            "seat_ids",
            "this event has no seat map; book standing `items` instead",
        ));
    }
    let mut lines = Vec::with_capacity(seats.len());
    let mut unknown = Vec::new();
    for id in seats {
        match map.seat(id) {
            Some(info) => lines.push(Line {
                seat_id: Some(*id),
                ticket_type_id: None,
                label: info.label.clone(),
                quantity: 1,
                unit_price: info.price,
                available: 0,
            }),
            None => unknown.push(*id),
        }
    }
    if !unknown.is_empty() {
        return Err(
            ApiError::validation("seat_ids", "some seats do not belong to this event")
                .with("unknown_seats", unknown),
        );
    }
    Ok((event, lines))
}

/// Loads the event and prices every line in one query, checking each line belongs to
/// the event. Errors: 404 for an unknown event, 422 naming unknown seats/types.
async fn load_request(
    state: &AppState,
    event_id: Uuid,
    want: &Want,
) -> ApiResult<(BookableEvent, Vec<Line>)> {
    let (ids, seated): (Vec<Uuid>, bool) = match want {
        Want::Seats(seats) => return price_seats(state, event_id, seats).await,
        Want::Standing(items) => (items.iter().map(|(t, _)| *t).collect(), false),
    };
    let db = &state.db;
    let sql = if seated {
        "SELECT e.id, e.title, e.seat_layout_id, e.starts_at, e.sale_opens_at, e.sale_closes_at,
                e.cancelled_at, e.max_tickets_per_user,
                s.id AS line_id, s.label AS line_label, s.price::bigint AS line_price, 0::bigint AS line_available
         FROM events e LEFT JOIN seats s ON s.event_id = e.id AND s.id = ANY($2)
         WHERE e.id = $1 ORDER BY s.id"
    } else {
        "SELECT e.id, e.title, e.seat_layout_id, e.starts_at, e.sale_opens_at, e.sale_closes_at,
                e.cancelled_at, e.max_tickets_per_user,
                t.id AS line_id, t.name AS line_label, t.price::bigint AS line_price,
                t.available_quantity::bigint AS line_available
         FROM events e LEFT JOIN ticket_types t ON t.event_id = e.id AND t.id = ANY($2)
         WHERE e.id = $1 ORDER BY t.id"
    };
    let rows = sqlx::query(sql)
        .bind(event_id)
        .bind(&ids)
        .fetch_all(db)
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| ApiError::not_found("EVENT_NOT_FOUND", "No such event"))?;
    let event = BookableEvent {
        id: first.get("id"),
        title: first.get("title"),
        seat_layout_id: first.get("seat_layout_id"),
        starts_at: first.get("starts_at"),
        sale_opens_at: first.get("sale_opens_at"),
        sale_closes_at: first.get("sale_closes_at"),
        cancelled_at: first.get("cancelled_at"),
        max_tickets_per_user: first.get("max_tickets_per_user"),
    };
    if seated && event.seat_layout_id.is_none() {
        return Err(ApiError::validation(
            "seat_ids",
            "this event has no seat map; book standing `items` instead",
        ));
    }
    let found: Vec<(Uuid, String, i64, i64)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get::<Option<Uuid>, _>("line_id")?,
                r.get("line_label"),
                r.get("line_price"),
                r.get("line_available"),
            ))
        })
        .collect();
    if found.len() != ids.len() {
        let known: HashSet<Uuid> = found.iter().map(|f| f.0).collect();
        let unknown: Vec<Uuid> = ids.iter().filter(|s| !known.contains(s)).copied().collect();
        return Err(if seated {
            ApiError::validation("seat_ids", "some seats do not belong to this event")
                .with("unknown_seats", unknown)
        } else {
            ApiError::validation("items", "some ticket types do not belong to this event")
                .with("unknown_ticket_types", unknown)
        });
    }
    let lines = match want {
        Want::Seats(_) => found
            .into_iter()
            .map(|(id, label, price, _)| Line {
                seat_id: Some(id),
                ticket_type_id: None,
                label,
                quantity: 1,
                unit_price: price,
                available: 0,
            })
            .collect(),
        // Both lists are sorted by ticket type id, so they zip.
        Want::Standing(items) => found
            .into_iter()
            .zip(items)
            .map(|((id, label, price, available), (_, q))| Line {
                seat_id: None,
                ticket_type_id: Some(id),
                label,
                quantity: *q,
                unit_price: price,
                available,
            })
            .collect(),
    };
    Ok((event, lines))
}

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
    let (event, lines) = load_request(state, event_id, &want).await?;
    let now = state.clock.now();
    check_sale_window(&event, user, now)?;
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
                    ApiError::conflict(
                        "IDEMPOTENCY_CONFLICT",
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
                    None => Err(ApiError::conflict(
                        "DUPLICATE_REQUEST",
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
            Refusal::Error(e) => Err(e),
        };
    }
}

fn degraded(e: &redis::RedisError) {
    metrics::counter!("booking_redis_bypass_total").increment(1);
    tracing::warn!(error = %e, "redis filter unavailable; Postgres alone decides this booking");
}

/// What a failed call must give back to Redis: only what it newly took.
#[derive(Default)]
struct Undo {
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
fn new_reservation(r: &NewReservation) -> Reservation {
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
async fn first_short_type(state: &AppState, lines: &[Line]) -> ApiResult<Option<Uuid>> {
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
async fn live_seats_of(state: &AppState, event: Uuid, seats: &[Uuid]) -> ApiResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT seat_id FROM reservation_items
         WHERE event_id = $1 AND live AND seat_id = ANY($2) ORDER BY seat_id",
    )
    .bind(event)
    .bind(seats)
    .fetch_all(&state.db)
    .await?)
}

fn seat_unavailable(seats: Vec<Uuid>) -> ApiError {
    ApiError::conflict(
        "SEAT_UNAVAILABLE",
        "Some seats are already held or sold; nothing was held",
    )
    .with("seats", seats)
}

fn sold_out(ticket_type: Option<Uuid>) -> ApiError {
    ApiError::conflict("SOLD_OUT", "Not enough tickets left; nothing was held")
        .with("ticket_type_id", ticket_type)
}

fn limit_exceeded(limit: i64, held: Option<i64>) -> ApiError {
    ApiError::conflict(
        "TICKET_LIMIT_EXCEEDED",
        format!("At most {limit} tickets per person for this event"),
    )
    .with("limit", limit)
    .with("held", held)
}

#[derive(sqlx::FromRow)]
struct ReservationRow {
    id: Uuid,
    event_id: Uuid,
    event_title: String,
    user_id: Uuid,
    status: String,
    amount: i64,
    ticket_count: i32,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    close_reason: Option<String>,
    request_hash: Vec<u8>,
}

const RESERVATION_COLUMNS: &str = "id, event_id, user_id, status, amount, ticket_count, expires_at,
     created_at, confirmed_at, closed_at, close_reason, request_hash,
     (SELECT title FROM events e WHERE e.id = reservations.event_id) AS event_title";

async fn find_by_key(state: &AppState, user: Uuid, key: &str) -> ApiResult<Option<ReservationRow>> {
    Ok(sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user)
    .bind(key)
    .fetch_optional(&state.db)
    .await?)
}

async fn replay(state: &AppState, row: ReservationRow, digest: &[u8]) -> ApiResult<Created> {
    if row.request_hash != digest {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was used for a different request",
        ));
    }
    metrics::counter!("booking_reservations_total", "outcome" => "replayed").increment(1);
    Ok(Created::Replayed(hydrate(state, row).await?))
}

/// If the user has a live pending reservation for exactly this request, pushes its
/// deadline out (capped, so nobody can hold seats forever) and returns it.
async fn extend_identical_hold(
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

async fn hydrate(state: &AppState, row: ReservationRow) -> ApiResult<Reservation> {
    let items = items_of(&state.db, &[row.id]).await?;
    Ok(to_reservation(
        row,
        items.into_values().next().unwrap_or_default(),
    ))
}

fn to_reservation(row: ReservationRow, items: Vec<ReservationItem>) -> Reservation {
    let status = ReservationStatus::parse(&row.status).unwrap_or(ReservationStatus::Pending);
    Reservation {
        order: Order::for_reservation(
            row.id,
            status,
            &row.event_title,
            row.ticket_count,
            row.amount,
        ),
        id: row.id,
        event_id: row.event_id,
        event_title: row.event_title,
        user_id: row.user_id,
        status,
        items,
        amount: row.amount,
        ticket_count: row.ticket_count,
        expires_at: row.expires_at,
        created_at: row.created_at,
        confirmed_at: row.confirmed_at,
        closed_at: row.closed_at,
        close_reason: row.close_reason,
    }
}

async fn items_of(
    db: &sqlx::PgPool,
    ids: &[Uuid],
) -> ApiResult<BTreeMap<Uuid, Vec<ReservationItem>>> {
    let rows = sqlx::query(
        "SELECT reservation_id, seat_id, ticket_type_id, label, quantity, unit_price
         FROM reservation_items WHERE reservation_id = ANY($1) ORDER BY label, id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut map: BTreeMap<Uuid, Vec<ReservationItem>> = BTreeMap::new();
    for r in rows {
        let seat_id: Option<Uuid> = r.get("seat_id");
        let quantity: i32 = r.get("quantity");
        let unit_price: i64 = r.get("unit_price");
        map.entry(r.get("reservation_id"))
            .or_default()
            .push(ReservationItem {
                kind: if seat_id.is_some() {
                    ItemKind::Seat
                } else {
                    ItemKind::Standing
                },
                seat_id,
                ticket_type_id: r.get("ticket_type_id"),
                label: r.get("label"),
                quantity,
                unit_price,
                subtotal: unit_price * i64::from(quantity),
            });
    }
    Ok(map)
}

/// A reservation by id, whoever owns it.
pub async fn fetch(state: &AppState, id: Uuid) -> ApiResult<Option<Reservation>> {
    let row = sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    match row {
        Some(r) => Ok(Some(hydrate(state, r).await?)),
        None => Ok(None),
    }
}

/// The caller's reservation, or 404 (also for other users' ids: existence is private).
pub async fn fetch_for(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Reservation> {
    match fetch(state, id).await? {
        Some(r) if r.user_id == user.id || user.is_admin() => Ok(r),
        _ => Err(ApiError::not_found(
            "RESERVATION_NOT_FOUND",
            "No such reservation",
        )),
    }
}

/// The caller's reservations, newest first, keyset-paginated.
pub async fn list_for(
    state: &AppState,
    user: Uuid,
    limit: i64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> ApiResult<(Vec<Reservation>, Option<(DateTime<Utc>, Uuid)>)> {
    let (at, id) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    let rows = sqlx::query_as::<_, ReservationRow>(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations
         WHERE user_id = $1 AND (created_at, id) < ($2, $3)
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(user)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<ReservationRow> = rows.into_iter().take(limit as usize).collect();
    let next = if more {
        rows.last().map(|r| (r.created_at, r.id))
    } else {
        None
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items = items_of(&state.db, &ids).await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let its = items.remove(&r.id).unwrap_or_default();
            to_reservation(r, its)
        })
        .collect();
    Ok((out, next))
}

/// A reservation that just left the live states, with what it must give back.
#[derive(Debug, Clone)]
pub struct Closed {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub fence: i64,
    pub seats: Vec<Uuid>,
    pub stock: Vec<(Uuid, i64)>,
}

/// Inside a transaction that has just moved reservations `ids` out of a live state:
/// clears their items' `live` flag, returns standing stock and the users' ticket counts.
/// Runs exactly once per reservation because the caller's status change is conditional.
pub async fn release_inventory(
    conn: &mut PgConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Closed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "WITH freed AS (
             UPDATE reservation_items SET live = false
             WHERE reservation_id = ANY($1) AND live
             RETURNING reservation_id, seat_id, ticket_type_id, quantity
         )
         SELECT f.reservation_id, f.seat_id, f.ticket_type_id, f.quantity, r.user_id, r.event_id, r.fence
         FROM freed f JOIN reservations r ON r.id = f.reservation_id
         ORDER BY f.ticket_type_id NULLS LAST, f.seat_id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;

    let mut closed: BTreeMap<Uuid, Closed> = BTreeMap::new();
    let mut stock: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut per_user: BTreeMap<(Uuid, Uuid), i64> = BTreeMap::new();
    for r in &rows {
        let rid: Uuid = r.get("reservation_id");
        let c = closed.entry(rid).or_insert_with(|| Closed {
            id: rid,
            user_id: r.get("user_id"),
            event_id: r.get("event_id"),
            fence: r.get("fence"),
            seats: Vec::new(),
            stock: Vec::new(),
        });
        let q = i64::from(r.get::<i32, _>("quantity"));
        *per_user.entry((c.user_id, c.event_id)).or_default() += q;
        if let Some(seat) = r.get::<Option<Uuid>, _>("seat_id") {
            c.seats.push(seat);
        }
        if let Some(tt) = r.get::<Option<Uuid>, _>("ticket_type_id") {
            c.stock.push((tt, q));
            *stock.entry(tt).or_default() += q;
        }
    }

    // Ticket types in id order: the same lock order as bookings, so no deadlocks.
    for (tt, q) in &stock {
        sqlx::query(
            "UPDATE ticket_types
             SET available_quantity = available_quantity + $2, version = version + 1, updated_at = $3
             WHERE id = $1",
        )
        .bind(tt)
        .bind(*q as i32)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    for ((user, event), q) in &per_user {
        sqlx::query(
            "UPDATE user_event_tickets SET tickets = GREATEST(tickets - $3, 0)
             WHERE user_id = $1 AND event_id = $2",
        )
        .bind(user)
        .bind(event)
        .bind(*q as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(closed.into_values().collect())
}

/// After the commit that closed them: frees the Redis holds (compare-and-delete) and
/// returns gate stock. Best effort; Redis is only a filter.
pub async fn release_redis(state: &AppState, closed: &[Closed]) {
    for c in closed {
        let value = holds::hold_value(c.user_id, c.id, c.fence);
        if let Err(e) = holds::release_seats(&state.redis, c.event_id, &c.seats, &value).await {
            tracing::warn!(error = %e, reservation = %c.id, "could not free seat holds; they lapse with their TTL");
        }
        if let Err(e) = holds::give_stock(&state.redis, c.event_id, &c.stock).await {
            tracing::warn!(error = %e, reservation = %c.id, "could not return gate stock; the sweeper resyncs it");
        }
    }
}

/// Cancels the caller's pending reservation; inventory returns at once. Refused while
/// its payment is being confirmed at Toss (the money may already be taken).
pub async fn cancel_pending(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<Reservation> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let moved: Option<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'cancelled', closed_at = $3, close_reason = 'cancelled_by_user',
             updated_at = $3, version = version + 1
         WHERE id = $1 AND (user_id = $2 OR $4) AND status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM payments p
                           WHERE p.reservation_id = reservations.id AND p.status = 'confirming')
         RETURNING id",
    )
    .bind(id)
    .bind(user.id)
    .bind(now)
    .bind(user.is_admin())
    .fetch_optional(&mut *tx)
    .await?;
    if moved.is_none() {
        drop(tx);
        let current = fetch_for(state, user, id).await?;
        if current.status == ReservationStatus::Pending {
            return Err(ApiError::conflict(
                "PAYMENT_IN_PROGRESS",
                "This reservation's payment is being confirmed; it cannot be cancelled now",
            ));
        }
        return Err(ApiError::conflict(
            "RESERVATION_NOT_PENDING",
            "Only a pending reservation can be cancelled this way",
        )
        .with("reservation_status", current.status));
    }
    let closed = release_inventory(&mut tx, &[id], now).await?;
    enqueue_closed(
        &mut tx,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "cancelled_by_user",
        now,
    )
    .await?;
    tx.commit().await?;
    release_redis(state, &closed).await;
    metrics::counter!("booking_closed_total", "reason" => "cancelled_by_user").increment(1);
    fetch_for(state, user, id).await
}

/// Inside the transaction that cancels `event` (its row locked, `cancelled_at` set):
/// every pending hold of it is cancelled and its inventory returned, with a
/// `reservation.cancelled` event (reason `event_cancelled`). A hold whose payment is
/// being confirmed at Toss is left to that confirmation, which now refuses (see
/// [`confirm_held`]) and returns the money. Call [`release_redis`] after the commit.
pub async fn cancel_event_holds(
    conn: &mut PgConnection,
    event: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Closed>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'cancelled', closed_at = $2, close_reason = 'event_cancelled',
             updated_at = $2, version = version + 1
         WHERE event_id = $1 AND status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM payments p
                           WHERE p.reservation_id = reservations.id AND p.status = 'confirming')
         RETURNING id",
    )
    .bind(event)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let closed = release_inventory(conn, &ids, now).await?;
    enqueue_closed(
        conn,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "event_cancelled",
        now,
    )
    .await?;
    Ok(closed)
}

/// Inside the transaction that closed them: one outbox event per closed reservation
/// (`reservation.expired` or `reservation.cancelled`) naming what went back.
pub async fn enqueue_closed(
    conn: &mut PgConnection,
    topic: crate::outbox::Topic,
    closed: &[Closed],
    reason: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let events: Vec<crate::outbox::NewEvent> = closed
        .iter()
        .map(|c| {
            crate::outbox::NewEvent::new(
                topic,
                c.id,
                serde_json::json!({
                    "reservation_id": c.id,
                    "event_id": c.event_id,
                    "user_id": c.user_id,
                    "seat_ids": c.seats,
                    "ticket_types": c.stock.iter().map(|(t, q)| serde_json::json!({
                        "ticket_type_id": t,
                        "quantity": q,
                    })).collect::<Vec<_>>(),
                    "reason": reason,
                }),
            )
        })
        .collect();
    crate::outbox::enqueue_many(conn, &events, now).await?;
    Ok(())
}

/// Payments, first statement of a transaction that will change both a reservation and
/// its payment row: locks the reservation row and returns its status. Every
/// transaction touching both locks the reservation first, then the payment, so two of
/// them can never wait on each other.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<ReservationStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(status.as_deref().and_then(ReservationStatus::parse))
}

/// A pending reservation that a payment is about to be confirmed for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayableHold {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub amount: i64,
    pub expires_at: DateTime<Utc>,
}

/// Payments, inside the transaction that marks an order `confirming`: succeeds only if
/// the reservation is still pending **and its hold is valid at `now`**, and pushes the
/// deadline out to at least `now + grace` (never past the booking's absolute cap plus
/// `grace`), so the hold visibly outlives the call to Toss. The row lock taken here
/// serialises concurrent claims of one order. `None`: not payable (expired, cancelled,
/// confirmed).
pub async fn hold_for_payment(
    conn: &mut PgConnection,
    state: &AppState,
    id: Uuid,
    now: DateTime<Utc>,
    grace: Duration,
) -> sqlx::Result<Option<PayableHold>> {
    sqlx::query_as::<_, PayableHold>(
        "UPDATE reservations
         SET expires_at = GREATEST(expires_at,
                 LEAST($2 + make_interval(secs => $3), created_at + make_interval(secs => $4))),
             updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'pending' AND expires_at > $2
           AND NOT EXISTS (SELECT 1 FROM events e
                           WHERE e.id = reservations.event_id AND e.cancelled_at IS NOT NULL)
         RETURNING id, user_id, event_id, amount, expires_at",
    )
    .bind(id)
    .bind(now)
    .bind(grace.num_seconds() as f64)
    .bind((state.config.booking.max_hold_secs as i64 + grace.num_seconds()) as f64)
    .fetch_optional(&mut *conn)
    .await
}

/// Payments, inside the transaction that marks an order paid: `pending → confirmed`,
/// only if still pending and its hold was valid at `valid_at` (the moment the payment
/// was claimed; the sweeper never expires a reservation whose payment is in flight,
/// so a still-pending reservation still owns its seats) and its event is not
/// cancelled. `false`: the reservation is gone and the money must go back.
pub async fn confirm_held(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
    valid_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // The event must not be cancelled. FOR SHARE waits for a cancellation in progress
    // (it updates the event row first) and, once taken, makes a cancellation wait for
    // this commit, after which it finds the order paid and refunds it. Either way the
    // order is refunded: here (refused, the money goes back) or by the cancellation.
    let cancelled: Option<bool> = sqlx::query_scalar(
        "SELECT e.cancelled_at IS NOT NULL FROM events e
         JOIN reservations r ON r.event_id = e.id
         WHERE r.id = $1
         FOR SHARE OF e",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if cancelled != Some(false) {
        return Ok(false);
    }
    let moved = sqlx::query(
        "UPDATE reservations
         SET status = 'confirmed', confirmed_at = $2, updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'pending' AND expires_at > $3",
    )
    .bind(id)
    .bind(now)
    .bind(valid_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Payments, inside the refund transaction, **after** Toss returned the money:
/// `confirmed → refunded`, inventory back (seats and standing stock), the
/// `reservation.cancelled` event (reason `refunded`). `None` if it was not confirmed
/// (already refunded). Call [`release_redis`] after the commit.
pub async fn refund_confirmed(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Vec<Closed>>> {
    let moved: Option<Uuid> = sqlx::query_scalar(
        "UPDATE reservations
         SET status = 'refunded', closed_at = $2, close_reason = 'refunded',
             updated_at = $2, version = version + 1
         WHERE id = $1 AND status = 'confirmed'
         RETURNING id",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if moved.is_none() {
        return Ok(None);
    }
    let closed = release_inventory(conn, &[id], now).await?;
    enqueue_closed(
        conn,
        crate::outbox::Topic::ReservationCancelled,
        &closed,
        "refunded",
        now,
    )
    .await?;
    Ok(Some(closed))
}

/// Whether `event_id` has sold anything at `now`: a confirmed (paid) reservation, or a
/// live hold (pending and unexpired; a hold whose payment is in flight counts, its
/// claim extends it). Catalog asks this inside the transaction that locks the event row
/// FOR UPDATE: a hold being written holds the row's KEY SHARE lock, and a payment being
/// finalised holds FOR SHARE, so both either commit before the answer or wait for it.
pub async fn has_sales(
    conn: &mut PgConnection,
    event_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reservations
                        WHERE event_id = $1
                          AND (status = 'confirmed' OR (status = 'pending' AND expires_at > $2)))",
    )
    .bind(event_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

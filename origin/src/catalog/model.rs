//! The catalog's service API for other modules: event status, event / seat / ticket-type
//! lookups, stock counters, and the "may this user manage this event" check.
//!
//! Everything here takes any executor (`&PgPool`, `&mut PgConnection`, a transaction),
//! so booking can run these reads inside its own transaction, and takes time as a
//! parameter (from `state.clock`), never from Postgres' `now()`.

use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared_wasm::token::Role;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an event is in its life. Derived from the clock on every read, never stored, so
/// it cannot go stale (a status column updated by a periodic job leaves an event
/// "upcoming" for up to a job interval after its sale opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The sale has not opened yet.
    Upcoming,
    /// Tickets can be bought now.
    OnSale,
    /// The sale has closed, or the show has started.
    Ended,
    /// Cancelled by its promoter or an admin (wins over everything else).
    Cancelled,
}

impl EventStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventStatus::Upcoming => "upcoming",
            EventStatus::OnSale => "on_sale",
            EventStatus::Ended => "ended",
            EventStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EventStatus> {
        match s {
            "upcoming" => Some(EventStatus::Upcoming),
            "on_sale" => Some(EventStatus::OnSale),
            "ended" => Some(EventStatus::Ended),
            "cancelled" => Some(EventStatus::Cancelled),
            _ => None,
        }
    }
}

/// The status of an event at `now`:
/// - `cancelled` if `cancelled_at` is set;
/// - else `upcoming` while `now < sale_opens_at`;
/// - else `on_sale` while `now < sale_closes_at` and `now < starts_at`;
/// - else `ended`.
///
/// The list's `status` filter is the same rule written as SQL (`events::STATUS_SQL`);
/// change both together.
pub fn event_status(
    now: DateTime<Utc>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    starts_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
) -> EventStatus {
    if cancelled_at.is_some() {
        EventStatus::Cancelled
    } else if now < sale_opens_at {
        EventStatus::Upcoming
    } else if now < sale_closes_at && now < starts_at {
        EventStatus::OnSale
    } else {
        EventStatus::Ended
    }
}

/// One row of `events`, as other modules need it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRecord {
    pub id: Uuid,
    pub promoter_id: Uuid,
    pub artist_id: Option<Uuid>,
    pub venue_id: Uuid,
    /// `None`: standing-only, sold through ticket types.
    pub seat_layout_id: Option<Uuid>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_tickets_per_user: i32,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl EventRecord {
    pub fn status(&self, now: DateTime<Utc>) -> EventStatus {
        event_status(
            now,
            self.sale_opens_at,
            self.sale_closes_at,
            self.starts_at,
            self.cancelled_at,
        )
    }

    /// Booking's gate: tickets may be held only while this is true (never before the
    /// sale opens, after it closes, or once the show has started).
    pub fn is_on_sale(&self, now: DateTime<Utc>) -> bool {
        self.status(now) == EventStatus::OnSale
    }

    pub fn has_seat_map(&self) -> bool {
        self.seat_layout_id.is_some()
    }
}

pub(crate) const EVENT_RECORD_COLUMNS: &str = "id, promoter_id, artist_id, venue_id, seat_layout_id, title, starts_at, ends_at, \
     sale_opens_at, sale_closes_at, max_tickets_per_user, cancelled_at, version";

/// The event `id`, if it exists.
pub async fn find_event<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<EventRecord>, sqlx::Error> {
    sqlx::query_as::<_, EventRecord>(&format!(
        "SELECT {EVENT_RECORD_COLUMNS} FROM events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// 404 `EVENT_NOT_FOUND`.
pub fn event_not_found() -> ApiError {
    ApiError::new(Code::EVENT_NOT_FOUND, "No such event")
}

/// Checks that `user` may manage `event_id` (edit it, its ticket types, its queue
/// rules...): promoters their own events, admins every event. Answers 403
/// `FORBIDDEN_ROLE` for fans, 404 `EVENT_NOT_FOUND`, 403 `NOT_EVENT_OWNER` for another
/// promoter's event. Returns the event.
pub async fn authorize_event_manager<'e>(
    db: impl PgExecutor<'e>,
    user: &AuthUser,
    event_id: Uuid,
) -> ApiResult<EventRecord> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let event = find_event(db, event_id)
        .await?
        .ok_or_else(event_not_found)?;
    ensure_owner(user, &event)?;
    Ok(event)
}

/// 403 `NOT_EVENT_OWNER` unless `user` is an admin or the event's promoter.
pub fn ensure_owner(user: &AuthUser, event: &EventRecord) -> ApiResult<()> {
    if user.is_admin() || event.promoter_id == user.id {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::NOT_EVENT_OWNER,
            "Only the event's promoter or an admin may change this event",
        ))
    }
}

/// One seat of an event. Live state (held / sold) belongs to the booking module.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct SeatRecord {
    pub id: Uuid,
    pub event_id: Uuid,
    pub section: String,
    pub grade: String,
    pub row_label: String,
    pub number: i32,
    /// "VIP-1-3".
    pub label: String,
    /// KRW.
    pub price: i64,
    pub position: i32,
}

const SEAT_COLUMNS: &str =
    "id, event_id, section, grade, row_label, number, label, price::int8 AS price, position";

/// The seats among `seat_ids` that belong to `event_id`, in layout order. Ids of other
/// events or unknown ids are simply absent: compare lengths to detect them.
pub async fn find_seats<'e>(
    db: impl PgExecutor<'e>,
    event_id: Uuid,
    seat_ids: &[Uuid],
) -> Result<Vec<SeatRecord>, sqlx::Error> {
    sqlx::query_as::<_, SeatRecord>(&format!(
        "SELECT {SEAT_COLUMNS} FROM seats WHERE event_id = $1 AND id = ANY($2) ORDER BY position"
    ))
    .bind(event_id)
    .bind(seat_ids)
    .fetch_all(db)
    .await
}

/// Every seat of `event_id`, in layout order (empty for standing-only events).
pub async fn list_seats<'e>(
    db: impl PgExecutor<'e>,
    event_id: Uuid,
) -> Result<Vec<SeatRecord>, sqlx::Error> {
    sqlx::query_as::<_, SeatRecord>(&format!(
        "SELECT {SEAT_COLUMNS} FROM seats WHERE event_id = $1 ORDER BY position"
    ))
    .bind(event_id)
    .fetch_all(db)
    .await
}

/// One quantity-based ticket type (standing / general admission).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize, ToSchema)]
pub struct TicketTypeRecord {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub description: String,
    /// KRW.
    pub price: i64,
    pub total_quantity: i32,
    /// Not yet sold or held; `total_quantity - available_quantity` are sold or held.
    pub available_quantity: i32,
    pub sort_order: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const TICKET_TYPE_COLUMNS: &str = "id, event_id, name, description, price::int8 AS price, total_quantity, available_quantity, \
     sort_order, version, created_at, updated_at";

/// The ticket type `id`, if it exists.
pub async fn find_ticket_type<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<TicketTypeRecord>, sqlx::Error> {
    sqlx::query_as::<_, TicketTypeRecord>(&format!(
        "SELECT {TICKET_TYPE_COLUMNS} FROM ticket_types WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The ticket types of `event_id`, in display order.
pub async fn list_ticket_types<'e>(
    db: impl PgExecutor<'e>,
    event_id: Uuid,
) -> Result<Vec<TicketTypeRecord>, sqlx::Error> {
    sqlx::query_as::<_, TicketTypeRecord>(&format!(
        "SELECT {TICKET_TYPE_COLUMNS} FROM ticket_types WHERE event_id = $1
         ORDER BY sort_order, created_at, id"
    ))
    .bind(event_id)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn status_follows_the_clock() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let opens = t0 + Duration::hours(1);
        let closes = t0 + Duration::hours(2);
        let starts = t0 + Duration::hours(3);
        let st = |now| event_status(now, opens, closes, starts, None);
        assert_eq!(st(t0), EventStatus::Upcoming);
        assert_eq!(st(opens), EventStatus::OnSale);
        assert_eq!(st(closes - Duration::seconds(1)), EventStatus::OnSale);
        assert_eq!(st(closes), EventStatus::Ended);
        assert_eq!(st(starts + Duration::days(1)), EventStatus::Ended);
        assert_eq!(
            event_status(opens, opens, closes, starts, Some(t0)),
            EventStatus::Cancelled
        );
        // A sale window running past the show (only possible in hand-written rows) ends
        // at the show.
        assert_eq!(
            event_status(starts, opens, starts + Duration::hours(1), starts, None),
            EventStatus::Ended
        );
        for s in [
            EventStatus::Upcoming,
            EventStatus::OnSale,
            EventStatus::Ended,
            EventStatus::Cancelled,
        ] {
            assert_eq!(EventStatus::parse(s.as_str()), Some(s));
        }
    }
}

/// An event as its manager lists it in the console.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedEvent {
    pub id: Uuid,
    pub title: String,
    pub venue_name: String,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Events of `promoter` (every event when `None`), newest first, continuing after
/// `(created_at, id)`.
pub async fn managed_events<'e>(
    db: impl PgExecutor<'e>,
    promoter: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ManagedEvent>> {
    let (after_t, after_id) = after.unzip();
    sqlx::query_as::<_, ManagedEvent>(
        "SELECT e.id, e.title, v.name AS venue_name, e.starts_at, e.sale_opens_at,
                e.sale_closes_at, e.cancelled_at, e.created_at
         FROM events e JOIN venues v ON v.id = e.venue_id
         WHERE ($1::uuid IS NULL OR e.promoter_id = $1)
           AND ($2::timestamptz IS NULL OR (e.created_at, e.id) < ($2, $3))
         ORDER BY e.created_at DESC, e.id DESC
         LIMIT $4",
    )
    .bind(promoter)
    .bind(after_t)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many events exist, and how many are on sale at `now`.
pub async fn event_counts<'e>(
    db: impl PgExecutor<'e>,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT count(*)::bigint,
                count(*) FILTER (WHERE cancelled_at IS NULL AND sale_opens_at <= $1
                                 AND sale_closes_at > $1 AND starts_at > $1)::bigint
         FROM events",
    )
    .bind(now)
    .fetch_one(db)
    .await
}

/// Deletes one admin-managed row (`(table, resource type)`, e.g. an artist or a venue)
/// with its audit entry, unless something still references it (`in_use`) or it does
/// not exist (`not_found`).
pub(super) async fn delete_unreferenced(
    state: &crate::state::AppState,
    user: &AuthUser,
    (table, resource): (&'static str, &'static str),
    id: Uuid,
    in_use: impl FnOnce() -> ApiError,
    not_found: impl FnOnce() -> ApiError,
) -> ApiResult<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = crate::audit::row(&mut tx, table, id).await?;
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await;
    match done {
        Err(e) if super::validate::is_fk_violation(&e) => return Err(in_use()),
        Err(e) => return Err(e.into()),
        Ok(d) if d.rows_affected() == 0 => return Err(not_found()),
        Ok(_) => {}
    }
    let action = format!("{resource}.deleted");
    let actor = user.actor();
    crate::audit::record_rows(&mut tx, actor, &action, resource, id, before, None, now).await?;
    tx.commit().await?;
    Ok(())
}

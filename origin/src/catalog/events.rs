//! Events: the public list and detail, and promoter/admin writes.
//!
//! The detail is one response shape (defect D45: the original returned ticket types
//! beside the event, so server-rendered pages missed them): event, derived status,
//! artist, venue, ticket types with stock, and the seat map.

use super::layout::{self, LayoutConfig, generate_seats, insert_seats};
use super::model::{
    EVENT_RECORD_COLUMNS, EventRecord, EventStatus, TicketTypeRecord, ensure_owner,
    event_not_found, event_status, list_seats, list_ticket_types,
};
use super::page::{self, Cursor, Page, invalid_query};
use super::validate::{
    Checks, MAX_TICKET_TYPES, MAX_TICKETS_PER_USER, double_option, is_fk_violation, like_pattern,
};
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Json, Path, Problem, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use sqlx::{PgConnection, PgExecutor};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Response shapes
// ---------------------------------------------------------------------------------------

/// An artist as shown inside an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtistRef {
    pub id: Uuid,
    pub name: String,
    pub name_en: Option<String>,
    pub image_url: Option<String>,
}

/// A venue as shown inside an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VenueRef {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub city: String,
}

/// One row of the event list.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventListItem {
    pub id: Uuid,
    pub title: String,
    pub artist: Option<ArtistRef>,
    pub venue: VenueRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub status: EventStatus,
    /// Cheapest seat or ticket type, KRW; `null` when nothing is priced yet.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// `true`: seated (pick seats on the map); `false`: standing / ticket types only.
    pub has_seat_map: bool,
    pub poster_url: Option<String>,
}

/// The full event: everything a page needs in one response.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub poster_url: Option<String>,
    pub status: EventStatus,
    pub promoter_id: Uuid,
    pub artist: Option<ArtistRef>,
    pub venue: VenueRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_tickets_per_user: i32,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub has_seat_map: bool,
    pub ticket_types: Vec<TicketTypeRecord>,
    /// `null` for standing-only events. Seats only; their live held/sold state comes
    /// from booking's `GET /api/v1/events/{id}/seats`.
    pub seat_map: Option<SeatMap>,
    /// Optimistic-concurrency version; send it back as `If-Match` or `version` on PATCH.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The seats of an event grouped by section and row, in layout order.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMap {
    pub layout: LayoutRef,
    pub sections: Vec<SeatSection>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayoutRef {
    pub id: Uuid,
    pub name: String,
    pub total_seats: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatSection {
    pub name: String,
    pub grade: String,
    /// KRW, after the event's `section_prices` overrides.
    pub price: i64,
    pub rows: Vec<SeatRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatRow {
    pub label: String,
    pub seats: Vec<SeatView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatView {
    pub id: Uuid,
    pub number: i32,
    /// "VIP-1-3".
    pub label: String,
    pub price: i64,
}

// ---------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------

/// `POST /api/v1/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    /// 1..=200 characters.
    pub title: String,
    /// At most 10,000 characters.
    #[serde(default)]
    pub description: String,
    pub artist_id: Option<Uuid>,
    pub venue_id: Uuid,
    /// Omit for a standing-only event.
    pub seat_layout_id: Option<Uuid>,
    /// Price overrides in KRW keyed by section name or grade, e.g. `{"VIP": 170000}`.
    #[serde(default)]
    pub section_prices: Option<BTreeMap<String, i64>>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Must be before `sale_closes_at`.
    pub sale_opens_at: DateTime<Utc>,
    /// Must be no later than `starts_at`: the sale closes when the show starts at latest.
    pub sale_closes_at: DateTime<Utc>,
    /// 1..=20, default 4.
    pub max_tickets_per_user: Option<i64>,
    pub poster_url: Option<String>,
    #[serde(default)]
    pub ticket_types: Vec<NewTicketType>,
    /// Admins only: create the event on behalf of this promoter.
    pub promoter_id: Option<Uuid>,
}

/// A ticket type in `POST /api/v1/events` or `POST /api/v1/events/{id}/ticket-types`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketType {
    /// 1..=100 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// KRW, 0..=10,000,000.
    pub price: i64,
    /// 0..=1,000,000.
    pub total_quantity: i64,
    /// Display order (ascending); default: after the existing ones.
    pub sort_order: Option<i64>,
}

/// `PATCH /api/v1/events/{id}`: every field optional; `null` clears nullable ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub artist_id: Option<Option<Uuid>>,
    pub venue_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub sale_closes_at: Option<DateTime<Utc>>,
    pub max_tickets_per_user: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub poster_url: Option<Option<String>>,
    /// Expected current version (alternative to the `If-Match` header).
    pub version: Option<i64>,
    /// Refused: the layout is fixed once seats exist.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub seat_layout_id: Option<Option<serde_json::Value>>,
    /// Refused: seat prices are fixed at creation.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub section_prices: Option<Option<serde_json::Value>>,
}

/// Query of `GET /api/v1/events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Case-insensitive substring of the title, the artist's name, English name or
    /// aliases, or the venue name: `아이유` and `IU` find the same events. ≤ 100 chars.
    pub q: Option<String>,
    pub artist_id: Option<Uuid>,
    pub venue_id: Option<Uuid>,
    pub promoter_id: Option<Uuid>,
    /// Shows starting at or after: `YYYY-MM-DD` (a day in Korea, UTC+9) or RFC 3339.
    pub from: Option<String>,
    /// Shows starting before: `YYYY-MM-DD` (inclusive: the whole day, UTC+9) or an RFC 3339
    /// timestamp (exclusive).
    pub to: Option<String>,
    /// Comma-separated `upcoming`, `on_sale`, `ended`, `cancelled`, or `all`. Default:
    /// every event that is not cancelled.
    pub status: Option<String>,
    /// 1..=100, default 20; anything else is 400 `INVALID_QUERY`.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventPath {
    pub event_id: Uuid,
}

// ---------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------

/// Filters of the event list, parsed and validated.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventFilter {
    pub q: Option<String>,
    pub artist_id: Option<Uuid>,
    pub venue_id: Option<Uuid>,
    pub promoter_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub statuses: [bool; 4],
    pub limit: i64,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl EventFilter {
    fn from_query(q: EventListQuery) -> ApiResult<Self> {
        let from = q
            .from
            .as_deref()
            .map(|s| parse_bound("from", s, false))
            .transpose()?;
        let to =
            q.to.as_deref()
                .map(|s| parse_bound("to", s, true))
                .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(invalid_query("to", "must not be before `from`"));
        }
        Ok(EventFilter {
            q: page::search_text(q.q.as_deref())?,
            artist_id: q.artist_id,
            venue_id: q.venue_id,
            promoter_id: q.promoter_id,
            from,
            to,
            statuses: parse_statuses(q.status.as_deref())?,
            limit: page::limit(q.limit)?,
            after: Cursor::decode_event(q.cursor.as_deref())?,
        })
    }
}

/// `[upcoming, on_sale, ended, cancelled]` flags; default: all but cancelled.
fn parse_statuses(s: Option<&str>) -> ApiResult<[bool; 4]> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok([true, true, true, false]);
    };
    let mut flags = [false; 4];
    for part in s.split(',').map(str::trim) {
        if part == "all" {
            flags = [true; 4];
            continue;
        }
        let st = EventStatus::parse(part).ok_or_else(|| {
            invalid_query(
                "status",
                "must be upcoming, on_sale, ended, cancelled or all (comma-separated)",
            )
        })?;
        flags[st as usize] = true;
    }
    Ok(flags)
}

/// Korea does not observe DST, so a fixed UTC+9 is exact.
fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or(Utc.fix())
}

/// `YYYY-MM-DD` (a KST day; `end` = the start of the next day) or RFC 3339.
fn parse_bound(field: &str, s: &str, end: bool) -> ApiResult<DateTime<Utc>> {
    let s = s.trim();
    // An unencoded `+09:00` arrives as ` 09:00`.
    let plus = s.replace(' ', "+");
    let rfc3339 = [s, plus.as_str()]
        .into_iter()
        .find_map(|cand| DateTime::parse_from_rfc3339(cand).ok())
        .map(|t| t.with_timezone(&Utc));
    rfc3339
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| if end { d.succ_opt() } else { Some(d) })
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|d| kst().from_local_datetime(&d).single())
                .map(|t| t.with_timezone(&Utc))
        })
        .filter(|t| page::in_sql_range(*t))
        .ok_or_else(|| {
            invalid_query(
                field,
                "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp",
            )
        })
}

#[derive(Debug, sqlx::FromRow)]
struct ListRow {
    id: Uuid,
    title: String,
    poster_url: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    has_seat_map: bool,
    artist_id: Option<Uuid>,
    artist_name: Option<String>,
    artist_name_en: Option<String>,
    artist_image_url: Option<String>,
    venue_id: Uuid,
    venue_name: String,
    venue_address: String,
    venue_city: String,
    min_price: Option<i64>,
    max_price: Option<i64>,
}

/// The status rule of [`event_status`] as a SQL predicate over `e`; `$1` is now and
/// `$8..$11` select upcoming / on_sale / ended / cancelled.
const STATUS_SQL: &str = "(
      ($8 AND e.cancelled_at IS NULL AND $1 < e.sale_opens_at)
   OR ($9 AND e.cancelled_at IS NULL AND e.sale_opens_at <= $1
          AND $1 < e.sale_closes_at AND $1 < e.starts_at)
   OR ($10 AND e.cancelled_at IS NULL AND e.sale_opens_at <= $1
          AND ($1 >= e.sale_closes_at OR $1 >= e.starts_at))
   OR ($11 AND e.cancelled_at IS NOT NULL))";

/// One page of events matching `f`, ordered by `(starts_at, id)`.
pub(crate) async fn list_events<'e>(
    db: impl PgExecutor<'e>,
    now: DateTime<Utc>,
    f: &EventFilter,
) -> ApiResult<Page<EventListItem>> {
    let sql = format!(
        "SELECT e.id, e.title, e.poster_url, e.starts_at, e.ends_at, e.sale_opens_at,
                e.sale_closes_at, e.cancelled_at, e.seat_layout_id IS NOT NULL AS has_seat_map,
                a.id AS artist_id, a.name AS artist_name, a.name_en AS artist_name_en,
                a.image_url AS artist_image_url,
                v.id AS venue_id, v.name AS venue_name, v.address AS venue_address,
                v.city AS venue_city, pr.min_price, pr.max_price
         FROM events e
         JOIN venues v ON v.id = e.venue_id
         LEFT JOIN artists a ON a.id = e.artist_id
         CROSS JOIN LATERAL (
             SELECT min(p)::int8 AS min_price, max(p)::int8 AS max_price FROM (
                 (SELECT price AS p FROM seats s WHERE s.event_id = e.id ORDER BY price LIMIT 1)
                 UNION ALL
                 (SELECT price FROM seats s WHERE s.event_id = e.id ORDER BY price DESC LIMIT 1)
                 UNION ALL
                 SELECT price FROM ticket_types t WHERE t.event_id = e.id
             ) x
         ) pr
         WHERE ($2::text IS NULL
                OR e.title ILIKE $2 OR v.name ILIKE $2 OR a.name ILIKE $2 OR a.name_en ILIKE $2
                OR EXISTS (SELECT 1 FROM unnest(a.aliases) al WHERE al ILIKE $2))
           AND ($3::uuid IS NULL OR e.artist_id = $3)
           AND ($4::uuid IS NULL OR e.venue_id = $4)
           AND ($5::uuid IS NULL OR e.promoter_id = $5)
           AND ($6::timestamptz IS NULL OR e.starts_at >= $6)
           AND ($7::timestamptz IS NULL OR e.starts_at < $7)
           AND {STATUS_SQL}
           AND ($12::timestamptz IS NULL OR (e.starts_at, e.id) > ($12, $13::uuid))
         ORDER BY e.starts_at, e.id
         LIMIT $14"
    );
    let rows = sqlx::query_as::<_, ListRow>(&sql)
        .bind(now)
        .bind(f.q.as_deref().map(like_pattern))
        .bind(f.artist_id)
        .bind(f.venue_id)
        .bind(f.promoter_id)
        .bind(f.from)
        .bind(f.to)
        .bind(f.statuses[0])
        .bind(f.statuses[1])
        .bind(f.statuses[2])
        .bind(f.statuses[3])
        .bind(f.after.map(|a| a.0))
        .bind(f.after.map(|a| a.1))
        .bind(f.limit + 1)
        .fetch_all(db)
        .await?;
    Ok(page::paginate(
        rows,
        f.limit,
        |r| Cursor::event(r.starts_at, r.id),
        |r| EventListItem {
            status: event_status(
                now,
                r.sale_opens_at,
                r.sale_closes_at,
                r.starts_at,
                r.cancelled_at,
            ),
            id: r.id,
            title: r.title,
            artist: match (r.artist_id, r.artist_name) {
                (Some(id), Some(name)) => Some(ArtistRef {
                    id,
                    name,
                    name_en: r.artist_name_en,
                    image_url: r.artist_image_url,
                }),
                _ => None,
            },
            venue: VenueRef {
                id: r.venue_id,
                name: r.venue_name,
                address: r.venue_address,
                city: r.venue_city,
            },
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            sale_opens_at: r.sale_opens_at,
            sale_closes_at: r.sale_closes_at,
            min_price: r.min_price,
            max_price: r.max_price,
            has_seat_map: r.has_seat_map,
            poster_url: r.poster_url,
        },
    ))
}

/// List events.
///
/// Ordered by show time then id, with keyset pagination (`cursor`), so paging is stable
/// while events are added. The default `status` filter hides cancelled events.
#[utoipa::path(get, path = "/api/v1/events", tag = "catalog",
    params(EventListQuery),
    responses(
        (status = 200, body = Page<EventListItem>),
        (status = 400, description = "INVALID_QUERY, INVALID_CURSOR", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<EventListQuery>,
) -> ApiResult<Json<Page<EventListItem>>> {
    let filter = EventFilter::from_query(q)?;
    Ok(Json(
        list_events(&state.db, state.clock.now(), &filter).await?,
    ))
}

// ---------------------------------------------------------------------------------------
// Detail
// ---------------------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
struct DetailRow {
    id: Uuid,
    promoter_id: Uuid,
    title: String,
    description: String,
    poster_url: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
    max_tickets_per_user: i32,
    cancelled_at: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    artist_id: Option<Uuid>,
    artist_name: Option<String>,
    artist_name_en: Option<String>,
    artist_image_url: Option<String>,
    venue_id: Uuid,
    venue_name: String,
    venue_address: String,
    venue_city: String,
    layout_id: Option<Uuid>,
    layout_name: Option<String>,
    layout_total_seats: Option<i32>,
}

/// The detail of `id` at `now`, or `None`.
pub(crate) async fn load_detail(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> ApiResult<Option<EventDetail>> {
    let Some(r) = sqlx::query_as::<_, DetailRow>(
        "SELECT e.id, e.promoter_id, e.title, e.description, e.poster_url, e.starts_at,
                e.ends_at, e.sale_opens_at, e.sale_closes_at, e.max_tickets_per_user,
                e.cancelled_at, e.version, e.created_at, e.updated_at,
                a.id AS artist_id, a.name AS artist_name, a.name_en AS artist_name_en,
                a.image_url AS artist_image_url,
                v.id AS venue_id, v.name AS venue_name, v.address AS venue_address,
                v.city AS venue_city,
                l.id AS layout_id, l.name AS layout_name, l.total_seats AS layout_total_seats
         FROM events e
         JOIN venues v ON v.id = e.venue_id
         LEFT JOIN artists a ON a.id = e.artist_id
         LEFT JOIN seat_layouts l ON l.id = e.seat_layout_id
         WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let ticket_types = list_ticket_types(&mut *conn, id).await?;
    let seat_map = match (r.layout_id, r.layout_name) {
        (Some(layout_id), Some(layout_name)) => {
            let seats = list_seats(&mut *conn, id).await?;
            Some(build_seat_map(
                LayoutRef {
                    id: layout_id,
                    name: layout_name,
                    total_seats: r.layout_total_seats.unwrap_or(0),
                },
                seats,
            ))
        }
        _ => None,
    };
    let prices = ticket_types.iter().map(|t| t.price).chain(
        seat_map
            .iter()
            .flat_map(|m| m.sections.iter().map(|s| s.price)),
    );
    let (min_price, max_price) = prices.fold((None, None), |(lo, hi): (Option<i64>, _), p| {
        (
            Some(lo.map_or(p, |l| l.min(p))),
            Some(hi.map_or(p, |h: i64| h.max(p))),
        )
    });
    Ok(Some(EventDetail {
        status: event_status(
            now,
            r.sale_opens_at,
            r.sale_closes_at,
            r.starts_at,
            r.cancelled_at,
        ),
        id: r.id,
        title: r.title,
        description: r.description,
        poster_url: r.poster_url,
        promoter_id: r.promoter_id,
        artist: match (r.artist_id, r.artist_name) {
            (Some(id), Some(name)) => Some(ArtistRef {
                id,
                name,
                name_en: r.artist_name_en,
                image_url: r.artist_image_url,
            }),
            _ => None,
        },
        venue: VenueRef {
            id: r.venue_id,
            name: r.venue_name,
            address: r.venue_address,
            city: r.venue_city,
        },
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        sale_opens_at: r.sale_opens_at,
        sale_closes_at: r.sale_closes_at,
        max_tickets_per_user: r.max_tickets_per_user,
        cancelled_at: r.cancelled_at,
        min_price,
        max_price,
        has_seat_map: seat_map.is_some(),
        ticket_types,
        seat_map,
        version: r.version,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// Groups seats (in layout order) into sections and rows. Seats of one section and of
/// one row are contiguous in layout order, so one pass suffices; a section's price is
/// uniform (overrides apply per section or grade).
fn build_seat_map(layout: LayoutRef, seats: Vec<super::model::SeatRecord>) -> SeatMap {
    let mut sections: Vec<SeatSection> = Vec::new();
    for s in seats {
        let new_section = sections.last().is_none_or(|sec| sec.name != s.section);
        if new_section {
            sections.push(SeatSection {
                name: s.section.clone(),
                grade: s.grade.clone(),
                price: s.price,
                rows: Vec::new(),
            });
        }
        let Some(section) = sections.last_mut() else {
            continue;
        };
        section.price = section.price.min(s.price);
        if section.rows.last().is_none_or(|r| r.label != s.row_label) {
            section.rows.push(SeatRow {
                label: s.row_label.clone(),
                seats: Vec::new(),
            });
        }
        if let Some(row) = section.rows.last_mut() {
            row.seats.push(SeatView {
                id: s.id,
                number: s.number,
                label: s.label,
                price: s.price,
            });
        }
    }
    SeatMap { layout, sections }
}

/// One event with its ticket types and seat map.
///
/// Served from a per-replica copy at most `URR_EVENT_CACHE_TTL_MS` (1 s) old; ticket
/// stock in it may lag by as much (the live seat map is `GET .../seats`).
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath),
    responses(
        (status = 200, body = EventDetail),
        (status = 400, description = "INVALID_PATH", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "EVENT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(p): Path<EventPath>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let json = state.catalog.details.get(&state, p.event_id).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------

/// A validated new event, ready to insert. Shared by the API and the demo seeder.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub promoter_id: Uuid,
    pub artist_id: Option<Uuid>,
    pub venue_id: Uuid,
    pub seat_layout_id: Option<Uuid>,
    pub layout: Option<LayoutConfig>,
    pub section_prices: BTreeMap<String, i64>,
    pub title: String,
    pub description: String,
    pub poster_url: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
    pub max_tickets_per_user: i32,
    pub ticket_types: Vec<NewTicketType>,
}

/// Sane calendar bounds: catches typos like year 20255 or 0202 before they reach a page.
fn check_time(c: &mut Checks, field: &str, t: DateTime<Utc>) {
    let lo = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    let hi = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single();
    if lo.is_some_and(|lo| t < lo) || hi.is_some_and(|hi| t >= hi) {
        c.add(field, "must be between the years 2000 and 2199");
    }
}

/// The sale-window rules: `sale_opens_at < sale_closes_at <= starts_at < ends_at`.
fn check_window(
    c: &mut Checks,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    sale_opens_at: DateTime<Utc>,
    sale_closes_at: DateTime<Utc>,
) {
    check_time(c, "starts_at", starts_at);
    check_time(c, "sale_opens_at", sale_opens_at);
    check_time(c, "sale_closes_at", sale_closes_at);
    if sale_opens_at >= sale_closes_at {
        c.add("sale_closes_at", "must be after sale_opens_at");
    }
    if sale_closes_at > starts_at {
        c.add(
            "sale_closes_at",
            "must be no later than starts_at: the sale closes when the show starts at the latest",
        );
    }
    if let Some(e) = ends_at {
        check_time(c, "ends_at", e);
        if e <= starts_at {
            c.add("ends_at", "must be after starts_at");
        }
    }
}

/// Validates one ticket type; `prefix` is e.g. `ticket_types[0].` or empty.
pub(crate) fn check_ticket_type(c: &mut Checks, prefix: &str, t: &NewTicketType) -> NewTicketType {
    let name = c.required_text(&format!("{prefix}name"), &t.name, 100);
    let description = c.free_text(&format!("{prefix}description"), &t.description, 1000);
    c.price(&format!("{prefix}price"), t.price);
    c.quantity(&format!("{prefix}total_quantity"), t.total_quantity);
    if let Some(o) = t.sort_order {
        c.range(&format!("{prefix}sort_order"), o, -1_000_000, 1_000_000);
    }
    NewTicketType {
        name,
        description,
        ..t.clone()
    }
}

/// Does the referenced row exist? (`table` is a constant of this module.)
async fn exists<'e>(db: impl PgExecutor<'e>, table: &str, id: Uuid) -> ApiResult<bool> {
    Ok(sqlx::query_scalar::<_, bool>(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)"
    ))
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// The config of layout `id`, or `None` if there is no such layout.
pub(crate) async fn layout_config<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
) -> ApiResult<Option<LayoutConfig>> {
    let config: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT config FROM seat_layouts WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    config
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("layout {id} config: {e}")))
        })
        .transpose()
}

/// Checks section price overrides against the layout.
fn check_section_prices(
    c: &mut Checks,
    layout: Option<&LayoutConfig>,
    prices: &BTreeMap<String, i64>,
) {
    if prices.is_empty() {
        return;
    }
    let Some(layout) = layout else {
        c.add(
            "section_prices",
            "only events with a seat layout have sections",
        );
        return;
    };
    if prices.len() > layout::MAX_SECTIONS * 2 {
        c.add("section_prices", "has too many entries");
        return;
    }
    for (key, price) in prices {
        let field = format!("section_prices.{key}");
        let known = layout
            .sections
            .iter()
            .any(|s| &s.name == key || s.grade() == key);
        if !known {
            c.add(&field, "is neither a section nor a grade of the layout");
        }
        c.price(&field, *price);
    }
}

/// Inserts an event with its seats and ticket types; returns its id. Runs inside the
/// caller's transaction so the event never exists without its inventory.
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    id: Uuid,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, promoter_id, artist_id, venue_id, seat_layout_id, title,
                             description, poster_url, starts_at, ends_at, sale_opens_at,
                             sale_closes_at, max_tickets_per_user, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(id)
    .bind(e.promoter_id)
    .bind(e.artist_id)
    .bind(e.venue_id)
    .bind(e.seat_layout_id)
    .bind(&e.title)
    .bind(&e.description)
    .bind(&e.poster_url)
    .bind(e.starts_at)
    .bind(e.ends_at)
    .bind(e.sale_opens_at)
    .bind(e.sale_closes_at)
    .bind(e.max_tickets_per_user)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Err(err) if is_fk_violation(&err) => {
            return Err(ApiError::validation(
                "body",
                "a referenced artist, venue, layout or promoter no longer exists",
            ));
        }
        other => {
            other?;
        }
    }
    if let Some(layout) = &e.layout {
        let seats = generate_seats(layout, &e.section_prices);
        insert_seats(conn, id, &seats).await?;
    }
    for (i, t) in e.ticket_types.iter().enumerate() {
        let order = t
            .sort_order
            .unwrap_or_else(|| i64::try_from(i).unwrap_or(0));
        insert_ticket_type(conn, id, t, order, now).await?;
    }
    Ok(())
}

/// Inserts one (validated) ticket type with all of its stock available.
pub(crate) async fn insert_ticket_type(
    conn: &mut PgConnection,
    event_id: Uuid,
    t: &NewTicketType,
    sort_order: i64,
    now: DateTime<Utc>,
) -> ApiResult<TicketTypeRecord> {
    Ok(sqlx::query_as::<_, TicketTypeRecord>(&format!(
        "INSERT INTO ticket_types (id, event_id, name, description, price, total_quantity,
                                   available_quantity, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $8)
         RETURNING {}",
        super::model::TICKET_TYPE_COLUMNS
    ))
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(&t.name)
    .bind(&t.description)
    .bind(t.price)
    .bind(t.total_quantity)
    .bind(i32::try_from(sort_order).unwrap_or(0))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Validates a create request against the rules and the database.
async fn validate_create(
    state: &AppState,
    user: &AuthUser,
    body: CreateEvent,
) -> ApiResult<NewEvent> {
    let promoter_id = match body.promoter_id {
        Some(p) if p != user.id && !user.is_admin() => {
            return Err(ApiError::forbidden(
                "NOT_EVENT_OWNER",
                "Only admins may create events for another promoter",
            ));
        }
        Some(p) => p,
        None => user.id,
    };
    let mut c = Checks::new();
    let title = c.required_text("title", &body.title, 200);
    let description = c.free_text("description", &body.description, 10_000);
    let poster_url = body.poster_url.as_deref().map(|u| c.url("poster_url", u));
    check_window(
        &mut c,
        body.starts_at,
        body.ends_at,
        body.sale_opens_at,
        body.sale_closes_at,
    );
    let max_tickets = body.max_tickets_per_user.unwrap_or(4);
    c.range("max_tickets_per_user", max_tickets, 1, MAX_TICKETS_PER_USER);
    if body.ticket_types.len() > MAX_TICKET_TYPES {
        c.add(
            "ticket_types",
            format!("at most {MAX_TICKET_TYPES} ticket types per event"),
        );
    }
    let ticket_types: Vec<_> = body
        .ticket_types
        .iter()
        .enumerate()
        .map(|(i, t)| check_ticket_type(&mut c, &format!("ticket_types[{i}]."), t))
        .collect();

    // References.
    if promoter_id != user.id {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(promoter_id)
            .fetch_optional(&state.db)
            .await?;
        if !matches!(role.as_deref(), Some("promoter" | "admin")) {
            c.add("promoter_id", "no promoter with this id");
        }
    }
    if let Some(a) = body.artist_id
        && !exists(&state.db, "artists", a).await?
    {
        c.add("artist_id", "no artist with this id");
    }
    if !exists(&state.db, "venues", body.venue_id).await? {
        c.add("venue_id", "no venue with this id");
    }
    let layout = match body.seat_layout_id {
        Some(l) => {
            let config = layout_config(&state.db, l).await?;
            if config.is_none() {
                c.add("seat_layout_id", "no seat layout with this id");
            }
            config
        }
        None => None,
    };
    let section_prices = body.section_prices.unwrap_or_default();
    if body.seat_layout_id.is_none() || layout.is_some() {
        check_section_prices(&mut c, layout.as_ref(), &section_prices);
    }
    c.finish()?;
    Ok(NewEvent {
        promoter_id,
        artist_id: body.artist_id,
        venue_id: body.venue_id,
        seat_layout_id: body.seat_layout_id,
        layout,
        section_prices,
        title,
        description,
        poster_url,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        sale_opens_at: body.sale_opens_at,
        sale_closes_at: body.sale_closes_at,
        max_tickets_per_user: i32::try_from(max_tickets).unwrap_or(4),
        ticket_types,
    })
}

/// Create an event (promoter: their own; admin: anyone's via `promoter_id`).
///
/// Seats are generated from the layout in the same transaction (one `UNNEST` insert;
/// a 4,900-seat stadium is one statement).
#[utoipa::path(post, path = "/api/v1/events", tag = "catalog",
    request_body = CreateEvent,
    security(("bearer" = [])),
    responses(
        (status = 201, body = EventDetail),
        (status = 400, description = "MALFORMED_JSON", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "AUTH_REQUIRED, TOKEN_*", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "FORBIDDEN_ROLE, NOT_EVENT_OWNER (promoter_id of another)",
         body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_FAILED, INVALID_BODY", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateEvent>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, String); 1],
    Json<EventDetail>,
)> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let new = validate_create(&state, &user, body).await?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    insert_event(&mut tx, id, &new, now).await?;
    tx.commit().await?;
    let mut conn = state.db.acquire().await?;
    let detail = load_detail(&mut conn, id, now)
        .await?
        .ok_or_else(event_not_found)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/events/{id}"))],
        Json(detail),
    ))
}

// ---------------------------------------------------------------------------------------
// Update, cancel, delete
// ---------------------------------------------------------------------------------------

/// Locks the event row for this transaction and checks the caller may change it.
pub(crate) async fn lock_for_write(
    conn: &mut PgConnection,
    user: &AuthUser,
    id: Uuid,
) -> ApiResult<EventRecord> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let event = sqlx::query_as::<_, EventRecord>(&format!(
        "SELECT {EVENT_RECORD_COLUMNS} FROM events WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(event_not_found)?;
    ensure_owner(user, &event)?;
    Ok(event)
}

pub(crate) fn event_cancelled() -> ApiError {
    ApiError::conflict(
        "EVENT_CANCELLED",
        "The event is cancelled; it can no longer be changed",
    )
}

/// `If-Match: "3"` (or `W/"3"`, `3`; `*` matches any version).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "INVALID_IF_MATCH",
            "If-Match must be the event's version, e.g. \"3\"",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<i64>().map(Some).map_err(|_| bad())
}

/// 409 `VERSION_CONFLICT` unless every expected version equals `current`.
pub(crate) fn check_version(expected: &[Option<i64>], current: i32) -> ApiResult<()> {
    for e in expected.iter().flatten() {
        if *e != i64::from(current) {
            return Err(ApiError::conflict(
                "VERSION_CONFLICT",
                format!(
                    "Changed meanwhile: you sent version {e}, it is now {current}; reload and retry"
                ),
            )
            .with("current_version", current));
        }
    }
    Ok(())
}

/// Edit an event (everything but its seat layout and seat prices).
///
/// Optimistic concurrency: send the `version` you read (as `If-Match` or in the body);
/// a stale one is 409 `VERSION_CONFLICT`. Every change bumps `version`.
///
/// Once anything is sold or held (a paid reservation or a live hold), the show time and
/// sale window (`starts_at`, `ends_at`, `sale_opens_at`, `sale_closes_at`) are frozen
/// for promoters: changing them is 409 `EVENT_HAS_SALES` (with `fields`). Admins may
/// still move them; fans' refunds keep using the show time they bought for.
#[utoipa::path(patch, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath, ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    request_body = UpdateEvent,
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventDetail),
        (status = 400, description = "MALFORMED_JSON, INVALID_PATH, INVALID_IF_MATCH", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "AUTH_REQUIRED, TOKEN_*", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "FORBIDDEN_ROLE, NOT_EVENT_OWNER", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "EVENT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "VERSION_CONFLICT, EVENT_CANCELLED, EVENT_HAS_SALES (promoters: show time or sale window after the first sale; with `fields`)", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_FAILED, INVALID_BODY", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
    headers: HeaderMap,
    Json(body): Json<UpdateEvent>,
) -> ApiResult<Json<EventDetail>> {
    user.require(&[Role::Promoter, Role::Admin])?;
    let expected = if_match(&headers)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let cur = lock_for_write(&mut tx, &user, p.event_id).await?;
    if cur.cancelled_at.is_some() {
        return Err(event_cancelled());
    }
    check_version(&[expected, body.version], cur.version)?;

    let mut c = Checks::new();
    if body.seat_layout_id.is_some() {
        c.add(
            "seat_layout_id",
            "cannot change once the event exists (its seats are generated from it)",
        );
    }
    if body.section_prices.is_some() {
        c.add(
            "section_prices",
            "cannot change once the event exists (seat prices are fixed at creation)",
        );
    }
    let title = body
        .title
        .as_deref()
        .map(|t| c.required_text("title", t, 200));
    let description = body
        .description
        .as_deref()
        .map(|d| c.free_text("description", d, 10_000));
    let poster_url = body
        .poster_url
        .map(|u| u.as_deref().map(|u| c.url("poster_url", u)));
    let starts_at = body.starts_at.unwrap_or(cur.starts_at);
    let ends_at = body.ends_at.unwrap_or(cur.ends_at);
    let sale_opens_at = body.sale_opens_at.unwrap_or(cur.sale_opens_at);
    let sale_closes_at = body.sale_closes_at.unwrap_or(cur.sale_closes_at);
    check_window(&mut c, starts_at, ends_at, sale_opens_at, sale_closes_at);
    if let Some(m) = body.max_tickets_per_user {
        c.range("max_tickets_per_user", m, 1, MAX_TICKETS_PER_USER);
    }
    if let Some(Some(a)) = body.artist_id
        && !exists(&mut *tx, "artists", a).await?
    {
        c.add("artist_id", "no artist with this id");
    }
    if let Some(v) = body.venue_id
        && !exists(&mut *tx, "venues", v).await?
    {
        c.add("venue_id", "no venue with this id");
    }
    c.finish()?;
    let moved: Vec<&str> = [
        ("starts_at", starts_at != cur.starts_at),
        ("ends_at", ends_at != cur.ends_at),
        ("sale_opens_at", sale_opens_at != cur.sale_opens_at),
        ("sale_closes_at", sale_closes_at != cur.sale_closes_at),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect();
    if !moved.is_empty()
        && !user.is_admin()
        && crate::booking::service::has_sales(&mut tx, cur.id, now).await?
    {
        return Err(ApiError::conflict(
            "EVENT_HAS_SALES",
            "Tickets are sold or held: the show time and sale window are frozen; ask an \
             admin to move them",
        )
        .with("fields", &moved));
    }

    let updated = sqlx::query(
        "UPDATE events SET
             title = COALESCE($2, title),
             description = COALESCE($3, description),
             poster_url = CASE WHEN $4 THEN $5 ELSE poster_url END,
             artist_id = CASE WHEN $6 THEN $7 ELSE artist_id END,
             venue_id = COALESCE($8, venue_id),
             starts_at = $9, ends_at = $10, sale_opens_at = $11, sale_closes_at = $12,
             max_tickets_per_user = COALESCE($13, max_tickets_per_user),
             version = version + 1, updated_at = $14
         WHERE id = $1",
    )
    .bind(cur.id)
    .bind(title)
    .bind(description)
    .bind(poster_url.is_some())
    .bind(poster_url.flatten())
    .bind(body.artist_id.is_some())
    .bind(body.artist_id.flatten())
    .bind(body.venue_id)
    .bind(starts_at)
    .bind(ends_at)
    .bind(sale_opens_at)
    .bind(sale_closes_at)
    .bind(
        body.max_tickets_per_user
            .and_then(|m| i32::try_from(m).ok()),
    )
    .bind(now)
    .execute(&mut *tx)
    .await;
    match updated {
        // The artist or venue was deleted between the check above and this write.
        Err(e) if is_fk_violation(&e) => {
            return Err(ApiError::validation(
                "body",
                "a referenced artist or venue no longer exists",
            ));
        }
        other => {
            other?;
        }
    }
    let detail = load_detail(&mut tx, cur.id, now)
        .await?
        .ok_or_else(event_not_found)?;
    tx.commit().await?;
    state.catalog.details.forget(cur.id).await;
    Ok(Json(detail))
}

/// What cancelling an event set in motion.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancellation {
    /// Unpaid holds cancelled at once, their seats and standing stock returned.
    pub holds_released: usize,
    /// Paid orders with a full refund requested; the money goes back through Toss
    /// (within one reconciler interval, retried until done), then the tickets are voided.
    pub refunds_requested: usize,
}

/// The cancelled event, with what its cancellation set in motion.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledEvent {
    #[serde(flatten)]
    pub event: EventDetail,
    pub cancellation: Cancellation,
}

/// Runs inside the cancel transaction, after `cancelled_at` is set and while the event
/// row is locked, so it happens exactly once (D06/D30 of the original): every unpaid
/// hold is cancelled with its inventory returned, every paid order gets a full refund
/// request, and a queued event's rules turn to `reject` (the waiting room closes at
/// the edge and in the origin's line; pushed to the edges after the commit). Returns the closed holds (their Redis keys are freed after the
/// commit) and what was done.
async fn on_event_cancelled(
    conn: &mut PgConnection,
    event: &EventRecord,
    now: DateTime<Utc>,
) -> ApiResult<(Vec<crate::booking::service::Closed>, Cancellation)> {
    let closed = crate::booking::service::cancel_event_holds(conn, event.id, now).await?;
    let refunds = crate::payments::refund::request_event_refunds(conn, event.id, now).await?;
    crate::queue::rules::reject_cancelled(conn, event.id, now).await?;
    let done = Cancellation {
        holds_released: closed.len(),
        refunds_requested: refunds.len(),
    };
    Ok((closed, done))
}

/// Hook: decides inside the delete transaction (event row locked) whether the event may
/// be deleted. Today: refused once any standing stock is sold or held (available <
/// total). The booking module will add "no reservations/tickets reference it"; a
/// foreign key from its tables is also caught as 409 `EVENT_HAS_SALES`.
async fn ensure_deletable(conn: &mut PgConnection, event: &EventRecord) -> ApiResult<()> {
    let touched: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ticket_types
                        WHERE event_id = $1 AND available_quantity < total_quantity)",
    )
    .bind(event.id)
    .fetch_one(&mut *conn)
    .await?;
    if touched {
        return Err(has_sales());
    }
    Ok(())
}

fn has_sales() -> ApiError {
    ApiError::conflict(
        "EVENT_HAS_SALES",
        "Tickets of this event are sold or held; cancel the event instead of deleting it",
    )
}

/// Cancel an event. Its status becomes `cancelled` at once, in the same transaction
/// every unpaid hold is released and every paid order gets a full refund request
/// (`cancellation` says how many); a second cancel is 409 `EVENT_ALREADY_CANCELLED`.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/cancel", tag = "catalog",
    params(EventPath),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CancelledEvent),
        (status = 400, description = "INVALID_PATH", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "AUTH_REQUIRED, TOKEN_*", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "FORBIDDEN_ROLE, NOT_EVENT_OWNER", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "EVENT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "EVENT_ALREADY_CANCELLED", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<Json<CancelledEvent>> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, p.event_id).await?;
    if event.cancelled_at.is_some() {
        return Err(ApiError::conflict(
            "EVENT_ALREADY_CANCELLED",
            "The event is already cancelled",
        ));
    }
    sqlx::query(
        "UPDATE events SET cancelled_at = $2, version = version + 1, updated_at = $2
         WHERE id = $1",
    )
    .bind(event.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (closed, cancellation) = on_event_cancelled(&mut tx, &event, now).await?;
    let detail = load_detail(&mut tx, event.id, now)
        .await?
        .ok_or_else(event_not_found)?;
    tx.commit().await?;
    state.catalog.details.forget(event.id).await;
    crate::booking::service::release_redis(&state, &closed).await;
    state.queue.settings.forget(event.id);
    // Tell the edges now; the pusher retries any that miss it.
    let pusher = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::queue::rules::push_due(&pusher, Some(event.id)).await {
            tracing::warn!(error = %e, "pushing a cancelled event's rules failed; the pusher retries");
        }
    });
    metrics::counter!("booking_closed_total", "reason" => "event_cancelled")
        .increment(closed.len() as u64);
    tracing::info!(
        event = %event.id,
        holds_released = cancellation.holds_released,
        refunds_requested = cancellation.refunds_requested,
        "event cancelled"
    );
    Ok(Json(CancelledEvent {
        event: detail,
        cancellation,
    }))
}

/// Delete an event with its seats and ticket types, while nothing is sold or held.
#[utoipa::path(delete, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "INVALID_PATH", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "AUTH_REQUIRED, TOKEN_*", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "FORBIDDEN_ROLE, NOT_EVENT_OWNER", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "EVENT_NOT_FOUND", body = Problem,
         content_type = "application/problem+json"),
        (status = 409, description = "EVENT_HAS_SALES", body = Problem,
         content_type = "application/problem+json")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let event = lock_for_write(&mut tx, &user, p.event_id).await?;
    ensure_deletable(&mut tx, &event).await?;
    let done = sqlx::query("DELETE FROM events WHERE id = $1")
        .bind(event.id)
        .execute(&mut *tx)
        .await;
    match done {
        Err(e) if is_fk_violation(&e) => return Err(has_sales()),
        other => {
            other?;
        }
    }
    tx.commit().await?;
    state.catalog.details.forget(event.id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse() {
        assert_eq!(parse_statuses(None).expect("ok"), [true, true, true, false]);
        assert_eq!(parse_statuses(Some("all")).expect("ok"), [true; 4]);
        assert_eq!(
            parse_statuses(Some("on_sale, upcoming")).expect("ok"),
            [true, true, false, false]
        );
        assert!(parse_statuses(Some("on-sale")).is_err());
    }

    #[test]
    fn bounds_parse_as_kst_days_or_timestamps() {
        let from = parse_bound("from", "2025-05-01", false).expect("ok");
        assert_eq!(from.to_rfc3339(), "2025-04-30T15:00:00+00:00");
        let to = parse_bound("to", "2025-05-01", true).expect("ok");
        assert_eq!(to.to_rfc3339(), "2025-05-01T15:00:00+00:00");
        let t = parse_bound("from", "2025-05-01T10:00:00 09:00", false).expect("ok");
        assert_eq!(t.to_rfc3339(), "2025-05-01T01:00:00+00:00");
        assert!(parse_bound("from", "yesterday", false).is_err());
        assert!(parse_bound("from", "+200000-01-01", false).is_err());
    }

    #[test]
    fn sale_window_rules_name_fields() {
        let t = Utc
            .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
            .single()
            .expect("t");
        let h = chrono::Duration::hours(1);
        let mut c = Checks::new();
        check_window(&mut c, t, Some(t - h), t, t - h);
        assert!(c.has("sale_closes_at") && c.has("ends_at"), "{c:?}");
        let mut c = Checks::new();
        check_window(&mut c, t, None, t - h * 2, t + h);
        assert!(c.has("sale_closes_at"), "{c:?}");
        let mut c = Checks::new();
        check_window(&mut c, t, Some(t + h), t - h * 2, t);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn version_checks() {
        assert!(check_version(&[None, None], 3).is_ok());
        assert!(check_version(&[Some(3), None], 3).is_ok());
        assert!(check_version(&[Some(3), Some(2)], 3).is_err());
    }
}

//! `GET /api/v1/events`: the public list with status tabs, search, dates and prices.

use super::dto::*;
use crate::catalog::model::{EventStatus, event_status};
use crate::catalog::validate::like_pattern;
use crate::http::page::{self, Cursor, Page, invalid_query};
use crate::http::{ApiResult, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

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

crate::problems!(ListProblems: [codes::QUERY], INVALID_CURSOR);

/// List events.
///
/// Ordered by show time then id, with keyset pagination (`cursor`), so paging is stable
/// while events are added. The default `status` filter hides cancelled events.
#[utoipa::path(get, path = "/api/v1/events", tag = "catalog",
    params(EventListQuery),
    responses(
        (status = 200, body = Page<EventListItem>),
        ListProblems))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<EventListQuery>,
) -> ApiResult<Json<Page<EventListItem>>> {
    let filter = EventFilter::from_query(q)?;
    Ok(Json(
        list_events(&state.db, state.clock.now(), &filter).await?,
    ))
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
}

//! `GET /api/v1/events/{id}`: one response shape with everything a page needs (event,
//! derived status, artist, venue, ticket types with stock, the seat map), so no page
//! has to assemble an event from several calls and miss a part.

use super::dto::*;
use crate::catalog::Catalog;
use crate::catalog::model::{event_status, list_seats, list_ticket_types};
use crate::catalog::presale::PresaleSchedule;
use crate::http::{ApiResult, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

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
    catalog: &Catalog,
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
    let queue_mode = catalog.queue_modes.mode(&mut *conn, id).await?;
    let presale = match r.artist_id {
        Some(_) => {
            let offsets = catalog.presales.offsets(&mut *conn, id).await?;
            Some(PresaleSchedule::new(offsets, r.sale_opens_at))
        }
        None => None,
    };
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
        queue_mode,
        presale,
        your_presale: None,
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
fn build_seat_map(layout: LayoutRef, seats: Vec<crate::catalog::model::SeatRecord>) -> SeatMap {
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

crate::problems!(GetProblems: [codes::PATH], EVENT_NOT_FOUND);

/// One event with its ticket types and seat map. Signed in, an event with an artist
/// also says when the caller may book (`your_presale`: their tier and its window).
///
/// Served from a per-replica copy at most `URR_EVENT_CACHE_TTL_MS` (1 s) old; ticket
/// stock in it may lag by as much (the live seat map is `GET .../seats`).
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = "catalog",
    params(EventPath),
    responses(
        (status = 200, body = EventDetail),
        GetProblems))]
pub(crate) async fn get(
    State(state): State<AppState>,
    user: crate::auth::MaybeAuthUser,
    Path(p): Path<EventPath>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let cached = state.catalog.details.get(&state, p.event_id).await?;
    let json = match (&user, cached.artist_id) {
        (Some(user), Some(_)) => {
            let window = crate::catalog::fan_window(
                &*state.catalog.presales,
                &state.db,
                p.event_id,
                cached.artist_id,
                cached.sale_opens_at,
                user.id,
                state.clock.now(),
            )
            .await?;
            with_field(&cached.json, "your_presale", &window)?
        }
        _ => cached.json.clone(),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response())
}

/// `object` (serialised JSON of an object) with one more field, without re-parsing the
/// rest: a stadium's detail is half a megabyte of seat map.
fn with_field(
    object: &axum::body::Bytes,
    name: &str,
    value: &impl serde::Serialize,
) -> ApiResult<axum::body::Bytes> {
    let value = serde_json::to_vec(value).map_err(crate::http::ApiError::internal)?;
    let body = object.strip_suffix(b"}").ok_or_else(|| {
        crate::http::ApiError::internal(anyhow::anyhow!("detail is not an object"))
    })?;
    let mut out = Vec::with_capacity(body.len() + name.len() + value.len() + 6);
    out.extend_from_slice(body);
    if body.len() > 1 {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(&value);
    out.push(b'}');
    Ok(out.into())
}

//! Artists: public list/detail, admin writes.
//!
//! Bilingual search: an artist carries its Korean `name`, an English
//! `name_en` and free `aliases`; the artist list and the event list search all three, so
//! `아이유`, `IU` and `이지은` find the same artist and events.

use super::events::{EventFilter, EventListItem, list_events};
use super::model::EventStatus;
use super::validate::{Checks, double_option, is_unique_violation, like_pattern};
use crate::audit;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::page::{self, Cursor, Page};
use crate::http::{ApiError, ApiResult, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_wasm::token::Role;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most aliases one artist may have.
const MAX_ALIASES: usize = 20;
/// Membership price bounds, KRW.
const MAX_MEMBERSHIP_PRICE: i64 = 1_000_000;

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Artist {
    pub id: Uuid,
    pub name: String,
    pub name_en: Option<String>,
    pub aliases: Vec<String>,
    pub bio: Option<String>,
    pub image_url: Option<String>,
    /// KRW per year.
    pub membership_price: i64,
    /// Events of this artist that are not cancelled.
    pub event_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An artist with their current and coming events.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistDetail {
    #[serde(flatten)]
    pub artist: Artist,
    /// Up to 20 events that are upcoming or on sale, soonest first.
    pub events: Vec<EventListItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArtist {
    /// Unique, 1..=200 characters (the Korean name, usually).
    pub name: String,
    pub name_en: Option<String>,
    /// Other spellings fans search for (≤ 20, each ≤ 100 characters).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub bio: Option<String>,
    pub image_url: Option<String>,
    /// KRW, default 30,000.
    pub membership_price: Option<i64>,
}

/// Every field optional; `null` clears nullable ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArtist {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name_en: Option<Option<String>>,
    pub aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub image_url: Option<Option<String>>,
    pub membership_price: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NameListQuery {
    /// Case-insensitive substring (artists: name, English name, aliases; venues: name,
    /// city, address). ≤ 100 characters.
    pub q: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtistPath {
    pub artist_id: Uuid,
}

const ARTIST_COLUMNS: &str = "a.id, a.name, a.name_en, a.aliases, a.bio, a.image_url, \
     a.membership_price::int8 AS membership_price, \
     (SELECT count(*) FROM events e WHERE e.artist_id = a.id AND e.cancelled_at IS NULL) AS event_count, \
     a.created_at, a.updated_at";

fn artist_not_found() -> ApiError {
    ApiError::new(Code::ARTIST_NOT_FOUND, "No such artist")
}

fn name_taken() -> ApiError {
    ApiError::new(
        Code::ARTIST_NAME_TAKEN,
        "An artist with this name already exists",
    )
}

crate::problems!(ListProblems: [codes::QUERY], INVALID_CURSOR);

/// List artists by name.
#[utoipa::path(get, path = "/api/v1/artists", tag = "catalog",
    params(NameListQuery),
    responses(
        (status = 200, body = Page<Artist>),
        ListProblems))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<NameListQuery>,
) -> ApiResult<Json<Page<Artist>>> {
    let limit = page::limit(q.limit)?;
    let search = page::search_text(q.q.as_deref())?;
    let after = Cursor::decode_name(q.cursor.as_deref())?;
    let rows = sqlx::query_as::<_, Artist>(&format!(
        "SELECT {ARTIST_COLUMNS} FROM artists a
         WHERE ($1::text IS NULL OR a.name ILIKE $1 OR a.name_en ILIKE $1
                OR EXISTS (SELECT 1 FROM unnest(a.aliases) al WHERE al ILIKE $1))
           AND ($2::text IS NULL OR (a.name, a.id) > ($2, $3::uuid))
         ORDER BY a.name, a.id
         LIMIT $4"
    ))
    .bind(search.as_deref().map(like_pattern))
    .bind(after.as_ref().map(|a| a.0.clone()))
    .bind(after.as_ref().map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(page::paginate(
        rows,
        limit,
        |a| Cursor::name(&a.name, a.id),
        |a| a,
    )))
}

async fn load(state: &AppState, id: Uuid) -> ApiResult<Artist> {
    sqlx::query_as::<_, Artist>(&format!(
        "SELECT {ARTIST_COLUMNS} FROM artists a WHERE a.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(artist_not_found)
}

crate::problems!(GetProblems: [codes::PATH], ARTIST_NOT_FOUND);

/// One artist with their upcoming and on-sale events.
#[utoipa::path(get, path = "/api/v1/artists/{artist_id}", tag = "catalog",
    params(ArtistPath),
    responses(
        (status = 200, body = ArtistDetail),
        GetProblems))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(p): Path<ArtistPath>,
) -> ApiResult<Json<ArtistDetail>> {
    let artist = load(&state, p.artist_id).await?;
    let mut statuses = [false; 4];
    statuses[EventStatus::Upcoming as usize] = true;
    statuses[EventStatus::OnSale as usize] = true;
    let filter = EventFilter {
        artist_id: Some(artist.id),
        statuses,
        limit: 20,
        ..EventFilter::default()
    };
    let events = list_events(&state.db, state.clock.now(), &filter)
        .await?
        .items;
    Ok(Json(ArtistDetail { artist, events }))
}

/// Validated artist fields.
struct ArtistFields {
    name: Option<String>,
    name_en: Option<Option<String>>,
    aliases: Option<Vec<String>>,
    bio: Option<Option<String>>,
    image_url: Option<Option<String>>,
    membership_price: Option<i64>,
}

fn check_fields(c: &mut Checks, f: UpdateArtist) -> ArtistFields {
    let name = f.name.as_deref().map(|n| c.required_text("name", n, 200));
    let name_en = f
        .name_en
        .map(|n| n.as_deref().map(|n| c.required_text("name_en", n, 200)));
    let aliases = f.aliases.map(|list| {
        if list.len() > MAX_ALIASES {
            c.add("aliases", format!("at most {MAX_ALIASES} aliases"));
        }
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for (i, a) in list.iter().enumerate() {
            let a = c.required_text(&format!("aliases[{i}]"), a, 100);
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    });
    let bio = f
        .bio
        .map(|b| b.as_deref().map(|b| c.free_text("bio", b, 5000)));
    let image_url = f
        .image_url
        .map(|u| u.as_deref().map(|u| c.url("image_url", u)));
    if let Some(p) = f.membership_price {
        c.range("membership_price", p, 0, MAX_MEMBERSHIP_PRICE);
    }
    ArtistFields {
        name,
        name_en,
        aliases,
        bio,
        image_url,
        membership_price: f.membership_price,
    }
}

crate::problems!(
    CreateProblems: [codes::AUTH, codes::JSON_BODY],
    FORBIDDEN_ROLE, ARTIST_NAME_TAKEN,
);

/// Create an artist (admin).
#[utoipa::path(post, path = "/api/v1/artists", tag = "catalog",
    request_body = CreateArtist,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Artist),
        CreateProblems))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateArtist>,
) -> ApiResult<(StatusCode, Json<Artist>)> {
    user.require(&[Role::Admin])?;
    let mut c = Checks::new();
    let f = check_fields(
        &mut c,
        UpdateArtist {
            name: Some(body.name),
            name_en: Some(body.name_en),
            aliases: Some(body.aliases),
            bio: Some(body.bio),
            image_url: Some(body.image_url),
            membership_price: body.membership_price,
        },
    );
    c.finish()?;
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "INSERT INTO artists (id, name, name_en, aliases, bio, image_url, membership_price,
                              created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(f.name.unwrap_or_default())
    .bind(f.name_en.flatten())
    .bind(f.aliases.unwrap_or_default())
    .bind(f.bio.flatten())
    .bind(f.image_url.flatten())
    .bind(f.membership_price.unwrap_or(30_000))
    .bind(now)
    .execute(&mut *tx)
    .await;
    match done {
        Err(e) if is_unique_violation(&e, None) => return Err(name_taken()),
        other => {
            other?;
        }
    }
    let after = audit::row(&mut tx, "artists", id).await?;
    audit::record_rows(
        &mut tx,
        user.actor(),
        "artist.created",
        "artist",
        id,
        None,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(load(&state, id).await?)))
}

crate::problems!(
    UpdateProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, ARTIST_NOT_FOUND, ARTIST_NAME_TAKEN,
);

/// Edit an artist (admin).
#[utoipa::path(patch, path = "/api/v1/artists/{artist_id}", tag = "catalog",
    params(ArtistPath),
    request_body = UpdateArtist,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Artist),
        UpdateProblems))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<ArtistPath>,
    Json(body): Json<UpdateArtist>,
) -> ApiResult<Json<Artist>> {
    user.require(&[Role::Admin])?;
    let mut c = Checks::new();
    let f = check_fields(&mut c, body);
    c.finish()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "artists", p.artist_id).await?;
    let done = sqlx::query(
        "UPDATE artists SET
             name = COALESCE($2, name),
             name_en = CASE WHEN $3 THEN $4 ELSE name_en END,
             aliases = COALESCE($5, aliases),
             bio = CASE WHEN $6 THEN $7 ELSE bio END,
             image_url = CASE WHEN $8 THEN $9 ELSE image_url END,
             membership_price = COALESCE($10, membership_price),
             updated_at = $11
         WHERE id = $1",
    )
    .bind(p.artist_id)
    .bind(f.name)
    .bind(f.name_en.is_some())
    .bind(f.name_en.flatten())
    .bind(f.aliases)
    .bind(f.bio.is_some())
    .bind(f.bio.flatten())
    .bind(f.image_url.is_some())
    .bind(f.image_url.flatten())
    .bind(f.membership_price)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match done {
        Err(e) if is_unique_violation(&e, None) => return Err(name_taken()),
        Err(e) => return Err(e.into()),
        Ok(d) if d.rows_affected() == 0 => return Err(artist_not_found()),
        Ok(_) => {}
    }
    let after = audit::row(&mut tx, "artists", p.artist_id).await?;
    let (id, actor) = (p.artist_id, user.actor());
    audit::record_rows(
        &mut tx,
        actor,
        "artist.updated",
        "artist",
        id,
        before,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(load(&state, p.artist_id).await?))
}

crate::problems!(
    DeleteProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, ARTIST_NOT_FOUND, ARTIST_IN_USE,
);

/// Delete an artist (admin) that no event references (else 409 `ARTIST_IN_USE`).
#[utoipa::path(delete, path = "/api/v1/artists/{artist_id}", tag = "catalog",
    params(ArtistPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        DeleteProblems))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(p): Path<ArtistPath>,
) -> ApiResult<StatusCode> {
    user.require(&[Role::Admin])?;
    super::model::delete_unreferenced(
        &state,
        &user,
        ("artists", "artist"),
        p.artist_id,
        || {
            ApiError::new(
                Code::ARTIST_IN_USE,
                "Events (or memberships) still reference this artist",
            )
        },
        artist_not_found,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

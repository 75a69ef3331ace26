//! Artist boards: posts, their views and reports, and their moderation.

use super::model::*;
use super::text;
use crate::audit::{self, Change};
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code, Cursor, Page};
use crate::memberships::{Reason, award, claw_back};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: Uuid,
    artist_id: Uuid,
    title: String,
    body: String,
    author_id: Uuid,
    display_name: String,
    pinned: bool,
    hidden: bool,
    comment_count: i32,
    view_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT p.id, p.artist_id, p.title, p.body, p.author_id, u.display_name,
        p.pinned, p.hidden, p.comment_count, p.view_count, p.created_at, p.updated_at
     FROM posts p JOIN users u ON u.id = p.author_id";

impl Row {
    fn author(&self) -> Author {
        Author {
            id: self.author_id,
            display_name: self.display_name.clone(),
        }
    }

    fn post(self) -> Post {
        Post {
            author: self.author(),
            id: self.id,
            artist_id: self.artist_id,
            title: self.title,
            body: self.body,
            pinned: self.pinned,
            hidden: self.hidden,
            comment_count: self.comment_count,
            view_count: self.view_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn summary(self) -> PostSummary {
        PostSummary {
            author: self.author(),
            excerpt: self.body.chars().take(140).collect(),
            id: self.id,
            artist_id: self.artist_id,
            title: self.title,
            pinned: self.pinned,
            hidden: self.hidden,
            comment_count: self.comment_count,
            view_count: self.view_count,
            created_at: self.created_at,
        }
    }
}

pub(super) fn not_found() -> ApiError {
    ApiError::new(Code::POST_NOT_FOUND, "No such post")
}

/// A live post `viewer` may see (hidden ones: only their author and admins).
pub(super) async fn visible(
    conn: &mut PgConnection,
    id: Uuid,
    viewer: Option<&AuthUser>,
) -> ApiResult<Row> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.id = $1 AND p.deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) if !r.hidden || viewer.is_some_and(|v| v.is_admin() || v.id == r.author_id) => {
            Ok(r)
        }
        _ => Err(not_found()),
    }
}

/// `POST /api/v1/artists/{artist_id}/posts`: the post and its points, in one
/// transaction.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    artist: Uuid,
    body: NewPost,
) -> ApiResult<Post> {
    let title = text("title", &body.title, 200)?;
    let text_body = text("body", &body.body, 10_000)?;
    crate::auth::limit_per_user(state, crate::auth::RateLimit::PostUser, user.id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM artists WHERE id = $1)")
        .bind(artist)
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        return Err(ApiError::new(Code::ARTIST_NOT_FOUND, "No such artist"));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO posts (id, artist_id, author_id, title, body, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(artist)
    .bind(user.id)
    .bind(&title)
    .bind(&text_body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    award(&mut tx, user.id, artist, Reason::Post, &id.to_string(), now).await?;
    let row = visible(&mut tx, id, Some(user)).await?;
    tx.commit().await?;
    Ok(row.post())
}

/// A board page: on the first page the pinned posts, then the others newest first.
pub async fn list(
    state: &AppState,
    artist: Uuid,
    viewer: Option<&AuthUser>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Page<PostSummary>> {
    let admin = viewer.is_some_and(|v| v.is_admin());
    let viewer_id = viewer.map(|v| v.id);
    let visible_to = "AND (NOT p.hidden OR $2 OR p.author_id = $3)";
    let mut items = Vec::new();
    if after.is_none() {
        let pinned: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE p.artist_id = $1 AND p.deleted_at IS NULL AND p.pinned {visible_to}
             ORDER BY p.created_at DESC, p.id DESC LIMIT 10"
        ))
        .bind(artist)
        .bind(admin)
        .bind(viewer_id)
        .fetch_all(&state.db)
        .await?;
        items.extend(pinned.into_iter().map(Row::summary));
    }
    let (t, i) = after.unzip();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.artist_id = $1 AND p.deleted_at IS NULL AND NOT p.pinned {visible_to}
           AND ($4::timestamptz IS NULL OR (p.created_at, p.id) < ($4, $5))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $6"
    ))
    .bind(artist)
    .bind(admin)
    .bind(viewer_id)
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&state.db)
    .await?;
    Ok(super::pinned_first(
        items,
        rows,
        limit,
        |r| Cursor::created(r.created_at, r.id),
        Row::summary,
    ))
}

/// `GET /api/v1/posts/{id}`: counts a view once per signed-in viewer and Korean day.
pub async fn get(state: &AppState, id: Uuid, viewer: Option<&AuthUser>) -> ApiResult<Post> {
    let mut conn = state.db.acquire().await?;
    let row = visible(&mut conn, id, viewer).await?;
    let Some(viewer) = viewer else {
        return Ok(row.post());
    };
    let day = crate::memberships::kst_day(state.clock.now());
    let counted: Option<i32> = sqlx::query_scalar(
        "WITH seen AS (
             INSERT INTO post_views (post_id, viewer_id, kst_day) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING post_id)
         UPDATE posts SET view_count = view_count + 1
         WHERE id = (SELECT post_id FROM seen) RETURNING view_count",
    )
    .bind(id)
    .bind(viewer.id)
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?;
    let mut post = row.post();
    if let Some(n) = counted {
        post.view_count = n;
    }
    Ok(post)
}

/// The post `id`, locked, that `user` may change: its author (admins too when
/// `admins_too`).
async fn owned(
    conn: &mut PgConnection,
    user: &AuthUser,
    id: Uuid,
    admins_too: bool,
) -> ApiResult<(Uuid, Uuid)> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT author_id, artist_id FROM posts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((author, artist)) = row else {
        return Err(not_found());
    };
    if author != user.id && !(admins_too && user.is_admin()) {
        return Err(ApiError::new(
            Code::NOT_AUTHOR,
            "Only the author may do this",
        ));
    }
    Ok((author, artist))
}

/// `PATCH /api/v1/posts/{id}` (its author).
pub async fn edit(state: &AppState, user: &AuthUser, id: Uuid, body: PostEdit) -> ApiResult<Post> {
    let title = body
        .title
        .as_deref()
        .map(|t| text("title", t, 200))
        .transpose()?;
    let text_body = body
        .body
        .as_deref()
        .map(|b| text("body", b, 10_000))
        .transpose()?;
    let mut tx = state.db.begin().await?;
    owned(&mut tx, user, id, false).await?;
    sqlx::query(
        "UPDATE posts SET title = COALESCE($2, title), body = COALESCE($3, body), updated_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(title)
    .bind(text_body)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    let row = visible(&mut tx, id, Some(user)).await?;
    tx.commit().await?;
    Ok(row.post())
}

/// `DELETE /api/v1/posts/{id}` (its author or an admin): gone from the board, its
/// points taken back.
pub async fn delete(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (author, _) = owned(&mut tx, user, id, true).await?;
    sqlx::query("UPDATE posts SET deleted_at = $2, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    claw_back(&mut tx, Reason::Post, &id.to_string(), now).await?;
    if author != user.id {
        // An admin removing someone else's post is moderation: on the record.
        let change = Change::new("post.deleted", "post", id).before(json!({ "author_id": author }));
        audit::record(&mut tx, user.actor(), change, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /api/v1/posts/{id}/reports`: once per fan and post.
pub async fn report(state: &AppState, user: &AuthUser, id: Uuid, body: NewReport) -> ApiResult<()> {
    let reason = text("reason", &body.reason, 500)?;
    let mut tx = state.db.begin().await?;
    visible(&mut tx, id, Some(user)).await?;
    let added = sqlx::query(
        "INSERT INTO post_reports (post_id, reporter_id, reason, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(user.id)
    .bind(reason)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 0 {
        return Err(ApiError::new(
            Code::ALREADY_REPORTED,
            "You have reported this post already",
        ));
    }
    sqlx::query("UPDATE posts SET report_count = report_count + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `PATCH /api/v1/admin/posts/{id}`: pin or hide.
pub async fn moderate(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    body: PostModeration,
) -> ApiResult<Post> {
    user.require(&[shared_wasm::token::Role::Admin])?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "posts", id).await?;
    let moved = sqlx::query(
        "UPDATE posts SET pinned = COALESCE($2, pinned), hidden = COALESCE($3, hidden), updated_at = $4
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(body.pinned)
    .bind(body.hidden)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(not_found());
    }
    let after = audit::row(&mut tx, "posts", id).await?;
    let pick = |v: Option<serde_json::Value>| {
        v.map(|v| json!({ "pinned": v["pinned"], "hidden": v["hidden"] }))
    };
    let actor = user.actor();
    let (b, a) = (pick(before), pick(after));
    audit::record_rows(&mut tx, actor, "post.moderated", "post", id, b, a, now).await?;
    let row = visible(&mut tx, id, Some(user)).await?;
    tx.commit().await?;
    Ok(row.post())
}

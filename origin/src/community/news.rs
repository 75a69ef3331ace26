//! News: written by admins, read by everyone, pinned first.

use super::model::*;
use super::text;
use crate::audit;
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code, Cursor, Page};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use shared_wasm::token::Role;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    title: String,
    body: String,
    author_id: Uuid,
    display_name: String,
    pinned: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn news(self) -> News {
        News {
            id: self.id,
            title: self.title,
            body: self.body,
            author: Author {
                id: self.author_id,
                display_name: self.display_name,
            },
            pinned: self.pinned,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const SELECT: &str = "SELECT n.id, n.title, n.body, n.author_id, u.display_name, n.pinned,
        n.created_at, n.updated_at
     FROM news n JOIN users u ON u.id = n.author_id";

fn not_found() -> ApiError {
    ApiError::new(Code::NEWS_NOT_FOUND, "No such news")
}

/// A page of news: pinned first (on the first page), then newest first.
pub async fn list(
    state: &AppState,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Page<News>> {
    let mut items = Vec::new();
    if after.is_none() {
        let pinned: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE n.deleted_at IS NULL AND n.pinned ORDER BY n.created_at DESC LIMIT 10"
        ))
        .fetch_all(&state.db)
        .await?;
        items.extend(pinned.into_iter().map(Row::news));
    }
    let (t, i) = after.unzip();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE n.deleted_at IS NULL AND NOT n.pinned
           AND ($1::timestamptz IS NULL OR (n.created_at, n.id) < ($1, $2))
         ORDER BY n.created_at DESC, n.id DESC LIMIT $3"
    ))
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
        Row::news,
    ))
}

pub async fn get(state: &AppState, id: Uuid) -> ApiResult<News> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE n.id = $1 AND n.deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?;
    row.map(Row::news).ok_or_else(not_found)
}

/// `POST /api/v1/news` (admins): title and body required.
pub async fn create(state: &AppState, user: &AuthUser, body: NewsInput) -> ApiResult<News> {
    user.require(&[Role::Admin])?;
    let title = text("title", body.title.as_deref().unwrap_or(""), 200)?;
    let text_body = text("body", body.body.as_deref().unwrap_or(""), 20_000)?;
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO news (id, author_id, title, body, pinned, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(user.id)
    .bind(title)
    .bind(text_body)
    .bind(body.pinned.unwrap_or(false))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let after = audit::row(&mut tx, "news", id).await?;
    audit::record_rows(
        &mut tx,
        user.actor(),
        "news.created",
        "news",
        id,
        None,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    get(state, id).await
}

/// `PATCH /api/v1/news/{id}` (admins): edit or pin.
pub async fn edit(state: &AppState, user: &AuthUser, id: Uuid, body: NewsInput) -> ApiResult<News> {
    user.require(&[Role::Admin])?;
    let title = body
        .title
        .as_deref()
        .map(|t| text("title", t, 200))
        .transpose()?;
    let text_body = body
        .body
        .as_deref()
        .map(|b| text("body", b, 20_000))
        .transpose()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = audit::row(&mut tx, "news", id).await?;
    let moved = sqlx::query(
        "UPDATE news SET title = COALESCE($2, title), body = COALESCE($3, body),
                pinned = COALESCE($4, pinned), updated_at = $5
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(title)
    .bind(text_body)
    .bind(body.pinned)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(not_found());
    }
    let after = audit::row(&mut tx, "news", id).await?;
    audit::record_rows(
        &mut tx,
        user.actor(),
        "news.updated",
        "news",
        id,
        before,
        after,
        now,
    )
    .await?;
    tx.commit().await?;
    get(state, id).await
}

/// `DELETE /api/v1/news/{id}` (admins).
pub async fn delete(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<()> {
    user.require(&[Role::Admin])?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let moved = sqlx::query("UPDATE news SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved == 0 {
        return Err(not_found());
    }
    let change = audit::Change::new("news.deleted", "news", id);
    audit::record(&mut tx, user.actor(), change, now).await?;
    tx.commit().await?;
    Ok(())
}

//! Comments under posts, oldest first.

use super::model::*;
use super::posts::{not_found, visible};
use super::text;
use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code, Cursor, Page};
use crate::memberships::{Reason, award, claw_back};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    post_id: Uuid,
    body: String,
    author_id: Uuid,
    display_name: String,
    created_at: DateTime<Utc>,
}

impl Row {
    fn comment(self) -> Comment {
        Comment {
            id: self.id,
            post_id: self.post_id,
            body: self.body,
            author: Author {
                id: self.author_id,
                display_name: self.display_name,
            },
            created_at: self.created_at,
        }
    }
}

const SELECT: &str = "SELECT c.id, c.post_id, c.body, c.author_id, u.display_name, c.created_at
     FROM comments c JOIN users u ON u.id = c.author_id";

/// `POST /api/v1/posts/{id}/comments`: the comment, the post's count and the points,
/// in one transaction.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    post: Uuid,
    body: NewComment,
) -> ApiResult<Comment> {
    let text_body = text("body", &body.body, 2_000)?;
    crate::auth::limit_per_user(state, crate::auth::RateLimit::CommentUser, user.id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    visible(&mut tx, post, Some(user)).await?;
    let artist: Uuid = sqlx::query_scalar(
        "UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1 RETURNING artist_id",
    )
    .bind(post)
    .fetch_one(&mut *tx)
    .await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO comments (id, post_id, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(post)
    .bind(user.id)
    .bind(&text_body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    award(
        &mut tx,
        user.id,
        artist,
        Reason::Comment,
        &id.to_string(),
        now,
    )
    .await?;
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row.comment())
}

/// `GET /api/v1/posts/{id}/comments`: oldest first.
pub async fn list(
    state: &AppState,
    post: Uuid,
    viewer: Option<&AuthUser>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Page<Comment>> {
    let mut conn = state.db.acquire().await?;
    visible(&mut conn, post, viewer).await?;
    let (t, i) = after.unzip();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE c.post_id = $1 AND c.deleted_at IS NULL
           AND ($2::timestamptz IS NULL OR (c.created_at, c.id) > ($2, $3))
         ORDER BY c.created_at, c.id LIMIT $4"
    ))
    .bind(post)
    .bind(t)
    .bind(i)
    .bind(limit + 1)
    .fetch_all(&mut *conn)
    .await?;
    Ok(crate::http::page::paginate(
        rows,
        limit,
        |r| Cursor::created(r.created_at, r.id),
        Row::comment,
    ))
}

/// `DELETE /api/v1/comments/{id}` (its author or an admin): gone, the post's count
/// down, the points taken back.
pub async fn delete(state: &AppState, user: &AuthUser, id: Uuid) -> ApiResult<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT author_id, post_id FROM comments WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((author, post)) = row else {
        return Err(ApiError::new(Code::COMMENT_NOT_FOUND, "No such comment"));
    };
    if author != user.id && !user.is_admin() {
        return Err(ApiError::new(
            Code::NOT_AUTHOR,
            "Only the author may do this",
        ));
    }
    sqlx::query("UPDATE comments SET deleted_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let counted = sqlx::query(
        "UPDATE posts SET comment_count = comment_count - 1 WHERE id = $1 AND comment_count > 0",
    )
    .bind(post)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if counted == 0 {
        return Err(not_found());
    }
    claw_back(&mut tx, Reason::Comment, &id.to_string(), now).await?;
    if author != user.id {
        let change = crate::audit::Change::new("comment.deleted", "comment", id)
            .before(serde_json::json!({ "author_id": author, "post_id": post }));
        crate::audit::record(&mut tx, user.actor(), change, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

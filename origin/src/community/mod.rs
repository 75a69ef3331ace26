//! Artist boards (posts, comments, reports, moderation) and news.
//!
//! - `posts`: a board's posts, pinned first; views counted once per viewer and Korean
//!   day; reports (once per fan); admins pin and hide;
//! - `comments`: oldest first;
//! - `news`: admins write, everyone reads;
//! - `model`: what the API shows.
//!
//! Authors appear by display name only, never by any part of their email. Bodies are
//! plain text, length-limited, without control characters; pages show them as text.
//! Posting and commenting are rate-limited per account (`auth::RateLimit::PostUser`,
//! `CommentUser`). A post earns its author's membership of the artist +30 points and a
//! comment +10 (capped per day by `memberships`); deleting takes them back.

mod comments;
mod model;
mod news;
mod posts;

use crate::auth::{AuthUser, MaybeAuthUser};
use crate::http::{ApiError, ApiResult, Cursor, Json, Page, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use model::*;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_post, list_posts))
        .routes(routes!(get_post, edit_post, delete_post))
        .routes(routes!(create_comment, list_comments))
        .routes(routes!(delete_comment))
        .routes(routes!(report_post))
        .routes(routes!(moderate_post))
        .routes(routes!(list_news, create_news))
        .routes(routes!(get_news, edit_news, delete_news))
}

/// `value` trimmed, 1..=`max` characters, no control characters but line breaks and
/// tabs; else 422 naming `field`.
fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::validation(
            field,
            format!("must be 1-{max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A list page that starts with `pinned` (non-empty on the first page only), then a
/// keyset page of `rows` (fetched with one extra row to know whether more follow).
fn pinned_first<R, T>(
    pinned: Vec<T>,
    rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> Cursor,
    item: impl FnMut(R) -> T,
) -> Page<T> {
    let page = crate::http::page::paginate(rows, limit, cursor_of, item);
    let mut items = pinned;
    items.extend(page.items);
    Page {
        items,
        next_cursor: page.next_cursor,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1..=100, default 20.
    pub limit: Option<i64>,
}

/// Where a keyset page starts: after this `(created_at, id)`.
type After = Option<(chrono::DateTime<chrono::Utc>, Uuid)>;

impl PageQuery {
    fn parts(&self) -> ApiResult<(After, i64)> {
        Ok((
            Cursor::decode_created(self.cursor.as_deref())?,
            crate::http::page::limit(self.limit)?,
        ))
    }
}

crate::problems!(
    CreatePostProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    ARTIST_NOT_FOUND, RATE_LIMITED,
);

/// Writes a post on an artist's board (members earn points for it).
#[utoipa::path(post, path = "/api/v1/artists/{artist_id}/posts", tag = "community",
    params(("artist_id" = Uuid, Path, description = "Artist id")),
    request_body = NewPost,
    security(("bearer" = [])),
    responses((status = 201, body = Post), CreatePostProblems))]
async fn create_post(
    State(state): State<AppState>,
    user: AuthUser,
    Path(artist): Path<Uuid>,
    Json(body): Json<NewPost>,
) -> ApiResult<(StatusCode, Json<Post>)> {
    Ok((
        StatusCode::CREATED,
        Json(posts::create(&state, &user, artist, body).await?),
    ))
}

crate::problems!(ListPostsProblems: [codes::PATH, codes::QUERY], INVALID_CURSOR);

/// An artist's board: pinned posts first (first page), then newest first.
#[utoipa::path(get, path = "/api/v1/artists/{artist_id}/posts", tag = "community",
    params(("artist_id" = Uuid, Path, description = "Artist id"), PageQuery),
    responses((status = 200, body = Page<PostSummary>), ListPostsProblems))]
async fn list_posts(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Path(artist): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<PostSummary>>> {
    let (after, limit) = q.parts()?;
    Ok(Json(
        posts::list(&state, artist, user.as_ref(), after, limit).await?,
    ))
}

crate::problems!(GetPostProblems: [codes::PATH], POST_NOT_FOUND);

/// One post. Signed in, your first view of the (Korean) day counts.
#[utoipa::path(get, path = "/api/v1/posts/{post_id}", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    responses((status = 200, body = Post), GetPostProblems))]
async fn get_post(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Post>> {
    Ok(Json(posts::get(&state, id, user.as_ref()).await?))
}

crate::problems!(
    EditPostProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    POST_NOT_FOUND, NOT_AUTHOR,
);

/// Edits your post.
#[utoipa::path(patch, path = "/api/v1/posts/{post_id}", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    request_body = PostEdit,
    security(("bearer" = [])),
    responses((status = 200, body = Post), EditPostProblems))]
async fn edit_post(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PostEdit>,
) -> ApiResult<Json<Post>> {
    Ok(Json(posts::edit(&state, &user, id, body).await?))
}

crate::problems!(DeletePostProblems: [codes::AUTH, codes::PATH], POST_NOT_FOUND, NOT_AUTHOR);

/// Deletes a post (its author or an admin); its points are taken back.
#[utoipa::path(delete, path = "/api/v1/posts/{post_id}", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeletePostProblems))]
async fn delete_post(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    posts::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

crate::problems!(
    CreateCommentProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    POST_NOT_FOUND, RATE_LIMITED,
);

/// Comments on a post (members earn points for it).
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/comments", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    request_body = NewComment,
    security(("bearer" = [])),
    responses((status = 201, body = Comment), CreateCommentProblems))]
async fn create_comment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(post): Path<Uuid>,
    Json(body): Json<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    Ok((
        StatusCode::CREATED,
        Json(comments::create(&state, &user, post, body).await?),
    ))
}

crate::problems!(
    ListCommentsProblems: [codes::PATH, codes::QUERY],
    POST_NOT_FOUND, INVALID_CURSOR,
);

/// A post's comments, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{post_id}/comments", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id"), PageQuery),
    responses((status = 200, body = Page<Comment>), ListCommentsProblems))]
async fn list_comments(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Path(post): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<Comment>>> {
    let (after, limit) = q.parts()?;
    Ok(Json(
        comments::list(&state, post, user.as_ref(), after, limit).await?,
    ))
}

crate::problems!(
    DeleteCommentProblems: [codes::AUTH, codes::PATH],
    COMMENT_NOT_FOUND, NOT_AUTHOR, POST_NOT_FOUND,
);

/// Deletes a comment (its author or an admin); its points are taken back.
#[utoipa::path(delete, path = "/api/v1/comments/{comment_id}", tag = "community",
    params(("comment_id" = Uuid, Path, description = "Comment id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeleteCommentProblems))]
async fn delete_comment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    comments::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

crate::problems!(
    ReportProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    POST_NOT_FOUND, ALREADY_REPORTED,
);

/// Reports a post to the admins (once per fan).
#[utoipa::path(post, path = "/api/v1/posts/{post_id}/reports", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    request_body = NewReport,
    security(("bearer" = [])),
    responses((status = 201, description = "Reported"), ReportProblems))]
async fn report_post(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewReport>,
) -> ApiResult<StatusCode> {
    posts::report(&state, &user, id, body).await?;
    Ok(StatusCode::CREATED)
}

crate::problems!(
    ModerateProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    FORBIDDEN_ROLE, POST_NOT_FOUND,
);

/// Admin: pins or hides a post.
#[utoipa::path(patch, path = "/api/v1/admin/posts/{post_id}", tag = "community",
    params(("post_id" = Uuid, Path, description = "Post id")),
    request_body = PostModeration,
    security(("bearer" = [])),
    responses((status = 200, body = Post), ModerateProblems))]
async fn moderate_post(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PostModeration>,
) -> ApiResult<Json<Post>> {
    Ok(Json(posts::moderate(&state, &user, id, body).await?))
}

crate::problems!(ListNewsProblems: [codes::QUERY], INVALID_CURSOR);

/// News, pinned first (first page), then newest first.
#[utoipa::path(get, path = "/api/v1/news", tag = "community",
    params(PageQuery),
    responses((status = 200, body = Page<News>), ListNewsProblems))]
async fn list_news(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<News>>> {
    let (after, limit) = q.parts()?;
    Ok(Json(news::list(&state, after, limit).await?))
}

crate::problems!(CreateNewsProblems: [codes::AUTH, codes::JSON_BODY], FORBIDDEN_ROLE);

/// Admin: publishes news (`title` and `body` required).
#[utoipa::path(post, path = "/api/v1/news", tag = "community",
    request_body = NewsInput,
    security(("bearer" = [])),
    responses((status = 201, body = News), CreateNewsProblems))]
async fn create_news(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<NewsInput>,
) -> ApiResult<(StatusCode, Json<News>)> {
    Ok((
        StatusCode::CREATED,
        Json(news::create(&state, &user, body).await?),
    ))
}

crate::problems!(GetNewsProblems: [codes::PATH], NEWS_NOT_FOUND);

/// One news article.
#[utoipa::path(get, path = "/api/v1/news/{news_id}", tag = "community",
    params(("news_id" = Uuid, Path, description = "News id")),
    responses((status = 200, body = News), GetNewsProblems))]
async fn get_news(State(state): State<AppState>, Path(id): Path<Uuid>) -> ApiResult<Json<News>> {
    Ok(Json(news::get(&state, id).await?))
}

crate::problems!(
    EditNewsProblems: [codes::AUTH, codes::PATH, codes::JSON_BODY],
    FORBIDDEN_ROLE, NEWS_NOT_FOUND,
);

/// Admin: edits or pins news.
#[utoipa::path(patch, path = "/api/v1/news/{news_id}", tag = "community",
    params(("news_id" = Uuid, Path, description = "News id")),
    request_body = NewsInput,
    security(("bearer" = [])),
    responses((status = 200, body = News), EditNewsProblems))]
async fn edit_news(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewsInput>,
) -> ApiResult<Json<News>> {
    Ok(Json(news::edit(&state, &user, id, body).await?))
}

crate::problems!(DeleteNewsProblems: [codes::AUTH, codes::PATH], FORBIDDEN_ROLE, NEWS_NOT_FOUND);

/// Admin: deletes news.
#[utoipa::path(delete, path = "/api/v1/news/{news_id}", tag = "community",
    params(("news_id" = Uuid, Path, description = "News id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeleteNewsProblems))]
async fn delete_news(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    news::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

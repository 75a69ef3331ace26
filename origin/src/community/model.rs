//! What the community API shows and accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Who wrote something: the display name only, never any part of an email address.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Author {
    pub id: Uuid,
    pub display_name: String,
}

/// A post in a board list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PostSummary {
    pub id: Uuid,
    pub artist_id: Uuid,
    pub title: String,
    /// The first 140 characters of the body.
    pub excerpt: String,
    pub author: Author,
    pub pinned: bool,
    /// Hidden by an admin; only its author and admins see it.
    pub hidden: bool,
    pub comment_count: i32,
    pub view_count: i32,
    pub created_at: DateTime<Utc>,
}

/// One post.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Post {
    pub id: Uuid,
    pub artist_id: Uuid,
    pub title: String,
    /// Plain text (line breaks kept); pages show it as text, never as HTML.
    pub body: String,
    pub author: Author,
    pub pinned: bool,
    pub hidden: bool,
    pub comment_count: i32,
    pub view_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/artists/{id}/posts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// 1-200 characters.
    pub title: String,
    /// 1-10,000 characters of plain text.
    pub body: String,
}

/// Body of `PATCH /api/v1/posts/{id}`: what changes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    pub title: Option<String>,
    pub body: Option<String>,
}

/// Body of `PATCH /api/v1/admin/posts/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostModeration {
    pub pinned: Option<bool>,
    pub hidden: Option<bool>,
}

/// One comment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comment {
    pub id: Uuid,
    pub post_id: Uuid,
    pub body: String,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/posts/{id}/comments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1-2,000 characters of plain text.
    pub body: String,
}

/// Body of `POST /api/v1/posts/{id}/reports`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// 1-500 characters: what is wrong with the post.
    pub reason: String,
}

/// A news article.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct News {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub author: Author,
    pub pinned: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/news` (all fields) and `PATCH /api/v1/news/{id}` (any).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewsInput {
    pub title: Option<String>,
    pub body: Option<String>,
    pub pinned: Option<bool>,
}

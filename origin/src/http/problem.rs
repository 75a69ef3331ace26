//! RFC 9457 problem details: the one error shape of the API.
//!
//! Every error response is `application/problem+json` with a stable, machine-readable
//! `code` (SCREAMING_SNAKE_CASE, one of [`Code`]). Clients branch on `code`, never on `detail`, which is
//! for humans and may change. Bad input gets a 4xx that names the field; a 500 never
//! carries internals (they go to the log with the request id).

use super::codes::Code;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

const RESERVED_MEMBERS: [&str; 6] = ["type", "title", "status", "code", "detail", "errors"];

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `items[0].quantity`.
    pub field: String,
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `SEAT_UNAVAILABLE`.
    pub code: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (e.g. `seats` for `SEAT_UNAVAILABLE`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// An error a handler returns; renders as [`Problem`]. Boxed so `Result<T, ApiError>`
/// stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<ErrorParts>);

/// The parts of an [`ApiError`], reachable through `Deref`.
#[derive(Debug)]
pub struct ErrorParts {
    pub status: StatusCode,
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub extra: Map<String, Value>,
    pub retry_after_secs: Option<u64>,
    /// Logged, never sent.
    pub source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `code`'s status.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self::with_status(code.status(), code, detail)
    }

    /// An error whose status is not `code`'s own (the router's fallbacks pass through
    /// whatever status axum chose).
    pub fn with_status(status: StatusCode, code: Code, detail: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorParts {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            retry_after_secs: None,
            source: None,
        }))
    }

    /// 422 `VALIDATION_FAILED` naming one field; chain [`ApiError::and_field`] for more.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut e = Self::new(Code::VALIDATION_FAILED, format!("{field}: {message}"));
        e.errors.push(FieldError { field, message });
        e
    }

    /// 422 from a list of field errors (empty list: not an error, returns `None`).
    pub fn from_field_errors(errors: Vec<FieldError>) -> Option<Self> {
        let first = errors.first()?;
        let mut e = Self::validation(first.field.clone(), first.message.clone());
        e.errors = errors;
        if e.errors.len() > 1 {
            e.detail = format!("{} fields are invalid", e.errors.len());
        }
        Some(e)
    }

    pub fn and_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self.detail = format!("{} fields are invalid", self.errors.len());
        self
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            Code::RATE_LIMITED,
            format!("Too many attempts; retry after {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }

    /// 500; `source` goes to the log only.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            Code::INTERNAL,
            "An unexpected error occurred; it has been logged",
        );
        e.source = Some(source.into());
        e
    }

    /// Adds an extension member to the problem body. The RFC 9457 members and ours
    /// (`type`, `title`, `status`, `code`, `detail`, `errors`) cannot be overridden.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        debug_assert!(
            !RESERVED_MEMBERS.contains(&key),
            "`{key}` is a reserved problem member"
        );
        if RESERVED_MEMBERS.contains(&key) {
            return self;
        }
        self.extra.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// An error a shared (single-flight) load handed to every waiter, as this
    /// request's own: everything but the logged source is kept.
    pub fn from_shared(e: std::sync::Arc<ApiError>) -> Self {
        std::sync::Arc::try_unwrap(e).unwrap_or_else(|shared| {
            let mut e = ApiError::with_status(shared.status, shared.code, shared.detail.clone());
            e.errors = shared.errors.clone();
            e.extra = shared.extra.clone();
            e.retry_after_secs = shared.retry_after_secs;
            e
        })
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            kind: format!(
                "https://urr.dev/problems/{}",
                self.code.as_str().to_ascii_lowercase().replace('_', "-")
            ),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.as_str().to_owned(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl std::ops::Deref for ApiError {
    type Target = ErrorParts;
    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorParts {
        &mut self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = %self.code, error = ?source, "request failed")
                }
                None => tracing::error!(code = %self.code, detail = %self.detail, "request failed"),
            }
        }
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        // For the declared-errors check (`http::codes::check_declared`).
        res.extensions_mut().insert(self.code);
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                let mut err = ApiError::new(
                    Code::DATABASE_UNAVAILABLE,
                    "The database is not reachable right now; retry shortly",
                );
                err.source = Some(e.into());
                err.with_retry_after(2)
            }
            other => ApiError::internal(other),
        }
    }
}

/// A database error a shared (single-flight) load handed to every waiter.
impl From<std::sync::Arc<sqlx::Error>> for ApiError {
    fn from(e: std::sync::Arc<sqlx::Error>) -> Self {
        match std::sync::Arc::try_unwrap(e) {
            Ok(e) => e.into(),
            Err(shared) => match &*shared {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                    ApiError::new(
                        Code::DATABASE_UNAVAILABLE,
                        "The database is not reachable right now; retry shortly",
                    )
                    .with_retry_after(2)
                }
                other => ApiError::internal(anyhow::anyhow!("{other}")),
            },
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        let mut err = ApiError::new(
            Code::CACHE_UNAVAILABLE,
            "A backing store is not reachable right now; retry shortly",
        );
        err.source = Some(e.into());
        err.with_retry_after(2)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(e)
    }
}

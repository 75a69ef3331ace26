//! Extractors that answer bad input with problem+json instead of axum's plain text.
//!
//! Use these in handlers instead of `axum::Json` / `Path` / `Query`:
//! - malformed JSON → 400 `MALFORMED_JSON`;
//! - wrong types, missing or unknown fields → 422 `INVALID_BODY` naming the field;
//! - missing `Content-Type: application/json` → 415 `UNSUPPORTED_MEDIA_TYPE`;
//! - body over the limit → 413 `PAYLOAD_TOO_LARGE`;
//! - bad path segment (e.g. a non-UUID id) → 400 `INVALID_PATH`;
//! - bad query string → 400 `INVALID_QUERY`.

use super::problem::{ApiError, FieldError};
use crate::http::Code;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// JSON body extractor and response type.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path extractor.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query-string extractor.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Splits serde's "path: message" into the field and the message.
fn field_of(text: &str) -> FieldError {
    let text = text
        .split_once("target type: ")
        .map(|(_, rest)| rest)
        .unwrap_or(text);
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => text,
    };
    match text.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') && path != "." => FieldError {
            field: path.to_owned(),
            message: msg.to_owned(),
        },
        _ => {
            // Root-level errors name the field inside the message: "missing field `x`".
            let field = text
                .split('`')
                .nth(1)
                .filter(|_| text.contains("field `"))
                .unwrap_or("body");
            FieldError {
                field: field.to_owned(),
                message: text
                    .trim_start_matches(". ")
                    .trim_start_matches(": ")
                    .to_owned(),
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                let fe = field_of(&e.body_text());
                let mut err =
                    ApiError::new(Code::INVALID_BODY, format!("{}: {}", fe.field, fe.message));
                err.errors.push(fe);
                err
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                Code::MALFORMED_JSON,
                format!(
                    "The body is not valid JSON: {}",
                    field_of(&e.body_text()).message
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                Code::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                payload_too_large()
            }
            other => ApiError::with_status(other.status(), Code::BAD_BODY, other.body_text()),
        }
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        Code::PAYLOAD_TOO_LARGE,
        "The request body is larger than this endpoint accepts",
    )
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        match r {
            PathRejection::FailedToDeserializePathParams(e) => {
                ApiError::new(Code::INVALID_PATH, e.body_text())
            }
            other => ApiError::with_status(other.status(), Code::INVALID_PATH, other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let text = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text)
            .to_owned();
        ApiError::new(Code::INVALID_QUERY, text)
    }
}

/// The value of the request cookie `name`, if any (the first of that name).
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn field_paths_are_extracted() {
        let f = field_of(
            "Failed to deserialize the JSON body into the target type: items[0].quantity: invalid value: integer `-1`, expected u32 at line 1 column 40",
        );
        assert_eq!(f.field, "items[0].quantity");
        assert!(f.message.starts_with("invalid value"));
        let f = field_of(
            "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2",
        );
        assert_eq!(f.field, "email");
        let f = field_of(
            "Failed to deserialize the JSON body into the target type: unknown field `bogus`, expected one of `a`, `b` at line 1 column 9",
        );
        assert_eq!(f.field, "bogus");
    }
}

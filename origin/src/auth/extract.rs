//! Who is calling: the access token in `Authorization: Bearer …`.

use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use shared_wasm::token::{self, AccessClaims, Role, TokenError};
use uuid::Uuid;

/// A caller with a valid access token. Extracting it from a request without one answers
/// 401 problem+json: `AUTH_REQUIRED` without a token, the token error's code otherwise
/// (`TOKEN_EXPIRED`, `TOKEN_WRONG_TYPE` for a refresh/entry/pass token, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
}

/// `Option<AuthUser>` for routes that work with or without login; a present but invalid
/// token is still refused.
pub type MaybeAuthUser = Option<AuthUser>;

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// 403 `FORBIDDEN_ROLE` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "FORBIDDEN_ROLE",
                format!(
                    "This action needs one of the roles: {}",
                    roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized("TOKEN_MALFORMED", "Authorization header is not ASCII")
    })?;
    match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(Some(t.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "TOKEN_MALFORMED",
            "Authorization header must be `Bearer <access token>`",
        )),
    }
}

fn token_error(e: TokenError) -> ApiError {
    ApiError::unauthorized(e.code(), format!("Access token refused: {e}"))
}

fn verify(state: &AppState, t: &str) -> Result<AuthUser, ApiError> {
    let claims: AccessClaims =
        token::verify(&state.config.keys.origin_public, t, state.clock.unix())
            .map_err(token_error)?;
    Ok(AuthUser {
        id: claims.sub,
        role: claims.role,
    })
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            Some(t) => verify(state, t),
            None => Err(ApiError::unauthorized(
                "AUTH_REQUIRED",
                "Log in first: send `Authorization: Bearer <access token>`",
            )),
        }
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        match bearer(parts)? {
            Some(t) => verify(state, t).map(Some),
            None => Ok(None),
        }
    }
}

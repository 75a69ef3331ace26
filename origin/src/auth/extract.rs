//! Who is calling: the access token in `Authorization: Bearer …`.

use crate::http::ApiError;
use crate::http::Code;
use crate::state::AppState;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
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

    /// The caller as the audit log names them.
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor {
            id: self.id,
            role: self.role.as_str(),
        }
    }

    /// 403 `FORBIDDEN_ROLE` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::FORBIDDEN_ROLE,
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
    let value = value
        .to_str()
        .map_err(|_| ApiError::new(Code::TOKEN_MALFORMED, "Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(Some(t.trim()))
        }
        _ => Err(ApiError::new(
            Code::TOKEN_MALFORMED,
            "Authorization header must be `Bearer <access token>`",
        )),
    }
}

fn token_error(e: TokenError) -> ApiError {
    let code = match e {
        TokenError::Malformed => Code::TOKEN_MALFORMED,
        TokenError::Algorithm => Code::TOKEN_ALGORITHM,
        TokenError::UnknownKey => Code::TOKEN_UNKNOWN_KEY,
        TokenError::BadSignature => Code::TOKEN_BAD_SIGNATURE,
        TokenError::WrongKind { .. } => Code::TOKEN_WRONG_TYPE,
        TokenError::Expired => Code::TOKEN_EXPIRED,
        TokenError::NotYetValid => Code::TOKEN_NOT_YET_VALID,
        TokenError::WrongEvent => Code::TOKEN_WRONG_EVENT,
    };
    ApiError::new(code, format!("Access token refused: {e}"))
}

async fn verify(state: &AppState, t: &str) -> Result<AuthUser, ApiError> {
    let now = state.clock.unix();
    let digest: [u8; 32] = Sha256::digest(t.as_bytes()).into();
    let (user, session) = match state.auth.verified_tokens.get(&digest, now).await {
        Some(hit) => hit,
        None => {
            let claims: AccessClaims =
                token::verify(&state.config.keys.origin_public, t, now).map_err(token_error)?;
            let user = AuthUser {
                id: claims.sub,
                role: claims.role,
            };
            state
                .auth
                .verified_tokens
                .put(digest, (user, claims.sid), claims.exp)
                .await;
            (user, claims.sid)
        }
    };
    if state
        .auth
        .revocations
        .is_revoked(user.id, user.role, session)
    {
        return Err(ApiError::new(
            Code::TOKEN_REVOKED,
            "This session was ended or your role changed: refresh or log in again",
        ));
    }
    Ok(user)
}

/// A verified token's caller and session.
type Verified = (AuthUser, Option<Uuid>);

/// Access tokens whose signature this replica has already checked, by SHA-256 of the
/// token, until they expire. During an on-sale every fan sends the same token with
/// every request; an Ed25519 verification costs about a tenth of a booking's CPU in
/// the origin, a hash lookup almost nothing. Expiry is re-checked on every hit with the
/// same clock-skew rule as [`token::verify`]; the signing keys only change with a
/// restart, which empties the cache.
pub struct VerifiedTokens {
    entries: crate::cache::Cache<[u8; 32], (Verified, i64)>,
}

/// Entries kept at most; the least used are verified again, not lost.
const VERIFIED_TOKENS_MAX: u64 = 200_000;

impl VerifiedTokens {
    /// Entries also leave after `lifetime` (the access-token lifetime plus skew): a
    /// backstop, the expiry check on every hit is what counts.
    pub fn new(lifetime: std::time::Duration) -> VerifiedTokens {
        VerifiedTokens {
            entries: crate::cache::Cache::builder("verified_tokens", VERIFIED_TOKENS_MAX)
                .time_to_live(lifetime)
                .build(),
        }
    }

    async fn get(&self, digest: &[u8; 32], now: i64) -> Option<Verified> {
        match self.entries.get(digest).await {
            Some((user, exp)) if exp > now - token::CLOCK_SKEW_SECS => Some(user),
            Some(_) => {
                self.entries.forget(digest).await;
                None
            }
            None => None,
        }
    }

    async fn put(&self, digest: [u8; 32], user: Verified, exp: i64) {
        self.entries.insert(digest, (user, exp)).await;
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            Some(t) => verify(state, t).await,
            None => Err(ApiError::new(
                Code::AUTH_REQUIRED,
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
            Some(t) => verify(state, t).await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verified_tokens_expire_with_the_same_skew_as_verification() {
        let cache = VerifiedTokens::new(std::time::Duration::from_secs(3600));
        let user = (
            AuthUser {
                id: Uuid::new_v4(),
                role: Role::Fan,
            },
            None,
        );
        let d = [7u8; 32];
        assert_eq!(cache.get(&d, 1_000).await, None);
        cache.put(d, user, 1_000).await;
        assert_eq!(cache.get(&d, 1_000).await, Some(user));
        assert_eq!(
            cache.get(&d, 1_000 + token::CLOCK_SKEW_SECS - 1).await,
            Some(user)
        );
        // Past exp + skew: gone, and gone for good (the next call verifies again).
        assert_eq!(cache.get(&d, 1_000 + token::CLOCK_SKEW_SECS).await, None);
        assert_eq!(cache.get(&d, 1_000).await, None);
        assert_eq!(cache.get(&[8u8; 32], 1_000).await, None);
    }
}

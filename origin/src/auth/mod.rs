//! Accounts, passwords and sessions.
//!
//! How a session works:
//!
//! - **Access token**: an EdDSA JWT (`typ = access`, 30 min) from `shared_wasm::token`,
//!   verified statelessly by the [`AuthUser`] extractor on every request (no database
//!   hit). Short-lived because it cannot be revoked.
//! - **Refresh token**: an opaque random value in an HttpOnly cookie scoped to
//!   `/api/v1/auth`, stored hashed, rotated on every use, with family reuse detection
//!   ([`session`] explains the rules). It is the revocable part of a session.
//! - **Passwords**: Argon2id on the blocking pool (`password`).
//! - **Google sign-in**: ID tokens checked against Google's JWKS (`google`).
//! - **Rate limits** for login, registration and, per account, the hot paths
//!   (reservations, queue joins) in Redis ([`rate_limit`]); the client IP is the one the
//!   edge attests ([`ClientIp`]).
//! - **Revocation** of access tokens within a second of logout or a role change
//!   ([`revocation`]).
//!
//! Routes (see [`routes`]): `POST /api/v1/auth/{register,login,refresh,logout,google}`
//! and `GET /api/v1/me`.
//!
//! Other modules use [`AuthUser`] (who is calling) and [`issue_access_token`]; seeders
//! use [`create_user`].

mod admin_users;
mod config;
mod extract;
mod google;
mod google_routes;
mod password;
mod rate_limit;
mod revocation;
mod routes;
mod session;
mod users;

pub use config::{AuthConfig, GoogleConfig};
pub use extract::{AuthUser, MaybeAuthUser, VerifiedTokens};
pub use password::{
    PasswordError, PasswordParams, hash_password, hash_password_blocking, verify_password,
};
pub use rate_limit::{ClientIp, Scope as RateLimit};
pub use revocation::Revocations;
pub use routes::{GoogleRequest, LoginRequest, RefreshRequest, RegisterRequest, TokenResponse};
pub use session::{
    REFRESH_COOKIE, REFRESH_COOKIE_PATH, purge_expired_refresh_tokens, revoke_all_sessions,
};
pub use users::{CreateUserError, UserProfile, create_user};

/// Auth's share of the app state: every replica's own view, nothing shared between apps
/// (tests run many apps in one process).
pub struct Auth {
    /// Access tokens already verified (signature checked once per token, not per request).
    pub(crate) verified_tokens: VerifiedTokens,
    /// Ended sessions and role changes of the last token lifetime (synced every second).
    pub(crate) revocations: Revocations,
    /// Bounds the Argon2 hashing in flight (logins, registrations).
    pub password_gate: password::HashingGate,
    /// The Google key cache and the dummy password hash.
    pub(crate) shared: routes::AuthShared,
}

impl Auth {
    pub fn new(config: &crate::auth::AuthConfig) -> Auth {
        Auth {
            verified_tokens: VerifiedTokens::new(
                config.access_ttl + std::time::Duration::from_secs(120),
            ),
            revocations: Revocations::new(
                config.access_ttl
                    + std::time::Duration::from_secs(
                        shared_wasm::token::CLOCK_SKEW_SECS.unsigned_abs(),
                    ),
            ),
            password_gate: password::HashingGate::new(
                config.password_hash_concurrency,
                config.password_hash_queue,
            ),
            shared: routes::AuthShared::default(),
        }
    }
}

/// Drops revocations older than any token they could still refuse.
pub async fn purge_revocations(
    db: &sqlx::PgPool,
    now: chrono::DateTime<chrono::Utc>,
    keep: std::time::Duration,
) -> sqlx::Result<()> {
    revocation::purge(db, now, keep).await.map(drop)
}

use crate::state::AppState;
use shared_wasm::token::{self, AccessClaims, Role};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

/// The auth routes, documented (merged by `app::router`).
pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
}

/// Signs an access token for `user`; returns it with its lifetime in seconds.
/// `session`: the refresh-token family the token belongs to (revoked with it).
pub fn issue_access_token(
    state: &AppState,
    user: Uuid,
    role: Role,
    session: Option<Uuid>,
) -> (String, i64) {
    let now = state.clock.unix();
    let ttl = i64::try_from(state.config.auth.access_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = AccessClaims {
        sub: user,
        role,
        jti: Uuid::new_v4().simple().to_string(),
        iat: now,
        exp: now.saturating_add(ttl),
        sid: session,
    };
    (token::sign(&state.config.keys.origin_signing, &claims), ttl)
}

/// Counts one hot-path attempt of `user` in `scope` (reservation attempts, queue joins:
/// per second, `URR_RATE_*_PER_USER_PER_SEC`); 429 `RATE_LIMITED` with `Retry-After`
/// beyond the limit. Fails open when Redis is down, like every limit here: booking
/// keeps working on Postgres alone, and the limit is a brake, not a guarantee.
pub async fn limit_per_user(
    state: &AppState,
    scope: RateLimit,
    user: Uuid,
) -> Result<(), crate::http::ApiError> {
    rate_limit::check(state, scope, &user.simple().to_string()).await
}

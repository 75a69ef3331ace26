//! Accounts, passwords and sessions.
//!
//! - Access tokens: EdDSA JWTs (`typ = access`, 30 min) from `shared_wasm::token`,
//!   verified statelessly by [`AuthUser`].

mod extract;

pub use extract::{AuthUser, MaybeAuthUser};

use crate::state::AppState;
use shared_wasm::token::{self, AccessClaims, Role};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Signs an access token for `user`; returns it with its lifetime in seconds.
pub fn issue_access_token(state: &AppState, user: Uuid, role: Role) -> (String, i64) {
    let now = state.clock.unix();
    let ttl = state.config.auth.access_ttl.as_secs() as i64;
    let claims = AccessClaims {
        sub: user,
        role,
        jti: Uuid::new_v4().simple().to_string(),
        iat: now,
        exp: now + ttl,
    };
    (token::sign(&state.config.keys.origin_signing, &claims), ttl)
}

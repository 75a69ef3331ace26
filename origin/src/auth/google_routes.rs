//! Google sign-in routes: a one-time nonce, then the ID token exchanged for a session.

use super::routes::*;
use super::session::{self};
use super::users::{self, InsertError, NewUser, UserRow};
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shared_wasm::token::Role;
use utoipa::ToSchema;

crate::problems!(
    GoogleProblems: [codes::JSON_BODY],
    GOOGLE_TOKEN_INVALID, GOOGLE_TOKEN_EXPIRED, GOOGLE_EMAIL_UNVERIFIED, GOOGLE_NONCE_INVALID,
    GOOGLE_DISABLED, GOOGLE_ACCOUNT_CONFLICT, GOOGLE_SIGNIN_CONFLICT, GOOGLE_UNAVAILABLE,
    ACCOUNT_DISABLED,
);

/// Sign in with a Google ID token.
///
/// The Google account is found by its subject id; failing that, an account with the
/// same email is linked to it (Google must have verified the email); failing that, a fan
/// account without password is created. Off unless `URR_GOOGLE_CLIENT_ID` is set: then
/// 404 `GOOGLE_DISABLED` (the feature does not exist on this deployment, retrying will
/// not help, so not a 503).
#[utoipa::path(post, path = "/api/v1/auth/google", tag = "auth",
    request_body = GoogleRequest,
    responses(
        (status = 200, description = "Session started. Sets the `urr_refresh` cookie.", body = TokenResponse,
            headers(("set-cookie" = String, description = "urr_refresh=…; HttpOnly; SameSite=Strict; Path=/api/v1/auth"))),
        GoogleProblems))]
pub(super) async fn google(
    State(state): State<AppState>,
    Json(req): Json<GoogleRequest>,
) -> ApiResult<Response> {
    let Some(config) = state.config.auth.google.as_ref() else {
        return Err(ApiError::new(
            Code::GOOGLE_DISABLED,
            "Google sign-in is not enabled on this server",
        ));
    };
    let identity = match state
        .auth
        .shared
        .google
        .verify(config, &state.clock, &req.credential)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            metrics::counter!("auth_google_signins_total", "outcome" => "refused").increment(1);
            return Err(e.into());
        }
    };
    if !use_google_nonce(&state, identity.nonce.as_deref()).await? {
        metrics::counter!("auth_google_signins_total", "outcome" => "bad_nonce").increment(1);
        return Err(ApiError::new(
            Code::GOOGLE_NONCE_INVALID,
            "The sign-in's nonce is missing, expired or already used: start the sign-in again",
        ));
    }
    let (user, how) = google_account(&state, &identity).await?;
    if user.disabled_at.is_some() {
        metrics::counter!("auth_google_signins_total", "outcome" => "disabled").increment(1);
        return Err(account_disabled());
    }
    metrics::counter!("auth_google_signins_total", "outcome" => how).increment(1);
    count_login("success");
    let refresh =
        session::start_family(&state.db, user.id, state.clock.now(), &state.config.auth).await?;
    session_response(&state, StatusCode::OK, &user, refresh)
}

/// How long a Google sign-in nonce stays usable.
const GOOGLE_NONCE_TTL_SECS: u64 = 600;

fn google_nonce_key(state: &AppState, nonce: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(nonce.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    state.redis.key(&format!("auth:gnonce:{hex}"))
}

/// Uses up `nonce` if we issued it and it is unused; false otherwise.
async fn use_google_nonce(state: &AppState, nonce: Option<&str>) -> ApiResult<bool> {
    let Some(nonce) = nonce.filter(|n| !n.is_empty() && n.len() <= 128) else {
        return Ok(false);
    };
    let removed: i64 = redis::cmd("DEL")
        .arg(google_nonce_key(state, nonce))
        .query_async(&mut state.redis.conn())
        .await
        .map_err(google_nonce_store_down)?;
    Ok(removed == 1)
}

fn google_nonce_store_down(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "Google sign-in nonces unavailable (Redis)");
    ApiError::new(
        Code::GOOGLE_UNAVAILABLE,
        "Google sign-in cannot be checked right now; retry shortly",
    )
    .with_retry_after(5)
}

/// A fresh nonce for one Google sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoogleNonce {
    /// Pass it to Google Identity Services (`nonce`); the ID token must carry it.
    pub nonce: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

crate::problems!(GoogleNonceProblems: [], GOOGLE_DISABLED, GOOGLE_UNAVAILABLE);

/// Start a Google sign-in: a one-time nonce, valid 10 minutes, that the ID token must
/// carry. A captured ID token is useless once its nonce is used.
#[utoipa::path(post, path = "/api/v1/auth/google/nonce", tag = "auth",
    responses(
        (status = 201, body = GoogleNonce),
        GoogleNonceProblems))]
pub(super) async fn google_nonce(State(state): State<AppState>) -> ApiResult<Response> {
    if state.config.auth.google.is_none() {
        return Err(ApiError::new(
            Code::GOOGLE_DISABLED,
            "Google sign-in is not enabled on this server",
        ));
    }
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let _: () = redis::cmd("SET")
        .arg(google_nonce_key(&state, &nonce))
        .arg(1)
        .arg("EX")
        .arg(GOOGLE_NONCE_TTL_SECS)
        .query_async(&mut state.redis.conn())
        .await
        .map_err(google_nonce_store_down)?;
    let expires_at = state.clock.now() + chrono::Duration::seconds(GOOGLE_NONCE_TTL_SECS as i64);
    let mut res = (StatusCode::CREATED, Json(GoogleNonce { nonce, expires_at })).into_response();
    no_store(&mut res);
    Ok(res)
}

/// Finds, links or creates the account of a verified Google identity. Returns it with
/// what happened (`existing`, `linked`, `created`).
///
/// Linking: only when Google says the email is verified (checked by the
/// verifier) and the account is not linked to another Google subject yet. Our own
/// password accounts never proved their email, so someone may have registered the
/// victim's address first, hoping the victim later signs in with Google into an account
/// whose password the attacker knows ("pre-account takeover"). Linking therefore ends
/// every existing session of such an account; the password itself stays (removing it
/// would lock out the honest owner who registered first). See the report for the open
/// decision on email verification.
async fn google_account(
    state: &AppState,
    identity: &super::google::GoogleIdentity,
) -> ApiResult<(UserRow, &'static str)> {
    // Two first sign-ins of one Google account can race to insert; the loser retries
    // and finds the winner's row.
    for _ in 0..2 {
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        if let Some(user) = users::find_by_google_sub(&mut *tx, &identity.sub).await? {
            tx.commit().await?;
            return Ok((user, "existing"));
        }
        let by_email = sqlx::query_as::<_, UserRow>(
            "SELECT id, email, password_hash, display_name, phone, role, google_sub,
                    email_verified, created_at, disabled_at
             FROM users WHERE lower(email) = $1 FOR UPDATE",
        )
        .bind(&identity.email)
        .fetch_optional(&mut *tx)
        .await?;
        match by_email {
            Some(user) if user.google_sub.is_some() => {
                return Err(ApiError::new(
                    Code::GOOGLE_ACCOUNT_CONFLICT,
                    "The account with this email is linked to another Google account",
                ));
            }
            Some(user) => {
                let linked = sqlx::query_as::<_, UserRow>(
                    // An unproven email means whoever registered it may not own it
                    // (account pre-hijacking): the Google owner takes the account over and
                    // the unproven password stops working.
                    "UPDATE users SET google_sub = $2, email_verified = true, updated_at = $3,
                            password_hash = CASE WHEN email_verified THEN password_hash END
                     WHERE id = $1
                     RETURNING id, email, password_hash, display_name, phone, role, google_sub,
                               email_verified, created_at",
                )
                .bind(user.id)
                .bind(&identity.sub)
                .bind(now)
                .fetch_one(&mut *tx)
                .await;
                let linked = match linked {
                    Ok(u) => u,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                    Err(e) => return Err(e.into()),
                };
                if !user.email_verified {
                    session::revoke_all_sessions(&mut *tx, user.id, now).await?;
                }
                tx.commit().await?;
                tracing::info!(user = %user.id, "linked Google account by verified email");
                return Ok((linked, "linked"));
            }
            None => {
                let new = NewUser {
                    email: identity.email.clone(),
                    password_hash: None,
                    display_name: users::display_name_from(
                        identity.name.as_deref(),
                        &identity.email,
                    ),
                    phone: None,
                    role: Role::Fan,
                    google_sub: Some(identity.sub.clone()),
                    email_verified: true,
                };
                match users::insert(&mut *tx, now, new).await {
                    Ok(user) => {
                        tx.commit().await?;
                        return Ok((user, "created"));
                    }
                    Err(InsertError::EmailTaken | InsertError::GoogleTaken) => continue,
                    Err(InsertError::Db(e)) => return Err(e.into()),
                }
            }
        }
    }
    Err(ApiError::new(
        Code::GOOGLE_SIGNIN_CONFLICT,
        "Another sign-in for this account is in progress; retry",
    ))
}

/// What a sign-in page needs to know.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthClientConfig {
    /// Google's OAuth client id when Google sign-in is on (show the button), else
    /// `null`.
    pub google_client_id: Option<String>,
}

/// Which sign-in methods this server offers.
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "auth",
    responses((status = 200, body = AuthClientConfig)))]
pub(super) async fn auth_config(State(state): State<AppState>) -> Json<AuthClientConfig> {
    Json(AuthClientConfig {
        google_client_id: state
            .config
            .auth
            .google
            .as_ref()
            .map(|g| g.client_id.clone()),
    })
}

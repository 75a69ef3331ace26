//! The HTTP face of auth: register, login, refresh, logout, Google sign-in, `me`.
//!
//! Every answer that starts or continues a session has the same shape
//! ([`TokenResponse`] plus the refresh cookie) whichever way the user got in, so the
//! client has one code path. The refresh token travels only in the HttpOnly cookie,
//! never in a body, so page scripts (and XSS) cannot read it; non-browser clients read
//! it from `Set-Cookie` and may send it back as JSON instead of a cookie.

use super::google::GoogleVerifier;
use super::password::{self, PasswordParams};
use super::rate_limit::{self, ClientIp, Scope};
use super::session::{self, RefreshError};
use super::users::{self, AccountInput, UserProfile, UserRow};
use super::{AuthUser, issue_access_token};
use crate::http::Code;
use crate::http::{ApiError, ApiResult, Json};
use crate::state::AppState;
use axum::RequestExt;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared_wasm::token::Role;
use tokio::sync::OnceCell;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Per-app state of the auth routes: the Google key cache and the dummy password hash.
#[derive(Default)]
pub(crate) struct AuthShared {
    pub(super) google: GoogleVerifier,
    dummy_hash: OnceCell<Option<String>>,
}

impl AuthShared {
    /// The hash unknown-email logins verify against (see `password::dummy_hash`).
    async fn dummy_hash(&self, params: PasswordParams) -> Option<String> {
        self.dummy_hash
            .get_or_init(|| async move {
                match tokio::task::spawn_blocking(move || password::dummy_hash(params)).await {
                    Ok(Ok(h)) => Some(h),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "cannot make the dummy password hash");
                        None
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "dummy password hash task failed");
                        None
                    }
                }
            })
            .await
            .clone()
    }
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(super::google_routes::google_nonce))
        .routes(routes!(super::google_routes::google))
        .routes(routes!(super::google_routes::auth_config))
        .routes(routes!(me))
        .routes(routes!(admin_update_user))
        .routes(routes!(super::admin_users::list_users))
}

/// `POST /api/v1/auth/register` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Normalised to lowercase; must look like `name@example.com`.
    #[schema(example = "ann@example.com")]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// 1 to 100 characters after trimming.
    #[schema(min_length = 1, max_length = 100, example = "Ann")]
    pub display_name: String,
    /// Optional; 6 to 15 digits with `+`, spaces, `-`, `.` or parentheses.
    #[serde(default)]
    #[schema(example = "+82 10-1234-5678")]
    pub phone: Option<String>,
}

/// `POST /api/v1/auth/login` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ann@example.com")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// Body of `POST /api/v1/auth/refresh` and `/logout` for clients without cookies.
/// Browsers send nothing: the `urr_refresh` cookie carries the token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /api/v1/auth/google` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleRequest {
    /// The ID token (JWT) from Google Identity Services.
    pub credential: String,
}

/// A started or renewed session. The refresh token is in the `urr_refresh` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// EdDSA JWT for `Authorization: Bearer …`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 1800)]
    pub expires_in: i64,
    pub user: UserProfile,
}

/// A JSON body that may be absent: an empty body is `None`, anything else must be a
/// valid JSON `T` (with the usual problem answers when it is not).
pub(crate) struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        // Buffers under the router's body limit; over it, 413.
        let bytes = Request::from_parts(parts.clone(), body)
            .extract::<Bytes, _>()
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    crate::http::extract::payload_too_large()
                } else {
                    ApiError::new(Code::BAD_BODY, e.body_text())
                }
            })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(OptionalJson(Some(value)))
    }
}

/// The answer to every successful sign-in or refresh: access token in the body, the new
/// refresh token in the cookie, never cached.
pub(super) fn session_response(
    state: &AppState,
    status: StatusCode,
    user: &UserRow,
    (refresh_token, session): (String, uuid::Uuid),
) -> ApiResult<Response> {
    let role = user.role()?;
    let (access_token, expires_in) = issue_access_token(state, user.id, role, Some(session));
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        user: user.profile()?,
    };
    let jar = CookieJar::new().add(session::cookie(refresh_token, &state.config.auth));
    let mut res = (status, jar, Json(body)).into_response();
    no_store(&mut res);
    Ok(res)
}

/// Token answers must not be stored by caches (RFC 6749 §5.1).
pub(super) fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `err`, plus the cookie that clears the refresh cookie: a token that failed once will
/// always fail, so the browser should stop sending it.
pub(super) fn clearing(state: &AppState, err: ApiError) -> Response {
    let jar = CookieJar::new().add(session::clearing_cookie(&state.config.auth));
    (jar, err).into_response()
}

pub(super) fn count_login(outcome: &'static str) {
    metrics::counter!("auth_logins_total", "outcome" => outcome).increment(1);
}

pub(super) fn invalid_credentials() -> ApiError {
    ApiError::new(Code::INVALID_CREDENTIALS, "Email or password is wrong")
}

crate::problems!(RegisterProblems: [codes::JSON_BODY], EMAIL_TAKEN, RATE_LIMITED, BUSY);

/// Create a fan account with a password and start a session.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; session started. Sets the `urr_refresh` cookie.",
            body = TokenResponse, headers(("set-cookie" = String, description = "urr_refresh=…; HttpOnly; SameSite=Strict; Path=/api/v1/auth"))),
        RegisterProblems))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<Response> {
    rate_limit::check(&state, Scope::RegisterIp, &ip.subject()).await?;
    let _hashing = state.auth.password_gate.enter().await?;
    let now = state.clock.now();
    let user = users::create_account(
        &state.db,
        now,
        PasswordParams::from_config(&state.config.auth),
        AccountInput {
            email: &req.email,
            password: &req.password,
            display_name: &req.display_name,
            phone: req.phone.as_deref(),
            role: Role::Fan,
        },
    )
    .await?;
    metrics::counter!("auth_registrations_total").increment(1);
    let refresh = session::start_family(&state.db, user.id, now, &state.config.auth).await?;
    session_response(&state, StatusCode::CREATED, &user, refresh)
}

crate::problems!(LoginProblems: [codes::JSON_BODY], INVALID_CREDENTIALS, RATE_LIMITED, BUSY, ACCOUNT_DISABLED);

/// Log in with email and password.
///
/// Wrong password, unknown email and Google-only accounts all answer the same
/// `INVALID_CREDENTIALS`, after the same amount of Argon2 work.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Session started. Sets the `urr_refresh` cookie.", body = TokenResponse,
            headers(("set-cookie" = String, description = "urr_refresh=…; HttpOnly; SameSite=Strict; Path=/api/v1/auth"))),
        LoginProblems))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let email = req.email.trim().to_lowercase();
    let limited = async {
        rate_limit::check(&state, Scope::LoginIp, &ip.subject()).await?;
        rate_limit::check(
            &state,
            Scope::LoginAccount,
            &rate_limit::account_subject(&email),
        )
        .await
    };
    if let Err(e) = limited.await {
        count_login("rate_limited");
        return Err(e);
    }
    let params = PasswordParams::from_config(&state.config.auth);
    let user = if email.is_empty() {
        None
    } else {
        users::find_by_email(&state.db, &email).await?
    };
    // The gate bounds the hashing alone: holding it across the database round trips
    // would cap sign-ins at a few per round trip while the CPU sits idle.
    let hashing = state.auth.password_gate.enter().await?;
    // Made on the first login of any kind, so that first login is not slower for
    // unknown emails than for known ones.
    let dummy = state.auth.shared.dummy_hash(params).await;
    let password_ok = match user.as_ref().and_then(|u| u.password_hash.clone()) {
        Some(hash) if req.password.chars().count() <= users::PASSWORD_MAX_CHARS => {
            password::verify_password(hash, req.password.clone()).await
        }
        _ => {
            // Unknown email, Google-only account or absurd password: do the same work
            // as a real check so the time taken reveals nothing.
            if let Some(dummy) = dummy {
                let pw: String = req
                    .password
                    .chars()
                    .take(users::PASSWORD_MAX_CHARS)
                    .collect();
                password::verify_password(dummy, pw).await;
            }
            false
        }
    };
    drop(hashing);
    let Some(user) = user.filter(|_| password_ok) else {
        count_login("invalid_credentials");
        return Err(invalid_credentials());
    };
    // Only after the password matched: a stranger learns nothing about the account.
    if user.disabled_at.is_some() {
        count_login("disabled");
        return Err(account_disabled());
    }
    if let Some(hash) = &user.password_hash
        && password::needs_rehash(hash, params)
    {
        rehash(&state, user.id, params, req.password).await;
    }
    count_login("success");
    let refresh =
        session::start_family(&state.db, user.id, state.clock.now(), &state.config.auth).await?;
    session_response(&state, StatusCode::OK, &user, refresh)
}

/// 403 for an account an admin disabled.
pub(super) fn account_disabled() -> ApiError {
    ApiError::new(
        Code::ACCOUNT_DISABLED,
        "this account is disabled; contact support",
    )
}

/// Stores a hash with the current parameters. Best effort: a failure only means the
/// upgrade happens at a later login.
async fn rehash(state: &AppState, user_id: uuid::Uuid, params: PasswordParams, password: String) {
    let result = async {
        // Under the same gate as every hash; when it is full the upgrade waits for a
        // later login.
        let Ok(_hashing) = state.auth.password_gate.enter().await else {
            return anyhow::Ok(());
        };
        let hash = password::hash_password(params, password).await?;
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(hash)
            .bind(state.clock.now())
            .execute(&state.db)
            .await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = ?e, %user_id, "password rehash failed");
    }
}

crate::problems!(
    RefreshProblems: [codes::JSON_BODY],
    REFRESH_MISSING, REFRESH_INVALID, REFRESH_EXPIRED, REFRESH_REUSED,
);

/// Exchange the refresh token (cookie, or JSON body) for a new access token and a new
/// refresh token. The presented token is used up; presenting it again revokes the whole
/// session family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>,
        description = "Only for clients without cookies; browsers send no body"),
    responses(
        (status = 200, description = "Session renewed. Sets the new `urr_refresh` cookie.", body = TokenResponse,
            headers(("set-cookie" = String, description = "urr_refresh=…; HttpOnly; SameSite=Strict; Path=/api/v1/auth"))),
        RefreshProblems))]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Response {
    match refresh_inner(&state, &headers, body).await {
        Ok(res) => res,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => clearing(&state, e),
        Err(e) => e.into_response(),
    }
}

async fn refresh_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Option<RefreshRequest>,
) -> ApiResult<Response> {
    let count = |outcome: &'static str| {
        metrics::counter!("auth_refreshes_total", "outcome" => outcome).increment(1);
    };
    let Some(token) = session::presented(headers, body.map(|b| b.refresh_token)) else {
        count("missing");
        return Err(ApiError::new(
            Code::REFRESH_MISSING,
            "No refresh token: send the urr_refresh cookie or {\"refresh_token\": …}",
        ));
    };
    let now = state.clock.now();
    match session::rotate(&state.db, &token, now, &state.config.auth).await? {
        Ok(rotated) => {
            count("success");
            session_response(
                state,
                StatusCode::OK,
                &rotated.user,
                (rotated.token, rotated.family_id),
            )
        }
        Err(RefreshError::Invalid) => {
            count("invalid");
            Err(ApiError::new(
                Code::REFRESH_INVALID,
                "The refresh token is not valid; log in again",
            ))
        }
        Err(RefreshError::Expired) => {
            count("expired");
            Err(ApiError::new(
                Code::REFRESH_EXPIRED,
                "The session has expired; log in again",
            ))
        }
        Err(RefreshError::Reused) => {
            count("reused");
            metrics::counter!("auth_refresh_reuse_detected_total").increment(1);
            Err(ApiError::new(
                Code::REFRESH_REUSED,
                "This refresh token was already used; for safety the session has been ended \
                 everywhere it was in use. Log in again.",
            ))
        }
    }
}

crate::problems!(LogoutProblems: [codes::JSON_BODY]);

/// End the session: revokes the refresh token's family and clears the cookie.
/// Idempotent: 204 even without a token or with an unknown one.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body(content = Option<RefreshRequest>,
        description = "Only for clients without cookies; browsers send no body"),
    responses(
        (status = 204, description = "Logged out; the `urr_refresh` cookie is cleared (Max-Age=0)",
            headers(("set-cookie" = String, description = "urr_refresh=; Max-Age=0; Path=/api/v1/auth"))),
        LogoutProblems))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> ApiResult<Response> {
    if let Some(token) = session::presented(&headers, body.map(|b| b.refresh_token)) {
        session::revoke_family_of(&state.db, &token, state.clock.now()).await?;
        // This replica refuses the session's access tokens at once; others within a second.
        super::revocation::sync_after_commit(&state).await;
    }
    metrics::counter!("auth_logouts_total").increment(1);
    let jar = CookieJar::new().add(session::clearing_cookie(&state.config.auth));
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

/// `PATCH /api/v1/admin/users/{user_id}` body: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUserUpdate {
    /// The account's new role: `fan`, `promoter`, `staff` or `admin`.
    #[schema(value_type = Option<String>, example = "promoter")]
    pub role: Option<Role>,
    /// `true` disables the account (its sessions end at once and it cannot sign in);
    /// `false` enables it again.
    pub disabled: Option<bool>,
}

crate::problems!(
    AdminUpdateUserProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, USER_NOT_FOUND, OWN_ROLE,
);

/// Change an account's role or disable it (admins). The account's access tokens
/// carrying the old role are refused within a second on every replica
/// (`TOKEN_REVOKED`); its next refresh issues a token with the new role. Disabling
/// ends every session of the account the same way and refuses its sign-ins
/// (`ACCOUNT_DISABLED`). Every change is in the audit log.
#[utoipa::path(patch, path = "/api/v1/admin/users/{user_id}", tag = "auth",
    params(("user_id" = uuid::Uuid, Path, description = "Account id")),
    request_body = AdminUserUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserProfile),
        AdminUpdateUserProblems))]
async fn admin_update_user(
    State(state): State<AppState>,
    caller: AuthUser,
    crate::http::Path(user_id): crate::http::Path<uuid::Uuid>,
    Json(body): Json<AdminUserUpdate>,
) -> ApiResult<Json<UserProfile>> {
    caller.require(&[Role::Admin])?;
    if body.role.is_none() && body.disabled.is_none() {
        return Err(ApiError::validation(
            "role",
            "give `role`, `disabled` or both",
        ));
    }
    if caller.id == user_id {
        return Err(ApiError::new(
            Code::OWN_ROLE,
            "admins cannot change or disable their own account; ask another admin",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let before = users::find_by_id(&mut *tx, user_id)
        .await?
        .ok_or_else(|| ApiError::new(Code::USER_NOT_FOUND, "no such account"))?;
    let role = body.role.unwrap_or(before.role()?);
    let disabled_at = match body.disabled {
        Some(true) => before.disabled_at.or(Some(now)),
        Some(false) => None,
        None => before.disabled_at,
    };
    let row = sqlx::query_as::<_, UserRow>(
        "UPDATE users SET role = $2, disabled_at = $3, updated_at = $4 WHERE id = $1
         RETURNING id, email, password_hash, display_name, phone, role, google_sub,
                   email_verified, created_at, disabled_at",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(disabled_at)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if role.as_str() != before.role {
        super::revocation::record_role_change(&mut *tx, user_id, role, now).await?;
    }
    if disabled_at.is_some() && before.disabled_at.is_none() {
        session::revoke_all_sessions(&mut *tx, user_id, now).await?;
    }
    let summary = |role: &str, disabled: bool| json!({ "role": role, "disabled": disabled });
    let action = match (body.role.is_some(), body.disabled) {
        (false, Some(true)) => "user.disabled",
        (false, Some(false)) => "user.enabled",
        _ => "user.updated",
    };
    let (was, now_is) = (
        summary(&before.role, before.disabled_at.is_some()),
        summary(role.as_str(), disabled_at.is_some()),
    );
    crate::audit::record_rows(
        &mut tx,
        caller.actor(),
        action,
        "user",
        user_id,
        Some(was),
        Some(now_is),
        now,
    )
    .await?;
    tx.commit().await?;
    super::revocation::sync_after_commit(&state).await;
    tracing::info!(admin = %caller.id, user = %user_id, role = role.as_str(), disabled = disabled_at.is_some(), "account changed");
    Ok(Json(row.profile()?))
}

crate::problems!(MeProblems: [codes::AUTH], USER_NOT_FOUND);

/// The caller's own profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = UserProfile),
        MeProblems))]
async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserProfile>> {
    let row = users::find_by_id(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::new(Code::USER_NOT_FOUND, "This account no longer exists"))?;
    Ok(Json(row.profile()?))
}

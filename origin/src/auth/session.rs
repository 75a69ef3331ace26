//! Refresh tokens: opaque, hashed, rotated on every use, with family reuse detection.
//!
//! A refresh token is 32 random bytes (base64url, 43 characters). It is not a JWT on
//! purpose: it carries no claims, so it can never be mistaken for an access token, and it means something only while its row exists. The database
//! keeps just its SHA-256: a leaked table does not leak usable tokens, and because the
//! token has 256 bits of entropy a fast hash is enough (no salt or Argon2 needed, unlike
//! passwords).
//!
//! Every login starts a **family**. Each refresh uses its token up (`used_at`) and
//! issues a successor in the same family. Honest clients only ever hold the newest
//! token of a family, so a used token that comes back means two parties hold copies:
//! the token was stolen. We cannot tell which copy is the thief's, so the whole family
//! is revoked, the newest token included, and both must log in again.
//!
//! Rotation is one conditional `UPDATE … WHERE used_at IS NULL … RETURNING`, in the same
//! transaction as the insert of the successor. Postgres row locking makes a second
//! concurrent refresh with the same token wait for the first to commit and then find
//! the row already used, so at most one succeeds and the other one sees a reuse
//! (a read-then-write rotation would let both concurrent refreshes win). Because the successor is
//! committed together with the `used_at` mark, a reuse detection that follows always
//! sees, and revokes, the successor.
//!
//! Unknown tokens are refused (never treated as the start of a new family), and stored expiry is checked in the same `UPDATE`.

use super::AuthConfig;
use super::users::UserRow;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Name of the refresh cookie.
pub const REFRESH_COOKIE: &str = "urr_refresh";
/// Path of the refresh cookie: covers `/api/v1/auth/refresh` and `/api/v1/auth/logout`
/// and nothing else, so the browser does not send the token with ordinary API calls
/// (the path must cover the refresh route itself, or the cookie never reaches it).
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
/// Length of a token in its base64url form (32 bytes, no padding).
const TOKEN_LEN: usize = 43;

/// Makes a fresh refresh token.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` has the shape of one of ours; anything else is refused without a
/// database round trip.
fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn expiry(now: DateTime<Utc>, config: &AuthConfig) -> DateTime<Utc> {
    now + chrono::Duration::seconds(
        i64::try_from(config.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 1000),
    )
}

async fn insert_token(
    conn: &mut PgConnection,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
    config: &AuthConfig,
) -> sqlx::Result<String> {
    let token = new_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(user_id)
    .bind(family_id)
    .bind(hash(&token))
    .bind(now)
    .bind(expiry(now, config))
    .execute(conn)
    .await?;
    Ok(token)
}

/// Starts a new family for `user` (login, registration, Google sign-in) and returns its
/// first token and the family's id (the session id access tokens carry as `sid`).
pub(crate) async fn start_family(
    db: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
    config: &AuthConfig,
) -> sqlx::Result<(String, Uuid)> {
    let mut conn = db.acquire().await?;
    let family = Uuid::new_v4();
    let token = insert_token(&mut conn, user_id, family, now, config).await?;
    Ok((token, family))
}

/// A successful rotation.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// The account as stored now: a role change takes effect at the next refresh.
    pub user: UserRow,
    pub token: String,
    pub family_id: Uuid,
}

/// Why a refresh was refused. Each has its own stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshError {
    /// Not a token we issued (or its account is gone).
    Invalid,
    Expired,
    /// Already used or revoked: the family is now revoked.
    Reused,
}

#[derive(sqlx::FromRow)]
struct Claimed {
    family_id: Uuid,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(sqlx::FromRow)]
struct Existing {
    family_id: Uuid,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Uses `presented` up and issues its successor (see the module docs).
///
/// Many replays of one token at once make Postgres pick deadlock victims among the
/// revoking transactions now and then (the claim's row lock and the family's locks are
/// taken by different statements); a victim's work was rolled back whole, so running it
/// again is safe and answers what it would have answered.
pub(crate) async fn rotate(
    db: &PgPool,
    presented: &str,
    now: DateTime<Utc>,
    config: &AuthConfig,
) -> sqlx::Result<Result<Rotated, RefreshError>> {
    let mut attempt = 0;
    loop {
        match rotate_once(db, presented, now, config).await {
            Err(sqlx::Error::Database(e))
                if attempt < 4 && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
            {
                attempt += 1;
                tracing::debug!(attempt, "refresh rotation retried after a deadlock");
            }
            other => return other,
        }
    }
}

async fn rotate_once(
    db: &PgPool,
    presented: &str,
    now: DateTime<Utc>,
    config: &AuthConfig,
) -> sqlx::Result<Result<Rotated, RefreshError>> {
    if !well_formed(presented) {
        return Ok(Err(RefreshError::Invalid));
    }
    let token_hash = hash(presented);
    let mut tx = db.begin().await?;
    let claimed = sqlx::query_as::<_, Claimed>(
        "UPDATE refresh_tokens t SET used_at = $2
         FROM users u
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL
           AND t.expires_at > $2 AND u.id = t.user_id AND u.disabled_at IS NULL
         RETURNING t.family_id, u.id, u.email, u.password_hash, u.display_name, u.phone,
                   u.role, u.google_sub, u.email_verified, u.created_at",
    )
    .bind(&token_hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(c) = claimed {
        let token = insert_token(&mut tx, c.user.id, c.family_id, now, config).await?;
        tx.commit().await?;
        return Ok(Ok(Rotated {
            user: c.user,
            token,
            family_id: c.family_id,
        }));
    }
    // Not claimable: find out why. The row cannot become claimable again (used_at and
    // revoked_at are only ever set), so reading it after the failed UPDATE is safe.
    let existing = sqlx::query_as::<_, Existing>(
        "SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(&token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let outcome = match existing {
        None => RefreshError::Invalid,
        Some(e) if e.used_at.is_some() || e.revoked_at.is_some() => {
            let revoked = revoke_family_in(&mut tx, e.family_id, now).await?;
            tracing::warn!(
                family = %e.family_id,
                revoked,
                "refresh token reuse detected; family revoked"
            );
            RefreshError::Reused
        }
        Some(_) => RefreshError::Expired,
    };
    tx.commit().await?;
    Ok(Err(outcome))
}

/// The live tokens matching `condition`, locked in id order. Every statement that
/// revokes several tokens locks them through this, in the same order, so concurrent
/// revocations (many replays of one token at once, a logout during a reuse detection)
/// queue up instead of deadlocking.
fn locked_live(condition: &str) -> String {
    format!(
        "SELECT id FROM refresh_tokens WHERE {condition} AND revoked_at IS NULL \
         ORDER BY id FOR UPDATE"
    )
}

/// Revokes the live tokens matching `condition` and, in the same statement, records
/// each family they belonged to in `session_revocations`, so the sessions' access
/// tokens are refused too (see [`super::revocation`]). `$2` is the time.
fn revoke_live(condition: &str) -> String {
    format!(
        "WITH revoked AS (UPDATE refresh_tokens SET revoked_at = $2 WHERE id IN ({}) \
                          RETURNING user_id, family_id), \
              recorded AS (INSERT INTO session_revocations (user_id, family_id, revoked_at) \
                           SELECT DISTINCT user_id, family_id, $2::timestamptz FROM revoked) \
         SELECT count(*) FROM revoked",
        locked_live(condition)
    )
}

async fn revoke_family_in(
    conn: &mut PgConnection,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let revoked: i64 = sqlx::query_scalar(&revoke_live("family_id = $1"))
        .bind(family_id)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(revoked.max(0) as u64)
}

/// Revokes the family that `presented` belongs to (logout). Unknown or malformed tokens
/// are ignored: logging out is idempotent and says nothing about the token.
pub(crate) async fn revoke_family_of(
    db: &PgPool,
    presented: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if !well_formed(presented) {
        return Ok(());
    }
    sqlx::query_scalar::<_, i64>(&revoke_live(
        "family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
    ))
    .bind(hash(presented))
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(())
}

/// Revokes every live refresh token of `user` (all sessions on all devices).
pub async fn revoke_all_sessions(
    db: impl sqlx::PgExecutor<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let revoked: i64 = sqlx::query_scalar(&revoke_live("user_id = $1"))
        .bind(user_id)
        .bind(now)
        .fetch_one(db)
        .await?;
    Ok(revoked.max(0) as u64)
}

/// Deletes refresh tokens that expired more than a day before `now`. Rows are kept a
/// little past expiry so a late replay still answers `REFRESH_EXPIRED` rather than
/// `REFRESH_INVALID`; after that nobody cares. Safe on many replicas at once (plain
/// `DELETE`); meant for a background job.
pub async fn purge_expired_refresh_tokens(db: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now - chrono::Duration::days(1))
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// The refresh cookie carrying `token`.
pub(crate) fn cookie(token: String, config: &AuthConfig) -> Cookie<'static> {
    let max_age = i64::try_from(config.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((REFRESH_COOKIE, token))
        .http_only(true)
        .secure(config.cookie_secure)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
}

/// A cookie that makes the browser forget the refresh cookie (same name and path,
/// empty value, `Max-Age=0`).
pub(crate) fn clearing_cookie(config: &AuthConfig) -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, ""))
        .http_only(true)
        .secure(config.cookie_secure)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(cookie::time::Duration::ZERO)
        .build()
}

/// The refresh token from the request body if one was sent, else from the cookie.
pub(crate) fn presented(headers: &HeaderMap, body: Option<String>) -> Option<String> {
    body.filter(|t| !t.is_empty()).or_else(|| {
        CookieJar::from_headers(headers)
            .get(REFRESH_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|t| !t.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_unique() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), TOKEN_LEN);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
        assert!(well_formed(&a));
        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}=", &a[..42])));
        assert!(!well_formed(
            "eyJhbGciOiJFZERTQSJ9.eyJ0eXAiOiJhY2Nlc3MifQ.sig"
        ));
    }
}

//! Google sign-in: verifying Google ID tokens against Google's published keys.
//!
//! The browser gets an ID token (a JWT signed RS256 by Google) from Google Identity
//! Services and posts it to us. We trust it only after checking, in this order:
//!
//! 1. it is a JWS with `alg = RS256` (nothing else, so `none` or an HMAC token keyed
//!    with a public key can never be accepted) and names a `kid`;
//! 2. the `kid` is in the key set (JWKS) from `URR_GOOGLE_JWKS_URL`, and the signature
//!    verifies with that key;
//! 3. `iss` is one of `URR_GOOGLE_ISSUERS` and `aud` is our client id (a token minted
//!    for another site must not log anyone in here);
//! 4. `exp` has not passed and `iat` is not in the future, by `state.clock` with the
//!    same skew as our own tokens;
//! 5. `email_verified` is true: the email is what links a Google identity to an
//!    existing account, so it must be one Google has proven;
//! 6. (in the route) `nonce` is one we issued (`POST /api/v1/auth/google/nonce`) and
//!    have not seen used: a captured ID token cannot be replayed to sign in again.
//!
//! The key set is cached in memory (per origin process) for the `max-age` Google sends
//! (bounded to 5 min..24 h; 1 h without one). Google rotates keys and publishes the new
//! one before using it, so a token with an unknown `kid` triggers one refetch, at most
//! every [`MIN_REFETCH_SECS`] so a flood of made-up `kid`s cannot turn us into a
//! traffic generator against Google. One fetch runs at a time; concurrent callers wait
//! for it and share its result. If Google is unreachable and the cache is stale, the
//! stale keys are still used for the `kid`s they contain (Google's keys live for days,
//! so this is safer than failing every sign-in).

use super::GoogleConfig;
use crate::clock::Clock;
use crate::http::ApiError;
use crate::http::Code;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::{Deserialize, Deserializer};
use shared_wasm::token::CLOCK_SKEW_SECS;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};

/// Longest credential we look at; Google's ID tokens are about 1 KB.
const MAX_CREDENTIAL_LEN: usize = 8192;
/// Least time between two fetches caused by unknown `kid`s.
pub const MIN_REFETCH_SECS: i64 = 30;
const DEFAULT_TTL_SECS: i64 = 3600;
const MIN_TTL_SECS: i64 = 300;
const MAX_TTL_SECS: i64 = 86_400;

/// What a verified ID token says about its holder.
#[derive(Debug, Clone)]
pub(crate) struct GoogleIdentity {
    /// Google's stable account id.
    pub sub: String,
    /// Lowercased; verified by Google.
    pub email: String,
    pub name: Option<String>,
    /// The nonce the browser passed to Google; checked and used up by the route.
    pub nonce: Option<String>,
}

/// Why an ID token was refused, or could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GoogleError {
    #[error("the ID token is not a well-formed JWT")]
    Malformed,
    #[error("the ID token must be signed with RS256")]
    Algorithm,
    #[error("the ID token is signed with a key Google does not publish")]
    UnknownKey,
    #[error("the ID token signature does not verify")]
    BadSignature,
    #[error("the ID token was issued for another application")]
    Audience,
    #[error("the ID token was not issued by Google")]
    Issuer,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is issued in the future")]
    NotYetValid,
    #[error("the Google account's email is not verified")]
    EmailUnverified,
    #[error("Google's keys could not be fetched: {0}")]
    Unavailable(String),
}

impl GoogleError {
    /// The `reason` member of the problem: which check failed.
    fn reason(&self) -> &'static str {
        match self {
            GoogleError::Malformed => "malformed",
            GoogleError::Algorithm => "algorithm",
            GoogleError::UnknownKey => "unknown_key",
            GoogleError::BadSignature => "signature",
            GoogleError::Audience => "audience",
            GoogleError::Issuer => "issuer",
            GoogleError::Expired => "expired",
            GoogleError::NotYetValid => "not_yet_valid",
            GoogleError::EmailUnverified => "email_unverified",
            GoogleError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<GoogleError> for ApiError {
    fn from(e: GoogleError) -> Self {
        let reason = e.reason();
        let err = match &e {
            GoogleError::Unavailable(_) => {
                tracing::warn!(error = %e, "Google JWKS unavailable");
                return ApiError::new(
                    Code::GOOGLE_UNAVAILABLE,
                    "Google sign-in cannot be checked right now; retry shortly",
                )
                .with_retry_after(5);
            }
            GoogleError::Expired => ApiError::new(Code::GOOGLE_TOKEN_EXPIRED, e.to_string()),
            GoogleError::EmailUnverified => ApiError::new(
                Code::GOOGLE_EMAIL_UNVERIFIED,
                "Verify the email of your Google account first",
            ),
            _ => ApiError::new(Code::GOOGLE_TOKEN_INVALID, e.to_string()),
        };
        err.with("reason", reason)
    }
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    /// Google sends a boolean; some older tokens carried the string `"true"`.
    #[serde(default, deserialize_with = "bool_or_string")]
    email_verified: bool,
    #[serde(default)]
    name: Option<String>,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
}

fn bool_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Str(s) => s == "true",
    })
}

struct Cached {
    keys: Arc<JwkSet>,
    fetched_at: DateTime<Utc>,
    ttl_secs: i64,
}

/// Verifies ID tokens; holds the cached key set. One per router (and so per app).
pub(crate) struct GoogleVerifier {
    http: reqwest::Client,
    cache: RwLock<Option<Cached>>,
    /// Serialises fetches (single flight).
    fetching: Mutex<()>,
}

impl Default for GoogleVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GoogleVerifier {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        GoogleVerifier {
            http,
            cache: RwLock::new(None),
            fetching: Mutex::new(()),
        }
    }

    /// Checks `credential` (see the module docs for the order of checks).
    pub async fn verify(
        &self,
        config: &GoogleConfig,
        clock: &Clock,
        credential: &str,
    ) -> Result<GoogleIdentity, GoogleError> {
        if credential.len() > MAX_CREDENTIAL_LEN {
            return Err(GoogleError::Malformed);
        }
        let header = jsonwebtoken::decode_header(credential).map_err(|_| GoogleError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(GoogleError::Algorithm);
        }
        let kid = header.kid.ok_or(GoogleError::UnknownKey)?;
        let jwk = self.key(config, clock, &kid).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| GoogleError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&config.client_id]);
        validation.set_issuer(&config.issuers);
        // Time is checked below with `state.clock`, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<IdClaims>(credential, &key, &validation).map_err(|e| match e
                .kind()
            {
                ErrorKind::InvalidSignature => GoogleError::BadSignature,
                ErrorKind::InvalidAudience => GoogleError::Audience,
                ErrorKind::InvalidIssuer => GoogleError::Issuer,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidRsaKey(_) => {
                    GoogleError::UnknownKey
                }
                _ => GoogleError::Malformed,
            })?;
        let claims = data.claims;
        let now = clock.unix();
        if claims.exp <= now - CLOCK_SKEW_SECS {
            return Err(GoogleError::Expired);
        }
        if claims.iat.is_some_and(|iat| iat > now + CLOCK_SKEW_SECS) {
            return Err(GoogleError::NotYetValid);
        }
        if !claims.email_verified {
            return Err(GoogleError::EmailUnverified);
        }
        let email = claims
            .email
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .ok_or(GoogleError::EmailUnverified)?;
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(GoogleError::Malformed);
        }
        Ok(GoogleIdentity {
            sub: claims.sub,
            email,
            name: claims.name,
            nonce: claims.nonce,
        })
    }

    /// The key named `kid`, from the cache or a fresh fetch.
    async fn key(
        &self,
        config: &GoogleConfig,
        clock: &Clock,
        kid: &str,
    ) -> Result<Jwk, GoogleError> {
        let now = clock.now();
        if let Some(decision) = self.cached(kid, now).await {
            return decision;
        }
        let _guard = self.fetching.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(decision) = self.cached(kid, now).await {
            return decision;
        }
        match self.fetch(&config.jwks_url).await {
            Ok((keys, ttl_secs)) => {
                let found = keys.find(kid).cloned();
                *self.cache.write().await = Some(Cached {
                    keys: Arc::new(keys),
                    fetched_at: now,
                    ttl_secs,
                });
                found.ok_or(GoogleError::UnknownKey)
            }
            Err(e) => {
                // Stale keys beat no keys (see the module docs).
                let cache = self.cache.read().await;
                match cache.as_ref().and_then(|c| c.keys.find(kid)) {
                    Some(jwk) => {
                        tracing::warn!(error = %e, "using stale Google keys");
                        Ok(jwk.clone())
                    }
                    None => Err(GoogleError::Unavailable(e)),
                }
            }
        }
    }

    /// `Some(answer)` when the cache settles the lookup, `None` when a fetch is due:
    /// the cache is empty or stale, or it lacks `kid` and may be refetched.
    async fn cached(&self, kid: &str, now: DateTime<Utc>) -> Option<Result<Jwk, GoogleError>> {
        let cache = self.cache.read().await;
        let c = cache.as_ref()?;
        let age = (now - c.fetched_at).num_seconds();
        // A clock moved backwards counts as stale.
        if age < 0 || age >= c.ttl_secs {
            return None;
        }
        match c.keys.find(kid) {
            Some(jwk) => Some(Ok(jwk.clone())),
            None if age >= MIN_REFETCH_SECS => None,
            None => Some(Err(GoogleError::UnknownKey)),
        }
    }

    async fn fetch(&self, url: &str) -> Result<(JwkSet, i64), String> {
        let res = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("JWKS answered {}", res.status()));
        }
        let ttl = res
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_TTL_SECS)
            .clamp(MIN_TTL_SECS, MAX_TTL_SECS);
        let keys = res.json::<JwkSet>().await.map_err(|e| e.to_string())?;
        metrics::counter!("auth_google_jwks_fetches_total").increment(1);
        Ok((keys, ttl))
    }
}

/// `max-age` from a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<i64> {
    cache_control.split(',').find_map(|d| {
        d.trim()
            .strip_prefix("max-age=")
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19845, must-revalidate, no-transform"),
            Some(19845)
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn email_verified_accepts_bool_and_string() {
        let c: IdClaims =
            serde_json::from_str(r#"{"sub":"1","exp":1,"email_verified":"true"}"#).expect("json");
        assert!(c.email_verified);
        let c: IdClaims =
            serde_json::from_str(r#"{"sub":"1","exp":1,"email_verified":false}"#).expect("json");
        assert!(!c.email_verified);
        let c: IdClaims = serde_json::from_str(r#"{"sub":"1","exp":1}"#).expect("json");
        assert!(!c.email_verified);
    }
}

//! Auth's settings: token lifetimes, password hashing, rate limits, Google sign-in.

use crate::config::Vars;
use anyhow::{Result, anyhow, bail};
use std::time::Duration;

/// Accounts and sessions.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `URR_ACCESS_TOKEN_TTL_SECS`, default 1,800 (30 min).
    pub access_ttl: Duration,
    /// `URR_REFRESH_TOKEN_TTL_SECS`, default 604,800 (7 days).
    pub refresh_ttl: Duration,
    /// `URR_COOKIE_SECURE`, default true; `cargo xtask dev` turns it off for plain http.
    pub cookie_secure: bool,
    /// `URR_ARGON2_MEMORY_KIB` / `URR_ARGON2_ITERATIONS`, default 19,456 / 2 (OWASP).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// `URR_RATE_LOGIN_PER_IP` / `URR_RATE_LOGIN_PER_ACCOUNT` / `URR_RATE_REGISTER_PER_IP`:
    /// attempts per `URR_RATE_WINDOW_SECS` (default 60).
    pub rate_login_per_ip: u32,
    pub rate_login_per_account: u32,
    pub rate_register_per_ip: u32,
    pub rate_window: Duration,
    /// `URR_EDGE_PROXY_SECRETS`: comma-separated base64url secrets (the first current,
    /// the rest retired but still accepted) with which the edge MACs the client IP it
    /// saw (`urr-client-ip`, see `shared_wasm::client_ip`). The client IP for rate
    /// limits comes from that header only when it verifies; otherwise from the TCP peer.
    /// Forwarded headers (`X-Forwarded-For`, ...) are never trusted. Empty: peer only.
    pub edge_proxy_secrets: Vec<Vec<u8>>,
    /// `URR_PASSWORD_HASH_CONCURRENCY`, default 0 = one per CPU core: Argon2 hashes
    /// (~19 MiB and tens of ms each) running at once; the rest wait.
    pub password_hash_concurrency: usize,
    /// `URR_PASSWORD_HASH_QUEUE_MS`, default 2,000: how long a login or registration
    /// waits for a hashing slot before answering 503 `BUSY` with `Retry-After`.
    pub password_hash_queue: Duration,
    /// `URR_RATE_RESERVATIONS_PER_USER_PER_SEC`, default 5: reservation attempts per
    /// account per second (0 turns it off).
    pub rate_reservations_per_user: u32,
    /// `URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC`, default 2: tier-2 queue joins per
    /// account per second (0 turns it off).
    pub rate_queue_joins_per_user: u32,
    /// Google sign-in; off unless `URR_GOOGLE_CLIENT_ID` is set.
    pub google: Option<GoogleConfig>,
}

#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// `URR_GOOGLE_CLIENT_ID`: the ID token's required audience.
    pub client_id: String,
    /// `URR_GOOGLE_JWKS_URL`, default Google's certs URL.
    pub jwks_url: String,
    /// `URR_GOOGLE_ISSUERS`, default `https://accounts.google.com,accounts.google.com`.
    pub issuers: Vec<String>,
}

impl AuthConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<AuthConfig> {
        let google = v.get("URR_GOOGLE_CLIENT_ID").map(|client_id| GoogleConfig {
            client_id,
            jwks_url: v.string(
                "URR_GOOGLE_JWKS_URL",
                "https://www.googleapis.com/oauth2/v3/certs",
            ),
            issuers: {
                let l = v.list("URR_GOOGLE_ISSUERS");
                if l.is_empty() {
                    vec![
                        "https://accounts.google.com".into(),
                        "accounts.google.com".into(),
                    ]
                } else {
                    l
                }
            },
        });
        let config = AuthConfig {
            access_ttl: v.secs("URR_ACCESS_TOKEN_TTL_SECS", 1800)?,
            refresh_ttl: v.secs("URR_REFRESH_TOKEN_TTL_SECS", 604_800)?,
            cookie_secure: v.bool("URR_COOKIE_SECURE", true)?,
            argon2_memory_kib: v.parse("URR_ARGON2_MEMORY_KIB", 19_456)?,
            argon2_iterations: v.parse("URR_ARGON2_ITERATIONS", 2)?,
            rate_login_per_ip: v.parse("URR_RATE_LOGIN_PER_IP", 20)?,
            rate_login_per_account: v.parse("URR_RATE_LOGIN_PER_ACCOUNT", 10)?,
            rate_register_per_ip: v.parse("URR_RATE_REGISTER_PER_IP", 10)?,
            rate_window: v.secs("URR_RATE_WINDOW_SECS", 60)?,
            edge_proxy_secrets: v
                .list("URR_EDGE_PROXY_SECRETS")
                .iter()
                .map(|s| {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(s.trim())
                        .ok()
                        .filter(|k| k.len() >= 16)
                        .ok_or_else(|| {
                            anyhow!(
                                "URR_EDGE_PROXY_SECRETS: each secret must be base64url \
                                 (no padding) of at least 16 bytes"
                            )
                        })
                })
                .collect::<Result<_>>()?,
            password_hash_concurrency: v.parse("URR_PASSWORD_HASH_CONCURRENCY", 0)?,
            password_hash_queue: v.millis("URR_PASSWORD_HASH_QUEUE_MS", 2_000)?,
            rate_reservations_per_user: v.parse("URR_RATE_RESERVATIONS_PER_USER_PER_SEC", 5)?,
            rate_queue_joins_per_user: v.parse("URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC", 2)?,
            google,
        };
        // Refuse at start-up what would otherwise fail on the first login.
        argon2::Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None).map_err(
            |e| {
                anyhow!(
                    "URR_ARGON2_MEMORY_KIB={} / URR_ARGON2_ITERATIONS={} are invalid: {e}",
                    config.argon2_memory_kib,
                    config.argon2_iterations
                )
            },
        )?;
        for (key, d) in [
            ("URR_ACCESS_TOKEN_TTL_SECS", config.access_ttl),
            ("URR_REFRESH_TOKEN_TTL_SECS", config.refresh_ttl),
            ("URR_RATE_WINDOW_SECS", config.rate_window),
        ] {
            if d.is_zero() {
                bail!("{key}=0 is invalid: expected a positive number of seconds");
            }
        }
        Ok(config)
    }
}

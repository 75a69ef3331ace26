//! Attempt limits, counted in Redis: login and registration per client IP and per
//! account, and on the hot paths reservation attempts and queue joins per account per
//! second (so one account cannot hammer the booking statement or churn its place).
//!
//! Fixed windows: the window number is `now / window` with `now` from `state.clock`, and
//! each (scope, subject, window) has one counter, bumped with `INCR` and given a TTL
//! with `EXPIRE` in one `MULTI`, so the count and its expiry cannot come apart. Shared by
//! every origin replica, the limit holds for the whole deployment, never per replica (a
//! per-process fallback would multiply the limit by the number of replicas). A fixed window lets a
//! client make up to twice the limit around a window boundary; for slowing down password
//! guessing that is good enough, and it costs one round trip.
//!
//! `Retry-After` is the time until the current window ends, from the same clock, so
//! tests move the clock rather than sleep.
//!
//! **Redis down: fail open.** When the counter cannot be read, the attempt is allowed,
//! a warning is logged and `auth_rate_limit_errors_total` is incremented. Locking every
//! fan out of login because a cache is down would turn a Redis outage into a full
//! outage during an on-sale; the limits are a brake on guessing, and Argon2 already makes
//! each guess expensive. Alert on the metric.
//!
//! Subjects: the client IP ([`ClientIp`]: the address the edge attests, else the TCP
//! peer; IPv6 addresses count per /64, which is what one subscriber usually gets) and, for login, the account (a SHA-256 of the normalised
//! email, so Redis holds no addresses). The account limit counts every attempt, so
//! someone who knows an email can keep that account from logging in for one window;
//! the window is short, and without it a botnet could guess one account's password from
//! thousands of IPs.

use crate::http::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// What is being limited.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    LoginIp,
    LoginAccount,
    RegisterIp,
    /// `POST /events/{id}/reservations` per account, per second.
    ReservationUser,
    /// `POST /events/{id}/queue/join` per account, per second.
    QueueJoinUser,
    /// Community posts per account, per minute ([`POSTS_PER_MIN`]).
    PostUser,
    /// Community comments per account, per minute ([`COMMENTS_PER_MIN`]).
    CommentUser,
}

/// Posts one account may write per minute: plenty for a person, little for a script.
pub const POSTS_PER_MIN: u32 = 5;
/// Comments one account may write per minute.
pub const COMMENTS_PER_MIN: u32 = 20;

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::LoginIp => "login_ip",
            Scope::LoginAccount => "login_account",
            Scope::RegisterIp => "register_ip",
            Scope::ReservationUser => "reservation_user",
            Scope::QueueJoinUser => "queue_join_user",
            Scope::PostUser => "post_user",
            Scope::CommentUser => "comment_user",
        }
    }

    fn window_secs(self, state: &AppState) -> u64 {
        match self {
            Scope::ReservationUser | Scope::QueueJoinUser => 1,
            Scope::PostUser | Scope::CommentUser => 60,
            _ => state.config.auth.rate_window.as_secs().max(1),
        }
    }

    fn limit(self, state: &AppState) -> u32 {
        let c = &state.config.auth;
        match self {
            Scope::LoginIp => c.rate_login_per_ip,
            Scope::LoginAccount => c.rate_login_per_account,
            Scope::RegisterIp => c.rate_register_per_ip,
            Scope::ReservationUser => c.rate_reservations_per_user,
            Scope::QueueJoinUser => c.rate_queue_joins_per_user,
            Scope::PostUser => POSTS_PER_MIN,
            Scope::CommentUser => COMMENTS_PER_MIN,
        }
    }
}

/// Counts one attempt of `subject` in `scope`; 429 `RATE_LIMITED` with `Retry-After`
/// when that attempt is over the limit. A limit of 0 turns the check off.
pub async fn check(state: &AppState, scope: Scope, subject: &str) -> Result<(), ApiError> {
    let limit = scope.limit(state);
    if limit == 0 {
        return Ok(());
    }
    let window = scope.window_secs(state);
    let now = u64::try_from(state.clock.unix()).unwrap_or(0);
    let index = now / window;
    let key = state
        .redis
        .key(&format!("auth:rl:{}:{subject}:{index}", scope.as_str()));
    let mut conn = state.redis.conn();
    // The TTL only reclaims memory; the window number in the key decides which window
    // counts, so a slightly long TTL is harmless.
    let counted: redis::RedisResult<(u64,)> = redis::pipe()
        .atomic()
        .incr(&key, 1u64)
        .expire(&key, i64::try_from(window + 1).unwrap_or(i64::MAX))
        .ignore()
        .query_async(&mut conn)
        .await;
    match counted {
        Ok((count,)) if count > u64::from(limit) => {
            metrics::counter!("auth_rate_limited_total", "scope" => scope.as_str()).increment(1);
            let retry_after = (index + 1) * window - now;
            Err(ApiError::too_many_requests(retry_after.max(1)))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            metrics::counter!("auth_rate_limit_errors_total", "scope" => scope.as_str())
                .increment(1);
            tracing::warn!(error = %e, scope = scope.as_str(), "rate limit unavailable; allowing the attempt (fail open)");
            Ok(())
        }
    }
}

/// The account subject for an email: a hash, so Redis holds no addresses.
pub(crate) fn account_subject(normalized_email: &str) -> String {
    let digest = Sha256::digest(normalized_email.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The client's IP address, as far as the origin can tell.
///
/// Behind the edge every request comes from the edge's address, so the edge attests
/// the address it saw in the `urr-client-ip` header, MACed with a secret it shares with
/// the origin (`URR_EDGE_PROXY_SECRETS`, format in `shared_wasm::client_ip`). That
/// address is used when the MAC verifies and the attestation is under a minute old;
/// otherwise the TCP peer. Forwarded headers (`X-Forwarded-For`, `X-Real-IP`, ...) are
/// never believed: anyone who reaches the origin directly could write them. `None` when
/// nothing is known (a router served without connect info): one `unknown` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The rate-limit subject: the address, IPv6 cut to its /64.
    pub fn subject(&self) -> String {
        match self.0 {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            None => "unknown".to_owned(),
        }
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secrets = &state.config.auth.edge_proxy_secrets;
        if !secrets.is_empty()
            && let Some(header) = parts
                .headers
                .get(shared_wasm::client_ip::HEADER)
                .and_then(|v| v.to_str().ok())
        {
            let keys: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
            match shared_wasm::client_ip::verify(&keys, header, state.clock.unix()) {
                Ok(ip) => {
                    if let Ok(ip) = ip.parse::<IpAddr>() {
                        return Ok(ClientIp(Some(ip)));
                    }
                }
                Err(e) => {
                    metrics::counter!("auth_client_ip_refused_total").increment(1);
                    tracing::debug!(error = %e, "client-ip attestation refused; using the peer");
                }
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientIp(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(ClientIp(Some(a)).subject(), ClientIp(Some(b)).subject());
        assert_ne!(ClientIp(Some(a)).subject(), ClientIp(Some(c)).subject());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("ip");
        assert_eq!(ClientIp(Some(mapped)).subject(), "10.1.2.3");
        assert_eq!(ClientIp(None).subject(), "unknown");
    }

    #[test]
    fn account_subjects_hide_the_email() {
        let s = account_subject("ann@example.com");
        assert_eq!(s.len(), 32);
        assert!(!s.contains("ann"));
        assert_ne!(s, account_subject("bob@example.com"));
    }
}

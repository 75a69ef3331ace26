//! A small shared cache for answers the origin marks public, as a CDN in front of the
//! origin would keep them (RFC 9111 rules for a shared cache, the strict subset):
//!
//! * only `GET`, only `200`, only with `Cache-Control: public` and a `max-age` (or
//!   `s-maxage`) above zero, kept for at most that long and never beyond [`MAX_TTL`];
//! * never an answer with `Set-Cookie`, `Vary`, `private`, `no-store` or `no-cache`,
//!   and never a body over [`MAX_BODY`];
//! * the key is the path and query; `public` allows storing an answer to a request
//!   with credentials (RFC 9111 §3.5), which is what the origin means by it.
//!
//! Its use in an on-sale: the seat map of a stadium (half a megabyte, `public,
//! max-age=1`) is asked for by every fan choosing seats; with the cache the origin
//! builds it about once a second per edge instead of once per fan. Only requests that
//! passed the edge's entry-token guard reach the cache.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest time an answer is kept, whatever the origin says.
pub const MAX_TTL: Duration = Duration::from_secs(60);
/// Largest body kept.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Memory for bodies, in bytes.
const CAPACITY_BYTES: u64 = 256 * 1024 * 1024;

pub struct Stored {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    expires: Instant,
}

pub struct PublicCache(moka::sync::Cache<String, Arc<Stored>>);

impl Default for PublicCache {
    fn default() -> Self {
        PublicCache(
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|k: &String, v: &Arc<Stored>| {
                    u32::try_from(k.len() + v.body.len()).unwrap_or(u32::MAX)
                })
                .time_to_live(MAX_TTL)
                .build(),
        )
    }
}

impl PublicCache {
    /// A fresh stored answer for `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Stored>> {
        self.0.get(key).filter(|s| Instant::now() < s.expires)
    }

    pub fn put(
        &self,
        key: String,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        ttl: Duration,
    ) {
        let stored = Stored {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body,
            expires: Instant::now() + ttl.min(MAX_TTL),
        };
        self.0.insert(key, Arc::new(stored));
    }
}

/// How long an answer may be kept, or `None` when it must not be (see the module docs).
pub fn storable(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::OK
        || headers.contains_key(axum::http::header::SET_COOKIE)
        || headers.contains_key(axum::http::header::VARY)
    {
        return None;
    }
    if headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY)
    {
        return None;
    }
    let mut public = false;
    let mut max_age = None;
    let mut shared_max_age = None;
    for value in headers.get_all(axum::http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            return None;
        };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (
                    n.trim().to_owned(),
                    Some(a.trim().trim_matches('"').to_owned()),
                ),
                None => (directive.clone(), None),
            };
            match name.as_str() {
                "public" => public = true,
                "private" | "no-store" | "no-cache" => return None,
                "max-age" => max_age = arg.and_then(|a| a.parse::<u64>().ok()),
                "s-maxage" => shared_max_age = arg.and_then(|a| a.parse::<u64>().ok()),
                _ => {}
            }
        }
    }
    let secs = shared_max_age.or(max_age)?;
    (public && secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_public_answers_with_an_age_are_kept() {
        let ok = StatusCode::OK;
        assert_eq!(
            storable(ok, &headers(&[("cache-control", "public, max-age=1")])),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            storable(
                ok,
                &headers(&[("cache-control", "public, max-age=60, s-maxage=5")])
            ),
            Some(Duration::from_secs(5))
        );
        for refused in [
            headers(&[("cache-control", "max-age=60")]),
            headers(&[("cache-control", "public")]),
            headers(&[("cache-control", "public, max-age=0")]),
            headers(&[("cache-control", "public, max-age=9, private")]),
            headers(&[("cache-control", "public, max-age=9, no-store")]),
            headers(&[
                ("cache-control", "public, max-age=9"),
                ("set-cookie", "a=b"),
            ]),
            headers(&[("cache-control", "public, max-age=9"), ("vary", "cookie")]),
            headers(&[
                ("cache-control", "public, max-age=9"),
                ("content-length", "99999999"),
            ]),
            headers(&[]),
        ] {
            assert_eq!(storable(ok, &refused), None, "{refused:?}");
        }
        assert_eq!(
            storable(
                StatusCode::NOT_FOUND,
                &headers(&[("cache-control", "public, max-age=9")])
            ),
            None
        );
    }

    #[test]
    fn stored_answers_expire_with_their_age() {
        let cache = PublicCache::default();
        let h = headers(&[("content-type", "application/json")]);
        cache.put(
            "/a".into(),
            StatusCode::OK,
            &h,
            Bytes::from_static(b"{}"),
            Duration::from_secs(30),
        );
        cache.put(
            "/b".into(),
            StatusCode::OK,
            &h,
            Bytes::from_static(b"{}"),
            Duration::ZERO,
        );
        assert!(cache.get("/a").is_some_and(|s| s.body.as_ref() == b"{}"));
        assert!(cache.get("/b").is_none(), "a zero age is stale at once");
        assert!(cache.get("/c").is_none());
    }
}

//! Basic authentication as Toss does it: `base64("<secretKey>:")`, trailing colon included.
//!
//! The secret key is the Basic-auth *user name* and the password is empty, so the
//! header is `Authorization: Basic base64("<secretKey>:")`. The colon is what clients
//! most often forget, and Toss answers that with 403 `INCORRECT_BASIC_AUTH_FORMAT`,
//! not with 401. The rules the fake applies, in order:
//!
//! 1. header missing, not UTF-8, scheme other than `Basic`, payload not base64 (padded
//!    **or** unpadded), not UTF-8, no colon, or a non-empty password
//!    → 403 `INCORRECT_BASIC_AUTH_FORMAT`;
//! 2. user name not one of the configured keys → `UNAUTHORIZED_KEY` (401 by default,
//!    configurable because the real status is uncertain).
//!
//! Only `test_sk_…` and `test_gsk_…` keys can be configured (checked at start-up), so
//! a `live_` key is always refused.

use crate::error::TossError;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 that accepts the payload with or without `=` padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The prefixes of the secret keys the fake accepts in its configuration.
pub const ACCEPTED_KEY_PREFIXES: [&str; 2] = ["test_sk_", "test_gsk_"];

/// Returns the secret key the request authenticated with.
pub(crate) fn authenticate(
    headers: &HeaderMap,
    accepted: &[String],
    unknown_key_status: StatusCode,
) -> Result<String, TossError> {
    let user = basic_user(headers).ok_or_else(TossError::incorrect_basic_auth_format)?;
    if accepted.contains(&user) {
        Ok(user)
    } else {
        Err(TossError::unauthorized_key(unknown_key_status))
    }
}

/// The user name of a well-formed `Basic base64("<user>:")` header, else `None`.
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, payload) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = LENIENT_BASE64.decode(payload.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    password.is_empty().then(|| user.to_owned())
}

/// Checks that a key may be configured: a `test_` secret key of the API (`sk`) or the
/// widget (`gsk`) kind.
pub(crate) fn check_configurable_key(key: &str) -> Result<(), String> {
    if ACCEPTED_KEY_PREFIXES
        .iter()
        .any(|p| key.len() > p.len() && key.starts_with(p))
    {
        Ok(())
    } else if key.starts_with("live_") {
        let shown: String = key.chars().take(9).collect();
        Err(format!(
            "refusing live key {shown}…: the fake only accepts test_ keys"
        ))
    } else {
        Err(format!(
            "{key:?} is not a test secret key (expected a test_sk_… or test_gsk_… key)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    /// `"<KEY>:"` is 37 bytes, so its padded and unpadded base64 differ.
    const KEY: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("valid header"),
        );
        h
    }

    fn check(value: &str) -> Result<String, TossError> {
        authenticate(&headers(value), &[KEY.to_owned()], StatusCode::UNAUTHORIZED)
    }

    #[test]
    fn padded_and_unpadded_are_accepted() {
        let padded = STANDARD.encode(format!("{KEY}:"));
        let unpadded = STANDARD_NO_PAD.encode(format!("{KEY}:"));
        assert_ne!(padded, unpadded, "the key must need padding for this test");
        assert_eq!(check(&format!("Basic {padded}")).as_deref(), Ok(KEY));
        assert_eq!(check(&format!("Basic {unpadded}")).as_deref(), Ok(KEY));
        assert_eq!(check(&format!("basic {padded}")).as_deref(), Ok(KEY));
    }

    #[test]
    fn malformed_headers_are_format_errors() {
        let no_colon = STANDARD.encode(KEY);
        let with_password = STANDARD.encode(format!("{KEY}:secret"));
        for bad in [
            format!("Basic {no_colon}"),
            format!("Basic {with_password}"),
            format!("Bearer {}", STANDARD.encode(format!("{KEY}:"))),
            "Basic !!!not-base64!!!".to_owned(),
            "Basic".to_owned(),
        ] {
            let err = check(&bad).expect_err(&bad);
            assert_eq!(err.code, "INCORRECT_BASIC_AUTH_FORMAT", "{bad}");
            assert_eq!(err.status, StatusCode::FORBIDDEN);
        }
        let missing = authenticate(
            &HeaderMap::new(),
            &[KEY.to_owned()],
            StatusCode::UNAUTHORIZED,
        );
        assert_eq!(
            missing.map_err(|e| e.code),
            Err("INCORRECT_BASIC_AUTH_FORMAT".into())
        );
    }

    #[test]
    fn unknown_keys_are_unauthorized() {
        for key in ["test_sk_other", "live_gsk_x", ""] {
            let err =
                check(&format!("Basic {}", STANDARD.encode(format!("{key}:")))).expect_err(key);
            assert_eq!(err.code, "UNAUTHORIZED_KEY");
            assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn only_test_secret_keys_are_configurable() {
        assert!(check_configurable_key(KEY).is_ok());
        assert!(check_configurable_key("test_sk_abc").is_ok());
        assert!(check_configurable_key("live_sk_abc").is_err());
        assert!(check_configurable_key("live_gsk_abc").is_err());
        assert!(check_configurable_key("test_ck_abc").is_err());
        assert!(check_configurable_key("test_gck_abc").is_err());
    }
}

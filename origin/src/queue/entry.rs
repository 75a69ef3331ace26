//! Entry tokens: what an admitted fan shows to book.
//!
//! An entry token is `typ=entry`, signed with the origin key (never the edge key, so a
//! pass can never pass for one), names one event and one user (a token shared or
//! copied to another event is refused), and
//! lives at most 10 minutes and never past the fan's active slot. Every status poll of
//! an admitted fan returns a fresh one, so a fan still choosing seats keeps a valid
//! token until the slot ends.
//!
//! [`require`] guards `POST /api/v1/events/{event_id}/reservations`: token valid for
//! this event and this user, and the user still holds an active slot. A fan who left or
//! paid holds no slot and is refused, also when nobody else holds one: the line's epoch
//! sentinel (refreshed by every join) tells "no slot" from "Redis lost the line". Only
//! when Redis cannot say (down, or the sentinel is gone after a flush) does the signed
//! token alone decide; it expires with the slot (at most 10 minutes), so a Redis blip
//! does not lock every admitted fan out mid-booking.

use super::line;
use crate::auth::AuthUser;
use crate::http::Code;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::HeaderMap;
use shared_wasm::token::{self, EntryClaims, TokenError};
use uuid::Uuid;

/// Header carrying the entry token (pages use the event's entry cookie).
pub const HEADER: &str = "x-entry-token";
/// The unscoped cookie of earlier versions: read when the event's own is absent.
pub const LEGACY_COOKIE: &str = "urr_entry";

/// The cookie carrying `event`'s entry token: `urr_entry_<event id, 32 hex>`, one name
/// per event (the edge's guard reads the same name,
/// `shared_wasm::edge::route::entry_cookie`), so a fan admitted to two events keeps
/// both tokens.
pub fn cookie(event: Uuid) -> String {
    shared_wasm::edge::route::entry_cookie(event)
}

/// Signs an entry token for `user` on `event`, valid until `slot_expires_ms` at most.
pub fn sign(state: &AppState, event: Uuid, user: Uuid, slot_expires_ms: i64) -> (String, i64) {
    let now = state.clock.unix();
    let ttl = state.config.queue.entry_ttl.as_secs() as i64;
    let exp = (now + ttl)
        .min(slot_expires_ms.div_euclid(1000))
        .max(now + 1);
    let claims = EntryClaims {
        evt: event,
        sub: user,
        jti: Uuid::new_v4().simple().to_string(),
        iat: now,
        exp,
    };
    (token::sign(&state.config.keys.origin_signing, &claims), exp)
}

/// The entry token from the header, else from the event's cookie, else from the
/// legacy unscoped one.
fn presented(headers: &HeaderMap, event: Uuid) -> Option<&str> {
    if let Some(v) = headers.get(HEADER) {
        return Some(v.to_str().unwrap_or_default().trim());
    }
    crate::http::cookie(headers, &cookie(event))
        .or_else(|| crate::http::cookie(headers, LEGACY_COOKIE))
}

/// The `typ` a token claims, read WITHOUT verifying it: only for a better error message.
fn unverified_kind(raw: &str) -> Option<String> {
    use base64::Engine;
    let payload = raw.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let kind = v.get("typ")?.as_str()?;
    (kind.len() <= 16 && kind.bytes().all(|b| b.is_ascii_lowercase())).then(|| kind.to_owned())
}

/// 403 with a code naming what is wrong with the entry token.
fn refused(e: &TokenError) -> ApiError {
    let (code, detail) = match e {
        TokenError::WrongKind { .. } => (
            Code::ENTRY_TOKEN_WRONG_TYPE,
            "this is not an entry token (a pass, ticket or access token cannot be used)",
        ),
        TokenError::WrongEvent => (
            Code::ENTRY_TOKEN_WRONG_EVENT,
            "the entry token was issued for another event",
        ),
        TokenError::Expired => (
            Code::ENTRY_TOKEN_EXPIRED,
            "the entry token has expired; join the queue again",
        ),
        TokenError::NotYetValid => (
            Code::ENTRY_TOKEN_NOT_YET_VALID,
            "the entry token is not valid yet",
        ),
        TokenError::UnknownKey | TokenError::BadSignature | TokenError::Algorithm => (
            Code::ENTRY_TOKEN_INVALID,
            "the entry token's signature does not verify",
        ),
        TokenError::Malformed => (Code::ENTRY_TOKEN_MALFORMED, "the entry token is malformed"),
    };
    ApiError::new(code, detail)
}

/// Checks the entry token for a booking request of `user` on `event`, if the event's
/// queue guards booking. Answers 403 with a specific `ENTRY_TOKEN_*` code otherwise.
pub async fn require(
    state: &AppState,
    user: &AuthUser,
    event: Uuid,
    headers: &HeaderMap,
) -> ApiResult<()> {
    let Some(settings) = state.queue.settings.get(&state.db, event).await? else {
        return Ok(());
    };
    if !settings.guards_booking() {
        return Ok(());
    }
    let Some(raw) = presented(headers, event).filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            Code::ENTRY_TOKEN_REQUIRED,
            "this event has a queue: send the entry token from the queue status in the \
             X-Entry-Token header",
        ));
    };
    let claims: EntryClaims = token::verify_for_event(
        &state.config.keys.origin_public,
        raw,
        event,
        state.clock.unix(),
    )
    .map_err(|e| match (&e, unverified_kind(raw)) {
        // Signed by a key we do not know (a pass comes from the edge key): say what it
        // is, which helps a client that sent the wrong token.
        (TokenError::UnknownKey, Some(kind)) if kind != "entry" => ApiError::new(
            Code::ENTRY_TOKEN_WRONG_TYPE,
            format!("this is a {kind} token, not an entry token"),
        ),
        _ => refused(&e),
    })?;
    if claims.sub != user.id {
        return Err(ApiError::new(
            Code::ENTRY_TOKEN_WRONG_USER,
            "the entry token was issued to another account",
        ));
    }
    match line::slot(&state.redis, event, user.id, state.clock.unix_ms()).await {
        Ok(line::Slot::Active { .. }) => Ok(()),
        Ok(line::Slot::Unknown) => {
            tracing::warn!(%event, "the line's state is gone from Redis: entry token checked by signature only");
            Ok(())
        }
        Ok(line::Slot::Ended) => Err(ApiError::new(
            Code::QUEUE_SLOT_ENDED,
            "your booking slot has ended; join the queue again",
        )),
        Err(e) => {
            tracing::warn!(error = %e, %event, "Redis unavailable: entry token checked by signature only");
            Ok(())
        }
    }
}

//! Keyset pagination: opaque cursors and page sizes, one format for every list.
//!
//! Lists are ordered by a unique key (`(starts_at, id)` for events, `(name, id)` for
//! artists, venues and layouts) and a page continues strictly after the last key of the
//! previous one (`WHERE (k, id) > ($k, $id)`). Unlike `OFFSET`, this is stable while
//! rows are inserted between requests: a new row lands before or after the cursor, so
//! the pages already fetched are neither repeated nor shifted (no duplicates, no skips),
//! and each page costs one index range scan however deep the client pages.
//!
//! A cursor is base64url (no padding) of a small JSON object. Clients must treat it as
//! opaque; a cursor that does not decode, or belongs to another list, is 400
//! `INVALID_CURSOR`.

use crate::http::Code;
use crate::http::{ApiError, ApiResult, FieldError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page size; larger values are refused (400 `INVALID_QUERY`), not clamped, so a
/// client never silently gets fewer rows per page than it asked for.
pub const MAX_LIMIT: i64 = 100;
/// Longest cursor accepted (ours are far shorter); guards the decoder.
const MAX_CURSOR_LEN: usize = 1024;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Cursor {
    /// Events: `(starts_at, id)`; `t` is Unix microseconds (Postgres precision).
    #[serde(rename = "e")]
    Event { t: i64, i: Uuid },
    /// Lists ordered by name: `(name, id)`.
    #[serde(rename = "n")]
    Name { n: String, i: Uuid },
    /// Void tickets (tickets' door feed): `(voided_at, id)`, `t` in Unix microseconds.
    #[serde(rename = "v")]
    Voided { t: i64, i: Uuid },
    /// Newest-first lists of one's own things (reservations, tickets):
    /// `(created_at, id)` descending, `t` in Unix microseconds.
    #[serde(rename = "c")]
    Created { t: i64, i: Uuid },
}

impl Cursor {
    pub fn event(starts_at: DateTime<Utc>, id: Uuid) -> Self {
        Cursor::Event {
            t: starts_at.timestamp_micros(),
            i: id,
        }
    }

    pub fn name(name: &str, id: Uuid) -> Self {
        Cursor::Name {
            n: name.to_owned(),
            i: id,
        }
    }

    pub fn voided(voided_at: DateTime<Utc>, id: Uuid) -> Self {
        Cursor::Voided {
            t: voided_at.timestamp_micros(),
            i: id,
        }
    }

    pub fn created(created_at: DateTime<Utc>, id: Uuid) -> Self {
        Cursor::Created {
            t: created_at.timestamp_micros(),
            i: id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str) -> ApiResult<Self> {
        if s.len() > MAX_CURSOR_LEN {
            return Err(invalid_cursor());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| invalid_cursor())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
    }

    /// Decodes an event cursor: `(starts_at, id)`.
    pub fn decode_event(s: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
        Self::decode_at(s, |c| match c {
            Cursor::Event { t, i } => Some((t, i)),
            _ => None,
        })
    }

    /// Decodes a void-ticket cursor: `(voided_at, id)`.
    pub fn decode_voided(s: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
        Self::decode_at(s, |c| match c {
            Cursor::Voided { t, i } => Some((t, i)),
            _ => None,
        })
    }

    /// Decodes a newest-first cursor: `(created_at, id)`.
    pub fn decode_created(s: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
        Self::decode_at(s, |c| match c {
            Cursor::Created { t, i } => Some((t, i)),
            _ => None,
        })
    }

    /// A `(time, id)` cursor of the kind `pick` accepts; another list's cursor, or a time
    /// outside what Postgres stores, is 400 `INVALID_CURSOR`.
    fn decode_at(
        s: Option<&str>,
        pick: impl FnOnce(Cursor) -> Option<(i64, Uuid)>,
    ) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
        let Some(cursor) = s.filter(|s| !s.is_empty()).map(Self::decode).transpose()? else {
            return Ok(None);
        };
        pick(cursor)
            .and_then(|(t, i)| Some((DateTime::from_timestamp_micros(t)?, i)))
            .filter(|(t, _)| in_sql_range(*t))
            .map(Some)
            .ok_or_else(invalid_cursor)
    }

    /// Decodes a name cursor: `(name, id)`.
    pub fn decode_name(s: Option<&str>) -> ApiResult<Option<(String, Uuid)>> {
        match s.filter(|s| !s.is_empty()).map(Self::decode).transpose()? {
            None => Ok(None),
            // Postgres text cannot hold NUL: refuse it here rather than fail in SQL.
            Some(Cursor::Name { n, i }) if !n.chars().any(char::is_control) => Ok(Some((n, i))),
            Some(_) => Err(invalid_cursor()),
        }
    }
}

/// Years 1..=9999: what every client and Postgres handle. A forged cursor or query with
/// a year like 200000 would otherwise reach SQL and fail there as a 500.
pub fn in_sql_range(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&t.year())
}

fn invalid_cursor() -> ApiError {
    ApiError::new(
        Code::INVALID_CURSOR,
        "`cursor` is not a cursor this list returned; start again without it",
    )
}

/// 400 `INVALID_QUERY` naming one query parameter.
pub fn invalid_query(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    let mut e = ApiError::new(Code::INVALID_QUERY, format!("{field}: {message}"));
    e.errors.push(FieldError {
        field: field.to_owned(),
        message,
    });
    e
}

/// The page size: default [`DEFAULT_LIMIT`], `1..=MAX_LIMIT` else 400 `INVALID_QUERY`.
pub fn limit(requested: Option<i64>) -> ApiResult<i64> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(invalid_query(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// The search text: trimmed, empty means no search, at most 100 characters.
pub fn search_text(q: Option<&str>) -> ApiResult<Option<String>> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > 100 {
        return Err(invalid_query("q", "must be at most 100 characters"));
    }
    if q.chars().any(char::is_control) {
        return Err(invalid_query("q", "must not contain control characters"));
    }
    Ok(Some(q.to_owned()))
}

/// Cuts the `limit + 1` rows a query fetched to one page; the cursor points after the
/// last row kept when a further row exists.
pub fn paginate<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    cursor_of: impl Fn(&R) -> Cursor,
    item: impl FnMut(R) -> T,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|r| cursor_of(r).encode())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(item).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::new_v4();
        let t = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        let c = Cursor::event(t, id).encode();
        assert_eq!(Cursor::decode_event(Some(&c)).expect("ok"), Some((t, id)));
        let n = Cursor::name("아이유", id).encode();
        assert_eq!(
            Cursor::decode_name(Some(&n)).expect("ok"),
            Some(("아이유".to_owned(), id))
        );
        let v = Cursor::voided(t, id).encode();
        assert_eq!(Cursor::decode_voided(Some(&v)).expect("ok"), Some((t, id)));
        let r = Cursor::created(t, id).encode();
        assert_eq!(Cursor::decode_created(Some(&r)).expect("ok"), Some((t, id)));
        assert!(Cursor::decode_created(Some(&v)).is_err());
        assert!(Cursor::decode_voided(Some(&r)).is_err());
        // Wrong list, garbage, valid base64 of junk, empty = no cursor.
        assert!(Cursor::decode_event(Some(&n)).is_err());
        assert!(Cursor::decode_event(Some(&v)).is_err());
        assert!(Cursor::decode_voided(Some(&c)).is_err());
        assert!(Cursor::decode_name(Some("!!!")).is_err());
        assert!(Cursor::decode_name(Some(&URL_SAFE_NO_PAD.encode("{}"))).is_err());
        assert_eq!(Cursor::decode_name(Some("")).expect("ok"), None);
        assert!(Cursor::decode_event(Some(&"A".repeat(5000))).is_err());
        // Decodable, but outside what Postgres stores, or text it cannot hold.
        let far =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"k":"e","t":600000000000000000,"i":"{id}"}}"#));
        assert!(Cursor::decode_event(Some(&far)).is_err());
        let nul = URL_SAFE_NO_PAD.encode(format!(r#"{{"k":"n","n":"a\u0000","i":"{id}"}}"#));
        assert!(Cursor::decode_name(Some(&nul)).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).expect("ok"), DEFAULT_LIMIT);
        assert_eq!(limit(Some(100)).expect("ok"), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
        assert!(limit(Some(i64::MAX)).is_err());
        assert!(search_text(Some("a\u{0}b")).is_err());
        assert_eq!(search_text(Some("  ")).expect("ok"), None);
    }
}

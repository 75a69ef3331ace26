//! Input rules shared by the catalog handlers.
//!
//! Handlers collect every broken rule of a request in a [`Checks`] and answer one 422
//! `VALIDATION_FAILED` naming all of them, so a form can mark every bad field at once
//! instead of making the user fix them one round trip at a time.

use crate::http::{ApiError, ApiResult, FieldError};
use serde::{Deserialize, Deserializer};

/// Highest price of one seat or ticket, in KRW (₩10,000,000). Far above any real ticket,
/// low enough that sums over a 20-ticket order stay well inside `i32`/`int` columns.
pub const MAX_PRICE: i64 = 10_000_000;
/// Highest `total_quantity` of a ticket type.
pub const MAX_QUANTITY: i64 = 1_000_000;
/// Bounds of `max_tickets_per_user`.
pub const MAX_TICKETS_PER_USER: i64 = 20;
/// Ticket types one event may have.
pub const MAX_TICKET_TYPES: usize = 50;
/// Longest URL we store (poster, artist image).
pub const MAX_URL_LEN: usize = 2048;

/// Accumulates field errors of one request.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a broken rule on `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }

    /// A required text: trimmed, 1..=`max` characters. Returns the trimmed value (empty
    /// when invalid; the error is recorded).
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "must not be empty");
        } else if v.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if v.chars().any(|c| c.is_control()) {
            self.add(field, "must not contain control characters");
        }
        v.to_owned()
    }

    /// An optional free text (descriptions, bios): trimmed, at most `max` characters;
    /// line breaks are fine.
    pub fn free_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if v
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            // Postgres text cannot even store NUL; the rest is never meant as content.
            self.add(field, "must not contain control characters");
        }
        v.to_owned()
    }

    /// An `http(s)://` URL, or the path of an image uploaded here (`/media/images/…`,
    /// as `POST /api/v1/uploads` answers), without whitespace, at most [`MAX_URL_LEN`]
    /// bytes.
    pub fn url(&mut self, field: &str, value: &str) -> String {
        let v = value.trim();
        let uploaded = v.len() > "/media/images/".len() && v.starts_with("/media/images/");
        let scheme_ok = v.starts_with("https://") || v.starts_with("http://");
        if uploaded {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) || v.contains("..") {
                self.add(field, "must not contain whitespace");
            }
        } else if !scheme_ok || v.len() <= "https://".len() {
            self.add(field, "must be an absolute http(s) URL");
        } else if v.len() > MAX_URL_LEN {
            self.add(field, format!("must be at most {MAX_URL_LEN} characters"));
        } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.add(field, "must not contain whitespace");
        }
        v.to_owned()
    }

    /// A price in KRW: `0..=MAX_PRICE`.
    pub fn price(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.add(field, "must not be negative");
        } else if value > MAX_PRICE {
            self.add(field, format!("must be at most {MAX_PRICE} KRW"));
        }
    }

    /// A ticket quantity: `0..=MAX_QUANTITY`.
    pub fn quantity(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.add(field, "must not be negative");
        } else if value > MAX_QUANTITY {
            self.add(field, format!("must be at most {MAX_QUANTITY}"));
        }
    }

    /// An integer within `min..=max`.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded, else the 422 naming every field.
    pub fn finish(self) -> ApiResult<()> {
        match ApiError::from_field_errors(self.0) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// For PATCH bodies: tells "absent" (`None`) from "explicitly null" (`Some(None)`).
/// Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside `ILIKE '%…%'`.
pub fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Is this a Postgres unique violation (SQLSTATE 23505), optionally of `constraint`?
pub fn is_unique_violation(e: &sqlx::Error, constraint: Option<&str>) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23505")
            && constraint.is_none_or(|c| db.constraint() == Some(c)))
}

/// Is this a Postgres foreign-key violation (SQLSTATE 23503)?
pub fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23503"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("IU"), "%IU%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn checks_collect_every_field() {
        let mut c = Checks::new();
        assert_eq!(c.required_text("title", "  ok  ", 10), "ok");
        c.required_text("name", "   ", 10);
        c.price("price", -1);
        c.quantity("total_quantity", MAX_QUANTITY + 1);
        c.url("poster_url", "javascript:alert(1)");
        c.free_text("description", "line\nbreaks\tare fine", 100);
        c.free_text("bio", "nul \u{0} is not", 100);
        let err = c.finish().expect_err("invalid");
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "price", "total_quantity", "poster_url", "bio"],
            "{err}"
        );
    }
}

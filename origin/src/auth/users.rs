//! Accounts: input rules, the `users` table, and [`create_user`] for seeders.
//!
//! Emails are stored trimmed and lowercased, and the unique index is on `lower(email)`,
//! so `Ann@Example.com` and `ann@example.com` are one account. Uniqueness is enforced by
//! that index, not by a "does it exist?" query first: two concurrent registrations with
//! one email race to the index and exactly one wins; the loser gets `EMAIL_TAKEN`.

use super::password::{self, PasswordError, PasswordParams};
use crate::clock::Clock;
use crate::http::Code;
use crate::http::{ApiError, FieldError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared_wasm::token::Role;
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

/// Passwords are counted in Unicode scalar values, not bytes.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Upper bound so nobody can make us hash a megabyte per request.
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
/// RFC 5321 limit for a forward path.
pub const EMAIL_MAX_LEN: usize = 254;

/// The public view of an account, as `GET /api/v1/me` and the login answers show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserProfile {
    pub id: Uuid,
    /// Lowercase, trimmed.
    pub email: String,
    pub display_name: String,
    pub phone: Option<String>,
    #[schema(value_type = String, example = "fan")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// False for accounts that only sign in with Google.
    pub has_password: bool,
    pub google_linked: bool,
    /// Set while an admin has disabled the account (it cannot sign in).
    pub disabled_at: Option<DateTime<Utc>>,
}

/// One row of `users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: String,
    pub google_sub: Option<String>,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    /// Queries that do not select it read `None` (they do not need it).
    #[sqlx(default)]
    pub disabled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, email, password_hash, display_name, phone, role, google_sub, \
                       email_verified, created_at, disabled_at";

impl UserRow {
    /// The role column is constrained by a CHECK, so a value we cannot parse means the
    /// schema and the code disagree: a bug, reported as a 500.
    pub fn role(&self) -> Result<Role, ApiError> {
        Role::parse(&self.role).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "user {} has unknown role {:?}",
                self.id,
                self.role
            ))
        })
    }

    pub fn profile(&self) -> Result<UserProfile, ApiError> {
        Ok(UserProfile {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            phone: self.phone.clone(),
            role: self.role()?,
            created_at: self.created_at,
            has_password: self.password_hash.is_some(),
            google_linked: self.google_sub.is_some(),
            disabled_at: self.disabled_at,
        })
    }
}

pub(crate) async fn find_by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// `email` must already be normalised ([`normalize_email`]).
pub(crate) async fn find_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users WHERE lower(email) = $1"
    ))
    .bind(email)
    .fetch_optional(db)
    .await
}

pub(crate) async fn find_by_google_sub(
    db: impl PgExecutor<'_>,
    sub: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users WHERE google_sub = $1"
    ))
    .bind(sub)
    .fetch_optional(db)
    .await
}

/// A validated account to insert.
pub(crate) struct NewUser {
    pub email: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub google_sub: Option<String>,
    pub email_verified: bool,
}

/// Why an insert did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InsertError {
    #[error("email taken")]
    EmailTaken,
    #[error("google account taken")]
    GoogleTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Inserts `user`; the unique indexes decide races (see the module docs).
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    user: NewUser,
) -> Result<UserRow, InsertError> {
    // The account and its `user.registered` event in one statement: the event exists
    // exactly when the account does (statistics count new users from it).
    let res = sqlx::query_as::<_, UserRow>(&format!(
        "WITH u AS (
           INSERT INTO users (id, email, password_hash, display_name, phone, role, google_sub,
                              email_verified, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
           RETURNING {COLUMNS}),
         e AS (
           INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
           SELECT $10, 'user.registered', u.id,
                  jsonb_build_object('user_id', u.id, 'role', u.role,
                                     'via', CASE WHEN u.google_sub IS NULL THEN 'password' ELSE 'google' END),
                  u.created_at
           FROM u)
         SELECT * FROM u"
    ))
    .bind(Uuid::now_v7())
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.display_name)
    .bind(&user.phone)
    .bind(user.role.as_str())
    .bind(&user.google_sub)
    .bind(user.email_verified)
    .bind(now)
    .bind(Uuid::now_v7())
    .fetch_one(db)
    .await;
    match res {
        Ok(row) => Ok(row),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            if e.constraint() == Some("users_google_sub_key") {
                Err(InsertError::GoogleTaken)
            } else {
                Err(InsertError::EmailTaken)
            }
        }
        Err(e) => Err(InsertError::Db(e)),
    }
}

/// Trims and lowercases `raw` and checks it looks like `local@domain.tld`.
///
/// Deliberately not a full RFC 5322 parser: quoted local parts and IP-literal domains are
/// legal but no mail provider a fan uses hands them out, and every extra form is one
/// more way to spell the same mailbox twice. The only way to prove an address is to send
/// mail to it; this check only rejects what is certainly not one.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty");
    }
    if email.len() > EMAIL_MAX_LEN {
        return Err("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must be an email address like name@example.com");
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err("must be an email address like name@example.com")
    }
}

pub fn check_password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < PASSWORD_MIN_CHARS {
        Err("must be at least 8 characters")
    } else if n > PASSWORD_MAX_CHARS {
        Err("must be at most 128 characters")
    } else {
        Ok(())
    }
}

/// Trims `raw`; 1 to 100 characters, no control characters.
pub fn normalize_display_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 {
        Err("must not be empty")
    } else if n > DISPLAY_NAME_MAX_CHARS {
        Err("must be at most 100 characters")
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(name.to_owned())
    }
}

/// Optional phone number: blank means none. Otherwise digits with the usual separators
/// (`+`, spaces, `-`, `.`, parentheses) and 6 to 15 digits (the E.164 maximum).
pub fn normalize_phone(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(phone) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let chars_ok = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " -.()".contains(c) || (c == '+' && i == 0));
    if phone.len() <= 32 && chars_ok && (6..=15).contains(&digits) {
        Ok(Some(phone.to_owned()))
    } else {
        Err("must be a phone number with 6 to 15 digits")
    }
}

/// A display name for a Google account: the `name` claim when it is usable, else the
/// email's local part, cut to the display name limit.
pub(crate) fn display_name_from(name: Option<&str>, email: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .take(DISPLAY_NAME_MAX_CHARS)
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let from_name = name.map(clean).unwrap_or_default();
    if !from_name.is_empty() {
        return from_name;
    }
    let local = clean(email.split('@').next().unwrap_or_default());
    if local.is_empty() {
        "Fan".to_owned()
    } else {
        local
    }
}

/// Why [`create_user`] did not create an account.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("invalid account data: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CreateUserError> for ApiError {
    fn from(e: CreateUserError) -> Self {
        match e {
            CreateUserError::Invalid(errors) => ApiError::from_field_errors(errors)
                .unwrap_or_else(|| ApiError::validation("body", "invalid")),
            CreateUserError::EmailTaken => ApiError::new(
                Code::EMAIL_TAKEN,
                "An account with this email already exists; log in instead",
            ),
            CreateUserError::Password(e) => ApiError::internal(e),
            CreateUserError::Database(e) => e.into(),
        }
    }
}

/// Input of [`create_account`]: what registration and seeders both provide.
pub(crate) struct AccountInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub display_name: &'a str,
    pub phone: Option<&'a str>,
    pub role: Role,
}

/// Validates, hashes and inserts a password account. Shared by `POST /auth/register`
/// and [`create_user`].
pub(crate) async fn create_account(
    db: &PgPool,
    now: DateTime<Utc>,
    params: PasswordParams,
    input: AccountInput<'_>,
) -> Result<UserRow, CreateUserError> {
    let mut errors = Vec::new();
    let mut field = |name: &str, r: Result<(), &str>| {
        if let Err(m) = r {
            errors.push(FieldError {
                field: name.to_owned(),
                message: m.to_owned(),
            });
        }
    };
    let email = normalize_email(input.email);
    field("email", email.as_ref().map(|_| ()).map_err(|e| *e));
    field("password", check_password(input.password));
    let name = normalize_display_name(input.display_name);
    field("display_name", name.as_ref().map(|_| ()).map_err(|e| *e));
    let phone = normalize_phone(input.phone);
    field("phone", phone.as_ref().map(|_| ()).map_err(|e| *e));
    let (Ok(email), Ok(display_name), Ok(phone), true) = (email, name, phone, errors.is_empty())
    else {
        return Err(CreateUserError::Invalid(errors));
    };
    let hash = password::hash_password(params, input.password.to_owned()).await?;
    let user = NewUser {
        email,
        password_hash: Some(hash),
        display_name,
        phone,
        role: input.role,
        google_sub: None,
        email_verified: false,
    };
    insert(db, now, user).await.map_err(|e| match e {
        InsertError::EmailTaken | InsertError::GoogleTaken => CreateUserError::EmailTaken,
        InsertError::Db(e) => CreateUserError::Database(e),
    })
}

/// Creates a password account with `role` and returns its id. For seeders and admin
/// tooling (the demo seeder creates its admin, promoters and fans with it); the public
/// `POST /api/v1/auth/register` always creates fans.
///
/// The email is normalised (trimmed, lowercased) and every field is checked with the
/// rules of registration; the password is hashed with `params` on the blocking pool.
pub async fn create_user(
    db: &PgPool,
    clock: &Clock,
    params: PasswordParams,
    email: &str,
    password: &str,
    display_name: &str,
    role: Role,
) -> Result<Uuid, CreateUserError> {
    let input = AccountInput {
        email,
        password,
        display_name,
        phone: None,
        role,
    };
    create_account(db, clock.now(), params, input)
        .await
        .map(|u| u.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ann.Lee+tix@Example.COM "),
            Ok("ann.lee+tix@example.com".to_owned())
        );
        for bad in [
            "",
            "   ",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "ann@exa mple.com",
            "ann@-example.com",
            "ann..lee@example.com",
            ".ann@example.com",
            "ann@example..com",
            "a\u{0}n@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        // 8 characters, 24 bytes.
        assert!(check_password("한국어비밀번호다").is_ok());
        assert!(check_password(&"x".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn names_and_phones() {
        assert_eq!(normalize_display_name("  Ann "), Ok("Ann".to_owned()));
        assert!(normalize_display_name("   ").is_err());
        assert!(normalize_display_name(&"n".repeat(101)).is_err());
        assert!(normalize_display_name("a\nb").is_err());
        assert_eq!(normalize_phone(None), Ok(None));
        assert_eq!(normalize_phone(Some("  ")), Ok(None));
        assert_eq!(
            normalize_phone(Some("+82 10-1234-5678")),
            Ok(Some("+82 10-1234-5678".to_owned()))
        );
        assert!(normalize_phone(Some("call me")).is_err());
        assert!(normalize_phone(Some("12+345678")).is_err());
        assert!(normalize_phone(Some("12345")).is_err());
    }

    #[test]
    fn google_display_names_fall_back_to_the_email() {
        assert_eq!(display_name_from(Some(" Ann Lee "), "a@x.io"), "Ann Lee");
        assert_eq!(display_name_from(Some("  "), "ann@x.io"), "ann");
        assert_eq!(display_name_from(None, "@x.io"), "Fan");
        assert_eq!(
            display_name_from(Some(&"n".repeat(300)), "a@x.io")
                .chars()
                .count(),
            100
        );
    }
}

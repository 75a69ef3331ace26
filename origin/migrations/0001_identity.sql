-- Accounts and sessions (origin/src/auth).

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    -- Argon2id PHC string; NULL for accounts that only sign in with Google.
    password_hash text,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    phone         text CHECK (phone IS NULL OR length(phone) <= 32),
    role          text NOT NULL DEFAULT 'fan' CHECK (role IN ('fan', 'promoter', 'admin')),
    -- Google's stable subject id, linked only from a verified email.
    google_sub    text UNIQUE,
    email_verified boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Emails are stored lowercased by the code; the index on lower(email) makes uniqueness
-- hold even for rows written some other way, and serves the login lookup.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens: opaque 256-bit values stored as SHA-256 hashes. Each login starts a
-- family; every refresh uses a token up (used_at) and issues its successor in the same
-- family. Presenting a used token again revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
-- For purge_expired_refresh_tokens.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Access tokens are stateless JWTs that live 30 minutes. To make logout and role changes
-- take effect within seconds on every replica, each replica keeps the revocations of the
-- last access-token lifetime in memory and reads new rows here every second.
--
-- A row either ends one session (a refresh-token family: its access tokens carry the
-- family id as `sid`) or records a user's new role (access tokens of that user carrying
-- any other role are refused; a refresh issues one with the new role).
CREATE TABLE session_revocations (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL,
    family_id  uuid,
    role       text,
    revoked_at timestamptz NOT NULL,
    CHECK ((family_id IS NULL) <> (role IS NULL))
);

CREATE INDEX session_revocations_at ON session_revocations (revoked_at);

-- Statistics, the audit log, staff accounts, disabled accounts and paused rooms.
--
-- * The stats tables are aggregates the stats consumer keeps from the event streams
--   (origin/src/stats). Every column is a sum of event fields over its bucket, added
--   once per event id (the consumer's `processed_events` row commits with the
--   addition), so a figure can always be recomputed from the source tables; the
--   reconciliation test does exactly that.
-- * Minutes are UTC minutes; days are Korean calendar days (UTC+9, no daylight saving).
-- * The queue's minutes are copied from counters the line's own Redis scripts keep
--   (a million joins must not become a million Postgres rows); a copy overwrites with
--   the newer, larger value, so copying twice changes nothing.

CREATE TABLE stats_event_minutes (
    event_id          uuid NOT NULL,
    minute            timestamptz NOT NULL,
    holds             integer NOT NULL DEFAULT 0,
    held_tickets      integer NOT NULL DEFAULT 0,
    expiries          integer NOT NULL DEFAULT 0,
    cancellations     integer NOT NULL DEFAULT 0,
    sales             integer NOT NULL DEFAULT 0,
    tickets           integer NOT NULL DEFAULT 0,
    revenue           bigint  NOT NULL DEFAULT 0,
    refunds           integer NOT NULL DEFAULT 0,
    refunded          bigint  NOT NULL DEFAULT 0,
    tickets_refunded  integer NOT NULL DEFAULT 0,
    listings          integer NOT NULL DEFAULT 0,
    resales           integer NOT NULL DEFAULT 0,
    resale_volume     bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, minute)
);

CREATE TABLE stats_days (
    day                  date PRIMARY KEY,
    holds                integer NOT NULL DEFAULT 0,
    expiries             integer NOT NULL DEFAULT 0,
    cancellations        integer NOT NULL DEFAULT 0,
    sales                integer NOT NULL DEFAULT 0,
    tickets              integer NOT NULL DEFAULT 0,
    revenue              bigint  NOT NULL DEFAULT 0,
    refunds              integer NOT NULL DEFAULT 0,
    refunded             bigint  NOT NULL DEFAULT 0,
    memberships_joined   integer NOT NULL DEFAULT 0,
    memberships_renewed  integer NOT NULL DEFAULT 0,
    memberships_expired  integer NOT NULL DEFAULT 0,
    membership_revenue   bigint  NOT NULL DEFAULT 0,
    listings             integer NOT NULL DEFAULT 0,
    resales              integer NOT NULL DEFAULT 0,
    resale_volume        bigint  NOT NULL DEFAULT 0,
    resale_fees          bigint  NOT NULL DEFAULT 0,
    resale_refunds       integer NOT NULL DEFAULT 0,
    resale_refunded      bigint  NOT NULL DEFAULT 0,
    new_users            integer NOT NULL DEFAULT 0
);

CREATE TABLE stats_queue_minutes (
    event_id       uuid NOT NULL,
    minute         timestamptz NOT NULL,
    joined         integer NOT NULL DEFAULT 0,
    admitted       integer NOT NULL DEFAULT 0,
    abandoned      integer NOT NULL DEFAULT 0,
    waiting_peak   integer NOT NULL DEFAULT 0,
    active_peak    integer NOT NULL DEFAULT 0,
    -- Admissions by wait time, one count per bucket of stats::WAIT_BUCKETS_SECS.
    wait_buckets   integer[] NOT NULL,
    PRIMARY KEY (event_id, minute)
);

ALTER TABLE outbox DROP CONSTRAINT outbox_topic_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_check CHECK (topic IN (
    'reservation.created', 'reservation.expired', 'reservation.cancelled',
    'payment.confirmed', 'payment.refunded', 'ticket.issued',
    'membership.activated', 'membership.expired', 'membership.points',
    'resale.listed', 'resale.closed', 'resale.sold', 'user.registered'));

-- Every change an admin or promoter makes, written in the transaction that makes it.
CREATE TABLE audit_log (
    id             uuid PRIMARY KEY,
    actor_id       uuid NOT NULL REFERENCES users (id),
    actor_role     text NOT NULL,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text NOT NULL,
    before         jsonb,
    after          jsonb,
    request_id     text,
    created_at     timestamptz NOT NULL
);

CREATE INDEX audit_log_recent ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at DESC, id DESC);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, created_at DESC, id DESC);

-- Staff check tickets in at the events their promoter assigns them to.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('fan', 'promoter', 'staff', 'admin'));
-- A disabled account cannot sign in; its sessions are revoked when it is disabled.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

CREATE TABLE event_staff (
    event_id     uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id),
    assigned_by  uuid NOT NULL REFERENCES users (id),
    assigned_at  timestamptz NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

CREATE INDEX event_staff_user ON event_staff (user_id);

-- The admission rate a paused room resumes at (NULL: not paused).
ALTER TABLE event_queues ADD COLUMN paused_rate integer CHECK (paused_rate > 0);

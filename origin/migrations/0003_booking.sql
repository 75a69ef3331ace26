-- Reservations: seat and standing holds that become tickets (origin/src/booking).
--
-- The rule that matters: a seat is in at most one *live* reservation item. `live` is
-- true while the reservation is pending or confirmed and is cleared in the same
-- transaction that expires, cancels or refunds it; the partial unique index below makes
-- a double sale impossible whatever Redis says.

CREATE TABLE reservations (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    event_id        uuid NOT NULL REFERENCES events (id),
    status          text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired', 'refunded')),
    amount          bigint NOT NULL CHECK (amount >= 0),
    ticket_count    int NOT NULL CHECK (ticket_count > 0),
    -- Fencing token of the Redis seat hold (per-event counter); 0 when Redis was bypassed.
    fence           bigint NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL,
    -- Idempotency: keys are scoped to the user (one user's key never replays another's).
    idempotency_key text,
    request_hash    bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    confirmed_at    timestamptz,
    closed_at       timestamptz,
    close_reason    text,
    version         int NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX reservations_idempotency ON reservations (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX reservations_user ON reservations (user_id, created_at DESC, id DESC);
CREATE INDEX reservations_event ON reservations (event_id, status);
-- The sweeper's scan: only pending rows, oldest deadline first.
CREATE INDEX reservations_pending_expiry ON reservations (expires_at) WHERE status = 'pending';

CREATE TABLE reservation_items (
    id              uuid PRIMARY KEY,
    reservation_id  uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL REFERENCES events (id),
    seat_id         uuid REFERENCES seats (id),
    ticket_type_id  uuid REFERENCES ticket_types (id),
    label           text NOT NULL,
    quantity        int NOT NULL CHECK (quantity > 0),
    unit_price      bigint NOT NULL CHECK (unit_price >= 0),
    live            boolean NOT NULL DEFAULT true,
    CHECK ((seat_id IS NULL) <> (ticket_type_id IS NULL)),
    CHECK (seat_id IS NULL OR quantity = 1)
);

CREATE UNIQUE INDEX reservation_items_live_seat ON reservation_items (event_id, seat_id)
    WHERE live AND seat_id IS NOT NULL;
CREATE INDEX reservation_items_reservation ON reservation_items (reservation_id);
CREATE INDEX reservation_items_live_event ON reservation_items (event_id) WHERE live;

-- Tickets a user holds or owns per event, for the per-user limit. One row per
-- (user, event) that concurrent requests of the same user serialise on; the limit is
-- enforced by a conditional upsert, never by counting then inserting.
CREATE TABLE user_event_tickets (
    user_id  uuid NOT NULL REFERENCES users (id),
    event_id uuid NOT NULL REFERENCES events (id),
    tickets  int NOT NULL CHECK (tickets >= 0),
    PRIMARY KEY (user_id, event_id)
);

-- A user never has two identical pending reservations: a double submit (two clicks,
-- a retry without an Idempotency-Key) lands on this index and gets the first one back.
CREATE UNIQUE INDEX reservations_pending_identical ON reservations (user_id, event_id, request_hash)
    WHERE status = 'pending';

-- Aborts the statement it runs in with SQLSTATE UR001 and `reason` as the message. The
-- booking statement uses it to roll back its earlier data-modifying steps when a later
-- condition fails, so a whole reservation is one atomic statement (one round trip).
CREATE FUNCTION urr_refuse(reason text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'UR001', MESSAGE = reason;
END
$$;

-- The transactional outbox (origin/src/outbox).
--
-- A state change and the event that announces it are written in ONE transaction, so an
-- event exists if and only if its change committed. The relay publishes unpublished
-- rows to Redis Streams and stamps `published_at`; it may publish a row twice (a crash
-- between XADD and the stamp), never zero times. Consumers deduplicate by event id in
-- `processed_events`, in the same transaction as their own effect.

CREATE TABLE outbox (
    -- Insertion order, for the relay's batches (commit order may differ slightly).
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The event id consumers deduplicate on (UUID v7).
    id           uuid NOT NULL UNIQUE,
    topic        text NOT NULL CHECK (topic IN ('reservation.created', 'reservation.expired',
                     'reservation.cancelled', 'payment.confirmed', 'payment.refunded',
                     'ticket.issued')),
    -- The reservation (or ticket) the event is about.
    aggregate_id uuid NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);

-- The relay's scan: only unpublished rows, oldest first.
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
-- The purge of old published rows.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Events a consumer has applied: its effect and this row commit together, so a
-- redelivered event (at-least-once) is recognised and skipped.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX processed_events_age ON processed_events (processed_at);

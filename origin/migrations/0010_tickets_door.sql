-- Tickets at the door, and the show time each ticket was bought for.
--
-- * `checked_in_at` / `checked_in_by`: set once, by one conditional UPDATE
--   (`... WHERE status = 'valid' AND checked_in_at IS NULL`), so of many scanners
--   racing on one ticket exactly one admits it.
-- * `show_starts_at`: the event's `starts_at` when the ticket was issued (in the
--   payment transaction, which holds the event row FOR SHARE). Refunds compute the
--   policy from it, so an admin moving the show later cannot shrink a fan's refund.
--   Existing tickets take the event's current show time.
-- * `tickets_event_voided`: the offline scanners' feed, void tickets of one event in
--   `(voided_at, id)` order.

ALTER TABLE tickets
    ADD COLUMN checked_in_at  timestamptz,
    ADD COLUMN checked_in_by  uuid REFERENCES users (id),
    ADD COLUMN show_starts_at timestamptz;

UPDATE tickets t SET show_starts_at = e.starts_at FROM events e WHERE e.id = t.event_id;

ALTER TABLE tickets ALTER COLUMN show_starts_at SET NOT NULL;
ALTER TABLE tickets ADD CONSTRAINT tickets_checked_in_by_whom
    CHECK ((checked_in_at IS NULL) = (checked_in_by IS NULL));

CREATE INDEX tickets_event_voided ON tickets (event_id, voided_at, id) WHERE status = 'void';

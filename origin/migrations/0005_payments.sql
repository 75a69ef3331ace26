-- Payments, refunds and tickets (origin/src/payments, origin/src/tickets).
--
-- The rules that matter:
-- * one payment row per order (= per reservation), written in state `confirming` with
--   the paymentKey BEFORE Toss is called, so the reconciler can always find an order
--   whose outcome is unknown;
-- * tickets exist only for a `paid` order, issued in the transaction that marks it
--   paid, and at most once per reservation item unit (unique index): a double confirm
--   can never issue a second set;
-- * a refund row exists before its Toss cancel is sent, and its idempotency key is
--   fixed at that moment, so every retry of that refund is the same operation at Toss.

CREATE TABLE payments (
    -- `ord_<reservation id hex>` (booking's `Order::id_for`).
    order_id        text PRIMARY KEY,
    reservation_id  uuid NOT NULL UNIQUE REFERENCES reservations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    -- The order amount in integer KRW, copied from the reservation at claim time.
    amount          bigint NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('confirming', 'paid', 'failed',
                        'cancel_requested', 'refunded', 'partially_refunded')),
    -- The paymentKey of the current (or last) attempt; Toss's answer overrides it.
    payment_key     text NOT NULL,
    -- Which attempt this is (a declined card, then another card, is attempt 2).
    attempt         int NOT NULL DEFAULT 1,
    -- The Idempotency-Key of the current attempt's confirm: `confirm:<orderId>` for the
    -- first attempt, `confirm:<orderId>:<attempt>` for later ones (a new paymentKey is
    -- a new operation; Toss keys are not bound to the body).
    confirm_key     text NOT NULL,
    -- When the current attempt was claimed: the hold was valid then, and the sweeper
    -- leaves `confirming` orders alone from that moment on.
    claimed_at      timestamptz NOT NULL,
    -- Toss's view: Payment.status, method, approval time, the whole last Payment.
    toss_status     text,
    method          text,
    approved_at     timestamptz,
    raw             jsonb,
    refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    -- Failed calls and the last error (Toss code or transport error), for operators.
    failures        int NOT NULL DEFAULT 0,
    last_error      text,
    -- The reconciler looks at this order at or after this time; NULL: settled.
    reconcile_after timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         int NOT NULL DEFAULT 0
);

CREATE INDEX payments_user ON payments (user_id, created_at DESC);
CREATE INDEX payments_payment_key ON payments (payment_key);
-- The reconciler's scan: only orders that still need a look.
CREATE INDEX payments_reconcile ON payments (reconcile_after) WHERE reconcile_after IS NOT NULL;
-- The sweeper's check "is a payment in flight for this reservation?".
CREATE INDEX payments_confirming ON payments (reservation_id) WHERE status = 'confirming';

CREATE TABLE refunds (
    id              uuid PRIMARY KEY,
    order_id        text NOT NULL REFERENCES payments (order_id),
    -- What we ask Toss to return (integer KRW); `full` sends no cancelAmount.
    amount          bigint NOT NULL CHECK (amount > 0),
    full_cancel     boolean NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    -- `user` (policy), `admin` (always full), `reconciler` (paid at Toss but the
    -- reservation was gone), `external` (cancelled at Toss, seen by the reconciler).
    initiated_by    text NOT NULL CHECK (initiated_by IN ('user', 'admin', 'reconciler', 'external')),
    -- `cancel:<orderId>:<refundId>`; fixed before the first call.
    idempotency_key text NOT NULL UNIQUE,
    status          text NOT NULL CHECK (status IN ('requested', 'completed', 'failed')),
    -- Cancel calls sent so far (the first one checks the balance from a fresh read).
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL,
    completed_at    timestamptz
);

-- At most one refund in flight per order: Toss refuses a second cancel of one
-- paymentKey within a second, and two partial cancels would both execute.
CREATE UNIQUE INDEX refunds_one_in_flight ON refunds (order_id) WHERE status = 'requested';

CREATE TABLE tickets (
    id                  uuid PRIMARY KEY,
    -- 10 characters of Crockford base32, printed under the QR code.
    code                text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-HJKMNP-TV-Z]{10}$'),
    order_id            text NOT NULL REFERENCES payments (order_id),
    reservation_id      uuid NOT NULL REFERENCES reservations (id),
    reservation_item_id uuid NOT NULL REFERENCES reservation_items (id),
    -- 1..quantity within the item: a standing item of 3 is three tickets.
    unit                int NOT NULL CHECK (unit > 0),
    event_id            uuid NOT NULL REFERENCES events (id),
    -- The owner.
    user_id             uuid NOT NULL REFERENCES users (id),
    seat_id             uuid REFERENCES seats (id),
    ticket_type_id      uuid REFERENCES ticket_types (id),
    label               text NOT NULL,
    price               bigint NOT NULL CHECK (price >= 0),
    status              text NOT NULL CHECK (status IN ('valid', 'void')),
    issued_at           timestamptz NOT NULL,
    voided_at           timestamptz,
    void_reason         text,
    CHECK ((seat_id IS NULL) <> (ticket_type_id IS NULL))
);

-- One set of tickets per order, whatever races: a unit of an item is issued once.
CREATE UNIQUE INDEX tickets_item_unit ON tickets (reservation_item_id, unit);
CREATE INDEX tickets_user ON tickets (user_id, issued_at DESC, id DESC);
CREATE INDEX tickets_reservation ON tickets (reservation_id);

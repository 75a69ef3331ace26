-- Fan memberships, points and presale schedules (origin/src/memberships), resale at
-- face value (origin/src/resale), and payments for orders that are not reservations.
--
-- The rules that matter:
-- * a fan has at most one membership per artist; it is `active` only between a paid
--   order and `expires_at` (every check compares `expires_at` with the clock too, the
--   expiry job only makes the status visible);
-- * a point award is written once per (membership, reason, source) and clawed back at
--   most once (`clawback_of` is unique), so `memberships.points` = the ledger's sum and
--   never goes below zero;
-- * a ticket has at most one live listing, a listing at most one live purchase (partial
--   unique indexes, as seats in reservation_items), and a ticket is resold at most once
--   into exactly one new ticket (`tickets.resale_of` is unique);
-- * a payment row names what it pays for: `kind` and `subject_id` (the reservation,
--   membership order or resale purchase); a subject has at most one payment row.

CREATE TABLE memberships (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    artist_id   uuid NOT NULL REFERENCES artists (id),
    status      text NOT NULL CHECK (status IN ('pending', 'active', 'expired')),
    points      int NOT NULL DEFAULT 0 CHECK (points >= 0),
    -- The first activation; NULL while the first order is unpaid.
    joined_at   timestamptz,
    -- Active until then; NULL while the first order is unpaid.
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (user_id, artist_id),
    CHECK ((joined_at IS NULL) = (expires_at IS NULL))
);

-- The expiry job's scan.
CREATE INDEX memberships_expiring ON memberships (expires_at) WHERE status = 'active';
CREATE INDEX memberships_artist ON memberships (artist_id) WHERE status = 'active';

-- One order per year bought (a join or a renewal); paid through payments.
CREATE TABLE membership_orders (
    id            uuid PRIMARY KEY,
    membership_id uuid NOT NULL REFERENCES memberships (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    amount        bigint NOT NULL CHECK (amount > 0),
    renewal       boolean NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'paid')),
    created_at    timestamptz NOT NULL,
    paid_at       timestamptz
);

-- A fan asking twice gets the same unpaid order back.
CREATE UNIQUE INDEX membership_orders_one_pending ON membership_orders (membership_id)
    WHERE status = 'pending';

CREATE TABLE membership_points (
    id            uuid PRIMARY KEY,
    membership_id uuid NOT NULL REFERENCES memberships (id),
    reason        text NOT NULL CHECK (reason IN ('join', 'renew', 'ticket_purchase', 'post', 'comment')),
    -- What earned it: an order id, a post id, a comment id.
    source        text NOT NULL CHECK (length(source) BETWEEN 1 AND 80),
    -- Positive for an award (possibly cut by the daily cap), negative for a clawback.
    points        int NOT NULL,
    -- The Korean calendar day the award counts against for the daily caps.
    kst_day       date NOT NULL,
    -- A clawback names the award it takes back.
    clawback_of   uuid UNIQUE REFERENCES membership_points (id),
    created_at    timestamptz NOT NULL,
    CHECK ((clawback_of IS NULL) = (points >= 0))
);

CREATE UNIQUE INDEX membership_points_award_once ON membership_points (membership_id, reason, source)
    WHERE clawback_of IS NULL;
CREATE INDEX membership_points_ledger ON membership_points (membership_id, created_at DESC, id DESC);

-- When each tier may book an event with an artist, as minutes after `sale_opens_at`.
-- An event with an artist and no row uses the default (0, 60, 1440, 2880).
CREATE TABLE presale_schedules (
    event_id     uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    diamond_mins int NOT NULL,
    gold_mins    int NOT NULL,
    silver_mins  int NOT NULL,
    general_mins int NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK (0 <= diamond_mins AND diamond_mins <= gold_mins AND gold_mins <= silver_mins
           AND silver_mins <= general_mins AND general_mins <= 43200)
);

-- Payments pay for reservations, membership orders and resale purchases.
ALTER TABLE payments ADD COLUMN kind text NOT NULL DEFAULT 'reservation'
    CHECK (kind IN ('reservation', 'membership', 'resale'));
ALTER TABLE payments ADD COLUMN subject_id uuid;
UPDATE payments SET subject_id = reservation_id;
ALTER TABLE payments ALTER COLUMN subject_id SET NOT NULL;
ALTER TABLE payments ALTER COLUMN kind DROP DEFAULT;
ALTER TABLE payments ALTER COLUMN reservation_id DROP NOT NULL;
ALTER TABLE payments ADD CONSTRAINT payments_reservation_is_subject
    CHECK ((kind = 'reservation') = (reservation_id IS NOT NULL)
           AND (reservation_id IS NULL OR reservation_id = subject_id));
CREATE UNIQUE INDEX payments_subject ON payments (subject_id);
CREATE INDEX payments_confirming_subject ON payments (subject_id) WHERE status = 'confirming';

-- A resold ticket: the buyer's new ticket names the seller's (now void) one.
ALTER TABLE tickets ADD COLUMN resale_of uuid UNIQUE REFERENCES tickets (id);
DROP INDEX tickets_item_unit;
CREATE UNIQUE INDEX tickets_item_unit ON tickets (reservation_item_id, unit) WHERE resale_of IS NULL;
CREATE INDEX tickets_order ON tickets (order_id);

CREATE TABLE transfer_listings (
    id          uuid PRIMARY KEY,
    ticket_id   uuid NOT NULL REFERENCES tickets (id),
    seller_id   uuid NOT NULL REFERENCES users (id),
    event_id    uuid NOT NULL REFERENCES events (id),
    artist_id   uuid REFERENCES artists (id),
    face_value  bigint NOT NULL CHECK (face_value >= 0),
    -- What the buyer pays: at most the face value.
    price       bigint NOT NULL CHECK (price > 0 AND price <= face_value),
    -- The platform's share, taken from the seller's proceeds (tier-dependent percent).
    fee         bigint NOT NULL CHECK (fee >= 0 AND fee < price),
    fee_percent int NOT NULL CHECK (fee_percent BETWEEN 0 AND 100),
    status      text NOT NULL CHECK (status IN ('listed', 'sold', 'withdrawn', 'expired')),
    -- The listing cut-off: it cannot be bought from then on.
    expires_at  timestamptz NOT NULL,
    buyer_id    uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    closed_at   timestamptz
);

CREATE UNIQUE INDEX transfer_listings_one_live ON transfer_listings (ticket_id) WHERE status = 'listed';
CREATE INDEX transfer_listings_market ON transfer_listings (created_at DESC, id DESC) WHERE status = 'listed';
CREATE INDEX transfer_listings_event ON transfer_listings (event_id) WHERE status = 'listed';
CREATE INDEX transfer_listings_seller ON transfer_listings (seller_id, created_at DESC, id DESC);
CREATE INDEX transfer_listings_expiring ON transfer_listings (expires_at) WHERE status = 'listed';

-- A buyer's hold on a listing while they pay, like a reservation's on seats.
CREATE TABLE resale_purchases (
    id          uuid PRIMARY KEY,
    listing_id  uuid NOT NULL REFERENCES transfer_listings (id),
    buyer_id    uuid NOT NULL REFERENCES users (id),
    amount      bigint NOT NULL CHECK (amount > 0),
    status      text NOT NULL CHECK (status IN ('pending', 'paid', 'expired')),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    paid_at     timestamptz,
    -- The buyer's new ticket, once paid.
    ticket_id   uuid REFERENCES tickets (id)
);

CREATE UNIQUE INDEX resale_purchases_one_live ON resale_purchases (listing_id) WHERE status = 'pending';
CREATE INDEX resale_purchases_buyer ON resale_purchases (buyer_id, created_at DESC);

-- What the platform owes sellers.
CREATE TABLE payouts (
    id          uuid PRIMARY KEY,
    seller_id   uuid NOT NULL REFERENCES users (id),
    listing_id  uuid NOT NULL UNIQUE REFERENCES transfer_listings (id),
    amount      bigint NOT NULL CHECK (amount >= 0),
    -- `cancelled`: the event was cancelled before it was paid out; the buyer got the
    -- price back and the seller the face value through their own refund.
    status      text NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    created_at  timestamptz NOT NULL,
    paid_at     timestamptz,
    paid_by     uuid REFERENCES users (id),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);

CREATE INDEX payouts_seller ON payouts (seller_id, created_at DESC, id DESC);
CREATE INDEX payouts_pending ON payouts (created_at) WHERE status = 'pending';

-- The new domain events (outbox::Topic).
ALTER TABLE outbox DROP CONSTRAINT outbox_topic_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_check CHECK (topic IN (
    'reservation.created', 'reservation.expired', 'reservation.cancelled',
    'payment.confirmed', 'payment.refunded', 'ticket.issued',
    'membership.activated', 'membership.expired', 'membership.points',
    'resale.listed', 'resale.closed', 'resale.sold'));

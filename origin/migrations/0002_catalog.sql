-- Catalog (origin/src/catalog): artists, venues, seat layouts, events, seats, ticket
-- types. One source of truth for events and their inventory (two databases would
-- drift apart).
--
-- Event status is NOT stored: it is derived from the sale window, the show time and
-- `cancelled_at` against the application clock (see `catalog::event_status`), so it can
-- never go stale the way a job-maintained column does.
--
-- Money is integer KRW. Every timestamp is written by the application from its clock.

-- Substring search (`ILIKE '%...%'`) over titles and names uses trigram indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE artists (
    id               uuid PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Romanised / English name, e.g. 아이유 → IU; searched like `name`.
    name_en          text CHECK (length(name_en) BETWEEN 1 AND 200),
    -- Other names fans type: legal names, fandom spellings, abbreviations.
    aliases          text[] NOT NULL DEFAULT '{}',
    bio              text,
    image_url        text,
    membership_price int NOT NULL DEFAULT 30000 CHECK (membership_price >= 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE INDEX artists_name_trgm ON artists USING gin (name gin_trgm_ops);
CREATE INDEX artists_name_en_trgm ON artists USING gin (name_en gin_trgm_ops);

CREATE TABLE venues (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address    text NOT NULL,
    city       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX venues_name_id ON venues (name, id);
CREATE INDEX venues_name_trgm ON venues USING gin (name gin_trgm_ops);

-- A seat layout is a template: creating an event with a layout copies it into `seats`
-- (with per-section price overrides), so layouts are immutable once imported.
-- config = {"sections": [{"name", "grade", "rows", "seats_per_row", "price",
--           "start_row", "row_labels"?}]}; total_seats = Σ rows × seats_per_row.
CREATE TABLE seat_layouts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '',
    total_seats int NOT NULL CHECK (total_seats BETWEEN 1 AND 100000),
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE events (
    id                   uuid PRIMARY KEY,
    promoter_id          uuid NOT NULL REFERENCES users (id),
    artist_id            uuid REFERENCES artists (id),
    venue_id             uuid NOT NULL REFERENCES venues (id),
    -- NULL: standing-only / general admission, sold through ticket_types.
    seat_layout_id       uuid REFERENCES seat_layouts (id),
    title                text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description          text NOT NULL DEFAULT '',
    poster_url           text,
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz,
    sale_opens_at        timestamptz NOT NULL,
    sale_closes_at       timestamptz NOT NULL,
    max_tickets_per_user int NOT NULL DEFAULT 4 CHECK (max_tickets_per_user BETWEEN 1 AND 20),
    cancelled_at         timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    -- Optimistic concurrency: bumped by every write to the row.
    version              int NOT NULL DEFAULT 0,
    CHECK (sale_opens_at < sale_closes_at),
    CHECK (sale_closes_at <= starts_at),
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);

-- The public list is ordered by (starts_at, id) with keyset pagination; the same index
-- serves the date-range filter.
CREATE INDEX events_starts_id ON events (starts_at, id);
CREATE INDEX events_sale_opens_id ON events (sale_opens_at, id);
CREATE INDEX events_artist_starts ON events (artist_id, starts_at, id);
CREATE INDEX events_promoter ON events (promoter_id);
CREATE INDEX events_venue ON events (venue_id);
CREATE INDEX events_layout ON events (seat_layout_id);
CREATE INDEX events_title_trgm ON events USING gin (title gin_trgm_ops);

CREATE TABLE seats (
    id        uuid PRIMARY KEY,
    event_id  uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    section   text NOT NULL,
    grade     text NOT NULL,
    row_label text NOT NULL,
    number    int NOT NULL CHECK (number >= 1),
    -- "{section}-{row}-{number}", e.g. "VIP-1-3".
    label     text NOT NULL,
    price     int NOT NULL CHECK (price >= 0),
    -- Layout order (section, row, number), for a stable seat map.
    position  int NOT NULL,
    UNIQUE (event_id, section, row_label, number)
);

CREATE INDEX seats_event_position ON seats (event_id, position);
-- min(price) / max(price) per event for the list become two index probes.
CREATE INDEX seats_event_price ON seats (event_id, price);

-- Quantity-based inventory (standing / general admission). The booking module takes
-- stock with `UPDATE ... SET available_quantity = available_quantity - $q
-- WHERE available_quantity >= $q`; the CHECKs make overselling impossible even for a
-- buggy caller.
CREATE TABLE ticket_types (
    id                 uuid PRIMARY KEY,
    event_id           uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description        text NOT NULL DEFAULT '',
    price              int NOT NULL CHECK (price >= 0),
    total_quantity     int NOT NULL CHECK (total_quantity >= 0),
    available_quantity int NOT NULL,
    sort_order         int NOT NULL DEFAULT 0,
    version            int NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    CHECK (available_quantity >= 0 AND available_quantity <= total_quantity)
);

CREATE INDEX ticket_types_event ON ticket_types (event_id, sort_order, id);

-- The three shipped layouts (origin/src/catalog/layouts/*.json hold the same data; the
-- integration test `builtin_layouts_match_shipped_json` checks they agree, and
-- `catalog::ensure_builtin_layouts` re-inserts any that are missing).
INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at) VALUES
    ('5ea7a000-0000-4000-8000-000000000001', 'small_theater', 'Small theater (소극장): 265 seats in three grades', 265,
     '{"sections":[{"name":"VIP","grade":"VIP","rows":3,"seats_per_row":10,"price":150000,"start_row":1},{"name":"R","grade":"R","rows":5,"seats_per_row":15,"price":100000,"start_row":1},{"name":"S","grade":"S","rows":8,"seats_per_row":20,"price":70000,"start_row":1}]}',
     '2025-01-01T00:00:00Z');
INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at) VALUES
    ('5ea7a000-0000-4000-8000-000000000002', 'large_theater', 'Large theater (대극장): 1,250 seats in four grades', 1250,
     '{"sections":[{"name":"VIP","grade":"VIP","rows":5,"seats_per_row":20,"price":200000,"start_row":1},{"name":"R","grade":"R","rows":10,"seats_per_row":30,"price":150000,"start_row":1},{"name":"S","grade":"S","rows":15,"seats_per_row":30,"price":100000,"start_row":1},{"name":"A","grade":"A","rows":10,"seats_per_row":40,"price":70000,"start_row":1}]}',
     '2025-01-01T00:00:00Z');
INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at) VALUES
    ('5ea7a000-0000-4000-8000-000000000003', 'sports_stadium', 'Sports stadium (경기장): 4,900 seats on three floors', 4900,
     '{"sections":[{"name":"Floor1","grade":"Floor1","rows":20,"seats_per_row":50,"price":80000,"start_row":1},{"name":"Floor2","grade":"Floor2","rows":30,"seats_per_row":60,"price":50000,"start_row":1},{"name":"Floor3","grade":"Floor3","rows":30,"seats_per_row":70,"price":30000,"start_row":1}]}',
     '2025-01-01T00:00:00Z');

-- Waiting room (origin/src/queue): each event's queue and edge rules, and their
-- delivery to the edges.
--
-- The queue's live state (waiting line, active slots) is in Redis; what must survive a
-- Redis flush or a restart is here: whether the event queues at all, the promoter's
-- rules with their version, the random draw's secret seed, and which version every
-- edge has acknowledged.

CREATE TABLE event_queues (
    event_id    uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    -- The edge's shared_wasm::rules::EdgeRules, as JSON. `rules.version` is the source
    -- of truth for the version; the column mirrors it for queries and ordering.
    rules       jsonb NOT NULL,
    version     bigint NOT NULL CHECK (version >= 1),
    -- false: tier 2 only; joins need no edge pass and are ordered by arrival.
    edge_tier   boolean NOT NULL DEFAULT true,
    -- 64 hex digits; present for the random draw. Never shown to promoters or fans
    -- before the sale opens; rules carry only its SHA-256 commitment.
    draw_seed   text CHECK (draw_seed IS NULL OR draw_seed ~ '^[0-9a-f]{64}$'),
    updated_by  uuid REFERENCES users (id),
    updated_at  timestamptz NOT NULL,
    CHECK ((rules ->> 'version')::bigint = version)
);

-- The transactional outbox of rules pushes: one row per (event, edge), written in the
-- same transaction as the rules. The pusher delivers `version` until the edge
-- acknowledges it (`acked_version >= version`), retrying with backoff. An edge that
-- answers "not newer" already has this version or a newer one: that counts as acked.
CREATE TABLE edge_rule_deliveries (
    event_id        uuid NOT NULL REFERENCES event_queues (event_id) ON DELETE CASCADE,
    edge_url        text NOT NULL,
    version         bigint NOT NULL,
    acked_version   bigint NOT NULL DEFAULT 0,
    acked_at        timestamptz,
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL,
    PRIMARY KEY (event_id, edge_url)
);

CREATE INDEX edge_rule_deliveries_due ON edge_rule_deliveries (next_attempt_at)
    WHERE acked_version < version;

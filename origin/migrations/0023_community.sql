-- Artist boards, comments and news (origin/src/community).
--
-- * Posts and comments are soft-deleted (`deleted_at`): their points are taken back in
--   the deleting transaction, and counts stay true (`comment_count` counts live
--   comments only, kept in the statement that adds or deletes one).
-- * A view counts once per viewer and Korean day: `post_views` has one row per
--   (post, viewer, day), and `view_count` moves only when that row is new.
-- * A fan reports a post once.

CREATE TABLE posts (
    id            uuid PRIMARY KEY,
    artist_id     uuid NOT NULL REFERENCES artists (id),
    author_id     uuid NOT NULL REFERENCES users (id),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body          text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    pinned        boolean NOT NULL DEFAULT false,
    -- Hidden by an admin (reported, against the rules): only admins and the author see it.
    hidden        boolean NOT NULL DEFAULT false,
    comment_count int NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    view_count    int NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    report_count  int NOT NULL DEFAULT 0 CHECK (report_count >= 0),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz
);

CREATE INDEX posts_board ON posts (artist_id, pinned DESC, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX posts_author ON posts (author_id, created_at DESC);

CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    post_id     uuid NOT NULL REFERENCES posts (id),
    author_id   uuid NOT NULL REFERENCES users (id),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

CREATE INDEX comments_thread ON comments (post_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE post_views (
    post_id   uuid NOT NULL REFERENCES posts (id),
    viewer_id uuid NOT NULL REFERENCES users (id),
    kst_day   date NOT NULL,
    PRIMARY KEY (post_id, viewer_id, kst_day)
);

CREATE TABLE post_reports (
    post_id     uuid NOT NULL REFERENCES posts (id),
    reporter_id uuid NOT NULL REFERENCES users (id),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (post_id, reporter_id)
);

CREATE TABLE news (
    id          uuid PRIMARY KEY,
    author_id   uuid NOT NULL REFERENCES users (id),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    pinned      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

CREATE INDEX news_list ON news (pinned DESC, created_at DESC, id DESC) WHERE deleted_at IS NULL;

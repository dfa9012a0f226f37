-- The PostgreSQL store's schema (issue 17), the SQLite store's tables as of its migration 4.
-- Forward-only: never edit a migration that has shipped; add the next one.
--
-- `xid` columns hold the id of the transaction that inserted the row: conversation pages
-- fix their snapshot as "every transaction below the oldest one still running" (see
-- src/store/postgres/conversations.rs), which a sequence could not give.

CREATE TABLE users (
    name             TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    password_hash    TEXT,
    roles            TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    notification_seq BIGINT NOT NULL DEFAULT 0,
    display_key      TEXT UNIQUE,
    search_key       TEXT
);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users(name),
    expires_at BIGINT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
    rotated_at BIGINT,
    family     TEXT NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

CREATE TABLE conversations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    title         TEXT,
    direct_key    TEXT UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL,
    rev           BIGINT NOT NULL DEFAULT 0,
    xid           BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    user_name       TEXT NOT NULL REFERENCES users(name),
    read_seq        BIGINT NOT NULL DEFAULT 0,
    joined_at       BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_name)
);
CREATE INDEX participants_by_user ON participants(user_name);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    sender          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    content         TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    rev             BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    reply_to_id     TEXT,
    reply_to_seq    BIGINT,
    mentions        TEXT,   -- JSON array of user ids, NULL: none
    system          TEXT,   -- JSON SystemEntry, NULL: a message
    xid             BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_by_client_id ON messages(sender, client_id);
CREATE INDEX messages_by_rev ON messages(conversation_id, rev);

CREATE TABLE reactions (
    id              BIGSERIAL PRIMARY KEY,  -- order of reacting (within one conversation's lock)
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    emoji           TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    at              BIGINT NOT NULL,
    UNIQUE (message_id, emoji, user_name)
);

CREATE TABLE notifications (
    user_name       TEXT NOT NULL REFERENCES users(name),
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    message         TEXT NOT NULL,
    data            TEXT,
    conversation_id TEXT,
    url             TEXT,
    created_at      BIGINT NOT NULL,
    read_at         BIGINT,
    PRIMARY KEY (user_name, seq)
);

-- seq is assigned under a transaction-scoped advisory lock (not a sequence), so
-- announcements commit in seq order.
CREATE TABLE announcements (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE blobs (
    key        TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    uploader        TEXT NOT NULL REFERENCES users(name),
    client_id       TEXT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    name            TEXT NOT NULL,
    declared_type   TEXT,
    length          BIGINT NOT NULL,
    upload_offset   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT,
    blob_key        TEXT REFERENCES blobs(key),
    size            BIGINT,
    content_type    TEXT,
    width           BIGINT,
    height          BIGINT,
    thumbnail_key   TEXT REFERENCES blobs(key),
    message_id      TEXT,
    position        BIGINT
);
CREATE UNIQUE INDEX attachments_by_client_id ON attachments(uploader, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX attachments_by_message ON attachments(message_id);
CREATE INDEX attachments_by_blob ON attachments(blob_key);
CREATE INDEX attachments_by_thumbnail ON attachments(thumbnail_key);
CREATE INDEX attachments_by_expiry ON attachments(expires_at);

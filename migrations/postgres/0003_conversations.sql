-- Conversations: a room per ticket, its messages (ordered by `seq`), per-reader read positions
-- and attachments (stored in the database, size-limited by the server).
CREATE TABLE rooms (
    id              TEXT PRIMARY KEY,
    ticket_id       TEXT NOT NULL UNIQUE REFERENCES tickets (id),
    customer_id     TEXT NOT NULL,
    closed          BOOLEAN NOT NULL DEFAULT FALSE,
    closed_at       BIGINT,
    created_at      BIGINT NOT NULL,
    last_message_at BIGINT
);
CREATE INDEX rooms_customer ON rooms (customer_id, created_at);

CREATE TABLE messages (
    seq                 BIGSERIAL PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    room_id             TEXT NOT NULL REFERENCES rooms (id),
    ticket_id           TEXT NOT NULL,
    sender_type         TEXT NOT NULL,
    sender_id           TEXT NOT NULL,
    sender_name         TEXT NOT NULL,
    body                TEXT NOT NULL,
    visible_to_customer BOOLEAN NOT NULL,
    attachments         JSONB NOT NULL,
    buttons             JSONB NOT NULL,
    created_at          BIGINT NOT NULL,
    client_message_id   TEXT
);
CREATE INDEX messages_room ON messages (room_id, seq);
CREATE INDEX messages_ticket ON messages (ticket_id, seq);
CREATE UNIQUE INDEX messages_idempotency ON messages (room_id, sender_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

CREATE TABLE read_positions (
    room_id   TEXT NOT NULL REFERENCES rooms (id),
    reader_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (room_id, reader_id)
);

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_room ON attachments (room_id);

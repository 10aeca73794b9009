-- Tickets keep their whole document as JSONB in `doc`; the other columns are its indexed copy
-- for filters, ordering and uniqueness. Times are microseconds since the Unix epoch (BIGINT),
-- exactly as in SQLite, so cursors and filters mean the same on both stores.
CREATE SEQUENCE ticket_numbers;

CREATE TABLE tickets (
    id          TEXT PRIMARY KEY,
    number      BIGINT NOT NULL UNIQUE,
    external_id TEXT CONSTRAINT tickets_external_id_key UNIQUE,
    status      TEXT NOT NULL,
    priority    BIGINT NOT NULL,
    queue       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    ticket_type TEXT NOT NULL,
    source      TEXT NOT NULL,
    assignee    TEXT,
    bot_id      TEXT,
    customer_id TEXT NOT NULL,
    language    TEXT NOT NULL,
    country     TEXT NOT NULL,
    department  TEXT,
    ccr         TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    due_at      BIGINT,
    version     BIGINT NOT NULL,
    doc         JSONB NOT NULL
);
CREATE INDEX tickets_waiting ON tickets (queue, status, priority DESC, number);
CREATE INDEX tickets_assignee ON tickets (assignee, number);
CREATE INDEX tickets_customer ON tickets (customer_id, number);
CREATE INDEX tickets_updated ON tickets (updated_at, number);
CREATE INDEX tickets_due ON tickets (due_at);

CREATE TABLE ticket_tags (
    tag       TEXT NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (tag, ticket_id)
);
CREATE INDEX ticket_tags_ticket ON ticket_tags (ticket_id);

CREATE TABLE ticket_events (
    id         BIGSERIAL PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    event_type TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    payload    JSONB NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    created_at  BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key)
);

CREATE TABLE queues (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    language            TEXT NOT NULL,
    default_sla_seconds BIGINT NOT NULL
);

CREATE TABLE escalation_departments (
    id    TEXT PRIMARY KEY,
    label TEXT NOT NULL
);

CREATE TABLE resolution_statuses (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
INSERT INTO resolution_statuses (name, position) VALUES
    ('NO_ACTION', 1), ('REFUNDED', 2), ('CUSTOMER_LEFT_CHAT', 3);

CREATE TABLE agent_statuses (
    name             TEXT PRIMARY KEY,
    alias            TEXT NOT NULL,
    receives_tickets BOOLEAN NOT NULL
);
INSERT INTO agent_statuses (name, alias, receives_tickets) VALUES
    ('online', 'Online', TRUE), ('offline', 'Offline', FALSE), ('break', 'On break', FALSE),
    ('busy', 'Busy', FALSE);

CREATE TABLE agents (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_alias      TEXT NOT NULL,
    last_login_at     BIGINT,
    status_updated_at BIGINT,
    queues            JSONB NOT NULL,
    languages         JSONB NOT NULL,
    max_concurrent    BIGINT NOT NULL
);
CREATE INDEX agents_queues ON agents USING GIN (queues);

CREATE TABLE ccr_nodes (
    code         TEXT PRIMARY KEY,
    level        BIGINT NOT NULL,
    parent_code  TEXT,
    translations JSONB NOT NULL
);

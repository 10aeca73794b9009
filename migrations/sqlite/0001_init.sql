-- Tickets keep their whole document as JSON in `doc`; the other columns are its indexed copy
-- for filters, ordering and uniqueness. Times are microseconds since the Unix epoch.
CREATE TABLE tickets (
    id          TEXT PRIMARY KEY NOT NULL,
    number      INTEGER NOT NULL UNIQUE,
    external_id TEXT UNIQUE,
    status      TEXT NOT NULL,
    priority    INTEGER NOT NULL,
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
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    due_at      INTEGER,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
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

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    event_type TEXT NOT NULL,
    actor      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE queues (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    language            TEXT NOT NULL,
    default_sla_seconds INTEGER NOT NULL
);

CREATE TABLE escalation_departments (
    id    TEXT PRIMARY KEY NOT NULL,
    label TEXT NOT NULL
);

CREATE TABLE resolution_statuses (
    name     TEXT PRIMARY KEY NOT NULL,
    position INTEGER NOT NULL
);
INSERT INTO resolution_statuses (name, position) VALUES
    ('NO_ACTION', 1), ('REFUNDED', 2), ('CUSTOMER_LEFT_CHAT', 3);

CREATE TABLE agent_statuses (
    name             TEXT PRIMARY KEY NOT NULL,
    alias            TEXT NOT NULL,
    receives_tickets INTEGER NOT NULL
);
INSERT INTO agent_statuses (name, alias, receives_tickets) VALUES
    ('online', 'Online', 1), ('offline', 'Offline', 0), ('break', 'On break', 0), ('busy', 'Busy', 0);

CREATE TABLE agents (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_alias      TEXT NOT NULL,
    last_login_at     INTEGER,
    status_updated_at INTEGER,
    queues            TEXT NOT NULL,
    languages         TEXT NOT NULL,
    max_concurrent    INTEGER NOT NULL
);

CREATE TABLE ccr_nodes (
    code         TEXT PRIMARY KEY NOT NULL,
    level        INTEGER NOT NULL,
    parent_code  TEXT,
    translations TEXT NOT NULL
);

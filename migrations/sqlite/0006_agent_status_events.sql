-- Every agent status change, for time-in-status and login reporting.
CREATE TABLE agent_status_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    status          TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX agent_status_events_agent ON agent_status_events (agent_id, id);

-- Every agent status change, for time-in-status and login reporting.
CREATE TABLE agent_status_events (
    id              BIGSERIAL PRIMARY KEY,
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    status          TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX agent_status_events_agent ON agent_status_events (agent_id, id);

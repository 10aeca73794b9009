-- Lists that queries filter on are tables, so no query reads the JSON of every row: an agent's
-- queues and languages (in the order given), and the identities (channel, social id) of each
-- ticket's customer. The ticket document keeps its identities; `ticket_identities` is their
-- index. Existing rows are copied over; an element that is not a string (or a list that is not
-- an array) fails the migration instead of being dropped quietly.
CREATE TABLE agent_queues (
    agent_id TEXT NOT NULL REFERENCES agents (id),
    position BIGINT NOT NULL,
    queue_id TEXT NOT NULL,
    PRIMARY KEY (agent_id, position)
);
CREATE INDEX agent_queues_queue ON agent_queues (queue_id, agent_id);

CREATE TABLE agent_languages (
    agent_id TEXT NOT NULL REFERENCES agents (id),
    position BIGINT NOT NULL,
    language TEXT NOT NULL,
    PRIMARY KEY (agent_id, position)
);

CREATE TABLE ticket_identities (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    channel   TEXT NOT NULL,
    social_id TEXT NOT NULL,
    PRIMARY KEY (ticket_id, channel, social_id)
);
CREATE INDEX ticket_identities_identity ON ticket_identities (channel, social_id, ticket_id);

INSERT INTO agent_queues (agent_id, position, queue_id)
    SELECT a.id, e.position - 1, CASE WHEN jsonb_typeof(e.value) = 'string' THEN e.value #>> '{}' END
    FROM agents a CROSS JOIN LATERAL jsonb_array_elements(a.queues) WITH ORDINALITY AS e (value, position);
INSERT INTO agent_languages (agent_id, position, language)
    SELECT a.id, e.position - 1, CASE WHEN jsonb_typeof(e.value) = 'string' THEN e.value #>> '{}' END
    FROM agents a CROSS JOIN LATERAL jsonb_array_elements(a.languages) WITH ORDINALITY AS e (value, position);
INSERT INTO ticket_identities (ticket_id, channel, social_id)
    SELECT DISTINCT t.id, e.value ->> 'channel', e.value ->> 'social_id'
    FROM tickets t CROSS JOIN LATERAL jsonb_array_elements(t.doc -> 'customer' -> 'identities') AS e (value);

DROP INDEX agents_queues;
ALTER TABLE agents DROP COLUMN queues, DROP COLUMN languages;

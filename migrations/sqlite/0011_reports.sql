-- Report counters per 15-minute slot (UTC) and queue, agent ('' unassigned), channel, kept
-- with every change of a ticket (domain/report.rs); reports add up slots. Each group's
-- counters are split over 16 shards (by ticket), so concurrent writes seldom wait on one row.
-- Clustered by their keys (WITHOUT ROWID): a report reads its slot range in order.
CREATE TABLE report_slots (
    slot       BIGINT NOT NULL,
    shard      BIGINT NOT NULL,
    queue      TEXT NOT NULL,
    agent      TEXT NOT NULL,
    channel    TEXT NOT NULL,
    created    BIGINT NOT NULL,
    closed     BIGINT NOT NULL,
    reopened   BIGINT NOT NULL,
    backlog    BIGINT NOT NULL,
    breaches   BIGINT NOT NULL,
    sla_closed BIGINT NOT NULL,
    sla_within BIGINT NOT NULL,
    rating_1   BIGINT NOT NULL,
    rating_2   BIGINT NOT NULL,
    rating_3   BIGINT NOT NULL,
    rating_4   BIGINT NOT NULL,
    rating_5   BIGINT NOT NULL,
    PRIMARY KEY (slot, queue, agent, channel, shard)
) WITHOUT ROWID;

-- First-reply and resolution times per slot and group: how many tickets took `seconds`
-- (exact below 256 s, rounded down to 8 significant bits above: under 0.8% off).
CREATE TABLE report_durations (
    kind    TEXT NOT NULL,
    slot    BIGINT NOT NULL,
    shard   BIGINT NOT NULL,
    queue   TEXT NOT NULL,
    agent   TEXT NOT NULL,
    channel TEXT NOT NULL,
    seconds BIGINT NOT NULL,
    tickets BIGINT NOT NULL,
    PRIMARY KEY (kind, slot, queue, agent, channel, seconds, shard)
) WITHOUT ROWID;

-- Tickets already open when the counters start: their backlog, in slot 0 (1970), before any
-- report's range.
INSERT INTO report_slots (slot, shard, queue, agent, channel, created, closed, reopened, backlog,
    breaches, sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5)
SELECT 0, 0, queue, COALESCE(assignee, ''), channel, 0, 0, 0, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0
FROM tickets WHERE status <> 'CLOSED' GROUP BY queue, COALESCE(assignee, ''), channel;

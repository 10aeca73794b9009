-- Report figures in two tables, each read whole by the reports it serves: per 15-minute slot,
-- queue and channel (reports of everything, by queue, by channel) and per slot, queue and
-- agent ('' unassigned; reports by agent). A row holds the counters and the exact first-reply
-- and resolution times of its tickets as lists ("seconds," repeated), which add up by
-- concatenation. Rows of the current slot are split over 16 shards (by ticket), so concurrent
-- writes seldom wait on one row; compaction folds past slots into shard 0 (domain/report.rs).
-- Durations one value per ticket: a row of report_durations counted `tickets` of them.
-- Replaces report_slots and report_durations (the old per-agent-and-channel rows, whose
-- durations were rounded above 256 s), keeping their figures.

CREATE TABLE report_channels (
    slot        BIGINT NOT NULL,
    queue       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    shard       BIGINT NOT NULL,
    created     BIGINT NOT NULL,
    closed      BIGINT NOT NULL,
    reopened    BIGINT NOT NULL,
    backlog     BIGINT NOT NULL,
    breaches    BIGINT NOT NULL,
    sla_closed  BIGINT NOT NULL,
    sla_within  BIGINT NOT NULL,
    rating_1    BIGINT NOT NULL,
    rating_2    BIGINT NOT NULL,
    rating_3    BIGINT NOT NULL,
    rating_4    BIGINT NOT NULL,
    rating_5    BIGINT NOT NULL,
    first_reply TEXT NOT NULL,
    resolution  TEXT NOT NULL,
    PRIMARY KEY (slot, queue, channel, shard)
);

CREATE TABLE report_agents (
    slot        BIGINT NOT NULL,
    queue       TEXT NOT NULL,
    agent       TEXT NOT NULL,
    shard       BIGINT NOT NULL,
    created     BIGINT NOT NULL,
    closed      BIGINT NOT NULL,
    reopened    BIGINT NOT NULL,
    backlog     BIGINT NOT NULL,
    breaches    BIGINT NOT NULL,
    sla_closed  BIGINT NOT NULL,
    sla_within  BIGINT NOT NULL,
    rating_1    BIGINT NOT NULL,
    rating_2    BIGINT NOT NULL,
    rating_3    BIGINT NOT NULL,
    rating_4    BIGINT NOT NULL,
    rating_5    BIGINT NOT NULL,
    first_reply TEXT NOT NULL,
    resolution  TEXT NOT NULL,
    PRIMARY KEY (slot, queue, agent, shard)
);

INSERT INTO report_channels (slot, queue, channel, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution)
SELECT slot, queue, channel, 0, SUM(created), SUM(closed), SUM(reopened), SUM(backlog), SUM(breaches),
    SUM(sla_closed), SUM(sla_within), SUM(rating_1), SUM(rating_2), SUM(rating_3),
    SUM(rating_4), SUM(rating_5), '', ''
FROM report_slots GROUP BY slot, queue, channel;

WITH RECURSIVE copies (slot, queue, channel, kind, seconds, n) AS (
    SELECT slot, queue, channel, kind, seconds, tickets FROM report_durations WHERE tickets > 0
    UNION ALL
    SELECT slot, queue, channel, kind, seconds, n - 1 FROM copies WHERE n > 1
), lists AS (
    SELECT slot, queue, channel, kind, string_agg(CAST(seconds AS TEXT) || ',', '') AS list
    FROM copies GROUP BY slot, queue, channel, kind
)
INSERT INTO report_channels (slot, queue, channel, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution)
SELECT slot, queue, channel, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    COALESCE(MAX(CASE WHEN kind = 'FIRST_REPLY' THEN list END), ''),
    COALESCE(MAX(CASE WHEN kind = 'RESOLUTION' THEN list END), '')
FROM lists WHERE true GROUP BY slot, queue, channel
ON CONFLICT (slot, queue, channel, shard) DO UPDATE SET
    first_reply = excluded.first_reply, resolution = excluded.resolution;

INSERT INTO report_agents (slot, queue, agent, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution)
SELECT slot, queue, agent, 0, SUM(created), SUM(closed), SUM(reopened), SUM(backlog), SUM(breaches),
    SUM(sla_closed), SUM(sla_within), SUM(rating_1), SUM(rating_2), SUM(rating_3),
    SUM(rating_4), SUM(rating_5), '', ''
FROM report_slots GROUP BY slot, queue, agent;

WITH RECURSIVE copies (slot, queue, agent, kind, seconds, n) AS (
    SELECT slot, queue, agent, kind, seconds, tickets FROM report_durations WHERE tickets > 0
    UNION ALL
    SELECT slot, queue, agent, kind, seconds, n - 1 FROM copies WHERE n > 1
), lists AS (
    SELECT slot, queue, agent, kind, string_agg(CAST(seconds AS TEXT) || ',', '') AS list
    FROM copies GROUP BY slot, queue, agent, kind
)
INSERT INTO report_agents (slot, queue, agent, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution)
SELECT slot, queue, agent, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    COALESCE(MAX(CASE WHEN kind = 'FIRST_REPLY' THEN list END), ''),
    COALESCE(MAX(CASE WHEN kind = 'RESOLUTION' THEN list END), '')
FROM lists WHERE true GROUP BY slot, queue, agent
ON CONFLICT (slot, queue, agent, shard) DO UPDATE SET
    first_reply = excluded.first_reply, resolution = excluded.resolution;

-- Compaction finds the sharded rows of past slots through these.
CREATE INDEX report_channels_sharded ON report_channels (slot) WHERE shard <> 0;
CREATE INDEX report_agents_sharded ON report_agents (slot) WHERE shard <> 0;

DROP TABLE report_durations;
DROP TABLE report_slots;

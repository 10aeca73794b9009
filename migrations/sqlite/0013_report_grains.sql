-- Report rows at two grains, told apart by `grain`, the 15-minute slots a row covers: 1 (a
-- slot) or 4 (a whole UTC hour, keyed by its first slot). A report reads each whole hour of
-- its buckets from one hour row per group and only a bucket's quarter-hour edges (zones off
-- the hour) from slot rows: about a quarter of the rows (domain/report.rs, Grain). A change
-- adds to both in one statement per table. The hour rows are filled from the slot rows.

CREATE TABLE report_channels_by_grain (
    grain       BIGINT NOT NULL,
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
    PRIMARY KEY (grain, slot, queue, channel, shard)
) WITHOUT ROWID;

CREATE TABLE report_agents_by_grain (
    grain       BIGINT NOT NULL,
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
    PRIMARY KEY (grain, slot, queue, agent, shard)
) WITHOUT ROWID;

INSERT INTO report_channels_by_grain (grain, slot, queue, channel, shard, created, closed,
    reopened, backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3,
    rating_4, rating_5, first_reply, resolution)
SELECT 1, slot, queue, channel, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution FROM report_channels;

INSERT INTO report_channels_by_grain (grain, slot, queue, channel, shard, created, closed,
    reopened, backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3,
    rating_4, rating_5, first_reply, resolution)
SELECT 4, slot - ((slot % 4) + 4) % 4, queue, channel, shard, SUM(created), SUM(closed),
    SUM(reopened), SUM(backlog), SUM(breaches), SUM(sla_closed), SUM(sla_within),
    SUM(rating_1), SUM(rating_2), SUM(rating_3), SUM(rating_4), SUM(rating_5),
    string_agg(first_reply, ''), string_agg(resolution, '')
FROM report_channels GROUP BY slot - ((slot % 4) + 4) % 4, queue, channel, shard;

DROP TABLE report_channels;
ALTER TABLE report_channels_by_grain RENAME TO report_channels;
CREATE INDEX report_channels_sharded ON report_channels (grain, slot) WHERE shard <> 0;

INSERT INTO report_agents_by_grain (grain, slot, queue, agent, shard, created, closed,
    reopened, backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3,
    rating_4, rating_5, first_reply, resolution)
SELECT 1, slot, queue, agent, shard, created, closed, reopened, backlog, breaches,
    sla_closed, sla_within, rating_1, rating_2, rating_3, rating_4, rating_5, first_reply,
    resolution FROM report_agents;

INSERT INTO report_agents_by_grain (grain, slot, queue, agent, shard, created, closed,
    reopened, backlog, breaches, sla_closed, sla_within, rating_1, rating_2, rating_3,
    rating_4, rating_5, first_reply, resolution)
SELECT 4, slot - ((slot % 4) + 4) % 4, queue, agent, shard, SUM(created), SUM(closed),
    SUM(reopened), SUM(backlog), SUM(breaches), SUM(sla_closed), SUM(sla_within),
    SUM(rating_1), SUM(rating_2), SUM(rating_3), SUM(rating_4), SUM(rating_5),
    string_agg(first_reply, ''), string_agg(resolution, '')
FROM report_agents GROUP BY slot - ((slot % 4) + 4) % 4, queue, agent, shard;

DROP TABLE report_agents;
ALTER TABLE report_agents_by_grain RENAME TO report_agents;
CREATE INDEX report_agents_sharded ON report_agents (grain, slot) WHERE shard <> 0;

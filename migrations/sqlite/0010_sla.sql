-- SLA policies and the SLA columns of tickets (severity, live state, the earliest due time
-- of a running target, the sweeper's next look), copied out of the ticket document so
-- filters and the sweeper find tickets by index.
ALTER TABLE tickets ADD COLUMN severity TEXT NOT NULL DEFAULT 'NOT_SET';
ALTER TABLE tickets ADD COLUMN sla_state TEXT NOT NULL DEFAULT 'ONGOING';
ALTER TABLE tickets ADD COLUMN sla_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_timer_at BIGINT;
CREATE INDEX tickets_severity ON tickets (severity, number);
CREATE INDEX tickets_sla_state ON tickets (sla_state, number);
CREATE INDEX tickets_sla_due ON tickets (sla_due_at);
CREATE INDEX tickets_sla_timer ON tickets (sla_timer_at) WHERE sla_timer_at IS NOT NULL;

-- One policy per queue and severity; severity '' is the queue's policy for every severity
-- without its own. `doc` holds the targets and business hours as JSON.
CREATE TABLE sla_policies (
    queue      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    doc        TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (queue, severity)
);

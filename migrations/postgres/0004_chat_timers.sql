-- Chat timers, copied out of the ticket document so the sweeper finds due ones by index.
ALTER TABLE tickets ADD COLUMN auto_close_warning_at BIGINT;
ALTER TABLE tickets ADD COLUMN auto_close_at BIGINT;
CREATE INDEX tickets_auto_close_warning ON tickets (auto_close_warning_at) WHERE auto_close_warning_at IS NOT NULL;
CREATE INDEX tickets_auto_close ON tickets (auto_close_at) WHERE auto_close_at IS NOT NULL;

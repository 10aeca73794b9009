-- Indexes matching the ticket lists' filters in their page order (ticket number), so a page
-- costs the same with a thousand tickets stored or a million (tests/list_plans.rs checks the
-- query plans).
CREATE INDEX tickets_queue_status ON tickets (queue, status, number);
CREATE INDEX tickets_queue ON tickets (queue, number);
CREATE INDEX tickets_status ON tickets (status, number);
CREATE INDEX tickets_order ON tickets (order_id, number);

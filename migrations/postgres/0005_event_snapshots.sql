-- Streams filter on who and where a ticket was at each event, not on where it is now: a
-- queue watcher sees the transfer out of its queue, an agent the assignment of a waiting
-- ticket to a colleague, a customer only its own tickets.
ALTER TABLE ticket_events ADD COLUMN queue TEXT;
ALTER TABLE ticket_events ADD COLUMN previous_queue TEXT;
ALTER TABLE ticket_events ADD COLUMN customer_id TEXT;
CREATE INDEX ticket_events_queue ON ticket_events (queue, id);
CREATE INDEX ticket_events_previous_queue ON ticket_events (previous_queue, id);
CREATE INDEX ticket_events_customer ON ticket_events (customer_id, id);

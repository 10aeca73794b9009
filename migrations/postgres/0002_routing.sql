-- Routing: when each agent last got a ticket (ties go to the longest waiting agent), and who
-- held a ticket before and after each event (so WatchMyTickets also tells an agent it lost one).
ALTER TABLE agents ADD COLUMN last_assigned_at BIGINT;
ALTER TABLE ticket_events ADD COLUMN assignee TEXT;
ALTER TABLE ticket_events ADD COLUMN previous_assignee TEXT;
CREATE INDEX ticket_events_assignee ON ticket_events (assignee, id);
CREATE INDEX ticket_events_previous_assignee ON ticket_events (previous_assignee, id);

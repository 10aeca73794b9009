-- Routing counts each agent's active tickets (and GetMe/ListAgents show the count): with
-- only the (assignee, number) index that count read every ticket the agent ever held,
-- closed ones too, so every create cost more as the agents' histories grew. This index
-- answers it from the agent's active tickets alone. Partial: waiting tickets (no assignee)
-- are found through tickets_waiting, in its order, and must not be drawn to this one.
CREATE INDEX tickets_assignee_status ON tickets (assignee, status) WHERE assignee IS NOT NULL;

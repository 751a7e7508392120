-- A support agent at work (pgbench script; -D tickets=N -D agents=N): read a
-- ticket and its thread, answer it, update the ticket, each statement on its
-- own (so a database that goes away mid-run costs no transaction). Every
-- statement names the ticket as its route key, so a ticket is served by one
-- database at a time.
\set tid random(1, :tickets)
\set agent random(1, :agents)
SELECT id, subject, status, priority, assigned_agent_id FROM support_tickets WHERE id = :tid /*route_key='ticket-:tid'*/;
SELECT author_kind, body, sent_at FROM ticket_messages WHERE ticket_id = :tid ORDER BY sent_at DESC LIMIT 5 /*route_key='ticket-:tid'*/;
INSERT INTO ticket_messages (ticket_id, author_kind, author_agent_id, body) VALUES (:tid, 'agent', :agent, 'Thanks, we are looking into it.') /*route_key='ticket-:tid'*/;
UPDATE support_tickets SET status = 'pending', assigned_agent_id = :agent WHERE id = :tid /*route_key='ticket-:tid'*/;

ALTER TABLE watchlists DROP COLUMN sweep_after;
ALTER TABLE watchlists DROP COLUMN sweep_to;
ALTER TABLE watchlists DROP COLUMN swept_on;
DROP TABLE webhook_events;

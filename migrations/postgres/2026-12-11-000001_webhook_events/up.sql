-- The outbox of watch-list events (issue #17): each event is written in the same transaction as
-- the change it tells of, then delivered by one worker across instances, at least once, under a
-- stable id (the `webhook-id` header). `dedupe_key` makes the daily sweep's events (publicity
-- ended, verdicts changed by the day moving on) idempotent: a sweep run twice writes them once.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    watchlist_id TEXT NOT NULL REFERENCES watchlists(id),
    event_type TEXT NOT NULL,
    dedupe_key TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP,
    last_result TEXT,
    delivered_at TIMESTAMP
);
CREATE UNIQUE INDEX webhook_events_dedupe ON webhook_events (watchlist_id, dedupe_key);
CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at);
CREATE INDEX webhook_events_by_list ON webhook_events (watchlist_id, id);
-- The daily sweep's place per list: the day its subjects were last compared (null: not yet,
-- the list starts from the day it is first swept), and of a sweep under way the day it compares
-- with (fixed when it starts, so that a sweep across midnight compares one pair of days) and the
-- last subject key done.
ALTER TABLE watchlists ADD COLUMN swept_on DATE;
ALTER TABLE watchlists ADD COLUMN sweep_to DATE;
ALTER TABLE watchlists ADD COLUMN sweep_after TEXT;

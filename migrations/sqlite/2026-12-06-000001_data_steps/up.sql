-- Rewrites of stored data that need the configured data key, which SQL never sees: they run in
-- the service right after the schema migrations (`service::upgrade`), each once, and each
-- leaves its row here in the same transaction as its work.
--
-- The first: record ids that carried a natural person's ID number (the 双公示 import made them
-- from 决定文书号 and the number) are rewritten to the keyed pseudonym, in the records, their
-- version history and the sync state.
CREATE TABLE data_migrations (
    name TEXT PRIMARY KEY,
    done_at TIMESTAMP NOT NULL
);

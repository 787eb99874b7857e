-- A record version the provincial platform refused (answered `rejected`) is not pushed again
-- until the record has a newer version: it was pushed every round, for ever, and counted once
-- per attempt. The platform's reason is kept for the admin view.
ALTER TABLE credit_records ADD COLUMN push_refused_version BIGINT;
ALTER TABLE sync_state ADD COLUMN last_push_reject TEXT;

ALTER TABLE sync_state DROP COLUMN last_push_reject;
ALTER TABLE credit_records DROP COLUMN push_refused_version;

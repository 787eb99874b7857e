DROP INDEX credit_records_push_due;
ALTER TABLE credit_records DROP COLUMN pushed_version;
DROP TABLE sync_state;

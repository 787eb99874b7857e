-- Provincial sync (DESIGN.md "Provincial sync"). One row per platform: the pull cursor, which a
-- page's transaction advances together with the page's records, and the counts of what was
-- applied. Errors are written apart, so a failing platform never rolls back applied work.
CREATE TABLE sync_state (
    name TEXT PRIMARY KEY,
    cursor TEXT,
    pages BIGINT NOT NULL DEFAULT 0,
    upserts BIGINT NOT NULL DEFAULT 0,
    removals BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    pushed BIGINT NOT NULL DEFAULT 0,
    push_duplicates BIGINT NOT NULL DEFAULT 0,
    push_rejected BIGINT NOT NULL DEFAULT 0,
    remaining BIGINT,
    last_pull_at TIMESTAMP,
    last_success_at TIMESTAMP,
    last_error TEXT,
    last_error_at TIMESTAMP,
    last_reject TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- The version of a local record the platform has confirmed (accepted or duplicate); a record
-- is due for pushing while this is behind its version.
ALTER TABLE credit_records ADD COLUMN pushed_version BIGINT;
CREATE INDEX credit_records_push_due ON credit_records (id)
    WHERE origin <> 'provincial' AND (pushed_version IS NULL OR pushed_version < version);

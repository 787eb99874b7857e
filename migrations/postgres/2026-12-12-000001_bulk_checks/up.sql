-- Bulk comparison jobs (批量比对, issue #17): a file of codes (or, for officers, ID numbers)
-- checked line by line in the background. A job survives a restart: `cursor` is the next line
-- to check, moved in the same transaction as the results of the lines before it.
CREATE TABLE bulk_jobs (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL,
    created_by TEXT NOT NULL,
    owner_role TEXT NOT NULL,
    scenario TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reference TEXT,
    authorization_ref TEXT,
    id_kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    cursor INTEGER NOT NULL,
    clear INTEGER NOT NULL,
    review INTEGER NOT NULL,
    restricted INTEGER NOT NULL,
    prohibited INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX bulk_jobs_by_status ON bulk_jobs (status, id);
CREATE INDEX bulk_jobs_by_expiry ON bulk_jobs (expires_at);
-- One row per input line, in input order (`seq`); `line` is the file's own line or row number.
-- `shown` is what the result shows (the code, or the masked ID number); `input_enc` the ID
-- number to check, encrypted under the data key, and cleared once the line is checked.
CREATE TABLE bulk_lines (
    job_id TEXT NOT NULL REFERENCES bulk_jobs(id),
    seq INTEGER NOT NULL,
    line INTEGER NOT NULL,
    shown TEXT NOT NULL,
    input_enc TEXT,
    scenario TEXT,
    authorization_ref TEXT,
    verdict TEXT,
    reason TEXT,
    measures TEXT,
    report_no TEXT,
    PRIMARY KEY (job_id, seq)
);

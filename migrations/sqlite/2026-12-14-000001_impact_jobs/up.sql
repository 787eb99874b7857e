-- Impact analysis jobs (issue #18): a candidate rule set, uploaded by an admin and never made
-- active, evaluated against the set in use for every subject held, in the background. A job
-- survives a restart: `cursor` is the last subject key done and `tally` the counts so far, both
-- moved in the same transaction as the changes found in the page before it.
CREATE TABLE impact_jobs (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL,
    created_by TEXT NOT NULL,
    scenario TEXT,
    active_digest TEXT NOT NULL,
    candidate_digest TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    -- The candidate's files (JSON: path -> text), as uploaded.
    candidate_sources TEXT NOT NULL,
    as_of DATE NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL,
    cursor TEXT,
    tally TEXT NOT NULL,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX impact_jobs_by_status ON impact_jobs (status, id);
-- The subjects whose verdict changes, in the order found (`seq`); natural persons by masked
-- ID number only.
CREATE TABLE impact_changes (
    job_id TEXT NOT NULL REFERENCES impact_jobs(id),
    seq BIGINT NOT NULL,
    scenario TEXT NOT NULL,
    uscc TEXT,
    reg_no TEXT,
    id_number_masked TEXT,
    name TEXT NOT NULL,
    verdict_before TEXT NOT NULL,
    verdict_after TEXT NOT NULL,
    added TEXT NOT NULL,
    removed TEXT NOT NULL,
    measures_after TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

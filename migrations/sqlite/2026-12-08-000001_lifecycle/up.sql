-- The credit lifecycle.
-- Repairs (信用修复, NDRC Order 36): an application per record, decided by the department that
-- owns it. An approved repair keeps the record's content, but no check uses it and only admins
-- and auditors see it; a newer version from its provider does not undo it (the repair is kept
-- apart from the record, which a newer version replaces).
-- Objections (异议, the governing measures Art. 21): one open objection per record at a time, its
-- deadlines in working days, every step kept in `history` (JSON) with the written answer that
-- the filer is shown.
CREATE TABLE repairs (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES credit_records(id),
    provider_code TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_contact TEXT,
    commitment TEXT,
    evidence TEXT,
    status TEXT NOT NULL,
    received_on DATE NOT NULL,
    decision_due DATE NOT NULL,
    decided_on DATE,
    reason TEXT,
    -- The record's version when the repair was approved (what the province is told).
    record_version BIGINT,
    created_by_org TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- An approved repair is pushed to the provincial platform once: when it took it, or when it
    -- refused it (with its reason: not sent again).
    pushed_at TIMESTAMP,
    push_refused TEXT
);
CREATE UNIQUE INDEX repairs_one_pending ON repairs (record_id) WHERE status = 'accepted';
CREATE UNIQUE INDEX repairs_one_approved ON repairs (record_id) WHERE status = 'approved';
CREATE TABLE objections (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES credit_records(id),
    provider_code TEXT NOT NULL,
    filer_org TEXT NOT NULL,
    filer_role TEXT NOT NULL,
    filed_by_kind TEXT NOT NULL,
    filed_by_name TEXT NOT NULL,
    filed_by_contact TEXT,
    grounds TEXT NOT NULL,
    record_version BIGINT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    received_on DATE NOT NULL,
    review_due DATE NOT NULL,
    forwarded_on DATE,
    provider_due DATE,
    closed_on DATE,
    history TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX objections_one_open ON objections (record_id) WHERE status <> 'closed';
CREATE INDEX objections_by_status ON objections (status, id);

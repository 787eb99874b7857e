-- Watch lists (自动比对, issue #17): a system's or partner's list of subjects to be told about,
-- with the webhook target it is told at and the scenarios it cares about. The signing secret is
-- kept encrypted under the data key (it is shown to its owner once, and needed to sign).
CREATE TABLE watchlists (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL REFERENCES organisations(code),
    created_by TEXT NOT NULL,
    owner_role TEXT NOT NULL,
    name TEXT NOT NULL,
    webhook_url TEXT NOT NULL,
    scenarios TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX watchlists_by_org ON watchlists (org_code, id);
-- The subjects on a list, by their storage key (`uscc:…`); found by subject when a record of
-- it changes.
CREATE TABLE watchlist_subjects (
    watchlist_id TEXT NOT NULL REFERENCES watchlists(id),
    subject_key TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist_id, subject_key)
);
CREATE INDEX watchlist_subjects_by_subject ON watchlist_subjects (subject_key);

-- Conditional sharing (有条件共享, the governing measures Art. 18): an organisation applies for a
-- data scope, purpose and period; an administrator approves or rejects with a reason; an
-- approved grant ends by itself at valid_to. Special sharing (特殊共享, Art. 19): the
-- administrator names an organisation for a record or a list.
CREATE TABLE access_grants (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL REFERENCES organisations(code),
    grant_kind TEXT NOT NULL,
    source_codes TEXT NOT NULL,
    record_kinds TEXT NOT NULL,
    list_codes TEXT NOT NULL,
    record_id TEXT,
    purpose TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE NOT NULL,
    status TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    decided_by TEXT,
    decision_reason TEXT,
    decided_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX access_grants_org ON access_grants (org_code, status);

-- Agreements under which partners (banks, insurers) may query: scenarios ("profile" for credit
-- profiles), record kinds, validity dates and a daily quota (DESIGN.md "Security and privacy").
CREATE TABLE agreements (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL REFERENCES organisations(code),
    scenarios TEXT NOT NULL,
    record_kinds TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE NOT NULL,
    daily_quota BIGINT NOT NULL,
    reference TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX agreements_org ON agreements (org_code);

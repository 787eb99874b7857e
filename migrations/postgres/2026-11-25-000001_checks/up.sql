-- Every rule set that a report used, with its files, so that a report can be evaluated again.
CREATE TABLE rule_sets (
    digest TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    sources TEXT NOT NULL,
    first_loaded_at TIMESTAMP NOT NULL
);

-- Report numbers CR-YYYYMMDD-NNNNNN: one counter per day (China Standard Time).
CREATE TABLE report_counters (
    day TEXT PRIMARY KEY,
    last_no BIGINT NOT NULL
);

-- Check reports as answered, with the facts they were evaluated on (records as they were) and
-- the digest that a printed copy is verified against. Procurement files keep them 15 years
-- (政府采购法 Art. 42): no deletion path.
CREATE TABLE check_reports (
    report_no TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    verdict TEXT NOT NULL,
    rule_set_digest TEXT NOT NULL REFERENCES rule_sets(digest),
    requester_org TEXT NOT NULL,
    requester_role TEXT NOT NULL,
    requester_key_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reference TEXT,
    as_of DATE NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    report TEXT NOT NULL,
    facts TEXT NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX check_reports_subject ON check_reports (subject_key, checked_at);
CREATE INDEX check_reports_org ON check_reports (requester_org, checked_at);

-- 发起—响应—反馈: what the implementing department did with a report.
CREATE TABLE check_feedback (
    id TEXT PRIMARY KEY,
    report_no TEXT NOT NULL REFERENCES check_reports(report_no),
    org_code TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX check_feedback_report ON check_feedback (report_no);

-- Related persons are found by the legal representative named on records.
CREATE INDEX credit_records_legal_rep ON credit_records (legal_rep_id_number);

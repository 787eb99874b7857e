-- Organisations (data providers, users' departments, partners) and their API keys.
CREATE TABLE organisations (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Keys are stored only as SHA-256 hashes of the 32 random bytes shown once at creation.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL REFERENCES organisations(code),
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

-- Subjects: legal persons by USCC, 个体工商户 without a code by registration number, natural
-- persons by ID number (the governing measures Art. 16). subject_key is the one identifier.
CREATE TABLE subjects (
    id TEXT PRIMARY KEY,
    subject_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    uscc TEXT,
    reg_no TEXT,
    id_number TEXT,
    name TEXT NOT NULL,
    legal_rep_name TEXT,
    legal_rep_id_number TEXT,
    checksum_warning BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX subjects_uscc ON subjects (uscc);

-- One source per datum (一数一源, Art. 5(1), 12): (source_code, source_record_id) is unique.
CREATE TABLE credit_records (
    id TEXT PRIMARY KEY,
    source_code TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    subject_id TEXT NOT NULL REFERENCES subjects(id),
    kind TEXT NOT NULL,
    list_code TEXT,
    decision_no TEXT,
    decision_date DATE,
    valid_from DATE,
    valid_to DATE,
    severity TEXT,
    penalty_types TEXT NOT NULL,
    fine_amount_fen BIGINT,
    authority_name TEXT,
    authority_uscc TEXT,
    legal_rep_name TEXT,
    legal_rep_id_number TEXT,
    sharing_class TEXT NOT NULL,
    open_class TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    origin TEXT NOT NULL,
    checksum_warning BOOLEAN NOT NULL,
    under_objection BOOLEAN NOT NULL DEFAULT 0,
    details TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (source_code, source_record_id)
);
CREATE INDEX credit_records_subject ON credit_records (subject_id);

-- Every version a record has had, as submitted (Art. 13: each record carries its version).
CREATE TABLE credit_record_versions (
    record_id TEXT NOT NULL REFERENCES credit_records(id),
    version BIGINT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (record_id, version)
);

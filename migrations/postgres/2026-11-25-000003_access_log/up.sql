-- The access log (the governing measures Art. 20, 22, 25): every read of credit data and every
-- administrative change, append-only. Each entry carries a keyed SM3 hash of its content
-- (entry_hash) when written; a single sealer then gives entries their place in the chain (seq,
-- prev_hash, chain_hash), so concurrent requests never wait on the chain's head.
CREATE TABLE access_log (
    id TEXT PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    org_code TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject_key TEXT,
    records TEXT NOT NULL,
    purpose TEXT,
    reference TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    entry_hash TEXT NOT NULL,
    seq BIGINT UNIQUE,
    prev_hash TEXT,
    chain_hash TEXT,
    sealed_at TIMESTAMP
);
CREATE INDEX access_log_at ON access_log (at);
-- The sealer reads the unsealed entries in (time, id) order.
CREATE INDEX access_log_unsealed ON access_log (at, id) WHERE seq IS NULL;
CREATE INDEX access_log_subject ON access_log (subject_key);

-- Where the access-log chain in the database begins once older entries are archived and removed
-- (`creditgate audit archive --prune`): the seq and chain hash of the last archived entry, the
-- archive's file, and an HMAC-SM3 under the audit key over them. One row at most.
CREATE TABLE audit_anchor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    chain_hash TEXT NOT NULL,
    archived_at TIMESTAMP NOT NULL,
    archive TEXT NOT NULL,
    mac TEXT NOT NULL
);

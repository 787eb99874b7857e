-- Console accounts for people (officers, admins, auditors), never API keys: a login per person,
-- an Argon2id password hash (PHC string), a first password that must be changed, and the
-- lock-out after five wrong passwords (15 minutes).
CREATE TABLE people (
    id TEXT PRIMARY KEY,
    org_code TEXT NOT NULL REFERENCES organisations(code),
    login TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change BOOLEAN NOT NULL,
    failed_attempts INTEGER NOT NULL,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP,
    disabled_at TIMESTAMP
);
-- Sessions: the cookie holds a random token, the table its SHA-256 only. Every instance reads
-- the same table, so a sign-out or an idle timeout holds everywhere at once.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people(id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX console_sessions_by_person ON console_sessions (person_id);

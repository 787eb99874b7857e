-- Signals between processes on one SQLite file: a write that other processes' in-process caches
-- depend on (a key revoked, a grant given or revoked, an agreement made or revoked) leaves a row
-- here in its own transaction; each server reads the rows after the last one it saw. SQLite
-- commits one writer at a time, so the sequence order is the commit order. (PostgreSQL needs no
-- table: the same writes send NOTIFY, which is delivered at commit.)
CREATE TABLE signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    item TEXT NOT NULL
);

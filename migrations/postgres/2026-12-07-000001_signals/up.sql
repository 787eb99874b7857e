-- Signals between instances need no table on PostgreSQL: the writes that other instances'
-- caches depend on send NOTIFY on the channel `creditgate_signals` (store::signals), delivered
-- at commit. The SQLite folder has a `signals` table under this name; the folders keep the
-- same names.
SELECT 1;

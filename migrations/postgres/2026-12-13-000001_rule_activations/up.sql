-- When each rule set became the one checks use (issue #18): the history of the rules, and the
-- set an as-known-at replay uses (the latest activation at or before its time). A row is
-- written when a server starts with a set other than the last one activated, and when a
-- reload changes the set. `how`: `startup`, `reload`, or `first_loaded` for the sets kept
-- before this table (their first load time is all that is known of them).
CREATE TABLE rule_activations (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL REFERENCES rule_sets(digest),
    activated_at TIMESTAMP NOT NULL,
    how TEXT NOT NULL,
    by_org TEXT,
    by_key TEXT
);
CREATE INDEX rule_activations_by_time ON rule_activations (activated_at, id);
INSERT INTO rule_activations (id, digest, activated_at, how)
    SELECT 'act_' || digest, digest, first_loaded_at, 'first_loaded' FROM rule_sets;

DROP TABLE impact_changes;
DROP TABLE impact_jobs;

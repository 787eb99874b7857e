DROP TABLE bulk_lines;
DROP TABLE bulk_jobs;

DROP INDEX credit_records_legal_rep;
DROP TABLE check_feedback;
DROP TABLE check_reports;
DROP TABLE report_counters;
DROP TABLE rule_sets;

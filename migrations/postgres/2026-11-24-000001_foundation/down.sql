DROP TABLE credit_record_versions;
DROP TABLE credit_records;
DROP TABLE subjects;
DROP TABLE api_keys;
DROP TABLE organisations;

-- Natural persons' ID numbers leave the database in plain text: each is kept encrypted (SM4,
-- `*_enc`), masked for display (`*_masked`) and as a keyed HMAC-SM3 hash for lookup (`*_hash`);
-- a person's subject_key is `pid:` and that hash. The key is in the configuration only.
--
-- Credit data loaded before this migration held plain ID numbers (in columns and in the version
-- history), which cannot be encrypted in SQL; it is removed and must be loaded again. No
-- deployment held such data (the service was not yet released); check reports are kept.
DELETE FROM credit_record_versions;
DELETE FROM credit_records;
DELETE FROM subjects;

DROP INDEX credit_records_legal_rep;
ALTER TABLE credit_records DROP COLUMN legal_rep_id_number;
ALTER TABLE credit_records ADD COLUMN legal_rep_id_enc TEXT;
ALTER TABLE credit_records ADD COLUMN legal_rep_id_masked TEXT;
ALTER TABLE credit_records ADD COLUMN legal_rep_id_hash TEXT;
CREATE INDEX credit_records_legal_rep_hash ON credit_records (legal_rep_id_hash);

ALTER TABLE subjects DROP COLUMN id_number;
ALTER TABLE subjects DROP COLUMN legal_rep_id_number;
ALTER TABLE subjects ADD COLUMN id_number_enc TEXT;
ALTER TABLE subjects ADD COLUMN id_number_masked TEXT;
ALTER TABLE subjects ADD COLUMN legal_rep_id_enc TEXT;
ALTER TABLE subjects ADD COLUMN legal_rep_id_masked TEXT;
ALTER TABLE subjects ADD COLUMN legal_rep_id_hash TEXT;

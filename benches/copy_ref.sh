# The reference the write path is measured against (issue #14), sourced by import_rate.sh and
# sync_rate.sh: PostgreSQL COPY of the very rows a run stored (subjects, records, their history,
# exported from SRC after the run) into a fresh database of the same schema, indexes and
# constraints included, in one transaction. Best of RUNS (default 3) fresh databases: this
# machine's figures vary by up to 1.7x from run to run, and the reference is the best the
# database does.
#
#   copy_reference PG_BASE_URL SRC_DB WORK_DIR   ->  prints "SECONDS|COUNTS"
copy_reference() {
  local pg=$1 src=$2 work=$3 ref="cg_copy_ref_$$" t0 t1 counts
  local tables="subjects credit_records credit_record_versions"
  for t in $tables; do psql "$pg/$src" -qc "\\copy $t TO '$work/$t.copy'"; done
  { echo "BEGIN;"; for t in $tables; do echo "\\copy $t FROM '$work/$t.copy'"; done; echo "COMMIT;"; } > "$work/copy.sql"
  local best=""
  for _ in $(seq 1 "${RUNS:-3}"); do
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $ref" -c "CREATE DATABASE $ref" 2>/dev/null
    CREDITGATE_DATABASE_URL="$pg/$ref" target/release/creditgate migrate >/dev/null 2>&1
    t0=$(date +%s.%N)
    psql "$pg/$ref" -q -v ON_ERROR_STOP=1 -f "$work/copy.sql"
    t1=$(date +%s.%N)
    best=$(python3 -c "b='$best'; t=$t1-$t0; print(t if not b or t < float(b) else b)")
  done
  counts=$(psql "$pg/$ref" -tAc "SELECT (SELECT count(*) FROM subjects)||' subjects, '||(SELECT count(*) FROM credit_records)||' records, '||(SELECT count(*) FROM credit_record_versions)||' versions'")
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $ref" >/dev/null 2>&1
  echo "$best|$counts"
}

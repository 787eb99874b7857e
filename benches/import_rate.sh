#!/usr/bin/env bash
# Import rate of `creditgate import` (the same ingestion path as the API) on SQLite and on
# PostgreSQL, each into a fresh database; and, in the same run, the reference the data layer is
# measured against (issue #14): PostgreSQL COPY of the very rows the import stored (subjects,
# records, their history, exported after the import) into a fresh database of the same schema,
# indexes and constraints included, in one transaction. Prints rows per second and the ratios.
#
#   benches/import_rate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-30000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
db="cg_import_bench_$$"
ref="cg_copy_bench_$$"
trap 'for d in $db $ref; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done; rm -rf "$work"' EXIT
cargo build --release -q --bin creditgate
python3 benches/make_cf_csv.py "$ROWS" "$work/cf.csv"
export CREDITGATE_LOG=warn
export CREDITGATE_DATA_KEY=${CREDITGATE_DATA_KEY:-$(printf 'b%.0s' $(seq 1 64))}
now() { date +%s.%N; }
rate() { python3 -c "import sys; n,a,b=float(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{n/(b-a):,.0f} rows/s ({b-a:.2f} s)')" "$@"; }
echo "import of $ROWS 行政处罚 rows ($(du -h "$work/cf.csv" | cut -f1)):"

CREDITGATE_DATABASE_URL="sqlite://$work/import.db" target/release/creditgate migrate >/dev/null 2>&1
t0=$(now)
CREDITGATE_DATABASE_URL="sqlite://$work/import.db" target/release/creditgate import "$work/cf.csv" --source SCJG >/dev/null 2>&1 || true
t1=$(now)
sqlite_rate=$(rate "$ROWS" "$t0" "$t1")
echo "  sqlite import:   $sqlite_rate"

psql "$PG/postgres" -qc "CREATE DATABASE $db"
CREDITGATE_DATABASE_URL="$PG/$db" target/release/creditgate migrate >/dev/null 2>&1
t0=$(now)
CREDITGATE_DATABASE_URL="$PG/$db" target/release/creditgate import "$work/cf.csv" --source SCJG >/dev/null 2>&1 || true
t1=$(now)
pg_import_s=$(python3 -c "print($t1-$t0)")
echo "  postgres import: $(rate "$ROWS" "$t0" "$t1")"

# The reference: the rows the import wrote, copied into a fresh database of the same schema.
tables="subjects credit_records credit_record_versions"
for t in $tables; do
  psql "$PG/$db" -qc "\\copy $t TO '$work/$t.copy'"
done
psql "$PG/postgres" -qc "CREATE DATABASE $ref"
CREDITGATE_DATABASE_URL="$PG/$ref" target/release/creditgate migrate >/dev/null 2>&1
{
  echo "BEGIN;"
  for t in $tables; do echo "\\copy $t FROM '$work/$t.copy'"; done
  echo "COMMIT;"
} > "$work/copy.sql"
t0=$(now)
psql "$PG/$ref" -q -v ON_ERROR_STOP=1 -f "$work/copy.sql"
t1=$(now)
copy_s=$(python3 -c "print($t1-$t0)")
counts=$(psql "$PG/$ref" -tAc "SELECT (SELECT count(*) FROM subjects)||' subjects, '||(SELECT count(*) FROM credit_records)||' records, '||(SELECT count(*) FROM credit_record_versions)||' versions'")
echo "  postgres COPY of the same rows ($counts): $(rate "$ROWS" "$t0" "$t1")"
python3 -c "print(f'  ratio import/COPY on postgres: {float($copy_s)/float($pg_import_s):.3f}x')"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; creditgate and PostgreSQL on one box"

#!/usr/bin/env bash
# Import rate of `creditgate import` (the same ingestion path as the API) on SQLite and on
# PostgreSQL, each into a fresh database; and, in the same run, the reference (copy_ref.sh):
# PostgreSQL COPY of the very rows the import stored. Prints rows per second and the ratio.
#
#   benches/import_rate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-30000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
db="cg_import_bench_$$"
trap 'for d in $db; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done; rm -rf "$work"' EXIT
cargo build --release -q --bin creditgate
source benches/copy_ref.sh
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

ref=$(copy_reference "$PG" "$db" "$work")
copy_s=${ref%%|*}
echo "  postgres COPY of the same rows (${ref#*|}): $(python3 -c "print(f'{$ROWS/$copy_s:,.0f} rows/s ({$copy_s:.2f} s)')")"
python3 -c "print(f'  ratio import/COPY on postgres: {float($copy_s)/float($pg_import_s):.3f}x')"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; creditgate and PostgreSQL on one box"

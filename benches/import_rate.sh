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
echo "import of $ROWS 行政处罚 rows ($(du -h "$work/cf.csv" | cut -f1)), best of ${RUNS:-3} runs each:"

# Best of RUNS (default 3) imports, each into a fresh database, like the reference.
best_of() { # backend-url-maker
  local best="" url t0 t1
  for i in $(seq 1 "${RUNS:-3}"); do
    url=$("$1" "$i")
    CREDITGATE_DATABASE_URL="$url" target/release/creditgate migrate >/dev/null 2>&1
    CREDITGATE_DATABASE_URL="$url" target/release/creditgate keys create --org SCJG --role provider >/dev/null 2>&1
    t0=$(now)
    CREDITGATE_DATABASE_URL="$url" target/release/creditgate import "$work/cf.csv" --source SCJG >/dev/null 2>&1 || true
    t1=$(now)
    best=$(python3 -c "b='$best'; t=$t1-$t0; print(t if not b or t < float(b) else b)")
  done
  echo "$best"
}
sqlite_url() { rm -f "$work/import$1.db"*; echo "sqlite://$work/import$1.db"; }
pg_url() { psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null; echo "$PG/$db"; }
persec() { python3 -c "print(f'{$ROWS/$1:,.0f} rows/s ({$1:.2f} s)')"; }
sqlite_s=$(best_of sqlite_url)
echo "  sqlite import:   $(persec "$sqlite_s")"
pg_import_s=$(best_of pg_url)
echo "  postgres import: $(persec "$pg_import_s")"
url=$(pg_url 0); CREDITGATE_DATABASE_URL="$url" target/release/creditgate migrate >/dev/null 2>&1
CREDITGATE_DATABASE_URL="$url" target/release/creditgate keys create --org SCJG --role provider >/dev/null 2>&1
CREDITGATE_DATABASE_URL="$url" cpu_split "one more postgres import" \
  target/release/creditgate import "$work/cf.csv" --source SCJG

ref=$(copy_reference "$PG" "$db" "$work")
copy_s=${ref%%|*}
echo "  postgres COPY of the same rows (${ref#*|}): $(persec "$copy_s")"
python3 -c "print(f'  ratio import/COPY on postgres: {float($copy_s)/float($pg_import_s):.3f}x')"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; creditgate and PostgreSQL on one box"

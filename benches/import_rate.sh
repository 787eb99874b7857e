#!/usr/bin/env bash
# Import rate of `creditgate import` (the same ingestion path as the API) on SQLite and on
# PostgreSQL, each into a fresh database.
#
#   benches/import_rate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
db="cg_import_bench_$$"
trap 'psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; rm -rf "$work"' EXIT
cargo build --release -q --bin creditgate
python3 benches/make_cf_csv.py "$ROWS" "$work/cf.csv"
export CREDITGATE_LOG=warn
echo "import of $ROWS 行政处罚 rows ($(du -h "$work/cf.csv" | cut -f1)):"
export CREDITGATE_DATA_KEY=${CREDITGATE_DATA_KEY:-$(printf 'b%.0s' $(seq 1 64))}
CREDITGATE_DATABASE_URL="sqlite://$work/import.db" target/release/creditgate import "$work/cf.csv" --source SCJG 2>&1 | sed 's/^/  sqlite:   /'
psql "$PG/postgres" -qc "CREATE DATABASE $db"
CREDITGATE_DATABASE_URL="$PG/$db" target/release/creditgate import "$work/cf.csv" --source SCJG 2>&1 | sed 's/^/  postgres: /'
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"

#!/usr/bin/env bash
# Load test of POST /api/v1/checks on PostgreSQL, in the same run as the foundation's lookup
# baseline (plain actix + diesel one-row lookup) and GET /api/v1/subjects/{uscc}.
#
#   benches/load_checks.sh [DATABASE_URL]
#
# The database must hold generated subjects (see benches/load_subjects.sh). Every check stores
# a report, so the database grows by one report row per request.
# Needs wrk (Debian package wrk) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:-postgres://postgres@127.0.0.1:5432/creditgate_bench}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
SAMPLE=${SAMPLE:-100000}
SCENARIO=${SCENARIO:-procurement}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q --bin creditgate --example baseline_lookup

subjects=$(psql "$DB" -tAc "SELECT count(*) FROM subjects")
records=$(psql "$DB" -tAc "SELECT count(*) FROM credit_records")
reports=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
echo "database: $subjects subjects, $records records, $reports reports before; sample of $SAMPLE codes; $CONNECTIONS connections, $DURATION per run"
psql "$DB" -tAc "SELECT uscc FROM subjects TABLESAMPLE SYSTEM (20) WHERE uscc IS NOT NULL LIMIT $SAMPLE" > "$work/codes"

export CREDITGATE_DATABASE_URL=$DB CREDITGATE_LOG=warn
# One key drives the whole load: no per-key rate limit here.
export CREDITGATE_RATE_LIMIT=0
# The bench database's data key (ID numbers are stored under it); the same for gen and serve.
export CREDITGATE_DATA_KEY=${CREDITGATE_DATA_KEY:-$(printf 'b%.0s' $(seq 1 64))}
key=$(target/release/creditgate keys create --org BENCH --role officer --label load-test 2>/dev/null)
sed "s|^|/api/v1/subjects/|; s|\$|?purpose=load-test|" "$work/codes" > "$work/creditgate.paths"
sed "s|^|/lookup/|" "$work/codes" > "$work/baseline.paths"

CREDITGATE_BIND=127.0.0.1:18080 target/release/creditgate serve > "$work/server.log" 2>&1 &
target/release/examples/baseline_lookup 127.0.0.1:18081 "$DB" > "$work/baseline.log" 2>&1 &
for _ in $(seq 1 50); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && curl -s -o /dev/null http://127.0.0.1:18081/lookup/x && break
  sleep 0.2
done

get() { # name url paths [header]
  local name=$1 url=$2 paths=$3; shift 3
  WRK_PATHS=$paths wrk -t2 -c"$CONNECTIONS" -d5s -s benches/wrk_paths.lua "$@" "$url" > /dev/null
  WRK_PATHS=$paths wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/wrk_paths.lua "$@" "$url" \
    | grep "^RESULT" | sed "s|^RESULT|$name|"
}
get "baseline (actix+diesel one-row lookup)" http://127.0.0.1:18081 "$work/baseline.paths"
get "creditgate GET /api/v1/subjects/{uscc}" http://127.0.0.1:18080 "$work/creditgate.paths" -H "Authorization: Bearer $key"
WRK_CODES=$work/codes WRK_SCENARIO=$SCENARIO wrk -t2 -c"$CONNECTIONS" -d5s -s benches/wrk_checks.lua \
  -H "Authorization: Bearer $key" http://127.0.0.1:18080 > /dev/null
WRK_CODES=$work/codes WRK_SCENARIO=$SCENARIO wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/wrk_checks.lua \
  -H "Authorization: Bearer $key" http://127.0.0.1:18080 | grep "^RESULT" | sed "s|^RESULT|creditgate POST /api/v1/checks ($SCENARIO)|"
after=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
echo "reports stored during the run: $((after - reports))"
psql "$DB" -tAc "SELECT verdict, count(*) FROM check_reports WHERE requester_org = 'BENCH' GROUP BY verdict ORDER BY 1" | sed 's/^/  verdicts: /'
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; client, servers and PostgreSQL on one box"

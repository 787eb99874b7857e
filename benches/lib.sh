# Shared by the load scripts (sourced, not run): builds, samples codes, starts creditgate and the
# plain actix + diesel baseline on the database DB, and defines `get NAME URL PATHS [wrk args]`.
# Needs wrk (Debian package wrk) and psql. The database must hold generated subjects:
#   createdb -h 127.0.0.1 -U postgres creditgate_bench
#   CREDITGATE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/creditgate_bench \
#   CREDITGATE_DATA_KEY=$(printf 'b%.0s' $(seq 1 64)) \
#     target/release/creditgate gen --subjects 1000000 --records-per-subject 5
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DB=${1:-postgres://postgres@127.0.0.1:5432/creditgate_bench}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
SAMPLE=${SAMPLE:-100000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q --bin creditgate --example baseline_lookup

subjects=$(psql "$DB" -tAc "SELECT count(*) FROM subjects")
records=$(psql "$DB" -tAc "SELECT count(*) FROM credit_records")
echo "database: $subjects subjects, $records records; sample of $SAMPLE codes; $CONNECTIONS connections, $DURATION per run"
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

# A wrk run after a 5 s warm-up (fills the profile cache and the pools); prints its RESULT line
# under NAME. SCRIPT (default wrk_paths.lua) and its environment choose the requests.
get() { # name url paths [wrk args]
  local name=$1 url=$2 paths=$3; shift 3
  local script=${SCRIPT:-benches/wrk_paths.lua}
  WRK_PATHS=$paths wrk -t2 -c"$CONNECTIONS" -d5s -s "$script" "$@" "$url" > /dev/null
  WRK_PATHS=$paths wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$@" "$url" \
    | grep "^RESULT" | sed "s|^RESULT|$name|"
}

machine() {
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; client, servers and PostgreSQL on one box"
}

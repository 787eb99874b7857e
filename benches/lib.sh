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
server_pid=$!
target/release/examples/baseline_lookup 127.0.0.1:18081 "$DB" > "$work/baseline.log" 2>&1 &
baseline_pid=$!
# The same service with Redis as its profile cache (REDIS_URL, default the local one; empty: none).
REDIS_URL=${REDIS_URL-redis://127.0.0.1:6379}
redis_pid=
if [ -n "$REDIS_URL" ]; then
  CREDITGATE_REDIS_URL=$REDIS_URL CREDITGATE_CACHE_PREFIX=bench$$ CREDITGATE_BIND=127.0.0.1:18082 \
    target/release/creditgate serve > "$work/server-redis.log" 2>&1 &
  redis_pid=$!
fi
for _ in $(seq 1 50); do
  curl -sf http://127.0.0.1:18080/readyz >/dev/null && curl -s -o /dev/null http://127.0.0.1:18081/lookup/x \
    && { [ -z "$redis_pid" ] || curl -sf http://127.0.0.1:18082/readyz >/dev/null; } && break
  sleep 0.2
done

# ticks and pg_ticks: CPU time of processes and of PostgreSQL (copy_ref.sh).
source benches/copy_ref.sh
# Bytes of write-ahead log PostgreSQL has written so far (what its durable writes cost).
wal_bytes() { psql "$DB" -tAc "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }
# Checkpoints PostgreSQL has begun so far (a checkpoint's writes and fsyncs stall commits).
# (pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17 on.)
checkpoints() {
  psql "$DB" -tAc "SELECT num_timed + num_requested FROM pg_stat_checkpointer" 2>/dev/null \
    || psql "$DB" -tAc "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
}

# A wrk run after a 5 s warm-up (fills the profile cache and the pools); prints its RESULT line
# under NAME, then where the two cores went during the measured run (each process's share of
# one core, in %: the servers, PostgreSQL, and the rest, which is mostly wrk) and the
# write-ahead log written per request. SCRIPT (default wrk_paths.lua) and its environment
# choose the requests. C (default CONNECTIONS) connections. The line is also kept in
# $work/results as `NAME<TAB>line`.
get() { # name url paths [wrk args]
  local name=$1 url=$2 paths=$3; shift 3
  local script=${SCRIPT:-benches/wrk_paths.lua} c=${C:-$CONNECTIONS} line
  WRK_PATHS=$paths wrk -t2 -c"$c" -d5s -s "$script" "$@" "$url" > /dev/null
  local t0 cg0 rd0 bl0 pg0 w0 cpu0 t1 cg1 rd1 bl1 pg1 w1 cpu1 k0 k1
  t0=$(date +%s.%N); cg0=$(ticks "$server_pid"); rd0=$(ticks ${redis_pid:-}); bl0=$(ticks "$baseline_pid")
  pg0=$(pg_ticks); w0=$(wal_bytes); k0=$(checkpoints); cpu0=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  line=$(WRK_PATHS=$paths wrk -t2 -c"$c" -d"$DURATION" --latency -s "$script" "$@" "$url" | grep "^RESULT")
  t1=$(date +%s.%N); cg1=$(ticks "$server_pid"); rd1=$(ticks ${redis_pid:-}); bl1=$(ticks "$baseline_pid")
  pg1=$(pg_ticks); w1=$(wal_bytes); k1=$(checkpoints); cpu1=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
  echo "$name ($c conn): ${line#RESULT }"
  python3 - "$line" "$t0" "$t1" "$((cg1 - cg0 + rd1 - rd0))" "$((bl1 - bl0))" "$((pg1 - pg0))" \
    "$((w1 - w0))" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$((k1 - k0))" <<'PY'
import sys
line, t0, t1, cg, bl, pg, wal, busy, hz, ckpt = sys.argv[1:]
secs = float(t1) - float(t0)
pct = lambda ticks: 100 * int(ticks) / int(hz) / secs
req = int(dict(f.split("=") for f in line.split()[1:])["requests"])
rest = pct(busy) - pct(cg) - pct(bl) - pct(pg)
print(f"  cpu (% of one core): creditgate {pct(cg):.0f}, reference {pct(bl):.0f}, postgres {pct(pg):.0f}, "
      f"rest (wrk, redis, kernel) {rest:.0f}; write-ahead log {int(wal) / max(req, 1):,.0f} bytes/request; "
      f"{ckpt} checkpoint(s) began")
PY
  printf '%s\t%s\n' "$name" "${line#RESULT }" >> "$work/results"
}

# A field (rps, p50_ms, p99_ms) of the result kept under NAME.
field() { # name field
  awk -F'\t' -v n="$1" '$1 == n {print $2}' "$work/results" | tail -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# Resident memory of a process, in MB.
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

machine() {
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; client, servers and PostgreSQL on one box"
}

#!/usr/bin/env bash
# Changes applied per second by `creditgate sync --once` from the provincial simulator (no faults)
# into a fresh SQLite file and a fresh PostgreSQL database; checks that each converged (the
# digest of the city's provincial records equals the simulator's); and, in the same run, the
# reference (copy_ref.sh): PostgreSQL COPY of the rows the sync stored.
#
#   benches/sync_rate.sh [CHANGES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PAGE=${PAGE:-500}
work=$(mktemp -d)
db="cg_sync_bench_$$"
trap 'kill $(jobs -p) 2>/dev/null || true; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; rm -rf "$work"' EXIT
cargo build --release -q --bin creditgate
source benches/copy_ref.sh
export CREDITGATE_LOG=warn
export CREDITGATE_DATA_KEY=${CREDITGATE_DATA_KEY:-$(printf 'b%.0s' $(seq 1 64))}
export CREDITGATE_PROVINCIAL_SECRET=$(printf 'c%.0s' $(seq 1 64))
export CREDITGATE_PROVINCIAL_URL=http://127.0.0.1:19090
export CREDITGATE_PROVINCIAL_INSECURE=1  # the simulator on loopback speaks plain HTTP
target/release/creditgate provincial-sim --bind 127.0.0.1:19090 --size "$N" --seed 42 \
  --secret "$CREDITGATE_PROVINCIAL_SECRET" > "$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:19090/stats > "$work/stats.json" && break; sleep 0.2; done
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expected_digest"])' "$work/stats.json")
echo "sync of $N simulator changes, pages of $PAGE:"
run() { # name url
  CREDITGATE_DATABASE_URL=$2 target/release/creditgate migrate >/dev/null 2>&1
  local t0 t1
  t0=$(date +%s.%N)
  CREDITGATE_DATABASE_URL=$2 target/release/creditgate sync --once --page-size "$PAGE" 2>/dev/null | sed "s/^/  $1: /"
  t1=$(date +%s.%N)
  secs=$(python3 -c "print($t1-$t0)")
  echo "  $1: $(python3 -c "print(f'{$N/$secs:,.0f} changes/s ({$secs:.2f} s, whole command)')")"
  got=$(CREDITGATE_DATABASE_URL=$2 target/release/creditgate sync --status 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["provincial_digest"])')
  if [ "$got" = "$want" ]; then echo "  $1: converged ($got)"; else echo "  $1: DIGEST DIFFERS: $got, want $want"; exit 1; fi
}
run sqlite "sqlite://$work/sync.db"
psql "$PG/postgres" -qc "CREATE DATABASE $db"
run postgres "$PG/$db"
pg_s=$secs
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
CREDITGATE_DATABASE_URL="$PG/$db" target/release/creditgate migrate >/dev/null 2>&1
CREDITGATE_DATABASE_URL="$PG/$db" OTHER_PID=$sim_pid cpu_split "one more postgres sync" \
  target/release/creditgate sync --once --page-size "$PAGE"
ref=$(copy_reference "$PG" "$db" "$work")
copy_s=${ref%%|*}
echo "  postgres COPY of the rows the sync stored (${ref#*|}): $(python3 -c "print(f'{$N/$copy_s:,.0f} changes/s ({$copy_s:.2f} s)')")"
python3 -c "print(f'  ratio sync/COPY on postgres: {float($copy_s)/float($pg_s):.3f}x')"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; simulator, creditgate and the database on one box"

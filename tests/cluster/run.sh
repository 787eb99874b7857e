#!/usr/bin/env bash
# The two-instance topology of docker/compose.yaml, started natively for CI (no container
# engine): its own PostgreSQL and Redis (so that the scenarios may stop and restart them without
# touching the machine's shared servers on 5432/6379), `creditgate migrate`, two
# `creditgate serve` on 127.0.0.1 with the same database, Redis, data key and admin key, and
# nginx in front with the upstream and retry settings of docker/nginx.conf
# (tests/cluster/nginx.conf.template: keep the two in step; this script refuses to run when they
# differ). Then tests/cluster/scenarios.py, then everything is stopped (trap). Loopback only.
#
#   bash tests/cluster/run.sh [BIN]        BIN default target/debug/creditgate
#   OUT=FILE bash tests/cluster/run.sh     the scenarios' figures as JSON (default
#                                          target/cluster/figures.json)
#   KEEP=1                                 keep the temporary directory (logs) even on success
#   HOLD=1                                 start the cluster and wait (by hand), no scenarios
#   ONLY=a,b                               run these scenarios only (a, b, c, c2, d, e, f)
#
# Exit 1 when a scenario fails; the temporary directory with every log is then kept and named.
#
# The scenarios drive the processes through this same script:
#   bash tests/cluster/run.sh --ctl TMPDIR ACTION
# with ACTION one of start-a, start-b, kill-a, kill-b, stop-pg, start-pg, stop-redis,
# start-redis, freeze-redis, thaw-redis; the pids live in TMPDIR/*.pid.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

as_postgres() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] || { echo "run.sh: no PostgreSQL under /usr/lib/postgresql/*/bin" >&2; return 1; }
  echo "$d"
}

# Starts one creditgate instance (a or b) in the background, detached, its pid in TMP/<name>.pid.
start_instance() {
  local name=$1 port
  port=$(cat "$TMP/port.$name")
  (
    cd "$ROOT"
    export CREDITGATE_BIND="127.0.0.1:$port"
    exec setsid "$BIN" serve >>"$TMP/creditgate-$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$TMP/$name.pid"
  disown $! 2>/dev/null || true # no "Killed" job notice when a scenario kills it
}

start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$TMP/redis" --daemonize no >>"$TMP/redis.log" 2>&1 </dev/null &
  echo $! >"$TMP/redis.pid"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "run.sh: redis-server did not start (see $TMP/redis.log)" >&2
  return 1
}

start_pg() {
  as_postgres "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/postgres.log" -w -t 30 start >/dev/null && return 0
  # What PostgreSQL said is printed here: CI keeps the output, not this directory.
  echo "run.sh: PostgreSQL did not start; the end of its log:" >&2
  tail -n 30 "$TMP/pg/postgres.log" >&2 2>/dev/null || true
  return 1
}

stop_pid() { # stop_pid FILE SIGNAL: the process we started, by its pid only
  local f=$1 sig=${2:-TERM} pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

ctl() {
  TMP=$1
  # shellcheck disable=SC1091
  . "$TMP/cluster.env"
  case $2 in
    start-a | start-b) start_instance "${2#start-}" ;;
    kill-a | kill-b)
      # SIGKILL: no shutdown of any kind, requests in flight are cut.
      kill -KILL "$(cat "$TMP/${2#kill-}.pid")"
      rm -f "$TMP/${2#kill-}.pid"
      ;;
    stop-pg) as_postgres "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null ;;
    start-pg) start_pg ;;
    stop-redis) stop_pid "$TMP/redis.pid" TERM ;;
    start-redis) start_redis ;;
    # Unreachable but not gone: the process keeps its data, answers nothing (SIGSTOP).
    freeze-redis) kill -STOP "$(cat "$TMP/redis.pid")" ;;
    thaw-redis) kill -CONT "$(cat "$TMP/redis.pid")" ;;
    *) echo "run.sh --ctl: unknown action $2" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = "--ctl" ]; then
  ctl "$2" "$3"
  exit $?
fi

BIN=${1:-${BIN:-target/debug/creditgate}}
case $BIN in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
[ -x "$BIN" ] || { echo "run.sh: no executable $BIN (build it first)" >&2; exit 2; }
OUT=${OUT:-$ROOT/target/cluster/figures.json}
mkdir -p "$(dirname "$OUT")"
NGINX=${NGINX:-/usr/sbin/nginx}
PGBIN=$(pg_bin)
for tool in "$NGINX" redis-server redis-cli python3 "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is missing" >&2; exit 2; }
done

# The native template and docker/nginx.conf must carry the same upstream and retry settings:
# everything from the first `map` to the end (the maps, the upstream, the server and its
# locations) is compared line by line, without comments and with the addresses left out.
settings() {
  sed -n '/^[[:space:]]*map /,$p' "$1" | grep -Ev '^[[:space:]]*(#|$)' \
    | sed -E 's/^[[:space:]]+//; s/^server [^ ]+ /server ADDR /; s/^listen .*/listen ADDR;/'
}
if ! diff <(settings "$ROOT/docker/nginx.conf") <(settings "$HERE/nginx.conf.template") >/dev/null; then
  echo "run.sh: tests/cluster/nginx.conf.template and docker/nginx.conf differ in their upstream/retry settings:" >&2
  diff <(settings "$ROOT/docker/nginx.conf") <(settings "$HERE/nginx.conf.template") >&2 || true
  exit 2
fi

free_port() { # free_port PREFERRED: PREFERRED when nothing listens on it, else one the kernel picks
  python3 - "$1" <<'EOF'
import socket, sys
want = int(sys.argv[1])
for p in (want, 0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
}

TMP=$(mktemp -d /tmp/creditgate-cluster.XXXXXX)
chmod 711 "$TMP" # the postgres user must reach its directory inside
started=$(date +%s)
status=1

cleanup() {
  set +e
  trap - EXIT INT TERM
  [ -f "$TMP/nginx.pid" ] && stop_pid "$TMP/nginx.pid" QUIT
  stop_pid "$TMP/a.pid" TERM
  stop_pid "$TMP/b.pid" TERM
  stop_pid "$TMP/redis.pid" TERM
  stop_pid "$TMP/sim.pid" TERM
  if [ -f "$TMP/pg/data/postmaster.pid" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m immediate -w stop >/dev/null 2>&1
  fi
  echo
  echo "cluster: torn down after $(($(date +%s) - started)) s"
  if [ "$status" = 0 ] && [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$TMP"
  else
    echo "cluster: logs kept in $TMP (creditgate-a.log, creditgate-b.log, nginx-error.log, nginx-access.log, pg/postgres.log, redis.log, sim.log)"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT TERM

PG_PORT=$(free_port 55432)
REDIS_PORT=$(free_port 56379)
free_port 58081 >"$TMP/port.a"
free_port 58082 >"$TMP/port.b"
PROXY_PORT=$(free_port 58080)
SIM_PORT=$(free_port 58090)
SIM_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
DATA_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
ADMIN_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/creditgate"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

echo "== cluster in $TMP"
echo "   postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT"
echo "   creditgate a 127.0.0.1:$(cat "$TMP/port.a"), b 127.0.0.1:$(cat "$TMP/port.b"), nginx 127.0.0.1:$PROXY_PORT"
echo "   provincial-sim 127.0.0.1:$SIM_PORT"

# What every instance (and the command line, and the --ctl calls) shares.
cat >"$TMP/cluster.env" <<EOF
BIN='$BIN'
ROOT='$ROOT'
PGBIN='$PGBIN'
PG_PORT=$PG_PORT
REDIS_PORT=$REDIS_PORT
SIM_PORT=$SIM_PORT
export CREDITGATE_DATABASE_URL='$DB_URL'
export CREDITGATE_REDIS_URL='$REDIS_URL'
export CREDITGATE_DATA_KEY='$DATA_KEY'
export CREDITGATE_ADMIN_KEY='$ADMIN_KEY'
export CREDITGATE_RULES_DIR='$ROOT/rules'
export CREDITGATE_TRUSTED_PROXIES=127.0.0.1
export CREDITGATE_MAX_BODY_BYTES=8388608
export CREDITGATE_LOG='info,actix_server=warn'
export CREDITGATE_AUDIT_CHECKPOINTS='$TMP/checkpoints'
export CREDITGATE_AUDIT_CHECKPOINT_SECONDS=10
export CREDITGATE_PROVINCIAL_URL='http://127.0.0.1:$SIM_PORT'
export CREDITGATE_PROVINCIAL_SECRET='$SIM_SECRET'
export CREDITGATE_PROVINCIAL_INSECURE=1
export CREDITGATE_SYNC_INTERVAL=1
EOF
# shellcheck disable=SC1091
. "$TMP/cluster.env"

echo "== PostgreSQL (initdb, port $PG_PORT)"
mkdir -p "$TMP/pg/data" "$TMP/pg/sock"
chown -R postgres "$TMP/pg" 2>/dev/null || true
as_postgres "$PGBIN/initdb" -D "$TMP/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >"$TMP/initdb.log" 2>&1 \
  || { cat "$TMP/initdb.log" >&2; exit 1; }
cat >>"$TMP/pg/data/postgresql.conf" <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP/pg/sock'
max_connections = 100
# Nothing from /dev/shm or huge pages, little memory: a CI sandbox may limit all three (a run
# there once ended in "pg_ctl: could not start server" with nothing else kept).
dynamic_shared_memory_type = mmap
huge_pages = off
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
start_pg
"$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 'CREATE DATABASE creditgate' postgres

echo "== Redis (port $REDIS_PORT)"
mkdir -p "$TMP/redis"
start_redis

echo "== provincial-sim (port $SIM_PORT; its feed published by scenario g)"
"$BIN" provincial-sim --bind "127.0.0.1:$SIM_PORT" --size 3000 >>"$TMP/sim.log" 2>&1 </dev/null &
echo $! >"$TMP/sim.pid"
sim_up=0
for _ in $(seq 1 100); do
  if python3 - "$SIM_PORT" <<'PY' 2>/dev/null; then sim_up=1; break; fi
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("PUT", "/control/feed", body=b'{"published": 0}', headers={"Content-Type": "application/json"})
sys.exit(0 if c.getresponse().status == 200 else 1)
PY
  sleep 0.1
done
[ "$sim_up" = 1 ] || { echo "run.sh: provincial-sim did not start (see $TMP/sim.log)" >&2; exit 1; }

echo "== creditgate migrate"
(cd "$ROOT" && "$BIN" migrate) >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; exit 1; }

echo "== creditgate serve a and b"
start_instance a
start_instance b

echo "== nginx (port $PROXY_PORT)"
mkdir -p "$TMP/nginx"
sed -e "s|@TMP@|$TMP|g" -e "s|@PROXY_PORT@|$PROXY_PORT|g" \
  -e "s|@A_PORT@|$(cat "$TMP/port.a")|g" -e "s|@B_PORT@|$(cat "$TMP/port.b")|g" \
  "$HERE/nginx.conf.template" >"$TMP/nginx.conf"
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" -t -q 2>&1 | grep -v 'the "user" directive' >&2 || true
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" -g 'daemon off;' >>"$TMP/nginx-error.log" 2>&1 </dev/null &
echo $! >"$TMP/nginx.pid"

if [ "${HOLD:-0}" = 1 ]; then
  echo "cluster: HOLD=1, up until interrupted (admin key $ADMIN_KEY)"
  while kill -0 "$(cat "$TMP/nginx.pid")" 2>/dev/null; do sleep 1; done
  exit 1
fi
set +e
timeout -k 5 290 python3 "$HERE/scenarios.py" --tmp "$TMP" --proxy "http://127.0.0.1:$PROXY_PORT" \
  --a "http://127.0.0.1:$(cat "$TMP/port.a")" --b "http://127.0.0.1:$(cat "$TMP/port.b")" \
  --admin-key "$ADMIN_KEY" --ctl "bash $HERE/run.sh --ctl $TMP" --out "$OUT" ${ONLY:+--only "$ONLY"}
status=$?
set -e
echo "cluster: figures in $OUT"
[ "$status" = 0 ] || status=1
exit "$status"

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

# CPU time (user + system, clock ticks) of processes, summed.
ticks() {
  local t=0 p v
  for p in "$@"; do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# PostgreSQL's CPU time so far: its live processes, and the backends that have ended (counted
# in the postmaster's children's time, fields 16 and 17), so a connection that came and went
# between two readings is not lost.
# The children's time is read before and after the live processes, and again if a backend was
# reaped in between, so that none is counted twice.
pg_ticks() {
  local main c0 c1 live
  main=$(pgrep -x -o postgres || true)
  [ -n "$main" ] || { echo 0; return; }
  for _ in 1 2 3 4 5; do
    c0=$(awk '{print $16 + $17}' "/proc/$main/stat")
    live=$(ticks $(pgrep -x postgres || true))
    c1=$(awk '{print $16 + $17}' "/proc/$main/stat")
    [ "$c0" = "$c1" ] && break
  done
  echo $((live + c1))
}

# Runs a command (output discarded) and prints where the CPU went meanwhile: the command's own
# user + system seconds, every PostgreSQL server process's, and OTHER_PID's (the simulator) if
# set, beside the wall time; on 2 cores the whole machine has 2 CPU-seconds per second.
#
#   cpu_split LABEL COMMAND...   ->  prints "LABEL: wall W s; cpu: command C s, postgres P s, ..."
cpu_split() {
  local label=$1; shift
  local hz t0 t1 pg0 pg1 o0 o1 tf
  hz=$(getconf CLK_TCK); tf=$(mktemp)
  pg0=$(pg_ticks); o0=$(ticks ${OTHER_PID:-}); t0=$(date +%s.%N)
  [ -x /usr/bin/time ] || { echo "  $label: GNU time is needed (Debian package time)" >&2; return 1; }
  if ! /usr/bin/time -o "$tf" -f "%U %S" "$@" >/dev/null 2>&1; then
    echo "  $label: the command failed; no figures" >&2; rm -f "$tf"; return 1
  fi
  t1=$(date +%s.%N); pg1=$(pg_ticks); o1=$(ticks ${OTHER_PID:-})
  python3 - "$label" "$t0" "$t1" "$(tail -1 "$tf")" "$((pg1 - pg0))" "$((o1 - o0))" "$hz" "${OTHER_PID:+simulator}" <<'PY'
import sys
label, t0, t1, cmd, pg, other, hz, other_name = sys.argv[1:]
u, s = map(float, cmd.split())
wall = float(t1) - float(t0)
extra = f", {other_name} {int(other) / int(hz):.2f} s" if other_name else ""
print(f"  {label}: wall {wall:.2f} s; cpu: creditgate {u + s:.2f} s (user {u:.2f}, system {s:.2f}), "
      f"postgres {int(pg) / int(hz):.2f} s{extra}")
PY
  rm -f "$tf"
}

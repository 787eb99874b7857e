#!/usr/bin/env bash
# Impact analysis against the time to stream the same subjects and records out of the database
# (issue #18: goal <= 2x, memory flat). On the database DB (PostgreSQL; default
# creditgate_bench), which must hold generated subjects; GEN=N generates N subjects with 5
# records each first (into an empty database):
#
#   psql -h 127.0.0.1 -U postgres -qc "create database creditgate_bench"
#   GEN=1000000 benches/rules_impact.sh                  (1,000,000 subjects, 5,000,000 records)
#   benches/rules_impact.sh postgres://…/other_db
#
# Prints: the data size; the reference, COPY (SELECT subjects ⋈ records ORDER BY subject key)
# TO STDOUT, best of RUNS (default 3); `creditgate rules impact` with a candidate that lowers the
# procurement fine threshold (ALL=1: and renames a list, so that every scenario is evaluated), its wall time, CPU split, peak resident memory and resident memory
# sampled every 2 s (flat: the same at 10% and 90% of the subjects); the ratio; the counts found.
# Builds the release binary unless BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:-postgres://postgres@127.0.0.1:5432/creditgate_bench}
RUNS=${RUNS:-3}
BIN=${BIN:-target/release/creditgate}
[ "$BIN" != target/release/creditgate ] || cargo build --release -q --bin creditgate
command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (Debian package time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

export CREDITGATE_DATABASE_URL=$DB CREDITGATE_LOG=warn
# The bench database's data key (ID numbers are stored under it); the same as load_subjects.sh.
export CREDITGATE_DATA_KEY=${CREDITGATE_DATA_KEY:-$(printf 'b%.0s' $(seq 1 64))}
if [ -n "${GEN:-}" ]; then
  echo "generating $GEN subjects, 5 records each…"
  t0=$(date +%s.%N)
  "$BIN" gen --subjects "$GEN" --records-per-subject 5 >/dev/null
  echo "  generated in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
fi
subjects=$(psql "$DB" -tAc "SELECT count(*) FROM subjects")
records=$(psql "$DB" -tAc "SELECT count(*) FROM credit_records")
echo "database: $subjects subjects, $records records ($(psql "$DB" -tAc "SELECT pg_size_pretty(pg_database_size(current_database()))"))"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# The set in use: the last one activated, or (none yet) the shipped rules this process loads.
"$BIN" migrate >/dev/null

# The reference: every subject with its records, streamed out in subject-key order.
best=""
for _ in $(seq 1 "$RUNS"); do
  t0=$(date +%s.%N)
  psql "$DB" -qc "\\copy (SELECT s.*, r.* FROM subjects s LEFT JOIN credit_records r ON r.subject_id = s.id ORDER BY s.subject_key, r.id) TO STDOUT" | wc -c > "$work/bytes"
  t1=$(date +%s.%N)
  best=$(python3 -c "b='$best'; t=$t1-$t0; print(t if not b or t < float(b) else b)")
done
printf 'reference: COPY (subjects ⋈ records ORDER BY key) TO STDOUT: %.2f s (best of %s), %s MB\n' \
  "$best" "$RUNS" "$(( $(cat "$work/bytes") / 1000000 ))"

# The candidate: the shipped rules with the procurement fine threshold at 500,000 yuan.
mkdir "$work/candidate"
cp -r rules/. "$work/candidate/"
sed -i 's/fine_at_least: "2000000.00"/fine_at_least: "500000.00"/' "$work/candidate/scenarios/procurement.yaml"
# ALL=1: also rename a list in the catalog, which no verdict depends on but which makes every
# scenario's facts differ, so that all four scenarios are evaluated (the worst case; otherwise a
# scenario the same in both sets, with the same catalog, periods and calendar, is skipped).
if [ -n "${ALL:-}" ]; then
  sed -i '0,/name: 失信被执行人名单/s//name: 失信被执行人名单（新）/' "$work/candidate/catalog/lists.yaml"
  echo "candidate: the fine threshold lowered and a list renamed (every scenario evaluated)"
else
  echo "candidate: the procurement fine threshold lowered from 2,000,000 to 500,000 yuan"
fi

source benches/copy_ref.sh   # pg_ticks, ticks
hz=$(getconf CLK_TCK)
pg0=$(pg_ticks)
t0=$(date +%s.%N)
/usr/bin/time -o "$work/time" -f "%U %S %M" "$BIN" rules impact "$work/candidate" --out "$work/changed.csv" \
  > "$work/summary.json" 2> "$work/impact.err" &
tpid=$!
# Resident memory of the analysis every 2 s, with the share of subjects done (from the bar).
: > "$work/rss"
while kill -0 $tpid 2>/dev/null; do
  pid=$(pgrep -P $tpid -x creditgate || true)
  if [ -n "$pid" ]; then
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    pos=$(tr '\r' '\n' < "$work/impact.err" | grep -o '[0-9]*/[0-9]* subjects' | tail -1 || true)
    [ -n "$rss" ] && echo "$rss ${pos:-0/0 subjects}" >> "$work/rss"
  fi
  sleep 2
done
wait $tpid || { echo "the analysis failed:" >&2; tr '\r' '\n' < "$work/impact.err" | tail -5 >&2; exit 1; }
t1=$(date +%s.%N)
pg1=$(pg_ticks)
python3 - "$work" "$t0" "$t1" "$best" "$((pg1 - pg0))" "$hz" <<'PY'
import json, sys
work, t0, t1, ref, pg, hz = sys.argv[1:]
wall = float(t1) - float(t0)
u, s, peak = open(f"{work}/time").read().split()
print(f"impact analysis: {wall:.2f} s wall; cpu: creditgate {float(u) + float(s):.2f} s, "
      f"postgres {int(pg) / int(hz):.2f} s; peak resident {int(peak) / 1024:.0f} MiB")
samples = []
for line in open(f"{work}/rss"):
    rss, pos = line.split()[:2]
    done, total = map(int, pos.split("/"))
    if total:
        samples.append((done / total, int(rss) / 1024))
if samples:
    pick = lambda f: min(samples, key=lambda x: abs(x[0] - f))
    print("resident memory: " + ", ".join(f"{p*100:.0f}% done {m:.0f} MiB" for p, m in map(pick, (0.1, 0.5, 0.9))))
print(f"ratio: impact / reference = {wall / float(ref):.2f} (goal <= 2)")
summary = json.load(open(f"{work}/summary.json"))
t = summary["tally"]
print(f"evaluated {t['subjects']} subjects ({t['unreadable']} unreadable)")
for name, sc in t["scenarios"].items():
    print(f"  {name}: {sc['changed']} change verdict {sc['transitions']}, {sc['measures_only']} measures only")
changed = sum(1 for _ in open(f"{work}/changed.csv")) - 1
print(f"subjects written: {changed}")
PY

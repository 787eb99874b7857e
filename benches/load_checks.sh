#!/usr/bin/env bash
# The read path of issue #14 from one run on PostgreSQL, next to the plain actix + diesel one-row
# lookup (the reference): GET /api/v1/subjects/{uscc} with the in-process cache and with Redis
# warm, POST /api/v1/checks (each stores a report: the database grows by one row per request),
# their ratios to the reference, p50/p99 at 2 connections beside the loaded figures, and the
# servers' resident memory at the end.
#
#   benches/load_checks.sh [DATABASE_URL]        (set-up and needs: benches/lib.sh)
SCENARIO=${SCENARIO:-procurement}
source "$(dirname "$0")/lib.sh"
reports=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
auth=(-H "Authorization: Bearer $key")
run_all() {
  get "reference" http://127.0.0.1:18081 "$work/baseline.paths"
  get "profile" http://127.0.0.1:18080 "$work/creditgate.paths" "${auth[@]}"
  if [ -n "$redis_pid" ]; then
    get "profile-redis" http://127.0.0.1:18082 "$work/creditgate.paths" "${auth[@]}"
  fi
  WRK_CODES=$work/codes WRK_SCENARIO=$SCENARIO SCRIPT=benches/wrk_checks.lua \
    get "check" http://127.0.0.1:18080 "$work/codes" "${auth[@]}"
}
echo "== at $CONNECTIONS connections"
run_all
cp "$work/results" "$work/peak"; : > "$work/results"
echo "== at 2 connections"
C=2 run_all
after=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
echo "reports stored during the run: $((after - reports)) ($reports before)"

echo "== summary (ratios at $CONNECTIONS connections; p99/p50 at 2 connections)"
light=$(mktemp); mv "$work/results" "$light"; cp "$work/peak" "$work/results"
ref=$(field reference rps)
for n in profile profile-redis check; do
  rps=$(field "$n" rps)
  [ -n "$rps" ] || continue
  ratio=$(python3 -c "print(f'{$rps / $ref:.2f}')")
  cp "$light" "$work/results"
  p50=$(field "$n" p50_ms); p99=$(field "$n" p99_ms); lrps=$(field "$n" rps)
  cp "$work/peak" "$work/results"
  tail=$(python3 -c "print(f'{$p99 / $p50:.1f}')")
  echo "$n: $rps rps = ${ratio}x the reference ($ref rps); at 2 connections $lrps rps, p50 ${p50} ms, p99 ${p99} ms (p99/p50 ${tail})"
done
rm -f "$light"
echo "resident memory: creditgate $(rss_mb "$server_pid") MB${redis_pid:+, with Redis $(rss_mb "$redis_pid") MB}"
machine

#!/usr/bin/env bash
# Load test of POST /api/v1/checks on PostgreSQL, in the same run as the foundation's lookup
# baseline (plain actix + diesel one-row lookup) and GET /api/v1/subjects/{uscc}. Every check
# stores a report, so the database grows by one report row per request.
#
#   benches/load_checks.sh [DATABASE_URL]        (set-up and needs: benches/lib.sh)
SCENARIO=${SCENARIO:-procurement}
source "$(dirname "$0")/lib.sh"
reports=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
get "baseline (actix+diesel one-row lookup)" http://127.0.0.1:18081 "$work/baseline.paths"
get "creditgate GET /api/v1/subjects/{uscc}" http://127.0.0.1:18080 "$work/creditgate.paths" -H "Authorization: Bearer $key"
WRK_CODES=$work/codes WRK_SCENARIO=$SCENARIO SCRIPT=benches/wrk_checks.lua \
  get "creditgate POST /api/v1/checks ($SCENARIO)" http://127.0.0.1:18080 "$work/codes" -H "Authorization: Bearer $key"
after=$(psql "$DB" -tAc "SELECT count(*) FROM check_reports")
echo "reports stored during the run: $((after - reports)) ($reports before)"
psql "$DB" -tAc "SELECT verdict, count(*) FROM check_reports WHERE requester_org = 'BENCH' GROUP BY verdict ORDER BY 1" | sed 's/^/  verdicts of all BENCH reports so far: /'
machine

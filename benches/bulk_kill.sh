#!/usr/bin/env bash
# Bulk job acceptance: a roster of LINES codes (default 100,000; every 10th with a penalty
# record, every 997th with a wrong check character) checked by one bulk job (POST
# /api/v1/bulk-checks) that survives a kill -9 of the server halfway: a new server on the same
# database finishes it. The result is checked line by line (line numbers, input order, the bad
# lines rejected with a reason naming the check character, the penalised ones not clear, the
# others clear, distinct report numbers, the job's counts) and a sample of 200 lines against
# single POST /api/v1/checks (20 of them against their stored report); lines per second before
# the kill and after the restart (the work is in bulk_kill.py). Builds the release binary unless
# BIN names one; exits non-zero when a check fails.
#
#   benches/bulk_kill.sh                     (fresh SQLite file)
#   DB=postgres://postgres@127.0.0.1:5432/creditgate_bench BULK_LINES=100000 benches/bulk_kill.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || cargo build --release -q --bin creditgate
exec python3 benches/bulk_kill.py "$@"

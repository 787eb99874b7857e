#!/usr/bin/env bash
# Bulk comparison throughput: lines per second of one bulk job (POST /api/v1/bulk-checks, a
# roster of SUBJECTS codes, default 20,000, every 10th with a penalty record) against single
# POST /api/v1/checks per second (SINGLES, default 1,000; sequential and from 4 threads) in the
# same run, the ratios (goal: bulk >= 5x the sequential single checks), the verdict counts and
# the submit round trip (the work is in bulk_checks.py). Builds the release binary unless BIN
# names one; exits non-zero if the result disagrees with the data or with the single checks.
#
#   benches/bulk_checks.sh                     (fresh SQLite file)
#   DB=postgres://postgres@127.0.0.1:5432/creditgate_bench SUBJECTS=100000 SINGLES=2000 benches/bulk_checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || cargo build --release -q --bin creditgate
exec python3 benches/bulk_checks.py "$@"

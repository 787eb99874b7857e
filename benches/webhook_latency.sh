#!/usr/bin/env bash
# Latency from a record change (POST /api/v1/records/batch) to its webhook event received, with
# WATCHED (default 100,000) codes on a watch list: p50/p90/p99/max, missing and duplicate events,
# the time to add the codes and the batch POST round trip (the work is in webhook_latency.py).
# Builds the release binary unless BIN names one; exits non-zero if an event is missing.
#
#   benches/webhook_latency.sh                     (fresh SQLite file)
#   DB=postgres://postgres@127.0.0.1:5432/creditgate_bench CHANGES=500 GAP=0.02 benches/webhook_latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || cargo build --release -q --bin creditgate
exec python3 benches/webhook_latency.py "$@"

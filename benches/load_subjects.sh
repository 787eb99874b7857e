#!/usr/bin/env bash
# Load test of GET /api/v1/subjects/{uscc} on PostgreSQL, next to the plain actix + diesel
# one-row lookup of STACK.md, in the same run. Prints requests per second and latency.
#
#   benches/load_subjects.sh [DATABASE_URL]      (set-up and needs: benches/lib.sh)
source "$(dirname "$0")/lib.sh"
get "baseline (actix+diesel one-row lookup)" http://127.0.0.1:18081 "$work/baseline.paths"
get "creditgate GET /api/v1/subjects/{uscc}" http://127.0.0.1:18080 "$work/creditgate.paths" -H "Authorization: Bearer $key"
machine

#!/usr/bin/env bash
# The API fuzzer over the service's own OpenAPI document (issue #13's standing campaign):
# schemathesis against `creditgate serve --demo` on a fresh SQLite directory, once with the
# officer's key and once with the admin's, every check on. It prints schemathesis' summary for
# each key and exits non-zero on any failure.
#
#   bash tests/contract/schemathesis.sh            # 30 examples per operation
#   ST_EXAMPLES=200 bash tests/contract/schemathesis.sh
#
# schemathesis comes from PyPI into target/schemathesis-venv (once). The binary is
# target/debug/creditgate unless CREDITGATE_BIN names another. The rate limits are off for the
# run: the fuzzer sends hundreds of requests a minute, and invalid keys on purpose, from one
# address; past the limits the service would rightly answer 429, which its own tests check
# (tests/api.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${CREDITGATE_BIN:-$ROOT/target/debug/creditgate}
EXAMPLES=${ST_EXAMPLES:-30}
VENV=${ST_VENV:-$ROOT/target/schemathesis-venv}
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'schemathesis>=4.32,<5'
fi
WORK=$(mktemp -d)
OUT=$ROOT/target
mkdir -p "$OUT"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
    cd "$WORK"
    CREDITGATE_BIND=127.0.0.1:$PORT CREDITGATE_RULES_DIR=$ROOT/rules CREDITGATE_LOG=warn \
        CREDITGATE_RATE_LIMIT=0 CREDITGATE_AUTH_FAILURES=0 \
        exec "$BIN" serve --demo --demo-subjects 30 >out.txt 2>err.txt
) &
PID=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/out.txt" 2>/dev/null && break
    sleep 0.2
done
grep -q "listening on" "$WORK/out.txt" || { cat "$WORK/err.txt"; echo "the service did not start"; exit 1; }
key() { awk -v r="$1" '$1 == r { print $3 }' "$WORK/out.txt"; }
status=0
for role in officer admin; do
    echo "== schemathesis as $role, $EXAMPLES examples per operation"
    # The admin's run leaves out revoking and rotating keys: it would revoke its own key.
    exclude=()
    [ "$role" = admin ] && exclude=(--exclude-path-regex '/api/v1/admin/keys/\{id\}/(revoke|rotate)')
    if ! "$VENV/bin/schemathesis" --config-file "$ROOT/tests/contract/schemathesis.toml" \
        run "http://127.0.0.1:$PORT/openapi.json" \
        -H "Authorization: Bearer $(key "$role")" \
        --checks all --max-examples "$EXAMPLES" --no-color "${exclude[@]}" \
        >"$OUT/schemathesis-$role.txt" 2>&1; then
        status=1
    fi
    # The failures by operation, then the summary; the whole report stays in target/.
    grep -E '^_{3,} |^- ST' "$OUT/schemathesis-$role.txt" || true
    sed -n '/SUMMARY/,$p' "$OUT/schemathesis-$role.txt" | tail -25
    echo "(the whole report: $OUT/schemathesis-$role.txt)"
done
cp "$WORK/err.txt" "$OUT/schemathesis-service.log"
if grep -E "status(_code)?[=:] ?500|internal error" "$WORK/err.txt"; then
    echo "the service answered 500 (log: $OUT/schemathesis-service.log)"; status=1
fi
exit $status

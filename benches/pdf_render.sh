#!/usr/bin/env bash
# The printed report: how long the server takes to render the PDF of the demo's showcase report
# (three measures, three pages) and how large it is. Release build, `serve --demo` on SQLite in a
# temporary directory, one officer signed in through the console with curl; N downloads one
# after another (default 50). Prints the render time the server logged (layout, font subset,
# compression) and the time curl saw per request, as median and 95th percentile, and the size.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-50}"
PORT="${PORT:-18090}"
root=$(pwd)
cargo build --release -q
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
CREDITGATE_BIND="127.0.0.1:$PORT" CREDITGATE_RULES_DIR="$root/rules" CREDITGATE_LOG=info \
  "$root/target/release/creditgate" serve --demo > serve.log 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q "one-time password" serve.log 2>/dev/null && break; sleep 0.2; done
pw=$(grep -o "one-time password [^ ]*" serve.log | awk '{print $3}')
base="http://127.0.0.1:$PORT"
jar="$dir/jar"
csrf() { grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
t=$(curl -s -c "$jar" -b "$jar" "$base/console/" | csrf)
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf=$t" --data-urlencode "login=demo.officer" \
  --data-urlencode "password=$pw" "$base/console/sign-in"
t=$(curl -s -c "$jar" -b "$jar" "$base/console/password" | csrf)
new='Bench-Mark-2026!'
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf=$t" --data-urlencode "current_password=$pw" \
  --data-urlencode "new_password=$new" --data-urlencode "confirm_password=$new" "$base/console/password"
# The change ended the session: the new one has its own CSRF token.
t=$(curl -s -c "$jar" -b "$jar" "$base/console/" | csrf)
report=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" --data-urlencode "csrf=$t" \
  --data-urlencode "uscc=91110000MA00000152" --data-urlencode "scenario=procurement" \
  --data-urlencode "purpose=政府采购资格审查" "$base/console/checks")
[ -n "$report" ] || { echo "the check did not run"; cat serve.log; exit 1; }
: > curl.txt
for _ in $(seq 1 "$N"); do
  curl -s -o report.pdf -w '%{time_total} %{size_download}\n' -b "$jar" "$report.pdf" >> curl.txt
done
pages=$(pdfinfo report.pdf 2>/dev/null | awk '/^Pages:/ {print $2}' || echo "?")
grep -o 'report PDF rendered.*' serve.log | grep -o 'ms=[0-9]*' | cut -d= -f2 | sort -n > render.txt
pct() { awk -v p="$2" '{a[NR]=$1} END {i=int((NR-1)*p/100)+1; print a[i]}' "$1"; }
awk '{print $1*1000}' curl.txt | sort -n > request.txt
echo "report ${report##*/}: $(tail -n 1 curl.txt | awk '{print $2}') bytes, $pages pages, $N downloads"
echo "server render: median $(pct render.txt 50) ms, p95 $(pct render.txt 95) ms"
echo "request (curl): median $(pct request.txt 50) ms, p95 $(pct request.txt 95) ms"
echo "machine: $(nproc) cores, $(uname -m)"

#!/usr/bin/env bash
# Memory: idle RSS of the hello_world example (per_route) after its first verified request, and
# RSS while N distinct valid tokens flood a filter with a CACHE-entry verified-token cache.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p oauth-filter --example per_route --example memory_flood
port="${PORT:-3921}"
work=$(mktemp -d)
LISTEN="127.0.0.1:$port" target/release/examples/per_route >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/err" 2>/dev/null && break; sleep 0.1; done
token=$(sed -n 's/^token with scope read: *//p' "$work/err")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/hello_world")
[ "$status" = 200 ] || { echo "hello_world answered $status"; exit 1; }
sleep 1
echo "hello_world (per_route example, development issuer in-process) idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
kill $pid
N="${N:-1000000}" CACHE="${CACHE:-10000}" target/release/examples/memory_flood

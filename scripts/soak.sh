#!/usr/bin/env bash
# Soak: runs the soak target (hybrid JWT + introspection API with an embedded issuer) under wrk on
# loopback for DURATION seconds (default 600) with a mix of valid, expired, forged, unknown-kid and
# revoked tokens, then reports statuses, any 5xx, resident memory at start and end, and how often
# the authorization server was called. It fails on any 5xx, on any refused-by-design token that
# reached the handler, on statuses out of the token mix's proportions, or on memory growth.
# Needs wrk (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-600}"
connections="${CONNECTIONS:-32}"
port="${PORT:-3900}"
work=$(mktemp -d)
export TOKENS_FILE="$work/tokens"

cargo build --release -q -p oauth-filter --example soak_target
LISTEN="127.0.0.1:$port" target/release/examples/soak_target 2>"$work/target.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/stats" >/dev/null 2>&1 && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
# Warm up (keys fetched, caches filled), then measure.
wrk -t1 -c"$connections" -d10s -s scripts/soak.lua "http://127.0.0.1:$port" >/dev/null
rss_start=$(rss)
stats_start=$(curl -fs "http://127.0.0.1:$port/stats")
wrk -t1 -c"$connections" -d"${duration}s" --latency -s scripts/soak.lua "http://127.0.0.1:$port" | tee "$work/wrk.out"
rss_end=$(rss)
stats_end=$(curl -fs "http://127.0.0.1:$port/stats")

echo "== soak report (${duration}s, ${connections} connections, $(nproc) cores)"
grep -E "^(STATUS|LATENCY|ERRORS)|Requests/sec" "$work/wrk.out"
echo "RSS start=${rss_start} KiB end=${rss_end} KiB growth=$((rss_end - rss_start)) KiB"
echo "authorization server calls before: $stats_start"
echo "authorization server calls after:  $stats_end"
count() { grep -oE "$1=[0-9]+" "$work/wrk.out" | head -1 | cut -d= -f2; }
five=$(count 5xx)
test "${five:-1}" -eq 0 || { echo "FAIL: 5xx answers" >&2; exit 1; }
test "$(count other)" -eq 0 || { echo "FAIL: answers other than 200/401/403" >&2; exit 1; }
# A token that must be refused and reached the handler (a forged one answered 200, say).
wrong=$(echo "$stats_end" | grep -oE '"wrongly_accepted":[0-9]+' | cut -d: -f2)
test "${wrong:-1}" -eq 0 || { echo "FAIL: $wrong refused-by-design tokens reached the handler" >&2; exit 1; }
# The mix is 25 valid tokens, 1 without the scope (403) and 4 invalid (401), sent round-robin:
# each status must hold its share, give or take the requests in flight when wrk stopped.
ok=$(count 200); unauth=$(count 401); forbidden=$(count 403); total=$((ok + unauth + forbidden))
slack=$((2 * connections + 30))
for pair in "$ok:25" "$unauth:4" "$forbidden:1"; do
  got=${pair%%:*}; share=${pair##*:}; want=$((total * share / 30))
  diff=$((got > want ? got - want : want - got))
  test "$diff" -le "$slack" || { echo "FAIL: $got answers where about $want were due (share $share/30 of $total)" >&2; exit 1; }
done
# Memory must stay flat: at most 16 MiB of growth over the run.
test $((rss_end - rss_start)) -le 16384 || { echo "FAIL: RSS grew by more than 16 MiB" >&2; exit 1; }
echo "soak OK"

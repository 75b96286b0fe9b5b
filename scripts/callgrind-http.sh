#!/usr/bin/env bash
# Instructions per request (callgrind, user space) of the library's HTTP benchmark server and of
# the peers (benches/peers: jwt-authorizer 0.15 and a jsonwebtoken guard): the open route, a
# repeated RS256 token (cache on), a full RS256 verification per request (cache off), and the
# RS256 signature check alone (the floor: /floor, no filter), each
# server under valgrind, counters zeroed after a warm-up, N (1000) requests on one keep-alive
# connection. Instruction counts repeat to within a fraction of a per cent whatever else the
# machine is doing, so they compare builds and machines where wall-clock ratios cannot.
# KEEP=DIR keeps the callgrind files for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
n="${N:-1000}"
port="${PORT:-3960}"
work=$(mktemp -d)
cargo build --release -q -p oauth-filter --example bench_server
cargo build --release -q --manifest-path benches/peers/Cargo.toml
# The issuer the peers trust (their JWKS) and whose RS256 token they are sent: a server run
# natively. The one under valgrind makes its own issuer and tokens (few: valgrind signs slowly).
TOKENS_DIR="$work" LISTEN="127.0.0.1:$port" target/release/examples/bench_server 2>/dev/null &
main=$!
trap 'kill $main 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1200); do [ -s "$work/forged" ] && curl -fs "http://127.0.0.1:$port/open" >/dev/null 2>&1 && break; sleep 0.1; done
run() { # label port path token-file command...
  local label=$1 at=$2 path=$3 tokens=$4; shift 4
  local out="$work/callgrind_$label" config="$work/curl_$label"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$work/valgrind_$label.log" &
  local pid=$!
  for _ in $(seq 1800); do curl -fs "http://127.0.0.1:$at/open" >/dev/null 2>&1 && break; sleep 0.2; done
  local token=""
  if [ -n "$tokens" ]; then
    for _ in $(seq 600); do [ -s "$tokens" ] && break; sleep 0.2; done
    token=$(cat "$tokens")
  fi
  : >"$config"
  [ -n "$token" ] && printf 'header = "Authorization: Bearer %s"\n' "$token" >>"$config"
  for _ in $(seq "$n"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$at" "$path"; done >>"$config"
  for _ in 1 2 3; do curl -fs ${token:+-H "Authorization: Bearer $token"} "http://127.0.0.1:$at$path" >/dev/null; done
  callgrind_control -z "$pid" >/dev/null 2>&1
  local codes
  codes=$(curl -s -K "$config" -w '%{http_code}\n' | sort | uniq -c | tr -s ' ')
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$codes" = " $n 200" ] || { echo "$label: $codes" >&2; exit 1; }
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$out.1" "$KEEP/callgrind_$label"; fi
  awk -v n="$n" '/^(summary|totals):/ {printf "%d\n", $2 / n; exit}' "$out.1"
}
mkdir -p "$work/own"
declare -A ir
for v in "open|/open|" "cached|/cached|$work/own/rs256" "uncached|/uncached|$work/own/rs256" "floor|/floor|$work/own/rs256"; do
  IFS='|' read -r label path tokens <<<"$v"
  ir[$label]=$(TOKENS_DIR="$work/own" ROTATING=0 LISTEN="127.0.0.1:$((port + 1))" \
    run "$label" $((port + 1)) "$path" "$tokens" target/release/examples/bench_server)
done
for v in "peer-open|/open|" "jwt-authorizer|/jwt-authorizer|$work/rs256" "jsonwebtoken|/jsonwebtoken|$work/rs256"; do
  IFS='|' read -r label path tokens <<<"$v"
  ir[$label]=$(TOKENS_DIR="$work" LISTEN="127.0.0.1:$((port + 2))" \
    run "$label" $((port + 2)) "$path" "$tokens" benches/peers/target/release/oauth-filter-peers-bench)
done
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "| server, route | instructions per request | peer's / ours |"
echo "|---|---:|---:|"
echo "| ours (axum 0.8), open | ${ir[open]} | |"
echo "| ours, RS256 repeated, cache on | ${ir[cached]} | |"
echo "| ours, RS256 full verification | ${ir[uncached]} | |"
echo "| ours, RS256 signature check alone (the floor) | ${ir[floor]} | |"
echo "| peers (axum 0.7), open | ${ir[peer-open]} | |"
echo "| jwt-authorizer 0.15, RS256 | ${ir[jwt-authorizer]} | $(ratio "${ir[jwt-authorizer]}" "${ir[uncached]}")× |"
echo "| jsonwebtoken guard, RS256 | ${ir[jsonwebtoken]} | $(ratio "${ir[jsonwebtoken]}" "${ir[uncached]}")× |"

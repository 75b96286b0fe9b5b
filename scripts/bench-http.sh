#!/usr/bin/env bash
# HTTP benchmark on loopback: the same handler open and behind the filter, in one run, server
# pinned to CPU 0 and wrk to CPU 1, ROUNDS interleaved repetitions of DURATION seconds each.
# Reports req/s, p50/p99 and server CPU µs per request (from /proc; the kernel's share beside
# it), and ratios against /open.
# "RS256 signature check alone" is the floor of full verification over HTTP: the same server,
# a handler that checks only the signature (aws-lc-rs, key parsed at start).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
port="${PORT:-3901}"
work=$(mktemp -d)
export TOKENS_DIR="$work"
# DPoP proofs are accepted once: the server makes a file of them per round.
export DPOP_ROUNDS="$rounds" DPOP_PROOFS="${DPOP_PROOFS:-$((duration * 12000))}"
cargo build --release -q -p oauth-filter --example bench_server
LISTEN="127.0.0.1:$port" taskset -c 0 target/release/examples/bench_server 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
peer_pid=
for _ in $(seq 1200); do [ -s "$work/forged" ] && curl -fs "http://127.0.0.1:$port/open" >/dev/null 2>&1 && break; sleep 0.1; done
pids="$pid"
peer_port=$((port + 1))
if [ "${PEERS:-0}" = 1 ]; then
  # jwt-authorizer and a hand-written jsonwebtoken guard on their own axum 0.7 server (benches/peers).
  cargo build --release -q --manifest-path benches/peers/Cargo.toml
  LISTEN="127.0.0.1:$peer_port" taskset -c 0 benches/peers/target/release/oauth-filter-peers-bench 2>"$work/peers.log" &
  peer_pid=$!
  pids="$pid $peer_pid"
  trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$peer_port/open" >/dev/null 2>&1 && break; sleep 0.1; done
fi

source scripts/bench-common.sh
# The floor route checks a signature and nothing else; it must still refuse a bad one.
floor_code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$work/$1")" "http://127.0.0.1:$port/floor"; }
[ "$(floor_code rs256)" = 200 ] && [ "$(floor_code forged)" = 401 ] && [ "$(floor_code es256)" = 401 ] ||
  { echo "the floor route does not tell good signatures from bad ones" >&2; exit 1; }
variants=(
  "open|/open|"
  "open, same Authorization header (ignored)|/open|rs256"
  "no token|/cached|"
  "RS256 repeated, cache on|/cached|rs256"
  "ES256 repeated, cache on|/cached|es256"
  "RS256 full verification|/uncached|rs256"
  "RS256 signature check alone (the floor)|/floor|rs256"
  "ES256 full verification|/uncached|es256"
  "EdDSA full verification|/uncached|eddsa"
  "ES256 100k distinct, cache on (miss path)|/cached|rotating"
  "ES256 bad signature|/uncached|forged"
  "DPoP: ES256 token + ES256 proof, full verification|/dpop|dpop-proofs"
)
if [ "${PEERS:-0}" = 1 ]; then
  variants+=(
    "peers: open (axum 0.7)|/open||peer"
    "peers: jwt-authorizer RS256|/jwt-authorizer|rs256|peer"
    "peers: jwt-authorizer ES256|/jwt-authorizer|es256|peer"
    "peers: jwt-authorizer EdDSA|/jwt-authorizer|eddsa|peer"
    "peers: jsonwebtoken guard RS256|/jsonwebtoken|rs256|peer"
    "peers: jsonwebtoken guard ES256|/jsonwebtoken|es256|peer"
  )
fi
# ONLY (a regex over variant names) narrows the run; "open" always stays, as the baseline.
if [ -n "${ONLY:-}" ]; then
  mapfile -t variants < <(printf '%s\n' "${variants[@]}" | grep -E "^open\||^(${ONLY})")
fi
printf '%s\n' "${variants[@]}" | sed 's/|.*//' > "$work/names"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name path file srv <<<"$v"
    export BENCH_PATH="$path" TOKENS_FILE="${file:+$work/$file}" DPOP_TOKEN_FILE=
    if [ "$file" = dpop-proofs ]; then
      export TOKENS_FILE="$work/dpop-proofs-$round" DPOP_TOKEN_FILE="$work/dpop-token"
    fi
    target_pid=$pid target_port=$port
    if [ "$srv" = peer ]; then target_pid=$peer_pid target_port=$peer_port; fi
    before=$(cpu_ticks "$target_pid") sys_before=$(sys_ticks "$target_pid")
    out=$(wrk_result "$target_port")
    after=$(cpu_ticks "$target_pid") sys_after=$(sys_ticks "$target_pid")
    reqs=$(result_requests "$out")
    cpu_us=$(us_per_request $((after - before)) "$reqs")
    sys_us=$(us_per_request $((sys_after - sys_before)) "$reqs")
    echo "$round|$name|$out cpu_us_per_req=$cpu_us sys_us_per_req=$sys_us" | tee -a "$work/results"
  done
done
echo
echo "== median of $rounds rounds (min..max), ${duration}s each, $(nproc) cores, server on CPU 0, wrk on CPU 1"
python3 - "$work/results" "$work/names" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
names = [l.strip() for l in open(sys.argv[2])]
data = {}
for _, name, out in rows:
    kv = dict(re.findall(r"(\w+)=([\d.]+)", out))
    data.setdefault(name, []).append({k: float(v) for k, v in kv.items()})
open_rps = statistics.median(d["rps"] for d in data["open"])
print(f"{'variant':44} {'req/s':>18} {'ratio':>6} {'p50 µs':>8} {'p99 µs':>8} {'CPU µs/req':>16} {'kernel':>7} {'non-200':>8}")
for n in names:
    d = data[n]
    rps = [x["rps"] for x in d]; cpu = [x["cpu_us_per_req"] for x in d]
    med = statistics.median
    print(f"{n:44} {med(rps):>8.0f} ({min(rps):.0f}..{max(rps):.0f}) {med(rps)/open_rps:>5.2f}x {med(x['p50_us'] for x in d):>8.0f} "
          f"{med(x['p99_us'] for x in d):>8.0f} {med(cpu):>6.2f} ({min(cpu):.1f}..{max(cpu):.1f}) {med(x['sys_us_per_req'] for x in d):>7.2f} "
          f"{int(med(x['non200'] for x in d)):>8}")
PY

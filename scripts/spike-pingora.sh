#!/usr/bin/env bash
# The Pingora spike of issue 18: builds scripts/spikes/pingora (Cloudflare's Pingora 0.9 as a
# plain reverse proxy, one thread, no authentication) and runs scripts/bench-gateway.sh with it
# as one more variant, so that Pingora, nginx and the gateway are measured in the same run.
# Environment as for bench-gateway.sh (DURATION, ROUNDS, CALLGRIND, CALLGRIND_REQUESTS).
# Not part of CI: Pingora's build takes minutes and the spike is a measurement, not a product.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --manifest-path scripts/spikes/pingora/Cargo.toml
PINGORA_BIN="$PWD/scripts/spikes/pingora/target/release/pingora-spike" exec scripts/bench-gateway.sh

#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 600), one after the other, seeded from the
# checked-in corpora; new inputs go to a scratch directory, crashes to fuzz/artifacts/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain needs RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
work="${FUZZ_WORK_DIR:-$(mktemp -d)}"
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build -O
for t in $targets; do
  mkdir -p "$work/$t"
  echo "== $t (${seconds}s)"
  cargo fuzz run -O "$t" "$work/$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 2>&1 \
    | grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added|==|INFO: seed corpus)|ERROR|panicked" || true
  test "${PIPESTATUS[0]}" -eq 0 || { echo "fuzz target $t failed" >&2; exit 1; }
done

#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 600), one after the other, seeded from the
# checked-in corpora; new inputs go to a scratch directory, crashes to $FUZZ_WORK_DIR/artifacts.
# FUZZ_TARGETS="a b" runs only those. The `canary` target crashes on its seed on purpose: it is
# never run by default, and CI runs it alone to prove that a crash makes this script fail.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain needs RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
work="${FUZZ_WORK_DIR:-$(mktemp -d)}"
export RUSTC_BOOTSTRAP=1
if [ -n "${FUZZ_TARGETS:-}" ]; then
  targets="$FUZZ_TARGETS"
else
  targets=$(cargo fuzz list | grep -vx canary)
fi
for t in $targets; do cargo fuzz build -O "$t"; done
for t in $targets; do
  mkdir -p "$work/$t" "$work/artifacts/$t"
  echo "== $t (${seconds}s)"
  log="$work/$t.log"
  # The run's own exit status decides; the filtered log is only for reading. (A `| grep || true`
  # here once reset PIPESTATUS, so crashes passed.)
  status=0
  cargo fuzz run -O "$t" "$work/$t" "corpus/$t" -- -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || status=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added|==|INFO: seed corpus)|ERROR|panicked" "$log" || true
  if [ "$status" -ne 0 ]; then
    # The panic and its message first (a backtrace follows and can be long), then the end.
    grep -A2 "panicked at" "$log" >&2 || true
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed (exit $status); artifacts in $work/artifacts/$t" >&2
    exit 1
  fi
done

# Shared by the scripts/bench-*.sh wrk benchmarks (sourced, not run).

# User + system CPU ticks of a process so far; system ticks alone.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
# Involuntary context switches of every thread of a process: how often the scheduler took the
# CPU from it (on a shared core, mostly to run the upstream it had just written to).
preemptions() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^nonvoluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
hz=$(getconf CLK_TCK)

# One measurement: wrk pinned to CPU 1 (1 thread, 32 connections, $duration seconds) against
# http://127.0.0.1:$1, with $BENCH_PATH and $TOKENS_FILE for scripts/bench.lua; prints its
# RESULT line.
wrk_result() {
  taskset -c 1 wrk -t1 -c32 -d"${duration}s" --latency -s scripts/bench.lua "http://127.0.0.1:$1" | grep '^RESULT'
}

# The `requests=` count of a RESULT line.
result_requests() { sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$1"; }

# CPU µs per request from a tick count and a request count.
us_per_request() { awk -v t="$1" -v hz="$hz" -v r="$2" 'BEGIN { printf "%.2f", t / hz * 1e6 / r }'; }

# A variant must refuse what it should, else it measures nothing: expect_status CODE WHY LOG
# PORT... fails the run unless GET /protected on each port answers CODE; extra curl arguments
# come from the array $curl_args (e.g. an Authorization header).
expect_status() {
  local want=$1 why=$2 log=$3 code p; shift 3
  for p in "$@"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${curl_args[@]}" "http://127.0.0.1:$p/protected")
    [ "$code" = "$want" ] || { echo "port $p answered $code $why"; cat "$log"; exit 1; }
  done
}

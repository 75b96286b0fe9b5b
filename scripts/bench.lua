-- wrk script for scripts/bench-http.sh: GET $BENCH_PATH with tokens from $TOKENS_FILE (rotated),
-- or none when TOKENS_FILE is empty; reports req/s, p50, p99 and non-200 answers.
local tokens = {}
local file = os.getenv("TOKENS_FILE") or ""
if #file > 0 then for line in io.lines(file) do if #line > 0 then table.insert(tokens, line) end end end
local path = os.getenv("BENCH_PATH")
-- DPoP: with DPOP_TOKEN_FILE the lines of TOKENS_FILE are proofs, each sent once (none are
-- reused: past the last one requests go without a proof and count as non-200).
local dpop_token = nil
local dpop_file = os.getenv("DPOP_TOKEN_FILE") or ""
if #dpop_file > 0 then for line in io.lines(dpop_file) do if #line > 0 then dpop_token = line end end end
local n = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
non200 = 0
function request()
  n = n + 1
  if #tokens == 0 then return wrk.format("GET", path) end
  if dpop_token then
    return wrk.format("GET", path, { ["Authorization"] = "DPoP " .. dpop_token, ["DPoP"] = tokens[n] or "" })
  end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] })
end
function response(status) if status ~= 200 then non200 = non200 + 1 end end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non200") end
  io.write(string.format("RESULT rps=%.0f p50_us=%.0f p99_us=%.0f requests=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99), summary.requests, bad))
end

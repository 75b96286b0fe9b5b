-- wrk script for scripts/soak.sh: rotates through the tokens in $TOKENS_FILE and counts statuses.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  if #line > 0 then table.insert(tokens, line) end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end

local n = 0
c200, c401, c403, c5xx, cother = 0, 0, 0, 0, 0
function request()
  n = n + 1
  return wrk.format("GET", "/api", { ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] })
end
function response(status, headers, body)
  if status == 200 then c200 = c200 + 1
  elseif status == 401 then c401 = c401 + 1
  elseif status == 403 then c403 = c403 + 1
  elseif status >= 500 then c5xx = c5xx + 1
  else cother = cother + 1 end
end
function done(summary, latency, requests)
  local t = { c200 = 0, c401 = 0, c403 = 0, c5xx = 0, cother = 0 }
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
  end
  io.write(string.format("STATUS 200=%d 401=%d 403=%d 5xx=%d other=%d\n", t.c200, t.c401, t.c403, t.c5xx, t.cother))
  io.write(string.format("LATENCY p50=%.0fus p99=%.0fus\n", latency:percentile(50), latency:percentile(99)))
  io.write(string.format("ERRORS connect=%d read=%d write=%d timeout=%d\n", summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end

-- wrk (one thread): each request carries the next line of $BENCH_TOKENS as its bearer token.
-- Past the end of the list tokens would repeat; done() prints both counts so the driver can
-- refuse such a run.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local n = 0

request = function()
  n = n + 1
  local token = tokens[(n - 1) % #tokens + 1]
  return wrk.format("GET", "/hello", { ["Authorization"] = "Bearer " .. token })
end

done = function(summary, latency, requests)
  io.write(string.format("TOKENS %d REQUESTS %d\n", #tokens, summary.requests))
end

-- wrk script: POST /api/v1/checks for a random code from the file named by WRK_CODES, in the
-- scenario WRK_SCENARIO (default procurement). The key comes in with -H.
local codes = {}
local file = assert(io.open(os.getenv("WRK_CODES"), "r"))
for line in file:lines() do
  if #line > 0 then codes[#codes + 1] = line end
end
file:close()
math.randomseed(42)
local scenario = os.getenv("WRK_SCENARIO") or "procurement"
-- Added to the headers given with -H (the API key), which wrk.format uses when given none.
wrk.headers["Content-Type"] = "application/json"

request = function()
  local body = string.format(
    '{"scenario":"%s","subject":{"uscc":"%s"},"purpose":"load-test","reference":"BENCH"}',
    scenario, codes[math.random(#codes)])
  return wrk.format("POST", "/api/v1/checks", nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.1f rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end

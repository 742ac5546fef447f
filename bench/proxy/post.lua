-- wrk script for bench/proxy.sh: POST a small non-streaming Anthropic Messages request, cycling
-- through 1,000 end users (X-Ratekeeper-User: bench-0 .. bench-999). Requests are formatted once in
-- init(), so wrk spends no Lua time per request beyond picking one.
local requests = {}
local n = 0

function init(args)
  local path = args[1] or "/anthropic/v1/messages"
  local body = '{"model":"claude-haiku-4-5","max_tokens":64,'
    .. '"messages":[{"role":"user","content":"Say hello in five words."}]}'
  for i = 0, 999 do
    requests[i + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Ratekeeper-User"] = "bench-" .. i,
    }, body)
  end
  -- each wrk thread starts at a different user
  n = math.random(0, 999)
end

function request()
  n = n + 1
  return requests[(n % 1000) + 1]
end

function done(summary, latency, requests)
  io.write(string.format("WRK_RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end

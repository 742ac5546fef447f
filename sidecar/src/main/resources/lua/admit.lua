--[[
admit.lua: decide every limit of one request and charge all of them, or none.
(Loaded as common.lua .. admit.lua; see common.lua for the counter helpers.)

KEYS[1]  reservation record HASH   rk:{ns/name}:r:<requestId>
KEYS[2]  stats HASH                 rk:{ns/name}:stats:<periodId>
KEYS[2+i] the counter of check i (i = 1..n), in ARGV order; all under the policy's hash tag

ARGV[1]  time mode: 'o' = Redis TIME + ARGV[2] ms (production: 0; tests jump days ahead),
         'p' = ARGV[2] is now in ms (tests that assert exact waits)
ARGV[2]  offset or pinned time, ms
ARGV[3]  stats period kind D | W | M (the global budget's period, else M)
ARGV[4]  the stats period id the caller declared in KEYS[2]
ARGV[5]  request id (the lease member)
ARGV[6]  user
ARGV[7]  tier
ARGV[8]  shadow: 1 = charge everything and report what would have blocked
ARGV[9]  lease TTL ms
ARGV[10] reservation record TTL ms
ARGV[11] concurrency retry hint ms
ARGV[12] 1 = metered: write a reservation record for reconcile.lua; 0 = requests-only
ARGV[13] reserved tokens;  ARGV[14] reserved cost, micro-dollars
ARGV[15] stats retention ms after the stats period ends
ARGV[16] n, the number of checks; then 6 per check:
         kind (B bucket | Q calendar quota | L leases), unit (R requests | T tokens | U micro-dollars | L lease),
         cost, limit, p1, p2
         B: limit = refill per periodMs, p1 = periodMs, p2 = burst
         Q: limit = units per period, p1 = period kind H | D | W | M
         L: limit = most leases at once

Returns
  {1, now, committed, then per check: passed, waitMs, remaining, resetMs, used, neverPassable}
    (waitMs -1 = never; see CheckOutcome.java)
  {-1, now, periodId} when ARGV[4] is not the current stats period: nothing was read or written;
    the caller retries with keys for periodId (happens once per period and sidecar)
  {-2, now} when a reservation record under this request id exists (held or recently reconciled): nothing written

Atomic because Redis runs a script to completion with no other command in between: every counter
is read, every check decided, and only then, if all passed (or shadow), every counter written. A
denial writes no counter (only the stats' throttled or rejected count), so concurrent sidecars can never
over-admit or leave a partial charge. Time is read from Redis (TIME) inside the script, so all
sidecars share one clock.
]]

local now = clock(ARGV[1], ARGV[2])
local stats_id, stats_end = period(ARGV[3], now)
if stats_id ~= ARGV[4] then
  return {-1, now, stats_id}
end
local metered = ARGV[12] == '1'
if metered and redis.call('EXISTS', KEYS[1]) == 1 then
  return {-2, now}
end

local request_id = ARGV[5]
local shadow = ARGV[8] == '1'
local lease_ttl = tonumber(ARGV[9])
local hint = tonumber(ARGV[11])
local n = tonumber(ARGV[16])

-- Phase 1: read and decide; nothing is written.
local checks = {}
local all_passed = true
for i = 1, n do
  local a = 16 + (i - 1) * 6
  local c = {
    key = KEYS[2 + i], kind = ARGV[a + 1], unit = ARGV[a + 2], cost = tonumber(ARGV[a + 3]),
    limit = tonumber(ARGV[a + 4]), p1 = ARGV[a + 5], p2 = ARGV[a + 6]
  }
  local passed, wait, never, used, rem_c, reset_c, rem_n, reset_n
  if c.kind == 'B' then
    local period_ms, burst = tonumber(c.p1), tonumber(c.p2)
    local capacity = burst * period_ms
    local occupancy = bucket_now(c.key, now, c.limit)
    local need = occupancy + c.cost * period_ms
    never = c.cost > burst
    passed = need <= capacity
    if passed then wait = 0 elseif never then wait = -1 else wait = cdiv(need - capacity, c.limit) end
    used = 0
    rem_c, reset_c = math.max(0, idiv(capacity - need, period_ms)), cdiv(need, c.limit)
    rem_n, reset_n = math.max(0, idiv(capacity - occupancy, period_ms)), cdiv(occupancy, c.limit)
    c.write = function() bucket_write(c.key, now, need, c.limit) end
    c.record = fmt(c.cost)
  elseif c.kind == 'Q' then
    local pid, pend = period(c.p1, now)
    local count = quota_now(c.key, pid)
    local need = count + c.cost
    never = c.cost > c.limit
    passed = need <= c.limit
    if passed then wait = 0 elseif never then wait = -1 else wait = pend - now end
    used = need
    rem_c, reset_c = math.max(0, c.limit - need), pend - now
    rem_n, reset_n = math.max(0, c.limit - count), pend - now
    c.write = function() quota_write(c.key, pid, need, now, pend) end
    c.record = fmt(c.cost) .. ':' .. pid
  else
    local live = redis.call('ZCOUNT', c.key, '(' .. fmt(now), '+inf')
    local until_earliest = 0
    if live > 0 then
      local first = redis.call('ZRANGEBYSCORE', c.key, '(' .. fmt(now), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      until_earliest = tonumber(first[2]) - now
    end
    never = c.limit < 1
    passed = live + 1 <= c.limit
    if passed then wait = 0 elseif never then wait = -1 else wait = math.min(hint, until_earliest) end
    used = live + 1
    rem_c = math.max(0, c.limit - live - 1)
    if live > 0 then reset_c = math.min(until_earliest, lease_ttl) else reset_c = lease_ttl end
    rem_n, reset_n = math.max(0, c.limit - live), until_earliest
    c.write = function()
      redis.call('ZREMRANGEBYSCORE', c.key, '-inf', fmt(now))
      redis.call('ZADD', c.key, fmt(now + lease_ttl), request_id)
      redis.call('PEXPIRE', c.key, fmt(lease_ttl + 1000))
    end
    c.record = '1'
  end
  c.passed, c.wait, c.never, c.used = passed, wait, never, used
  c.rem_c, c.reset_c, c.rem_n, c.reset_n = rem_c, reset_c, rem_n, reset_n
  all_passed = all_passed and passed
  checks[i] = c
end

-- Phase 2: charge everything, or nothing.
local committed = all_passed or shadow
local stats_ttl = fmt(stats_end - now + tonumber(ARGV[15]))
if committed then
  local record = {}
  for i = 1, n do
    local c = checks[i]
    c.write()
    if c.unit ~= 'R' then
      record[#record + 1] = c.key
      record[#record + 1] = c.record
    end
  end
  if metered then
    redis.call('HSET', KEYS[1], 'state', 'held', 'user', ARGV[6], 'tier', ARGV[7],
      'tokens', ARGV[13], 'cost', ARGV[14], unpack(record))
    redis.call('PEXPIRE', KEYS[1], ARGV[10])
  end
  redis.call('HINCRBY', KEYS[2], 'requests', 1)
  if not all_passed then
    redis.call('HINCRBY', KEYS[2], 'shadowThrottled', 1)
  end
else
  -- a request that can never pass is answered 400, not 429: counted apart
  local never = false
  for i = 1, n do
    never = never or checks[i].never
  end
  redis.call('HINCRBY', KEYS[2], never and 'rejected' or 'throttled', 1)
end
redis.call('PEXPIRE', KEYS[2], stats_ttl)

local reply = {1, now, committed and 1 or 0}
for i = 1, n do
  local c = checks[i]
  reply[#reply + 1] = c.passed and 1 or 0
  reply[#reply + 1] = c.wait
  reply[#reply + 1] = committed and c.rem_c or c.rem_n
  reply[#reply + 1] = committed and c.reset_c or c.reset_n
  reply[#reply + 1] = c.used
  reply[#reply + 1] = c.never and 1 or 0
end
return reply

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
ARGV[8]  shadow: 1 = charge everything and report what would have blocked;
         p = peek: decide only, write nothing at all (what every limit has left now)
ARGV[9]  lease TTL ms
ARGV[10] reservation record TTL ms (metered: until its reconcile is due; requests-only: long enough
         for a refund, settle.lua, of an answer that came too late to be used)
ARGV[11] concurrency retry hint ms
ARGV[12] 1 = metered (reconcile.lua follows); 0 = requests-only (informational)
ARGV[13] reserved tokens;  ARGV[14] reserved cost, micro-dollars
ARGV[15] stats retention ms after the stats period ends
ARGV[16] n, the number of checks; then 6 per check:
         kind (B bucket | Q calendar quota | L leases), unit (R requests | T tokens | U micro-dollars | L lease),
         cost, limit, p1, p2
         B: limit = refill per periodMs, p1 = periodMs, p2 = burst
         Q: limit = units per period, p1 = period kind H | D | W | M, or I (a run's count: p2 = idle ms)
         L: limit = most leases at once

Returns
  {1, now, committed, then per check: passed, waitMs, remaining, resetMs, used, neverPassable}
    (waitMs -1 = never; see CheckOutcome.java)
  {-1, now, periodId} when ARGV[4] is not the current stats period: nothing was read or written;
    the caller retries with keys for periodId (happens once per period and sidecar)
  {-2, now} when a record under this request id exists (held, reconciled, or refunded by settle.lua
    before this call ran): nothing written

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
local peek = ARGV[8] == 'p'
if not peek and redis.call('EXISTS', KEYS[1]) == 1 then
  return {-2, now}
end

local request_id = ARGV[5]
local shadow = ARGV[8] == '1'
local lease_ttl = tonumber(ARGV[9])
local hint = tonumber(ARGV[11])
local n = tonumber(ARGV[16])

-- Phase 1: read and decide; nothing is written. Results go to flat arrays (one slot per check):
-- no per-check tables or closures, which would cost more than the counters themselves.
local ok, wait, never, used = {}, {}, {}, {}
local rem_c, reset_c, rem_n, reset_n = {}, {}, {}, {}
local next_value, next_pid, next_end = {}, {}, {}
local all_passed = true
local any_never = false
for i = 1, n do
  local a = 16 + (i - 1) * 6
  local key, kind = KEYS[2 + i], ARGV[a + 1]
  local cost, limit = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if kind == 'B' then
    local period_ms, burst = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    local capacity = burst * period_ms
    local occupancy = bucket_now(key, now, limit)
    local need = occupancy + cost * period_ms
    never[i] = cost > burst
    ok[i] = need <= capacity
    if ok[i] then wait[i] = 0 elseif never[i] then wait[i] = -1 else wait[i] = cdiv(need - capacity, limit) end
    used[i] = 0
    rem_c[i], reset_c[i] = math.max(0, idiv(capacity - need, period_ms)), cdiv(need, limit)
    rem_n[i], reset_n[i] = math.max(0, idiv(capacity - occupancy, period_ms)), cdiv(occupancy, limit)
    next_value[i] = need
  elseif kind == 'Q' then
    local pid, pend, count = quota_read(key, ARGV[a + 5], ARGV[a + 6], now)
    local need = count + cost
    never[i] = cost > limit
    ok[i] = need <= limit
    if ok[i] then wait[i] = 0 elseif never[i] then wait[i] = -1 else wait[i] = pend - now end
    used[i] = need
    rem_c[i], reset_c[i] = math.max(0, limit - need), pend - now
    rem_n[i], reset_n[i] = math.max(0, limit - count), pend - now
    next_value[i], next_pid[i], next_end[i] = need, pid, pend
  else
    local live = redis.call('ZCOUNT', key, '(' .. fmt(now), '+inf')
    local until_earliest = 0
    if live > 0 then
      local first = redis.call('ZRANGEBYSCORE', key, '(' .. fmt(now), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      until_earliest = tonumber(first[2]) - now
    end
    never[i] = limit < 1
    ok[i] = live + 1 <= limit
    if ok[i] then wait[i] = 0 elseif never[i] then wait[i] = -1 else wait[i] = math.min(hint, until_earliest) end
    used[i] = live + 1
    rem_c[i] = math.max(0, limit - live - 1)
    if live > 0 then reset_c[i] = math.min(until_earliest, lease_ttl) else reset_c[i] = lease_ttl end
    rem_n[i], reset_n[i] = math.max(0, limit - live), until_earliest
  end
  all_passed = all_passed and ok[i]
  any_never = any_never or never[i]
end

-- Phase 2: charge everything, or nothing.
local committed = (all_passed or shadow) and not peek
local stats_ttl = fmt(stats_end - now + tonumber(ARGV[15]))
if committed then
  local record = {}
  for i = 1, n do
    local a = 16 + (i - 1) * 6
    local key, kind, cost = KEYS[2 + i], ARGV[a + 1], ARGV[a + 3]
    local charged
    if kind == 'B' then
      bucket_write(key, now, next_value[i], tonumber(ARGV[a + 4]))
      charged = cost
    elseif kind == 'Q' then
      quota_write(key, next_pid[i], next_value[i], now, next_end[i])
      charged = cost .. ':' .. next_pid[i]
    else
      redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
      redis.call('ZADD', key, fmt(now + lease_ttl), request_id)
      redis.call('PEXPIRE', key, fmt(lease_ttl + 1000))
      charged = '1'
    end
    record[#record + 1] = key
    record[#record + 1] = charged
  end
  -- every admission leaves its record: what it charged, for reconcile.lua and settle.lua
  -- state 'held' waits for reconcile.lua; 'counted' (requests-only) has nothing to reconcile
  redis.call('HSET', KEYS[1], 'state', ARGV[12] == '1' and 'held' or 'counted', 'user', ARGV[6], 'tier', ARGV[7],
    'tokens', ARGV[13], 'cost', ARGV[14], unpack(record))
  redis.call('PEXPIRE', KEYS[1], ARGV[10])
  expire_if_new(KEYS[2], redis.call('HINCRBY', KEYS[2], 'requests', 1) == 1, stats_ttl)
  redis.call('HINCRBY', KEYS[2], 'requests:' .. ARGV[7], 1) -- per tier: the operator's TierThrottled events
  if not all_passed then
    expire_if_new(KEYS[2], redis.call('HINCRBY', KEYS[2], 'shadowThrottled', 1) == 1, stats_ttl)
  end
elseif not peek then
  -- a request that can never pass is answered 400, not 429: counted apart
  local counted = any_never and 'rejected' or 'throttled'
  expire_if_new(KEYS[2], redis.call('HINCRBY', KEYS[2], counted, 1) == 1, stats_ttl)
  if not any_never then
    redis.call('HINCRBY', KEYS[2], 'throttled:' .. ARGV[7], 1)
  end
end

local reply = {1, now, committed and 1 or 0}
for i = 1, n do
  reply[#reply + 1] = ok[i] and 1 or 0
  reply[#reply + 1] = wait[i]
  if committed then
    reply[#reply + 1] = rem_c[i]
    reply[#reply + 1] = reset_c[i]
  else
    reply[#reply + 1] = rem_n[i]
    reply[#reply + 1] = reset_n[i]
  end
  reply[#reply + 1] = used[i]
  reply[#reply + 1] = never[i] and 1 or 0
end
return reply

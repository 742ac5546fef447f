--[[
admit.lua: decide every limit of each request of a batch and, per request, charge all of them or none.
(Loaded as common.lua .. admit.lua; see common.lua for the counter helpers.)

A batch is one or more requests of one policy, decided one after the other in the order given, as
if each had been its own call at the same instant: request j sees every counter request j - 1 left.
A sidecar sends the admissions that arrive while its earlier calls are still in flight as one call:
counters shared by the batch (global, per model, per tier share) are read and written once.

KEYS[1]  stats HASH                 rk:{ns/name}:stats:<periodId>
then per request: its reservation record STRING rk:{ns/name}:r:<requestId> (common.lua, record_write), then the counter of each
of its n checks in ARGV order; all under the policy's hash tag

ARGV[1]  time mode: 'o' = Redis TIME + ARGV[2] ms (production: 0; tests jump days ahead),
         'p' = ARGV[2] is now in ms (tests that assert exact waits)
ARGV[2]  offset or pinned time, ms
ARGV[3]  stats period kind D | W | M (the global budget's period, else M)
ARGV[4]  the stats period id the caller declared in KEYS[1]
ARGV[5]  lease TTL ms
ARGV[6]  concurrency retry hint ms
ARGV[7]  stats retention ms after the stats period ends
ARGV[8]  m, the number of requests; then per request:
           request id (the lease member), user, tier,
           shadow: 1 = charge everything and report what would have blocked;
                   p = peek: decide only, write nothing at all (what every limit has left now),
           reservation record TTL ms (metered: until its reconcile is due; requests-only: long enough
             for a refund, settle.lua, of an answer that came too late to be used),
           1 = metered (reconcile.lua follows) | 0 = requests-only (informational),
           reserved tokens, reserved cost (micro-dollars),
           n, the number of checks; then 6 per check:
             kind (B bucket | Q calendar quota | L leases), unit (R requests | T tokens | U micro-dollars | L lease),
             cost, limit, p1, p2
             B: limit = refill per periodMs, p1 = periodMs, p2 = burst
             Q: limit = units per period, p1 = period kind H | D | W | M, or I (a run's count: p2 = idle ms)
             L: limit = most leases at once

Returns one reply per request, in order:
  {1, now, committed, then per check: passed, waitMs, remaining, resetMs, used, neverPassable}
    (waitMs -1 = never; see CheckOutcome.java)
  {3, now, committed, then per check: remaining, resetMs, used} when every check passed (passed 1,
    waitMs 0, neverPassable 0 for each)
  {-2, now} when a record under this request id exists (held, reconciled, or refunded by settle.lua
    before this call ran): nothing written for this request
  {-3, now, message} when this request failed (a key of another type than the scripts write): nothing
    written for it; the other requests of the batch are decided as if it had not been there
or, for the whole batch, {-1, now, periodId} when ARGV[4] is not the current stats period: nothing was
read or written; the caller retries with keys for periodId (happens once per period and sidecar)

Atomic because Redis runs a script to completion with no other command in between: every counter of
a request is read, every check decided, and only then, if all passed (or shadow), every counter
charged. A denial charges no counter (only the stats' throttled or rejected count), so concurrent
sidecars can never over-admit or leave a partial charge. Time is read from Redis (TIME) inside the
script, so all sidecars share one clock.
]]

local now = clock(ARGV[1], ARGV[2])
local stats_id, stats_end = period(ARGV[3], now)
if stats_id ~= ARGV[4] then
  return {-1, now, stats_id}
end
local lease_ttl = tonumber(ARGV[5])
local hint = tonumber(ARGV[6])
local stats_ttl = stats_end - now + tonumber(ARGV[7])
local stats = {}  -- stats field -> increment, written once at the end
local now_text = fmt(now)
local after_now = '(' .. now_text
local lease_until, lease_key_ttl = now + lease_ttl, lease_ttl + 1000
local STRIDE = 12
local st         -- the checks' state of the request being decided (see Phase 1), sized for the batch's most checks

local function count(field)
  stats[field] = (stats[field] or 0) + 1
end

-- One request: ARGV[a + 1 ..] and KEYS[k + 1 ..] hold its words (see the header). Returns its reply.
local function admit(a, k)
  local record_key = KEYS[k + 1]
  local request_id, tier, mode = ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  local n = num(ARGV[a + 9])
  local peek = mode == 'p'
  if not peek and load(record_key) then
    return {-2, now}
  end
  local shadow = mode == '1'

  -- Phase 1: read and decide; nothing is written. Each check's state goes to one flat array of
  -- STRIDE slots per check (kept from request to request of the batch: no table per check, and
  -- no table grown per request): kind, limit, period ms, capacity, the counter now (cur) and after
  -- this request (nxt) (a bucket's occupancy, a quota's count, the live leases), aux (a quota's
  -- period end, the ms until the earliest lease expires), a quota's period id (a lease set: whether
  -- it holds expired members, pruned when the request is charged), passed, wait ms, used, never passable.
  local all_passed = true
  local any_never = false
  for i = 1, n do
    local c = a + 9 + (i - 1) * 6
    local s = (i - 1) * STRIDE
    local key, kind = KEYS[k + 1 + i], ARGV[c + 1]
    local cost, limit = num(ARGV[c + 3]), num(ARGV[c + 4])
    local passed, never, wait, used
    st[s + 1], st[s + 2] = kind, limit
    if kind == 'B' then
      local period_ms = num(ARGV[c + 5])
      local capacity = num(ARGV[c + 6]) * period_ms
      local occupancy = bucket_now(key, now, limit)
      local need = occupancy + cost * period_ms
      never, passed, used = cost * period_ms > capacity, need <= capacity, 0
      if passed then wait = 0 elseif never then wait = -1 else wait = cdiv(need - capacity, limit) end
      st[s + 3], st[s + 4], st[s + 5], st[s + 6] = period_ms, capacity, occupancy, need
    elseif kind == 'Q' then
      local pid, pend, count = quota_read(key, ARGV[c + 5], ARGV[c + 6], now)
      local need = count + cost
      never, passed, used = cost > limit, need <= limit, need
      if passed then wait = 0 elseif never then wait = -1 else wait = pend - now end
      st[s + 5], st[s + 6], st[s + 7], st[s + 8] = count, need, pend, pid
    else
      -- the lease that expires first: when it is still live, so is every other (no expired member to
      -- prune, and the set's size is the live count); else count the live ones and find the earliest
      local live, until_earliest, expired = 0, 0, false
      local first = call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[1] then
        local earliest = tonumber(first[2])
        if earliest > now then
          live, until_earliest = call('ZCARD', key), earliest - now
        else
          expired = true
          live = call('ZCOUNT', key, after_now, '+inf')
          if live > 0 then
            first = call('ZRANGEBYSCORE', key, after_now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
            until_earliest = tonumber(first[2]) - now
          end
        end
      end
      never, passed, used = limit < 1, live + 1 <= limit, live + 1
      if passed then wait = 0 elseif never then wait = -1 else wait = min(hint, until_earliest) end
      st[s + 5], st[s + 6], st[s + 7], st[s + 8] = live, live + 1, until_earliest, expired
    end
    st[s + 9], st[s + 10], st[s + 11], st[s + 12] = passed, wait, used, never
    all_passed = all_passed and passed
    any_never = any_never or never
  end

  -- Phase 2: charge everything, or nothing: Redis first (lease, record), then the cached counters
  -- (common.lua: a request that fails has changed nothing).
  local committed = (all_passed or shadow) and not peek
  if committed then
    for i = 1, n do
      local s = (i - 1) * STRIDE
      if st[s + 1] == 'L' then
        local key = KEYS[k + 1 + i]
        if st[s + 8] then
          call('ZREMRANGEBYSCORE', key, '-inf', now_text)
        end
        call('ZADD', key, lease_until, request_id)
        call('PEXPIRE', key, lease_key_ttl)
      end
    end
    -- every admission leaves its record, for reconcile.lua and settle.lua (common.lua, record_write):
    -- state 'held' waits for reconcile.lua; 'counted' (requests-only) has nothing to reconcile
    cached[record_key] = record_write(record_key, ARGV[a + 6] == '1' and 'held' or 'counted', now, ARGV[a + 7],
      ARGV[a + 8], tier, ARGV[a + 2], ARGV[a + 5])
    for i = 1, n do
      local s = (i - 1) * STRIDE
      local kind = st[s + 1]
      if kind == 'B' then
        bucket_write(KEYS[k + 1 + i], now, st[s + 6], st[s + 2])
      elseif kind == 'Q' then
        quota_write(KEYS[k + 1 + i], st[s + 8], st[s + 6], now, st[s + 7])
      end
    end
    count('requests')
    count('requests:' .. tier) -- per tier: the operator's TierThrottled events
    if not all_passed then
      count('shadowThrottled')
    end
  elseif not peek then
    -- a request that can never pass is answered 400, not 429: counted apart
    count(any_never and 'rejected' or 'throttled')
    if not any_never then
      count('throttled:' .. tier)
    end
  end

  -- what each limit has left: after this request if it was charged, else as it stands. When every
  -- check passed, passed, wait and never are the same for all (1, 0, 0): the reply leaves them out.
  local full = not all_passed
  local reply = presized(full and 3 + 6 * n or 3 + 3 * n)
  reply[1], reply[2], reply[3] = full and 1 or 3, now, committed and 1 or 0
  local r = 3
  for i = 1, n do
    local s = (i - 1) * STRIDE
    local kind, limit = st[s + 1], st[s + 2]
    local v = committed and st[s + 6] or st[s + 5]
    local remaining, reset
    if kind == 'B' then
      local room = st[s + 4] - v
      remaining = room > 0 and idiv(room, st[s + 3]) or 0
      reset = cdiv(v, limit)
    elseif kind == 'Q' then
      remaining = max(0, limit - v)
      reset = st[s + 7] - now
    else
      remaining = max(0, limit - v)
      if not committed then
        reset = st[s + 7]
      elseif st[s + 5] > 0 then
        reset = min(st[s + 7], lease_ttl)
      else
        reset = lease_ttl
      end
    end
    if full then
      reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = st[s + 9] and 1 or 0, st[s + 10], remaining, reset
      reply[r + 5], reply[r + 6] = st[s + 11], st[s + 12] and 1 or 0
      r = r + 6
    else
      reply[r + 1], reply[r + 2], reply[r + 3] = remaining, reset, st[s + 11]
      r = r + 3
    end
  end
  return reply
end

-- every record and counter (buckets and quotas) of the batch in one MGET, before anything is decided
local m = tonumber(ARGV[8])
do
  local keys = {}
  local a, k = 8, 1
  local most = 0
  for _ = 1, m do
    local n = num(ARGV[a + 9])
    most = max(most, n)
    if ARGV[a + 4] ~= 'p' then
      wanted(keys, KEYS[k + 1]) -- the record: whether the request id is taken
    end
    want_counters(keys, a + 9, k + 1, n, 6)
    a, k = a + 9 + 6 * n, k + 1 + n
  end
  prefetch(keys)
  st = presized(STRIDE * most)
end

local replies = {}
local a, k = 8, 1
for j = 1, m do
  replies[j] = isolated(admit, a, k, now)
  local n = num(ARGV[a + 9])
  a, k = a + 9 + 6 * n, k + 1 + n
end
flush()
for field, increment in pairs(stats) do
  expire_if_new(KEYS[1], stat('HINCRBY', KEYS[1], field, increment) == increment, stats_ttl)
end
return replies

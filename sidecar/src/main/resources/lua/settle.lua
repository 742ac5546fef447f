--[[
settle.lua: settle a request whose admission did not go the normal way (admit.lua's answer used,
then reconcile.lua), so that Redis ends up charged for exactly what happened. Two cases:
  refund  the sidecar gave up waiting for admit.lua's answer and refused or served the request
          without it: whatever admit.lua charged under this request id is given back, every bucket,
          quota and lease, requests included;
  charge  the request was served while Redis was unavailable (FailOpen, LocalFallback), or Redis
          lost its record: after the refund above, its real usage is added by kind of limit:
            calendar quotas and budgets: every unit, exactly once;
            token and request buckets: up to empty, never into debt (a rate is a short window: the
              outage traffic is over, and a debt would refuse the fleet after Redis returns);
            concurrency leases: nothing (the request is finished).
Idempotent, in any order and any number of times: the record remembers both steps ('settled', or
'settled charged' once the usage was added). A refund that finds no record leaves one all the same (a tombstone), so an admit.lua
still on its way for this id is refused (-2).
(Loaded as common.lua .. settle.lua.)

KEYS[1]  the request's record STRING rk:{ns/name}:r:<requestId>  (written by admit.lua, or here; common.lua, record_write)
KEYS[2]  stats HASH; KEYS[3] top users ZSET; KEYS[4] user -> tier HASH; KEYS[5] user -> tokens HASH
         (as reconcile.lua)
KEYS[5+i] the counter of check i (every check of the admission plan, requests included)

ARGV[1]  time mode 'o' | 'p';  ARGV[2] offset or pinned ms (as admit.lua)
ARGV[3]  stats period kind D | W | M;  ARGV[4] the stats period id declared in KEYS[2..5]
ARGV[5]  request id;  ARGV[6] user;  ARGV[7] tier
ARGV[8]  1 = charge the usage below after the refund; 0 = refund only
ARGV[9]  actual tokens;  ARGV[10] actual cost, micro-dollars
ARGV[11] how long the settled record (or tombstone) stays, ms
ARGV[12] stats retention ms after the stats period ends
ARGV[13] n; then 6 per check: kind (B | Q | L), unit (R | T | U | L), cost (the admission's:
         1 for requests), limit, p1, p2 (as admit.lua)

Returns
  {1, now, refunded, charged}   refunded: 1 if a held admission was given back now;
                                charged: 1 if the usage was added now
  {-1, now, periodId}           ARGV[4] is not the current stats period: nothing changed; retry

Atomic because Redis runs the script to completion with no other command in between: the record
changes state in the same step as the counters, so a repeat can never apply twice.
]]

local now = clock(ARGV[1], ARGV[2])
local stats_id, stats_end = period(ARGV[3], now)
if stats_id ~= ARGV[4] then
  return {-1, now, stats_id}
end

local value = call('GET', KEYS[1])
local state, admitted_at, reserved_tokens, reserved_cost, record_tier, record_user = record_read(value)
local was_charged = value == 'settled charged'

local n = tonumber(ARGV[13])
local stats_ttl = stats_end - now + tonumber(ARGV[12])
local refunded, charged = 0, 0

-- 1. A held (or requests-only 'counted') admission is given back whole; a reconciled one ('done') is settled.
-- Every counter is read before any is written (a read that fails then fails the call having changed nothing).
if state == 'held' or state == 'counted' then
  local given_back = {}
  for i = 1, n do
    local a = 13 + (i - 1) * 6
    local key, kind, unit = KEYS[5 + i], ARGV[a + 1], ARGV[a + 2]
    local limit, p1, p2 = tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6]
    -- what the admission charged this counter (common.lua, record_write)
    local was = tonumber(ARGV[a + 3])
    if unit == 'T' then
      was = reserved_tokens
    elseif unit == 'U' then
      was = reserved_cost
    end
    if kind == 'B' then
      local occupancy = bucket_now(key, now, limit) - was * tonumber(p1)
      given_back[i] = {max(0, occupancy), limit}
    elseif kind == 'Q' then
      local pid, pend, count, live, start = quota_read(key, p1, p2, now)
      if still_counts(p1, admitted_at, start, pend, live) then
        given_back[i] = {pid, max(0, count - was), pend}
      end
    end
  end
  for i = 1, n do
    if ARGV[13 + (i - 1) * 6 + 1] == 'L' then
      call('ZREM', KEYS[5 + i], ARGV[5])
    end
  end
  for i = 1, n do
    local back = given_back[i]
    if back then
      if ARGV[13 + (i - 1) * 6 + 1] == 'B' then
        bucket_write(KEYS[5 + i], now, back[1], back[2])
      else
        quota_write(KEYS[5 + i], back[1], back[2], now, back[3])
      end
    end
  end
  local requests = stat('HINCRBY', KEYS[2], 'requests', -1)
  if requests and requests < 0 then
    stat('HSET', KEYS[2], 'requests', 0) -- admitted in an earlier statistics period
  end
  stat('HINCRBY', KEYS[2], 'refunded', 1)
  stat('PEXPIRE', KEYS[2], stats_ttl)
  refunded = 1
end
if refunded == 1 or not state then
  state = 'settled'
end

-- 2. The usage of a request served without Redis, once.
if ARGV[8] == '1' and not was_charged and state ~= 'done' then
  local actual_tokens, actual_cost = tonumber(ARGV[9]), tonumber(ARGV[10])
  for i = 1, n do
    local a = 13 + (i - 1) * 6
    local key, kind, unit = KEYS[5 + i], ARGV[a + 1], ARGV[a + 2]
    local cost, limit, p1, p2 = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6]
    local amount = cost
    if unit == 'T' then
      amount = actual_tokens
    elseif unit == 'U' then
      amount = actual_cost
    end
    if kind == 'B' and amount > 0 then
      local period_ms = tonumber(p1)
      local capacity = tonumber(p2) * period_ms
      local occupancy = bucket_now(key, now, limit)
      if occupancy < capacity then
        bucket_write(key, now, min(capacity, occupancy + amount * period_ms), limit)
      end
    elseif kind == 'Q' and amount > 0 then
      local pid, pend, count = quota_read(key, p1, p2, now)
      quota_write(key, pid, count + amount, now, pend)
    end
  end
  local user = record_user or ARGV[6]
  stat('HINCRBY', KEYS[2], 'requests', 1)
  stat('HINCRBY', KEYS[2], 'replayed', 1)
  if actual_cost > 0 then
    stat('HINCRBY', KEYS[2], 'spendMicros', actual_cost)
    stat('ZINCRBY', KEYS[3], actual_cost, user)
    stat('PEXPIRE', KEYS[3], stats_ttl)
  end
  stat('PEXPIRE', KEYS[2], stats_ttl)
  if actual_tokens > 0 then
    stat('HINCRBY', KEYS[5], user, actual_tokens)
    stat('PEXPIRE', KEYS[5], stats_ttl)
  end
  if actual_cost > 0 or actual_tokens > 0 then
    stat('HSET', KEYS[4], user, record_tier or ARGV[7])
    stat('PEXPIRE', KEYS[4], stats_ttl)
  end
  charged = 1
end

flush()
if charged == 1 or was_charged then
  state = 'settled charged'
end
call('SET', KEYS[1], state, 'PX', ARGV[11])
return {1, now, refunded, charged}

--[[
reconcile.lua: for each request of a batch, replace its reservation by its actual usage on every
counter admit.lua charged, release its concurrency lease, and record the spend in the usage
statistics (stats, top users with their tier and tokens). Idempotent.
(Loaded as common.lua .. reconcile.lua.)

A batch is one or more requests of one policy, reconciled one after the other in the order given:
a sidecar sends the reconciles that come while its earlier calls are in flight as one call, so the
counters they share (global, per model) are read and written once.

KEYS[1]  stats HASH                 rk:{ns/name}:stats:<periodId>
KEYS[2]  top users ZSET             rk:{ns/name}:top:<periodId>          user -> spend micro-dollars
KEYS[3]  user -> tier HASH          rk:{ns/name}:top:<periodId>:tier
KEYS[4]  user -> tokens HASH        rk:{ns/name}:top:<periodId>:tokens
then per request: its reservation record STRING rk:{ns/name}:r:<requestId> (written by admit.lua), then
the counter of each of its n checks (token, money and lease checks of the admission, same plan)

ARGV[1]  time mode 'o' | 'p';  ARGV[2] offset or pinned ms (as admit.lua)
ARGV[3]  stats period kind D | W | M;  ARGV[4] the stats period id declared in KEYS[1..4]
ARGV[5]  how long a reconciled record stays (repeat reconciles are no-ops meanwhile), ms
ARGV[6]  stats retention ms after the stats period ends
ARGV[7]  m, the number of requests; then per request:
           request id, actual tokens, actual cost (micro-dollars),
           1 = the usage is the sidecar's estimate, not the provider's figure (counted as 'estimated'),
           n; then 5 per check: kind (B | Q | L), unit (T | U | L), limit, p1, p2 (as admit.lua)

The counters of the admission's checks are touched, with what the record says was charged (its
reserved tokens and cost, in the period of its admission instant; the checks are the admission's own,
sent again by the sidecar that admitted the request): a token counter gets (actual - reserved) tokens,
a budget (actual - reserved) micro-dollars
(never below zero; a bucket may go into debt and drains as usual). A calendar counter whose period
rolled over since admission has lost the reservation with the old period and is charged the
actual amount in the new one. The lease is removed. A counter the usage leaves unchanged is not
written.

Returns one reply per request, in order:
  {1, now, tokenDelta, costDelta}   reconciled
  {2, now}                          already reconciled (record state 'done'): nothing changed
  {0, now}                          no held record (never admitted, requests-only, refunded, or expired):
                                    nothing changed
  {-3, now, message}                this request failed (a key of another type than the scripts write):
                                    nothing of it changed; the other requests of the batch are reconciled
or, for the whole batch, {-1, now, periodId} when ARGV[4] is not the current stats period: nothing
changed; retry

A request whose reconcile would change nothing but its record (nothing reserved, leased or used, no
estimate, no calendar quota or run count among its checks) is not sent here: the sidecar sets its
record to 'done' with one SET ... XX GET (docs/redis-keys.md, "Reservation records").

Atomic because Redis runs the script to completion with no other command in between: the record's
state flips to 'done' in the same step that adjusts the counters, so a repeated or concurrent
reconcile of the same request can never apply twice.
]]

local now = clock(ARGV[1], ARGV[2])
local stats_id, stats_end = period(ARGV[3], now)
if stats_id ~= ARGV[4] then
  return {-1, now, stats_id}
end
local done_ttl = ARGV[5]
local stats_ttl = stats_end - now + tonumber(ARGV[6])
-- written once at the end: stats field -> increment; user -> spend, tokens, tier
local stats, spend, tokens, tiers = {}, {}, {}, {}
local users = {}

local function add(map, key, amount)
  map[key] = (map[key] or 0) + amount
end

-- One request: ARGV[a + 1 ..] and KEYS[k + 1 ..] hold its words (see the header). Returns its reply.
-- Reads and computes everything first, then writes to Redis (lease, record), then the cached counters
-- (common.lua: a request that fails has changed nothing).
local next_counts = {} -- per check of the request being reconciled: the counter's next value, or false
local function reconcile(a, k)
  local record_key = KEYS[k + 1]
  local state, admitted_at, reserved_tokens, reserved_cost, tier, user = record_read(load(record_key))
  if state == nil then
    return {0, now}
  end
  if state == 'done' then
    return {2, now}
  end
  if state ~= 'held' then
    return {0, now} -- requests-only ('counted'), or given back by settle.lua ('settled'): nothing to reconcile
  end

  local request_id = ARGV[a + 1]
  local actual_tokens, actual_cost = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local n = num(ARGV[a + 5])
  local lease
  for i = 1, n do
    local c = a + 5 + (i - 1) * 5
    local key, kind, unit = KEYS[k + 1 + i], ARGV[c + 1], ARGV[c + 2]
    local next_value = false
    if kind == 'L' then
      lease = key
    else
      local actual, reserved
      if unit == 'T' then
        actual, reserved = actual_tokens, reserved_tokens
      else
        actual, reserved = actual_cost, reserved_cost
      end
      if kind == 'B' then
        local delta = actual - reserved
        if delta ~= 0 then
          local limit, period_ms = num(ARGV[c + 3]), num(ARGV[c + 4])
          local occupancy = bucket_now(key, now, limit) + delta * period_ms
          next_value = {max(0, occupancy), limit}
        end
      else
        local p1 = ARGV[c + 4]
        local pid, pend, count, live, start = quota_read(key, p1, ARGV[c + 5], now)
        local next_count
        if still_counts(p1, admitted_at, start, pend, live) then
          next_count = count + actual - reserved
        else
          next_count = count + actual
        end
        next_count = max(0, next_count)
        -- a run's count is written even when unchanged: each call moves the run's idle deadline
        if next_count ~= count or not live or p1 == 'I' then
          next_value = {pid, next_count, pend}
        end
      end
    end
    next_counts[i] = next_value
  end

  if lease then
    call('ZREM', lease, request_id)
  end
  -- the reconciled record keeps only its state: a repeated reconcile or a late settle.lua reads nothing else
  call('SET', record_key, 'done', 'PX', done_ttl)
  cached[record_key] = 'done'
  for i = 1, n do
    local next_value = next_counts[i]
    if next_value then
      local key = KEYS[k + 1 + i]
      if ARGV[a + 5 + (i - 1) * 5 + 1] == 'B' then
        bucket_write(key, now, next_value[1], next_value[2])
      else
        quota_write(key, next_value[1], next_value[2], now, next_value[3])
      end
    end
  end

  if ARGV[a + 4] == '1' then
    add(stats, 'estimated', 1)
  end
  if actual_cost > 0 then
    add(stats, 'spendMicros', actual_cost)
    add(spend, user, actual_cost)
  end
  if actual_tokens > 0 then
    add(tokens, user, actual_tokens)
  end
  if actual_cost > 0 or actual_tokens > 0 then
    if tiers[user] == nil then
      users[#users + 1] = user
    end
    tiers[user] = tier
  end
  return {1, now, actual_tokens - reserved_tokens, actual_cost - reserved_cost}
end

-- every record and counter (buckets and quotas) of the batch in one MGET, before anything is reconciled
local m = tonumber(ARGV[7])
do
  local keys = {}
  local a, k = 7, 4
  for _ = 1, m do
    local n = num(ARGV[a + 5])
    wanted(keys, KEYS[k + 1]) -- the record
    want_counters(keys, a + 5, k + 1, n, 5)
    a, k = a + 5 + 5 * n, k + 1 + n
  end
  prefetch(keys)
end

local replies = {}
local a, k = 7, 4
for j = 1, m do
  replies[j] = isolated(reconcile, a, k, now)
  local n = num(ARGV[a + 5])
  a, k = a + 5 + 5 * n, k + 1 + n
end
flush()

for field, increment in pairs(stats) do
  expire_if_new(KEYS[1], stat('HINCRBY', KEYS[1], field, increment) == increment, stats_ttl)
end
-- the users' tiers in one HSET for the whole batch (it answers how many fields it created)
local tier_fields = {}
for i = 1, #users do
  local user = users[i]
  local cost, used = spend[user], tokens[user]
  if cost then
    expire_if_new(KEYS[2], tonumber(stat('ZINCRBY', KEYS[2], cost, user)) == cost, stats_ttl)
  end
  if used then
    expire_if_new(KEYS[4], stat('HINCRBY', KEYS[4], user, used) == used, stats_ttl)
  end
  tier_fields[2 * i - 1] = user
  tier_fields[2 * i] = tiers[user]
end
if #users > 0 then
  local created = stat('HSET', KEYS[3], unpack(tier_fields))
  expire_if_new(KEYS[3], created and created > 0, stats_ttl)
end
return replies

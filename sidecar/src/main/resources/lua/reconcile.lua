--[[
reconcile.lua: replace a request's reservation by its actual usage on every counter admit.lua
charged, release its concurrency lease, and record the spend in the usage statistics (stats, top users with their tier and tokens). Idempotent.
(Loaded as common.lua .. reconcile.lua.)

KEYS[1]  reservation record HASH   rk:{ns/name}:r:<requestId>  (written by admit.lua)
KEYS[2]  stats HASH                 rk:{ns/name}:stats:<periodId>
KEYS[3]  top users ZSET             rk:{ns/name}:top:<periodId>          user -> spend micro-dollars
KEYS[4]  user -> tier HASH          rk:{ns/name}:top:<periodId>:tier
KEYS[5]  user -> tokens HASH        rk:{ns/name}:top:<periodId>:tokens
KEYS[5+i] the counter of check i (token, money and lease checks of the admission, same plan)

ARGV[1]  time mode 'o' | 'p';  ARGV[2] offset or pinned ms (as admit.lua)
ARGV[3]  stats period kind D | W | M;  ARGV[4] the stats period id declared in KEYS[2..5]
ARGV[5]  request id
ARGV[6]  actual tokens;  ARGV[7] actual cost, micro-dollars
ARGV[8]  how long the reconciled record stays (repeat reconciles are no-ops meanwhile), ms
ARGV[9]  stats retention ms after the stats period ends
ARGV[10] 1 = the usage is the sidecar's estimate, not the provider's figure (counted as 'estimated')
ARGV[11] n; then 5 per check: kind (B | Q | L), unit (T | U | L), limit, p1, p2 (as admit.lua)

Only counters named in the record are touched, with the amount and period the record says were
charged: a token counter gets (actual - reserved) tokens, a budget (actual - reserved) micro-dollars
(never below zero; a bucket may go into debt and drains as usual). A calendar counter whose period
rolled over since admission has lost the reservation with the old period and is charged the
actual amount in the new one. The lease is removed.

Returns
  {1, now, tokenDelta, costDelta}   reconciled
  {2, now}                          already reconciled (record state 'done'): nothing changed
  {0, now}                          no held record (never admitted, requests-only, refunded, or expired):
                                    nothing changed
  {-1, now, periodId}               ARGV[4] is not the current stats period: nothing changed; retry

Atomic because Redis runs the script to completion with no other command in between: the record's
state flips to 'done' in the same step that adjusts the counters, so a repeated or concurrent
reconcile of the same request can never apply twice.
]]

local now = clock(ARGV[1], ARGV[2])
local stats_id, stats_end = period(ARGV[3], now)
if stats_id ~= ARGV[4] then
  return {-1, now, stats_id}
end

local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then
  return {0, now}
end
local record = {}
for i = 1, #flat, 2 do
  record[flat[i]] = flat[i + 1]
end
if record.state == 'done' then
  return {2, now}
end
if record.state ~= 'held' then
  return {0, now} -- requests-only ('counted'), or given back by settle.lua ('settled'): nothing to reconcile
end

local actual_tokens, actual_cost = tonumber(ARGV[6]), tonumber(ARGV[7])
local n = tonumber(ARGV[11])
for i = 1, n do
  local a = 11 + (i - 1) * 5
  local key, kind, unit = KEYS[5 + i], ARGV[a + 1], ARGV[a + 2]
  local limit, p1, p2 = tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
  local charged = record[key]
  if charged then
    local actual = unit == 'T' and actual_tokens or actual_cost
    if kind == 'L' then
      redis.call('ZREM', key, ARGV[5])
    elseif kind == 'B' then
      local period_ms = tonumber(p1)
      local occupancy = bucket_now(key, now, limit) + (actual - tonumber(charged)) * period_ms
      bucket_write(key, now, math.max(0, occupancy), limit)
    else
      local reserved, reserved_pid = split(charged)
      local pid, pend, count, live = quota_read(key, p1, p2, now)
      if still_counts(p1, reserved_pid, pid, live) then
        count = count + actual - tonumber(reserved)
      else
        count = count + actual
      end
      quota_write(key, pid, math.max(0, count), now, pend)
    end
  end
end

-- the reconciled record keeps only its state: a repeated reconcile or a late settle.lua reads nothing
-- else, and a minute of records at full speed would otherwise hold every charged counter's name
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'done')
redis.call('PEXPIRE', KEYS[1], ARGV[8])

local user = record.user
local stats_ttl = fmt(stats_end - now + tonumber(ARGV[9]))
if ARGV[10] == '1' then
  expire_if_new(KEYS[2], redis.call('HINCRBY', KEYS[2], 'estimated', 1) == 1, stats_ttl)
end
if actual_cost > 0 then
  expire_if_new(KEYS[2], redis.call('HINCRBY', KEYS[2], 'spendMicros', fmt(actual_cost)) == actual_cost, stats_ttl)
  expire_if_new(KEYS[3], tonumber(redis.call('ZINCRBY', KEYS[3], fmt(actual_cost), user)) == actual_cost, stats_ttl)
end
if actual_tokens > 0 then
  expire_if_new(KEYS[5], redis.call('HINCRBY', KEYS[5], user, fmt(actual_tokens)) == actual_tokens, stats_ttl)
end
if actual_cost > 0 or actual_tokens > 0 then
  expire_if_new(KEYS[4], redis.call('HSET', KEYS[4], user, record.tier) == 1, stats_ttl)
end

return {1, now, actual_tokens - tonumber(record.tokens), actual_cost - tonumber(record.cost)}

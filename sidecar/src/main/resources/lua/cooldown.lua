--[[
cooldown.lua: the shared cooldown of one upstream scope after the provider answered 429 or 529:
start it, keep it, or read it, so that every sidecar under the policy stops calling the provider
until it ends.

KEYS[1]  cooldown STRING   rk:{ns/name}:cooldown:<scope>          value: when it ends, ms on the clock below
KEYS[2]  strikes  STRING   rk:{ns/name}:cooldown:<scope>:strikes  cooldown episodes in a row; PX = ARGV[6]
KEYS[3]  probe    STRING   rk:{ns/name}:cooldown:<scope>:probe    the half-open probe token (deleted: a
                                                                  throttled probe ends the probe)
ARGV[1]  time mode, as admit.lua: 'o' = Redis TIME + ARGV[2] ms (production: 0), 'p' = ARGV[2] is now
         in ms (tests that move time by hand)
ARGV[2]  offset or pinned time, ms
ARGV[3]  1: a throttle (counts a strike); 0: the provider's quota is nearly spent (a pre-emptive pause
         until its reset: no strike, no doubling); r: read only (writes nothing); x: the request that
         won the probe ended without the provider's answer: the probe is released if it is still its own
ARGV[4]  base length in ms, from the provider's retry-after or rate-limit reset headers; x: the probe's token
ARGV[5]  cap in ms (60000)
ARGV[6]  how long a run of episodes is remembered, in ms

Returns {remaining ms of the cooldown now in force (0: none), strikes}; x: 1 if the probe was released.

A throttle while a cooldown is running (the rest of a 429 storm) only lengthens it to at least the
base; a throttle after it ended (the half-open probe failed, or traffic came back too soon) is a new
strike and doubles the length: base x 2^(strikes-1), capped. Atomic because it is one script: two
sidecars reporting the same storm at once cannot both count a strike.

The value, not the key's expiry, says when the cooldown ends, so that a clock tests move ends it when
moved. On Redis' own clock (mode 'o', offset 0) the key also expires then; in mode 'p' Redis' clock is
not the script's, and the key is kept as long as the strikes.
]]

if redis.replicate_commands then
  -- Redis 5/6: replicate the writes, not the script (it reads TIME). A no-op from Redis 7 on.
  redis.replicate_commands()
end

local now
if ARGV[1] == 'p' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
end

if ARGV[3] == 'x' then
  -- compare and delete: a probe the provider's answer already ended, or another sidecar's, is left alone
  if redis.call('GET', KEYS[3]) == ARGV[4] then
    redis.call('DEL', KEYS[3])
    return 1
  end
  return 0
end

local ends = tonumber(redis.call('GET', KEYS[1]) or '0')
local running
if ends > 0 and ends < 100000000000 then
  -- written by a sidecar from before the end was stored: the value is the length, the expiry the end
  running = math.max(0, redis.call('PTTL', KEYS[1]))
else
  running = math.max(0, ends - now)
end
local strikes = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[3] == 'r' then
  return {running, strikes}
end

local base = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local length
if ARGV[3] == '0' or running > 0 then
  length = math.min(cap, math.max(running, base))
else
  strikes = redis.call('INCR', KEYS[2])
  length = math.min(cap, base * math.pow(2, strikes - 1))
end
length = math.floor(length)
if length > running then
  local expiry = ARGV[1] == 'p' and ARGV[6] or string.format('%d', length)
  redis.call('SET', KEYS[1], string.format('%d', now + length), 'PX', expiry)
  running = length
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('DEL', KEYS[3])
return {running, strikes}

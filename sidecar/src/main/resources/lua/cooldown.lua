--[[
cooldown.lua: start (or keep) the shared cooldown of one upstream after the provider answered 429
or 529, so that every sidecar under the policy stops calling it until the cooldown ends.

KEYS[1]  cooldown STRING   rk:{ns/name}:cooldown:<upstream>          value: its length in ms; PX = that length
KEYS[2]  strikes  STRING   rk:{ns/name}:cooldown:<upstream>:strikes  cooldown episodes in a row; PX = ARGV[3]
KEYS[3]  probe    STRING   rk:{ns/name}:cooldown:<upstream>:probe    the half-open probe token (deleted: a
                                                                     throttled probe ends the probe)
ARGV[1]  base length in ms, from the provider's retry-after or rate-limit reset headers
ARGV[2]  cap in ms (60000)
ARGV[3]  how long a run of episodes is remembered, in ms
ARGV[4]  1: a throttle (counts a strike); 0: the provider's quota is nearly spent (a pre-emptive
         pause until its reset: no strike, no doubling)

Returns {remaining ms of the cooldown now in force, strikes}.

A throttle while a cooldown is running (the rest of a 429 storm) only lengthens it to at least the
base; a throttle after it ended (the half-open probe failed, or traffic came back too soon) is a new
strike and doubles the length: base x 2^(strikes-1), capped. Atomic because it is one script: two
sidecars reporting the same storm at once cannot both count a strike.
]]

local base = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local running = redis.call('PTTL', KEYS[1])
local strikes = tonumber(redis.call('GET', KEYS[2]) or '0')
local length
if ARGV[4] == '0' then
  length = math.min(cap, math.max(running, base))
elseif running > 0 then
  length = math.min(cap, math.max(running, base))
else
  strikes = redis.call('INCR', KEYS[2])
  length = math.min(cap, base * math.pow(2, strikes - 1))
end
length = math.floor(length)
if length > running then
  redis.call('SET', KEYS[1], string.format('%d', length), 'PX', string.format('%d', length))
  running = length
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[3])
return {running, strikes}

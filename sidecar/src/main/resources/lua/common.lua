--[[
common.lua: helpers shared by admit.lua and reconcile.lua. Not a script of its own: the store
loads "common.lua .. <operation>.lua" as one script (LuaScript.java), so each operation stays one
atomic EVALSHA. Mirrors the Java algorithm classes (TokenBucket, CalendarQuota, CalendarPeriod);
the behaviour suite runs against both and compares their counters byte for byte.

Numbers: Lua numbers in Redis are doubles, exact for integers below 2^53. Every quantity here is
an integer below that bound (ms since epoch ~1.8e12; bucket occupancy <= burst x 60000, clamped in
Check.java; counts and micro-dollars), divisions go through idiv (corrected floor), and numbers are
written back with string.format ("%d"), never tostring (which rounds to 14 digits), or handed to
redis.call as numbers (TTLs, increments): Redis writes an integral number as the integer itself
("%.17g" up to Redis 7.0, its integer formatting from 7.2 on), exact below 2^53.
]]

if redis.replicate_commands then
  -- Redis 5/6: replicate the writes, not the script (it reads TIME). A no-op from Redis 7 on.
  redis.replicate_commands()
end

local max, min = math.max, math.min
-- globals and library functions as locals: a global is a table lookup at every use, a local is not
local KEYS, ARGV, tonumber, unpack, pcall = KEYS, ARGV, tonumber, unpack, pcall
local call, format, find, sub = redis.call, string.format, string.find, string.sub

-- A table whose array part has n slots (all nil) from the start: a table filled one slot at a time is
-- rehashed at every power of two, while a constructor's array is sized once (unpack of an empty table
-- with an explicit range yields n nils).
local NOTHING = {}
local function presized(n)
  return {unpack(NOTHING, 1, n)}
end
local DAY_MS = 86400000
local HOUR_MS = 3600000

-- floor(a / b) for integers, b > 0, exact (the float quotient can round across an integer). x - x % 1
-- is floor(x) without a function call (Lua's % is a floored modulo, computed in place).
local function idiv(a, b)
  local x = a / b
  local q = x - x % 1
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

-- ceil(a / b) for integers, b > 0, exact: -floor(-a / b)
local function cdiv(a, b)
  local x = -a / b
  local q = x - x % 1
  if q * b > -a then
    q = q - 1
  elseif (q + 1) * b <= -a then
    q = q + 1
  end
  return -q
end

-- tonumber of an ARGV word, memoized per call: a string is interned, so finding it in a table is
-- cheap, while tonumber parses it (strtod); a call repeats the same limits, periods and costs
local numbers = {}
local function num(word)
  local value = numbers[word]
  if value == nil then
    value = tonumber(word)
    numbers[word] = value
  end
  return value
end

local function fmt(n)
  return format('%d', n)
end

-- Now in ms: Redis TIME plus a test offset (mode 'o'), or a pinned instant (mode 'p', tests only).
local function clock(mode, value)
  if mode == 'p' then
    return tonumber(value)
  end
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + idiv(tonumber(t[2]), 1000) + tonumber(value)
end

-- The calendar below divides days, years and ms since the epoch: integers far below 2^52, whose float
-- quotient a / b never rounds across an integer, so q - q % 1 (floor, without a function call) is exact
-- without idiv's corrections.

-- Days since 1970-01-01 -> y, m, d (proleptic Gregorian; H. Hinnant's civil_from_days)
local function civil(days)
  local z = days + 719468
  local era = z / 146097
  era = era - era % 1
  local doe = z - era * 146097
  local q1, q2, q3 = doe / 1460, doe / 36524, doe / 146096
  local yoe = (doe - (q1 - q1 % 1) + (q2 - q2 % 1) - (q3 - q3 % 1)) / 365
  yoe = yoe - yoe % 1
  local q4, q5 = yoe / 4, yoe / 100
  local doy = doe - (365 * yoe + (q4 - q4 % 1) - (q5 - q5 % 1))
  local mp = (5 * doy + 2) / 153
  mp = mp - mp % 1
  local q6 = (153 * mp + 2) / 5
  local d = doy - (q6 - q6 % 1) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then
    y = y + 1
  end
  return y, m, d
end

-- y, m, d -> days since 1970-01-01 (H. Hinnant's days_from_civil)
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = y / 400
  era = era - era % 1
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local q1, q2, q3 = (153 * mp + 2) / 5, yoe / 4, yoe / 100
  local doy = (q1 - q1 % 1) + d - 1
  local doe = yoe * 365 + (q2 - q2 % 1) - (q3 - q3 % 1) + doy
  return era * 146097 + doe - 719468
end

-- The UTC calendar period containing now: its id, its end (first ms of the next period) and its start.
-- kind: H hour ("2026-11-23T14"), D day ("2026-11-23"), W ISO week ("2026-W47"), M month ("2026-11")
local function compute_period(kind, now)
  local days = now / DAY_MS
  days = days - days % 1
  if kind == 'H' then
    local hours = now / HOUR_MS
    hours = hours - hours % 1
    local y, m, d = civil(days)
    return format('%04d-%02d-%02dT%02d', y, m, d, hours - days * 24), (hours + 1) * HOUR_MS, hours * HOUR_MS
  elseif kind == 'D' then
    local y, m, d = civil(days)
    return format('%04d-%02d-%02d', y, m, d), (days + 1) * DAY_MS, days * DAY_MS
  elseif kind == 'W' then
    local weekday = (days + 3) % 7          -- 0 = Monday (1970-01-01 was a Thursday)
    local thursday = days - weekday + 3     -- the ISO year is the year of the week's Thursday
    local y = civil(thursday)
    local week = (thursday - days_from_civil(y, 1, 1)) / 7
    return format('%04d-W%02d', y, week - week % 1 + 1), (days - weekday + 7) * DAY_MS, (days - weekday) * DAY_MS
  else
    local y, m, d = civil(days)
    local ny, nm = y, m + 1
    if nm == 13 then
      ny, nm = y + 1, 1
    end
    return format('%04d-%02d', y, m), days_from_civil(ny, nm, 1) * DAY_MS, (days - d + 1) * DAY_MS
  end
end

-- compute_period, memoized per kind: a call reads the clock once, so its counters share a few periods
local periods = {}
local function period(kind, now)
  local known = periods[kind]
  if not known or known[4] ~= now then
    local id, ends, starts = compute_period(kind, now)
    known = {id, ends, starts, now}
    periods[kind] = known
  end
  return known[1], known[2], known[3]
end

-- A write to the usage statistics (informational: read by the operator): one that fails (the key
-- holds another type) is skipped rather than failing the call after its counters were written.
-- Returns the command's reply, or false.
local function stat(...)
  local reply = redis.pcall(...)
  if type(reply) == 'table' and reply.err then
    return false
  end
  return reply
end

-- The statistics keys expire a retention after their period ends: a fixed instant, so their TTL is set
-- when a write creates a field (the key's first write among them) rather than on every write.
-- `created`: the write's reply shows the field is new (HINCRBY/ZINCRBY answered the increment itself,
-- HSET answered 1). A key is only ever created by such a write, and no write here removes a TTL.
local function expire_if_new(key, created, ttl)
  if created then
    stat('PEXPIRE', key, ttl)
  end
end

-- "a:b" -> a, b (strings)
local function split(value)
  local sep = find(value, ':', 1, true)
  return sub(value, 1, sep - 1), sub(value, sep + 1)
end

-- Counter values (buckets and quotas, STRINGs) are read and written through a per-call cache: a batch
-- of requests in one call reads each key once and writes it once, at flush(), however many requests
-- of the batch charge it (the global and per-model counters are charged by every request). Within the
-- call every read sees the writes before it, exactly as if each write had gone to Redis at once.
-- cached[key]: the value, false for no key; ttl_of[key]: the ms to live of a changed key, else nil.
--
-- A request of a batch may fail (a key of another type than the scripts write, say): it then fails
-- alone (isolated()). So that it leaves nothing behind, every request runs in three steps: it reads
-- every key and computes everything first (load(), the lease set, the record: what can fail), then
-- writes to Redis directly (lease, record: the first write of a call may be refused, when Redis is out
-- of memory), and only then changes the cache (store(), which cannot fail).
local cached, ttl_of, dirty = {}, {}, {}

-- Reads many counters with one MGET into the cache, before the requests of a call are decided.
-- MGET answers nil for a key that does not exist and for a key of another type alike (it fails on
-- no key), so one EXISTS of the keys answered nil tells them apart: when none exists (the usual case:
-- an empty bucket has expired), each is cached as absent; otherwise they are left out of the cache,
-- so that load() reads them with GET, which fails on a key of another type as before (only the
-- request that reads it fails, nothing of it written).
local function prefetch(keys)
  if #keys == 0 then
    return
  end
  local values = call('MGET', unpack(keys))
  local absent = {}
  for i = 1, #keys do
    local value = values[i]
    if value then
      cached[keys[i]] = value
    else
      absent[#absent + 1] = keys[i]
    end
  end
  if #absent > 0 then
    local none = call('EXISTS', unpack(absent)) == 0
    for i = 1, #absent do
      if none then
        cached[absent[i]] = false
      else
        cached[absent[i]] = nil
      end
    end
  end
end

-- Adds `key` to the list of keys prefetch() reads, once, unless the cache holds it already (true
-- marks a key listed: prefetch() replaces it by the value, false, or nil for load() to read it).
local function wanted(keys, key)
  if cached[key] == nil then
    cached[key] = true
    keys[#keys + 1] = key
  end
end

-- Lists one request's counters (buckets and quotas: every check but a lease) for prefetch(): the words
-- of its n checks start at ARGV[c + 1], kind first, `stride` words each; their keys at KEYS[k + 1].
local function want_counters(keys, c, k, n, stride)
  for i = 1, n do
    if ARGV[c + (i - 1) * stride + 1] ~= 'L' then
      wanted(keys, KEYS[k + i])
    end
  end
end

local function load(key)
  local value = cached[key]
  if value == nil then
    value = call('GET', key)
    cached[key] = value
  end
  return value
end

-- ttl: ms to live from now (a number)
local function store(key, value, ttl)
  if ttl_of[key] == nil then
    dirty[#dirty + 1] = key
  end
  cached[key], ttl_of[key] = value, ttl
end

-- Writes every counter changed since the call began, once each (a SET cannot fail on the key's type).
local function flush()
  for i = 1, #dirty do
    local key = dirty[i]
    call('SET', key, cached[key], 'PX', ttl_of[key])
    ttl_of[key] = nil
  end
  dirty = {}
end

-- Runs one request of a batch, fn(a, k), so that its failure fails it alone: it answers
-- {-3, now, message}, and since it failed before changing anything (see above), the other requests of
-- the batch are decided as if it had not been there.
local function isolated(fn, a, k, now)
  local ok, reply = pcall(fn, a, k)
  if not ok then
    reply = {-3, now, type(reply) == 'table' and (reply.err or reply.message) or tostring(reply)}
  end
  return reply
end

-- Token bucket (TokenBucket.java): STRING "<lastMs>:<occupancy>", occupancy in units x periodMs,
-- draining by `limit` per ms. Returns the occupancy now.
local function bucket_now(key, now, limit)
  local value = load(key)
  if not value then
    return 0
  end
  local a, b = split(value)
  local last, occupancy = tonumber(a), tonumber(b)
  if now <= last or occupancy <= 0 then
    return max(0, occupancy)
  end
  local elapsed = now - last
  if elapsed >= cdiv(occupancy, limit) then
    return 0
  end
  return occupancy - elapsed * limit
end

local function bucket_write(key, now, occupancy, limit)
  store(key, format('%d:%d', now, occupancy), cdiv(occupancy, limit) + 1000)
end

-- A quota check's counter now (Check.java quotaPeriodId / quotaCount / quotaStillCounts): returns the
-- period id a write now uses, that period's end, the count now, whether the stored counter is live, and
-- when the counter's period began (a calendar period's start; a run's life's start).
--   calendar (p1 = H | D | W | M): "<periodId>:<count>"; counts zero once periodId is not the current one
--   a run's count (p1 = I, p2 = idle ms): "<startMs>~<deadlineMs>:<count>": the run's life began at
--     startMs and ends at deadlineMs, p2 ms after its last call; once the deadline has passed the count
--     is zero and the next call starts a new life (a new startMs)
local function quota_read(key, p1, p2, now)
  local value = load(key)
  if p1 == 'I' then
    local pend = now + num(p2)
    local start, count, live = now, 0, false
    if value then
      local p, n = split(value)
      local sep = find(p, '~', 1, true)
      if tonumber(sub(p, sep + 1)) > now then
        start, count, live = tonumber(sub(p, 1, sep - 1)), tonumber(n), true
      end
    end
    return format('%d~%d', start, pend), pend, count, live, start
  end
  local pid, pend, pstart = period(p1, now)
  if not value then
    return pid, pend, 0, false, pstart
  end
  local p, n = split(value)
  local live = p == pid
  return pid, pend, live and tonumber(n) or 0, live, pstart
end

-- Whether a reservation charged at admitted_at (ms) is still in the counter quota_read found: the
-- calendar period it was charged in is still the current one (admitted_at in [start, end)), or (a run's
-- count) the run's life it was charged in is still live: the live life began at or before admitted_at
-- (a new life only begins once the one before has ended, after every call made in it)
local function still_counts(p1, admitted_at, start, pend, live)
  if p1 == 'I' then
    return live and start <= admitted_at
  end
  return start <= admitted_at and admitted_at < pend
end

local function quota_write(key, pid, count, now, period_end)
  store(key, format('%s:%d', pid, count), period_end - now + 1000)
end

-- Reservation records (docs/redis-keys.md): one STRING per admitted request, read only by the
-- sidecar that admitted it (reconcile.lua, settle.lua):
--   "held <admittedAtMs> <tokens> <costMicros> <tier> <user>"     awaiting reconcile.lua
--   "counted <admittedAtMs> <tokens> <costMicros> <tier> <user>"  requests-only: nothing to reconcile
--   "done"                                                          reconciled
--   "settled", "settled charged"                                    given back (and/or usage added) by settle.lua
-- What the admission charged each counter follows from the request's checks: a token check its tokens, a
-- money check its cost, a request check its requests (the check's cost), a lease 1, every quota in the
-- period (or run's life) of admittedAtMs. The user comes last: it may hold spaces.
-- Returns the value written.
local function record_write(key, state, now, tokens, cost, tier, user, ttl)
  local value = format('%s %d %s %s %s %s', state, now, tokens, cost, tier, user)
  call('SET', key, value, 'PX', ttl)
  return value
end

-- A record's value read back: its state, and for a held or counted one admittedAtMs, tokens, cost
-- (numbers), tier and user. No record (nil or false) reads as nil; a record of another form as its
-- first word (the state).
local function record_read(value)
  if not value then
    return nil
  end
  local state, at, tokens, cost, tier, user = string.match(value, '^(%a+) (%d+) (%d+) (%d+) (%S+) (.*)$')
  if not state then
    return string.match(value, '^%S*')
  end
  return state, tonumber(at), tonumber(tokens), tonumber(cost), tier, user
end

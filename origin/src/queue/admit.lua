-- One admission tick for one event: drop lapsed slots and waiters who stopped polling,
-- then move the head of the line into free slots. Any number of origin replicas may run
-- the loop: the tick id makes the second run of a tick a no-op, and everything else
-- happens inside this one script, so `active` never exceeds the capacity.
--
-- KEYS[1] waiting ZSET, KEYS[2] seen ZSET, KEYS[3] active ZSET, KEYS[4] joined HASH,
-- KEYS[5] tick STRING (last tick id), KEYS[6] meta HASH (rate_per_min),
-- KEYS[7] stats HASH (per-minute counters for statistics, see line.rs)
-- ARGV[1] now (ms)
-- ARGV[2] capacity
-- ARGV[3] batch: most users admitted per tick
-- ARGV[4] stale before (ms): waiters last seen before this are dropped
-- ARGV[5] slot length (ms)
-- ARGV[6] tick id (monotonic: now / tick length)
-- ARGV[7] tick length (ms), for the measured admission rate
-- ARGV[8] key life (ms)
--
-- Returns {ran, admitted {user, joined_ms, ...}, expired, abandoned, waiting, active}.
local now = tonumber(ARGV[1])
local tick = tonumber(ARGV[6])
local last = tonumber(redis.call('GET', KEYS[5]) or '-1')
if last >= tick then
  return {0, {}, 0, 0, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3])}
end
redis.call('SET', KEYS[5], tick, 'PX', ARGV[8])

local expired = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)

-- Bounded per tick so one script never blocks Redis for long; the rest go next tick.
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4], 'LIMIT', 0, 1000)
for _, user in ipairs(stale) do
  redis.call('ZREM', KEYS[1], user)
  redis.call('ZREM', KEYS[2], user)
end

local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[3])
local n = math.min(free, tonumber(ARGV[3]))
local admitted = {}
if n > 0 then
  local until_ms = now + tonumber(ARGV[5])
  local head = redis.call('ZPOPMIN', KEYS[1], n)
  for i = 1, #head, 2 do
    local user = head[i]
    redis.call('ZREM', KEYS[2], user)
    redis.call('ZADD', KEYS[3], until_ms, user)
    local j = redis.call('HGET', KEYS[4], user) or ''
    admitted[#admitted + 1] = user
    admitted[#admitted + 1] = string.match(j, '|(%d+)$') or tostring(now)
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
end

-- Admissions per minute, smoothed over about ten ticks: the ETA shown to waiters.
local per_min = (#admitted / 2) * 60000 / tonumber(ARGV[7])
local old = tonumber(redis.call('HGET', KEYS[6], 'rate_per_min') or per_min)
redis.call('HSET', KEYS[6], 'rate_per_min', tostring(old * 0.9 + per_min * 0.1))
redis.call('PEXPIRE', KEYS[6], ARGV[8])

-- Statistics for this minute: admissions by wait time, abandonments, peaks.
local minute = math.floor(now / 60000) .. ':'
local bounds = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
for i = 2, #admitted, 2 do
  local wait_s = (now - tonumber(admitted[i])) / 1000
  local b = #bounds
  for j = 1, #bounds do
    if wait_s <= bounds[j] then b = j - 1; break end
  end
  redis.call('HINCRBY', KEYS[7], minute .. 'b' .. b, 1)
end
if #admitted > 0 then redis.call('HINCRBY', KEYS[7], minute .. 'a', #admitted / 2) end
if #stale > 0 then redis.call('HINCRBY', KEYS[7], minute .. 'x', #stale) end
local waiting = redis.call('ZCARD', KEYS[1])
local active = redis.call('ZCARD', KEYS[3])
for field, n in pairs({w = waiting, p = active}) do
  if n > tonumber(redis.call('HGET', KEYS[7], minute .. field) or '0') then
    redis.call('HSET', KEYS[7], minute .. field, n)
  end
end
redis.call('PEXPIRE', KEYS[7], ARGV[8])

return {1, admitted, expired, #stale, waiting, active}

-- Where a user stands, and a heartbeat: polling keeps a waiter in the line.
--
-- KEYS[1] waiting ZSET, KEYS[2] seen ZSET, KEYS[3] active ZSET, KEYS[4] joined HASH,
-- KEYS[5] meta HASH
-- ARGV[1] user id, ARGV[2] now (ms)
--
-- Returns {state, position, ahead, slot_expiry_ms, rate_per_min}; state "admitted",
-- "waiting", "expired" (joined once, now neither waiting nor active) or "none".
local user = ARGV[1]
local now = tonumber(ARGV[2])
local rate = redis.call('HGET', KEYS[5], 'rate_per_min') or '0'
local j = redis.call('HGET', KEYS[4], user)
local position = 0
if j then position = tonumber(string.match(j, '^(%d+)|')) or 0 end

local expiry = redis.call('ZSCORE', KEYS[3], user)
if expiry and tonumber(expiry) > now then
  return {'admitted', position, 0, tonumber(expiry), rate}
end
local rank = redis.call('ZRANK', KEYS[1], user)
if rank then
  redis.call('ZADD', KEYS[2], now, user)
  return {'waiting', position, rank, 0, rate}
end
if j then return {'expired', position, 0, 0, rate} end
return {'none', 0, 0, 0, rate}

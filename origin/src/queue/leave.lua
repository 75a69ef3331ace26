-- Takes a user out of the line and frees their slot (left, or finished by paying).
-- The next admission tick hands the slot to the head of the line.
--
-- KEYS[1] waiting ZSET, KEYS[2] seen ZSET, KEYS[3] active ZSET,
-- KEYS[4] stats HASH (per-minute counters for statistics, see line.rs)
-- ARGV[1] user id
-- ARGV[2] now (ms)
-- Returns {was_waiting, was_active}.
local w = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local a = redis.call('ZREM', KEYS[3], ARGV[1])
-- Leaving while still waiting is giving up.
if w == 1 and redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('HINCRBY', KEYS[4], math.floor(tonumber(ARGV[2]) / 60000) .. ':x', 1)
end
return {w, a}

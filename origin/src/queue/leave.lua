-- Takes a user out of the line and frees their slot (left, or finished by paying).
-- The next admission tick hands the slot to the head of the line.
--
-- KEYS[1] waiting ZSET, KEYS[2] seen ZSET, KEYS[3] active ZSET
-- ARGV[1] user id
-- Returns {was_waiting, was_active}.
local w = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local a = redis.call('ZREM', KEYS[3], ARGV[1])
return {w, a}

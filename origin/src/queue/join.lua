-- Joins the tier-2 line, consuming the edge pass, and admits at once when nobody waits
-- ahead and a slot is free. One script, so a join can never push `active` past the
-- capacity that the admission loop enforces (a check-then-admit in two steps would let
-- concurrent joins over-admit).
--
-- KEYS[1] waiting ZSET  user -> position
-- KEYS[2] seen    ZSET  user -> last poll (ms)
-- KEYS[3] active  ZSET  user -> slot expiry (ms)
-- KEYS[4] joined  HASH  user -> "position|joined_ms"
-- KEYS[5] the pass key (`pass:<edge key id>:<position>`), or the arrival counter when
--         there is no pass
-- KEYS[6] meta    HASH  rate_per_min (measured admissions)
-- KEYS[7] epoch   STR   exists while the line has state (an ended slot vs a flushed line)
-- KEYS[8] stats   HASH  per-minute counters for statistics (see line.rs)
-- ARGV[1] user id
-- ARGV[2] position from the pass, or 0: take the next arrival number from KEYS[5]
-- ARGV[3] now (ms)
-- ARGV[4] capacity (max active)
-- ARGV[5] slot length (ms)
-- ARGV[6] life of the pass key (s): until the sale closes, plus grace
-- ARGV[7] "1": the sale is open, immediate admission allowed
-- ARGV[8] key life (ms) of the line's keys
--
-- Returns {state, position, slot_expiry_ms, fresh, ahead, rate_per_min}:
--   state "admitted" | "waiting" | "pass_used"; fresh 1 when this call added the user;
--   ahead and rate only for "waiting".
local user = ARGV[1]
local now = tonumber(ARGV[3])
local life = tonumber(ARGV[8])

-- The sentinel lives at least as long as anything this join writes, so while a slot
-- could exist the entry guard can tell an ended slot from a flushed Redis.
redis.call('SET', KEYS[7], now, 'PX', life)

local function rate()
  return redis.call('HGET', KEYS[6], 'rate_per_min') or '0'
end

local minute = math.floor(now / 60000) .. ':'

-- Raises the minute's peak `field` to `n`.
local function peak(field, n)
  if n > tonumber(redis.call('HGET', KEYS[8], minute .. field) or '0') then
    redis.call('HSET', KEYS[8], minute .. field, n)
  end
end

local function position_of()
  local j = redis.call('HGET', KEYS[4], user)
  if not j then return 0 end
  return tonumber(string.match(j, '^(%d+)|')) or 0
end

-- Already in: a retried join answers with where the user stands, consuming nothing.
local expiry = redis.call('ZSCORE', KEYS[3], user)
if expiry and tonumber(expiry) > now then
  return {'admitted', position_of(), tonumber(expiry), 0}
end
local waiting = redis.call('ZSCORE', KEYS[1], user)
if waiting then
  redis.call('ZADD', KEYS[2], now, user)
  return {'waiting', tonumber(waiting), 0, 0, redis.call('ZRANK', KEYS[1], user), rate()}
end

local position = tonumber(ARGV[2])
if position > 0 then
  -- One tier-1 position seats one user for the whole sale: the edge re-signs a pass for
  -- the same position on every poll, so the marker must outlive every such pass.
  if not redis.call('SET', KEYS[5], user, 'NX', 'EX', ARGV[6]) then
    return {'pass_used', position, 0, 0}
  end
else
  position = redis.call('INCR', KEYS[5])
  redis.call('PEXPIRE', KEYS[5], life)
end

redis.call('HSET', KEYS[4], user, position .. '|' .. now)
redis.call('ZADD', KEYS[1], position, user)
redis.call('ZADD', KEYS[2], now, user)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], life) end
redis.call('HINCRBY', KEYS[8], minute .. 'j', 1)
redis.call('PEXPIRE', KEYS[8], life)

if ARGV[7] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == user and redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[4]) then
    local until_ms = now + tonumber(ARGV[5])
    redis.call('ZREM', KEYS[1], user)
    redis.call('ZREM', KEYS[2], user)
    redis.call('ZADD', KEYS[3], until_ms, user)
    redis.call('HINCRBY', KEYS[8], minute .. 'a', 1)
    redis.call('HINCRBY', KEYS[8], minute .. 'b0', 1)
    peak('p', redis.call('ZCARD', KEYS[3]))
    return {'admitted', position, until_ms, 1}
  end
end
peak('w', redis.call('ZCARD', KEYS[1]))
return {'waiting', position, 0, 1, redis.call('ZRANK', KEYS[1], user), rate()}

-- Hold every requested seat for one user, or none.
--
-- KEYS[1]    the event's fence counter  ({evt:<id>}:fence)
-- KEYS[2..]  one key per seat           ({evt:<id>}:seat:<seat id>)
-- ARGV[1]    user id
-- ARGV[2]    reservation id the new holds belong to
-- ARGV[3]    hold lifetime, ms
-- ARGV[4]    fence counter lifetime, s (bounded key life)
--
-- A seat key's value is "<user>|<reservation>|<fence>". A seat held by someone else is
-- a conflict; a seat the same user already holds is extended, never taken away from
-- its reservation (a retry must never release or steal the user's own hold).
--
-- Returns {0, {conflicting seat indexes, 1-based}} or {1, fence, {newly held indexes}}.
-- The caller releases only the newly held keys if Postgres then refuses.

local user = ARGV[1]
local prefix = user .. '|'
local conflicts = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and string.sub(v, 1, #prefix) ~= prefix then
    conflicts[#conflicts + 1] = i - 1
  end
end
if #conflicts > 0 then
  return {0, conflicts}
end

local fence = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local value = prefix .. ARGV[2] .. '|' .. fence
local fresh = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], value, 'PX', ARGV[3], 'NX') then
    fresh[#fresh + 1] = i - 1
  else
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return {1, fence, fresh}

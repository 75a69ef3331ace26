-- Compare-and-delete: drop each seat key only if it still holds exactly ARGV[1]
-- ("<user>|<reservation>|<fence>"), so a late release never frees a seat that has
-- since been held by someone else.
--
-- KEYS[1..]  seat keys ({evt:<id>}:seat:<seat id>)
-- ARGV[1]    the value the holds were written with
-- Returns the number of keys deleted.

local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n

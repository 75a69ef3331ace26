-- Give standing-ticket stock back to the Redis gate (cancel, expiry, failed insert).
-- A missing counter is left missing: the next take recreates it from Postgres.
--
-- KEYS[i]  stock counter of ticket type i
-- ARGV[i]  quantity returned to type i

for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], ARGV[i])
  end
end
return 0

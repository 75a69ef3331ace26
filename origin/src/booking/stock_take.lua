-- Take standing-ticket stock from the Redis gate, all items or none.
--
-- KEYS[i]      stock counter of ticket type i ({evt:<id>}:stock:<ticket type id>)
-- ARGV[2i-1]   quantity wanted of type i
-- ARGV[2i]     Postgres' available quantity of type i, used only to create a missing
--              counter (first use, or after Redis lost its data)
-- ARGV[#ARGV]  counter lifetime, s
--
-- Returns 0 on success, or the 1-based index of the first type that has too little.
-- The gate only spares Postgres hopeless requests; Postgres' conditional decrement
-- is what guarantees stock never goes below zero.

local ttl = ARGV[#ARGV]
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i], 'EX', ttl, 'NX')
end
for i = 1, #KEYS do
  local left = redis.call('DECRBY', KEYS[i], ARGV[2 * i - 1])
  if left < 0 then
    for j = 1, i do
      redis.call('INCRBY', KEYS[j], ARGV[2 * j - 1])
    end
    return i
  end
end
for i = 1, #KEYS do
  redis.call('EXPIRE', KEYS[i], ttl)
end
return 0

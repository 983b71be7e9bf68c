--[[
  Increments a hash field only while the hash exists: a counter kept in a record (a pool's
  round-robin cursor) must not re-create the record after it was deleted.

  KEYS[1] hash
  ARGV[1] field name

  Result: the new value, or 0 if the hash does not exist.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
end
return 0

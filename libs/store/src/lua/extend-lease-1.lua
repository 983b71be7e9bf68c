--[[
  Extends a lease the caller still owns.

  KEYS[1] lease key
  ARGV[1] owner token
  ARGV[2] new time to live, milliseconds

  Result: 1 if extended, 0 if the caller no longer owns it.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

--[[
  Releases a lease only if the caller still owns it: a holder whose lease lapsed and was taken
  over must not delete the new owner's lease.

  KEYS[1] lease key
  ARGV[1] owner token

  Result: 1 if released, 0 if the lease was not (or no longer) the caller's.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

--[[
  Takes a credential's refresh lease and reads the credential in one round trip. The lease is
  the same `SET NX PX` with a random owner token as LeaseManager.acquire; a credential that does
  not exist is not leased.

  KEYS[1] lease key
  KEYS[2] credential hash   (fields: p = projection JSON, s/t = secret ciphertexts,
                             a = attempt record JSON of a refresh whose outcome is not stored)

  ARGV[1] owner token
  ARGV[2] lease TTL in ms

  Result: {0}                            the credential does not exist
          {1, p, s or false, t or false, a or false} the lease is the caller's
          {2, p, remaining lease ms}     someone else holds the lease
]]
local p = redis.call('HGET', KEYS[2], 'p')
if not p then
  return {0}
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  local sta = redis.call('HMGET', KEYS[2], 's', 't', 'a')
  return {1, p, sta[1], sta[2], sta[3]}
end
return {2, p, redis.call('PTTL', KEYS[1])}

--[[
  Write-ahead attempt record: right before a refresh sends its request, confirms the caller still
  holds the lease (and extends it) and records what is about to be presented, in one round trip.
  Taking over the record (field ao) also fences out an earlier holder whose lease lapsed: its
  append is refused from now on (see append-events-5).

  KEYS[1] lease key
  KEYS[2] credential hash   (fields: r = revision, a = attempt record JSON, ao = its owner token)

  ARGV[1] owner token
  ARGV[2] lease TTL in ms
  ARGV[3] revision the caller read
  ARGV[4] attempt record JSON (never a secret)

  Result: 1 recorded, 0 the lease is no longer the caller's, -1 the credential moved on.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(redis.call('HGET', KEYS[2], 'r') or '-1') ~= tonumber(ARGV[3]) then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'a', ARGV[4], 'ao', ARGV[1])
return 1

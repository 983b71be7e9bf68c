--[[
  Replaces one hash field only if it still holds the value the caller read (compare-and-set),
  so a background rewrite (re-encryption to a new key) never clobbers a concurrent refresh.

  KEYS[1] credential hash
  ARGV[1] field name
  ARGV[2] expected current value
  ARGV[3] new value

  Result: 1 if replaced, 0 if the field changed (or vanished) meanwhile.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0

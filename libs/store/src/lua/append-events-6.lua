--[[
  Appends events to a credential's history, replaces its projection and writes the events to
  its partition of the global feed, atomically, if the credential is still at the expected
  revision (optimistic concurrency; also the fencing check for a refresh that lost its lease).
  On success it can also release the caller's refresh lease (only if the caller still owns it,
  as release-lease-1 does), saving the refresh a round trip.

  KEYS[1] credential hash   (fields: r = revision, p = projection JSON, s/t = secret ciphertexts)
  KEYS[2] history stream    (entry id = "<revision>-0", field e = compact event JSON)
  KEYS[3] feed stream       (partition of the global feed, field e = event JSON)
  KEYS[4] index sorted set  (credential ids of the partition)
  KEYS[5] lease key         (the credential's refresh lease)
  KEYS[6] namespace index   (credential ids of the credential's namespace in the partition)

  ARGV[1] expected revision ("0" for a new credential)
  ARGV[2] new projection JSON
  ARGV[3] history max length
  ARGV[4] feed max length (hard cap)
  ARGV[5] index operation on both indexes: "add", "rem" or "keep"
  ARGV[6] credential id
  ARGV[7] lease owner token to release on success ("" releases nothing)
  ARGV[8] feed minimum entry id (time retention; "" trims by length only)
  ARGV[9] fencing owner token ("" for appends that are not a refresh's): the append goes through
          only if the credential's attempt record (field ao) names this owner, or, when there is
          no attempt record, if this owner holds the lease. A refresh whose lease lapsed keeps
          its right to persist until another worker records an attempt of its own.
  ARGV[10] "1" clears the attempt record (fields a, ao) on success, "0" keeps it
  ARGV[11] number of extra hash fields F; then F pairs field, value ("" deletes the field)
  ARGV[12 + 2F ...] per event, oldest first (revisions expected+1, ...): its history JSON, then
                    its feed JSON

  Result: {new revision, feed entry id of each event...}
  Error:  "FENCED" when the caller's refresh was taken over;
          "CONFLICT <current revision>" when the credential moved on.
]]
if ARGV[9] ~= '' then
  local attemptOwner = redis.call('HGET', KEYS[1], 'ao')
  if attemptOwner then
    if attemptOwner ~= ARGV[9] then
      return redis.error_reply('FENCED')
    end
  elseif redis.call('GET', KEYS[5]) ~= ARGV[9] then
    return redis.error_reply('FENCED')
  end
end

local current = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local expected = tonumber(ARGV[1])
if current ~= expected then
  return redis.error_reply('CONFLICT ' .. current)
end

local fieldCount = tonumber(ARGV[11])
local firstEvent = 12 + 2 * fieldCount
local revision = expected
local result = {}
for i = firstEvent, #ARGV, 2 do
  revision = revision + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], revision .. '-0', 'e', ARGV[i])
  result[#result + 1] = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[i + 1])
end
if ARGV[8] ~= '' then
  redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[8])
end

redis.call('HSET', KEYS[1], 'r', revision, 'p', ARGV[2])
for i = 12, 11 + 2 * fieldCount, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end

if ARGV[10] == '1' then
  redis.call('HDEL', KEYS[1], 'a', 'ao')
end

if ARGV[5] == 'add' then
  redis.call('ZADD', KEYS[4], 0, ARGV[6])
  redis.call('ZADD', KEYS[6], 0, ARGV[6])
elseif ARGV[5] == 'rem' then
  redis.call('ZREM', KEYS[4], ARGV[6])
  redis.call('ZREM', KEYS[6], ARGV[6])
end

if ARGV[7] ~= '' and redis.call('GET', KEYS[5]) == ARGV[7] then
  redis.call('DEL', KEYS[5])
end

table.insert(result, 1, revision)
return result

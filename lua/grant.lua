--[[
  Record a grant (one draw chance) in Redis, next to the activity it belongs
  to, so the draw script can spend it atomically. Idempotent: an existing
  grant is left as it is (a spent grant is never reset by a retry).

  KEYS[1] grant      hash  user, amount, reference, used (0|1), draw

  ARGV[1] user       user id
  ARGV[2] amount
  ARGV[3] reference

  REPLY[1] created   1 when created, 0 when it already existed; then, if it did:
  REPLY[2] user
  REPLY[3] amount
  REPLY[4] used
]]

local grantKey = KEYS[1]

local user = ARGV[1]
local amount = ARGV[2]
local reference = ARGV[3]

local old = redis.call('HMGET', grantKey, 'user', 'amount', 'used')
if old[1] then return {0, old[1], old[2], old[3]} end
redis.call('HSET', grantKey, 'user', user, 'amount', amount, 'reference', reference, 'used', 0)
return {1}

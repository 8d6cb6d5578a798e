--[[
  Record a grant (one draw chance) in Redis, next to the activity it belongs
  to, so the draw script can spend it atomically. Idempotent: an existing
  grant is left as it is (a spent grant is never reset by a retry).

  KEYS[1] grant   hash  user, amount, reference, used (0|1), draw
  ARGV[1] user id    ARGV[2] amount    ARGV[3] reference

  Returns {1} when created, {0, user, amount, used} when it already existed.
]]

local grantKey = KEYS[1]
local old = redis.call('HMGET', grantKey, 'user', 'amount', 'used')
if old[1] then return {0, old[1], old[2], old[3]} end
redis.call('HSET', grantKey, 'user', ARGV[1], 'amount', ARGV[2], 'reference', ARGV[3], 'used', 0)
return {1}

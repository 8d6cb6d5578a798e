--[[
  Release a lock only if this holder still holds it (a holder whose lease ran
  out must not release the next holder's).

  KEYS[1] lock       string  the holder's token, with an expiry

  ARGV[1] token      this holder's token

  REPLY released     1 if released, 0 if the lock was no longer this holder's
]]

local lockKey = KEYS[1]

local token = ARGV[1]

if redis.call('GET', lockKey) == token then
  redis.call('DEL', lockKey)
  return 1
end
return 0

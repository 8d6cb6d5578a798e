--[[
  Claim a player's Idempotency-Key across activities: the first request with
  the key leaves what it asked for (its body's fingerprint, which names the
  activity); a later request with the same key and another body is refused
  before any activity's draw script runs. The key carries the player's own
  hash tag, so this call touches one slot whatever activity the draw is in;
  the draw script keeps the stored answer in the activity's slot as before.
  Called only for a request that sends an Idempotency-Key.

  KEYS[1] claim    string  the fingerprint of the first request with this key

  ARGV[1] body     40 hex digits naming what the request asked for
  ARGV[2] ttl      seconds the claim is kept (REDRAIN_IDEMPOTENCY_TTL)

  REPLY   held     1 when the key is this body's (claimed now or before), 0 when another body's
]]

local claimKey = KEYS[1]

local body = ARGV[1]
local ttl = ARGV[2]

local held = redis.call('GET', claimKey)
if not held then
  redis.call('SET', claimKey, body, 'EX', ttl)
  return 1
end
if held == body then return 1 end
return 0

--[[
  Remove a round that a re-published configuration no longer has. Only a round
  that has not started and has no draw is removed; anything else is kept.

  KEYS[1] rounds   zset  member "<sfx>|<end_ms>"
  KEYS[2] round    hash
  ARGV[1] sfx      ARGV[2] clock offset, ms

  Returns 1 when removed, 0 when kept (or already gone).
]]

-- @include release

local roundsKey, roundKey = KEYS[1], KEYS[2]
local now = nowMs(ARGV[2])
local old = redis.call('HMGET', roundKey, 'draws', 'start', 'end')
if not old[1] then return 0 end
if tonumber(old[1]) > 0 or now >= tonumber(old[2]) then return 0 end
redis.call('ZREM', roundsKey, ARGV[1] .. '|' .. old[3])
redis.call('DEL', roundKey)
return 1

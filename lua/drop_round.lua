--[[
  Remove a round that a re-published configuration no longer has. Only a round
  that has not started and has no draw is removed; anything else is kept.

  KEYS[1] rounds   zset  member "<sfx>|<end_ms>"
  KEYS[2] round    hash

  ARGV[1] sfx
  ARGV[2] offset   clock offset, ms

  REPLY   removed  1 when removed, 0 when kept (or already gone)
]]

-- @include release

local roundsKey = KEYS[1]
local roundKey = KEYS[2]

local sfx = ARGV[1]
local offset = ARGV[2]

local now = nowMs(offset)
local old = redis.call('HMGET', roundKey, 'draws', 'start', 'end')
if not old[1] then return 0 end
if tonumber(old[1]) > 0 or now >= tonumber(old[2]) then return 0 end
redis.call('ZREM', roundsKey, sfx .. '|' .. old[3])
redis.call('DEL', roundKey)
return 1

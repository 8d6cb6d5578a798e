--[[
  A round's counters with released stock brought up to date.

  KEYS[1] round        hash
  KEYS[2] roundUsers   hash  user -> draws in the round

  ARGV[1] offset       clock offset, ms

  REPLY[1] draws
  REPLY[2] users
  REPLY[3] prizeCount  n, then n times:
  REPLY[..] prize = key, quantity, released, won
  REPLY[..] nowMs

  ERROR -1 ROUND_NOT_FOUND
]]

-- @include release

local roundKey = KEYS[1]
local roundUsersKey = KEYS[2]

local offset = ARGV[1]

local now = nowMs(offset)
local head = redis.call('HMGET', roundKey, 'draws', 'n')
if not head[1] then return {-1} end
local n = tonumber(head[2])
local out = {tonumber(head[1]), redis.call('HLEN', roundUsersKey), n}
for i = 1, n do
  local si = tostring(i)
  local row = redis.call('HMGET', roundKey, 'k' .. si, 'q' .. si, 't' .. si, 'r' .. si, 'w' .. si)
  local released = tonumber(row[4])
  local nextAt = tonumber(row[3])
  if nextAt >= 0 and nextAt <= now then released = releaseDue(roundKey, i, now) end
  out[#out + 1] = row[1]
  out[#out + 1] = tonumber(row[2])
  out[#out + 1] = released
  out[#out + 1] = tonumber(row[5])
end
out[#out + 1] = string.format('%.0f', now)
return out

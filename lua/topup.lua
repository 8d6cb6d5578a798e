--[[
  Top up one prize of a round that has not ended. The added units are released
  at once (from the round's start, if it has not started yet).

  KEYS[1] round      hash

  ARGV[1] prizeKey
  ARGV[2] add        units to add (> 0)
  ARGV[3] offset     clock offset, ms

  After the top-up:
  REPLY[1] quantity
  REPLY[2] released
  REPLY[3] atMs      the Redis clock (+ offset) of the top-up

  ERROR -1 ROUND_NOT_FOUND
  ERROR -2 ROUND_ENDED
  ERROR -3 PRIZE_NOT_FOUND
  ERROR -4 EMPTY_PRIZE
]]

-- @include release

local roundKey = KEYS[1]

local prizeKey = ARGV[1]
local add = tonumber(ARGV[2])
local offset = ARGV[3]

local now = nowMs(offset)

local head = redis.call('HMGET', roundKey, 'end', 'n')
if not head[1] then return {-1} end
if now >= tonumber(head[1]) then return {-2} end
for i = 1, tonumber(head[2]) do
  local si = tostring(i)
  local kv = redis.call('HMGET', roundKey, 'k' .. si, 'e' .. si)
  if kv[1] == prizeKey then
    if kv[2] == '1' then return {-4} end
    redis.call('HINCRBY', roundKey, 'a' .. si, add)
    local q = redis.call('HINCRBY', roundKey, 'q' .. si, add)
    local r = redis.call('HINCRBY', roundKey, 'r' .. si, add)
    redis.call('HDEL', roundKey, 'so')  -- stock again: not sold out (buckets)
    return {q, r, string.format('%.0f', now)}
  end
end
return {-3}

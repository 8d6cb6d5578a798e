--[[
  Put units taken out of another bucket (lua/move_out.lua) into this bucket's
  round, released at once: second half of a stock move. Idempotent by move id,
  so whoever finds a move half done can complete it safely.

  KEYS[1] round     hash  the destination bucket's round state
  KEYS[2] moves     hash  move id -> "<state>:<prize>:<units>:<peer>:<at_ms>"

  ARGV[1] moveId
  ARGV[2] prize     1-based prize number in the round
  ARGV[3] units     exactly what was taken out
  ARGV[4] peer      the bucket the units come from
  ARGV[5] offset    clock offset, ms

  REPLY[1] status   1 put in now, 2 put in before (a repeat)
  REPLY[2] atMs     the Redis clock (+ offset) of the put-in

  ERROR -1 ROUND_NOT_FOUND
]]

-- @include release

local roundKey = KEYS[1]
local movesKey = KEYS[2]

local moveId = ARGV[1]
local prize = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local peer = ARGV[4]
local offset = ARGV[5]

local done = redis.call('HGET', movesKey, moveId)
if done then
  return {2, string.match(done, ':(%d+)$')}
end
if redis.call('HEXISTS', roundKey, 'n') == 0 then return {-1} end

local at = string.format('%.0f', nowMs(offset))
local si = tostring(prize)
-- Units in even after the round ended: the total is conserved, nobody can win them.
redis.call('HINCRBY', roundKey, 'r' .. si, units)
redis.call('HINCRBY', roundKey, 'q' .. si, units)
redis.call('HDEL', roundKey, 'so')
redis.call('HSET', movesKey, moveId, 'in:' .. prize .. ':' .. units .. ':' .. peer .. ':' .. at)
return {1, at}

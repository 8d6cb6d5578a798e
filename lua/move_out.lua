--[[
  Take unwon released units of one prize out of a bucket's round, first half of
  a stock move between buckets (SPEC §9; app/jobs/rebalance.py has the whole
  protocol). Idempotent by move id: a repeat answers what the first call did.

  KEYS[1] round     hash  the source bucket's round state (see lua/draw.lua)
  KEYS[2] moves     hash  move id -> "<state>:<prize>:<units>:<peer>:<at_ms>"

  ARGV[1] moveId
  ARGV[2] prize     1-based prize number in the round
  ARGV[3] units     at most this many (fewer if fewer are left; > 0)
  ARGV[4] peer      the bucket the units go to
  ARGV[5] offset    clock offset, ms

  REPLY[1] status   1 taken out now, 2 taken out before (a repeat)
  REPLY[2] taken    units taken out
  REPLY[3] atMs     the Redis clock (+ offset) of the take-out

  ERROR -1 ROUND_NOT_FOUND
  ERROR -2 ROUND_ENDED
  ERROR -3 NOTHING_LEFT            no unwon released unit of the prize
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
  local _, _, taken, _, at = string.match(done, '^(%a+):(%d+):(%d+):(%d+):(%d+)$')
  return {2, tonumber(taken), at}
end

local now = nowMs(offset)
local head = redis.call('HMGET', roundKey, 'end', 'n')
if not head[1] then return {-1} end
if now >= tonumber(head[1]) or prize > tonumber(head[2]) then return {-2} end

local si = tostring(prize)
local row = redis.call('HMGET', roundKey, 't' .. si, 'r' .. si, 'w' .. si)
local released = tonumber(row[2])
local nextAt = tonumber(row[1])
if nextAt >= 0 and nextAt <= now then released = releaseDue(roundKey, prize, now) end
local left = released - tonumber(row[3])
if left <= 0 then return {-3} end
local taken = math.min(units, left)
redis.call('HINCRBY', roundKey, 'r' .. si, -taken)
redis.call('HINCRBY', roundKey, 'q' .. si, -taken)
local at = string.format('%.0f', now)
redis.call('HSET', movesKey, moveId, 'out:' .. prize .. ':' .. taken .. ':' .. peer .. ':' .. at)
return {1, taken, at}

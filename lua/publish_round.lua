--[[
  Load one round's definition: stock, release slices, odds and seed.

  Idempotent and safe to repeat: a round that has started or has any draw is
  frozen and left untouched (consumed stock is never reset). A round not yet
  started is (re)written from ARGV, keeping its seed and any top-ups already
  made to it (matched by prize key).

  KEYS[1] rounds   zset  member "<sfx>|<end_ms>", score start_ms
  KEYS[2] round    hash  the round state (see lua/draw.lua, lua/includes/release.lua)

  ARGV[1] sfx "YYYYMMDD:i"     ARGV[2] start_ms     ARGV[3] end_ms
  ARGV[4] seed (hex)           ARGV[5] seed hash    ARGV[6] clock offset, ms
  ARGV[7] n, the prize count, then 6 values per prize i:
          key, empty ("1"|"0"), ppb, weight, quantity, slices "at:amount,at:amount"

  Returns 1 when written, 0 when the round was frozen and kept.
]]

-- @include release

local roundsKey, roundKey = KEYS[1], KEYS[2]
local sfx, startMs, endMs = ARGV[1], ARGV[2], ARGV[3]
local now = nowMs(ARGV[6])
local n = tonumber(ARGV[7])

local seed, seedHash = ARGV[4], ARGV[5]
local topups = {}
if redis.call('EXISTS', roundKey) == 1 then
  local old = redis.call('HMGET', roundKey, 'draws', 'start', 'end', 'n', 'seed', 'seedh')
  if tonumber(old[1]) > 0 or now >= tonumber(old[2]) then return 0 end
  seed, seedHash = old[5], old[6]
  for i = 1, tonumber(old[4]) do
    local si = tostring(i)
    local kv = redis.call('HMGET', roundKey, 'k' .. si, 'a' .. si)
    topups[kv[1]] = tonumber(kv[2])
  end
  redis.call('ZREM', roundsKey, sfx .. '|' .. old[3])
  redis.call('DEL', roundKey)
end

redis.call('HSET', roundKey, 'start', startMs, 'end', endMs, 'n', n,
  'seed', seed, 'seedh', seedHash, 'draws', 0)
for i = 1, n do
  local b = 7 + (i - 1) * 6
  local si = tostring(i)
  local key = ARGV[b + 1]
  local added = topups[key] or 0
  local ns, firstAt = 0, -1
  for at, amount in string.gmatch(ARGV[b + 6], '(%d+):(%d+)') do
    ns = ns + 1
    if ns == 1 then firstAt = at end
    redis.call('HSET', roundKey, 's' .. si .. '.' .. ns, at .. ':' .. amount)
  end
  redis.call('HSET', roundKey,
    'k' .. si, key, 'e' .. si, ARGV[b + 2], 'p' .. si, ARGV[b + 3], 'g' .. si, ARGV[b + 4],
    'q' .. si, tonumber(ARGV[b + 5]) + added, 'a' .. si, added, 'r' .. si, added, 'w' .. si, 0,
    'x' .. si, 1, 'ns' .. si, ns, 't' .. si, firstAt)
end
redis.call('ZADD', roundsKey, startMs, sfx .. '|' .. endMs)
return 1

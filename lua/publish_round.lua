--[[
  Load one round's definition: stock, release slices, odds and seed.

  Idempotent and safe to repeat: a round that has started or has any draw is
  frozen and left untouched (consumed stock is never reset). A round not yet
  started is (re)written from ARGV, keeping its seed and any top-ups already
  made to it (matched by prize key).

  KEYS[1] rounds      zset  member "<sfx>|<end_ms>", score start_ms
  KEYS[2] round       hash  the round state (see lua/draw.lua, lua/includes/release.lua)

  ARGV[1] sfx         "YYYYMMDD:i"
  ARGV[2] startMs
  ARGV[3] endMs
  ARGV[4] seed        hex
  ARGV[5] seedHash
  ARGV[6] offset      clock offset, ms
  ARGV[7] prizeCount  n, then n times:
  ARGV[..] prize = key, empty, ppb, weight, quantity, slices   (slices "at:amount,at:amount")

  REPLY   written     1 when written, 0 when the round was frozen and kept
]]

-- @include release

local roundsKey = KEYS[1]
local roundKey = KEYS[2]

local sfx = ARGV[1]
local startMs = ARGV[2]
local endMs = ARGV[3]
local seed = ARGV[4]
local seedHash = ARGV[5]
local offset = ARGV[6]
local prizeCount = tonumber(ARGV[7])

local PRIZE_AT = 8
local now = nowMs(offset)
local n = prizeCount
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

-- A small hash is a listpack, scanned from its head for every field: the
-- fields each draw reads and writes (draws, then t, r, w per prize) are
-- written first (loadtest/lua_cost.py: docs/performance.md, issue 16).
local hot = {'draws', '0'}
for i = 1, n do
  local b = PRIZE_AT + (i - 1) * 6
  local si = tostring(i)
  local added = topups[ARGV[b]] or 0
  local firstAt = string.match(ARGV[b + 5], '^(%d+):') or -1
  hot[#hot + 1], hot[#hot + 2] = 't' .. si, firstAt
  hot[#hot + 1], hot[#hot + 2] = 'r' .. si, added
  hot[#hot + 1], hot[#hot + 2] = 'w' .. si, 0
end
redis.call('HSET', roundKey, unpack(hot))
redis.call('HSET', roundKey, 'start', startMs, 'end', endMs, 'n', n,
  'seed', seed, 'seedh', seedHash)
for i = 1, n do
  -- key, empty, ppb, weight, quantity, slices
  local b = PRIZE_AT + (i - 1) * 6
  local si = tostring(i)
  local key = ARGV[b]
  local added = topups[key] or 0
  local ns = 0
  for at, amount in string.gmatch(ARGV[b + 5], '(%d+):(%d+)') do
    ns = ns + 1
    redis.call('HSET', roundKey, 's' .. si .. '.' .. ns, at .. ':' .. amount)
  end
  redis.call('HSET', roundKey,
    'k' .. si, key, 'e' .. si, ARGV[b + 1], 'p' .. si, ARGV[b + 2], 'g' .. si, ARGV[b + 3],
    'q' .. si, tonumber(ARGV[b + 4]) + added, 'a' .. si, added, 'x' .. si, 1, 'ns' .. si, ns)
end
redis.call('ZADD', roundsKey, startMs, sfx .. '|' .. endMs)
return 1

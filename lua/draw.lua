--[[
  One draw, atomically: time window, user limits, even-award release, weighted
  pick, stock decrement, ledger append. See docs/architecture.md.

  All keys share the activity's hash tag {rd:<activity_id>} (one slot).

  KEYS[1] cfg          hash  ver, id, start, mode (manual|auto), pr, pd, pt, pw
  KEYS[2] rounds       zset  member "<sfx>|<end_ms>", score start_ms
  KEYS[3] totals       hash  user -> draws in the activity
  KEYS[4] wins         hash  user -> prizes won in the activity
  KEYS[5] round        hash  of the round the caller guessed is open (ARGV[2])
  KEYS[6] roundUsers   hash  user -> draws in that round (the nonce counter)
  KEYS[7] day          hash  user -> draws on that round's day
  KEYS[8] stream       the round's ledger stream
  KEYS[9] idem         string holding the stored result of an Idempotency-Key

  ARGV[1] config version the caller's cache was built from
  ARGV[2] guessed open round suffix "YYYYMMDD:i"
  ARGV[3] user id
  ARGV[4] user key: hex HMAC-SHA256(seed of the guessed round, "<user>:<client_seed>")
  ARGV[5] client seed (may be empty)
  ARGV[6] clock offset, ms
  ARGV[7] "1" when KEYS[9] is a real Idempotency-Key, "" otherwise
  ARGV[8] Idempotency-Key retention, seconds

  Returns, on a draw (1) or an Idempotency-Key replay (2):
    {status, sfx, seq, pick, won, nonce, dayCount, totalCount, random, at_ms, clientSeed}
  where pick is the 1-based prize index picked (0: the empty remainder) and won
  is 1 only if that prize had released stock. Refusals (nothing changed):
    {-1}            ACTIVITY_NOT_FOUND  not published
    {-2, next_ms}   NOT_STARTED
    {-3}            ENDED
    {-4, next_ms}   ROUND_CLOSED        between rounds
    {-5} ROUND_LIMIT  {-6} DAY_LIMIT  {-7} TOTAL_LIMIT  {-8} WIN_LIMIT
    {-9}            STALE               caller's config version is old: reload
    {-10, sfx}      WRONG_ROUND         another round is open: retry with it
]]

-- @include release

local cfgKey, roundsKey, totalsKey, winsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local roundKey, roundUsersKey, dayKey, streamKey, idemKey =
  KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local version, guess, user, userKey, clientSeed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local useIdem, idemTtl = ARGV[7] == '1', ARGV[8]

local cfg = redis.call('HMGET', cfgKey, 'ver', 'id', 'start', 'mode', 'pr', 'pd', 'pt', 'pw')
if not cfg[1] then return {-1} end
if cfg[1] ~= version then return {-9} end

if useIdem then
  local stored = redis.call('GET', idemKey)
  if stored then
    -- Nine comma-free fields, then the client seed (which may hold commas).
    local out, pos = {2}, 1
    for _ = 1, 9 do
      local comma = string.find(stored, ',', pos, true)
      out[#out + 1] = string.sub(stored, pos, comma - 1)
      pos = comma + 1
    end
    out[#out + 1] = string.sub(stored, pos)
    return out
  end
end

local now = nowMs(ARGV[6])

-- The open round is the last one started, if it has not ended.
local last = redis.call('ZREVRANGEBYSCORE', roundsKey, now, '-inf', 'LIMIT', 0, 1)
local openSfx = nil
if last[1] then
  local sfx, endMs = string.match(last[1], '^(.+)|(%d+)$')
  if now < tonumber(endMs) then openSfx = sfx end
end
if not openSfx then
  local nxt = redis.call('ZRANGEBYSCORE', roundsKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not nxt[1] then return {-3} end
  if now < tonumber(cfg[3]) then return {-2, nxt[2]} end
  return {-4, nxt[2]}
end
if openSfx ~= guess then return {-10, openSfx} end

-- Limits (0 = unlimited); refusals change nothing.
local perRound, perDay, perTotal, perWins =
  tonumber(cfg[5]), tonumber(cfg[6]), tonumber(cfg[7]), tonumber(cfg[8])
local inRound = tonumber(redis.call('HGET', roundUsersKey, user) or 0)
if perRound > 0 and inRound >= perRound then return {-5} end
local inDay = tonumber(redis.call('HGET', dayKey, user) or 0)
if perDay > 0 and inDay >= perDay then return {-6} end
local inTotal = tonumber(redis.call('HGET', totalsKey, user) or 0)
if perTotal > 0 and inTotal >= perTotal then return {-7} end
if perWins > 0 and tonumber(redis.call('HGET', winsKey, user) or 0) >= perWins then
  return {-8}
end

-- Release due slices, then read the prize table.
local n = tonumber(redis.call('HGET', roundKey, 'n'))
local fields = {}
for i = 1, n do
  local si = tostring(i)
  fields[#fields + 1] = 't' .. si
  fields[#fields + 1] = 'e' .. si
  fields[#fields + 1] = 'p' .. si
  fields[#fields + 1] = 'g' .. si
  fields[#fields + 1] = 'r' .. si
  fields[#fields + 1] = 'w' .. si
end
local row = redis.call('HMGET', roundKey, unpack(fields))
local empty, ppb, weight, released, won = {}, {}, {}, {}, {}
for i = 1, n do
  local b = (i - 1) * 6
  local nextAt = tonumber(row[b + 1])
  empty[i] = row[b + 2] == '1'
  ppb[i] = tonumber(row[b + 3])
  weight[i] = tonumber(row[b + 4])
  released[i] = tonumber(row[b + 5])
  won[i] = tonumber(row[b + 6])
  if nextAt >= 0 and nextAt <= now then released[i] = releaseDue(roundKey, i, now) end
end

-- Uniform x on [0, total) from the keyed random (see app/fairness.py).
local nonce = inRound + 1
local random = redis.sha1hex(userKey .. ':' .. nonce)
local TWO52 = 4503599627370496
local function uniform(total)
  local limit = TWO52 - (TWO52 % total)
  local v = 0
  for j = 0, 2 do
    v = tonumber(string.sub(random, j * 13 + 1, j * 13 + 13), 16)
    if v < limit then break end
  end
  return v % total
end

local pick = 0
if cfg[4] == 'auto' then
  local avail, total = {}, 0
  for i = 1, n do
    local left = released[i] - won[i]
    if empty[i] or left < 0 then left = 0 end
    avail[i] = weight[i] * left
    total = total + avail[i]
  end
  if total > 0 then
    local x, acc = uniform(total), 0
    for i = 1, n do
      acc = acc + avail[i]
      if x < acc then pick = i break end
    end
  end
else
  local x, acc = uniform(1000000000), 0
  for i = 1, n do
    acc = acc + ppb[i]
    if x < acc then pick = i break end
  end
end

-- A picked prize with no released stock left is a loss: never re-pick.
local isWin = 0
if pick > 0 and not empty[pick] and released[pick] - won[pick] > 0 then isWin = 1 end

redis.call('HINCRBY', roundUsersKey, user, 1)
local dayCount = redis.call('HINCRBY', dayKey, user, 1)
local totalCount = redis.call('HINCRBY', totalsKey, user, 1)
local prizeKey = ''
if isWin == 1 then
  redis.call('HINCRBY', roundKey, 'w' .. pick, 1)
  redis.call('HINCRBY', winsKey, user, 1)
  prizeKey = redis.call('HGET', roundKey, 'k' .. pick)
end
local seq = redis.call('HINCRBY', roundKey, 'draws', 1)
local atMs = string.format('%.0f', now)

redis.call('XADD', streamKey, '*',
  'd', cfg[2] .. ':' .. openSfx .. ':' .. seq, 'u', user, 'n', nonce, 'c', clientSeed,
  'p', pick, 'k', prizeKey, 'w', isWin, 'x', random, 't', atMs)

local result = {1, openSfx, seq, pick, isWin, nonce, dayCount, totalCount, random, atMs, clientSeed}
if useIdem then
  redis.call('SET', idemKey, table.concat(result, ',', 2), 'EX', idemTtl)
end
return result

--[[
  One draw, atomically: time window, user limits, even-award release, weighted
  pick, stock decrement, ledger append. See docs/architecture.md.

  All keys share the activity's hash tag {rd:<activity_id>} (one slot).

  KEYS[1] cfg          hash  ver (the published configuration's version)
  KEYS[2] rounds       zset  member "<sfx>|<end_ms>", score start_ms
  KEYS[3] totals       hash  user -> draws in the activity
  KEYS[4] wins         hash  user -> prizes won in the activity
  KEYS[5] round        hash  of the round the caller guessed is open (ARGV[2])
  KEYS[6] roundUsers   hash  user -> draws in that round (the nonce counter)
  KEYS[7] day          hash  user -> draws on that round's day
  KEYS[8] stream       the round's ledger stream
  KEYS[9] idem         string holding the stored result of an Idempotency-Key

  ARGV[1]  config version the caller's static arguments come from
  ARGV[2]  guessed open round suffix "YYYYMMDD:i"
  ARGV[3]  user id
  ARGV[4]  user key: hex HMAC-SHA256(seed of the guessed round, "<user>:<client_seed>")
  ARGV[5]  client seed (may be empty)
  ARGV[6]  clock offset, ms
  ARGV[7]  "1" when KEYS[9] is a real Idempotency-Key, "" otherwise
  ARGV[8]  Idempotency-Key retention, seconds
  Static for that version (the caller compiled them from the same published
  configuration; the version check makes them authoritative):
  ARGV[9]  activity id           ARGV[10] activity start, ms
  ARGV[11] round start, ms       ARGV[12] round end, ms
  ARGV[13] odds mode ("manual" | "auto")
  ARGV[14..17] limits per_round, per_day, total, wins_total (0 = unlimited)
  ARGV[18] n, the prize count, then 4 values per prize i: key, empty ("1"|"0"),
           probability in parts per 10^9, weight

  Returns, on a draw (1) or an Idempotency-Key replay (2):
    {status, sfx, seq, pick, won, nonce, dayCount, totalCount, random, at_ms, clientSeed}
  where pick is the 1-based prize index picked (0: the empty remainder), won
  is 1 only if that prize had released stock, and dayCount / totalCount are 0
  when that limit is unlimited (the counter is not kept). Refusals (nothing
  changed):
    {-1}            ACTIVITY_NOT_FOUND  not published
    {-2, next_ms}   NOT_STARTED
    {-3}            ENDED
    {-4, next_ms}   ROUND_CLOSED        between rounds
    {-5} ROUND_LIMIT  {-6} DAY_LIMIT  {-7} TOTAL_LIMIT  {-8} WIN_LIMIT
    {-9}            STALE               caller's config version is old: reload
    {-10, sfx}      WRONG_ROUND         another round is open: retry with it
    {-11}           ROUND_MISSING       the round's state is not in Redis
]]

-- @include release

local cfgKey, roundsKey, totalsKey, winsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local roundKey, roundUsersKey, dayKey, streamKey, idemKey =
  KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local version, guess, user, userKey, clientSeed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local useIdem, idemTtl = ARGV[7] == '1', ARGV[8]

local ver = redis.call('HGET', cfgKey, 'ver')
if not ver then return {-1} end
if ver ~= version then return {-9} end

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

-- Usually the guessed round is open; otherwise find out what is.
if now < tonumber(ARGV[11]) or now >= tonumber(ARGV[12]) then
  local last = redis.call('ZREVRANGEBYSCORE', roundsKey, now, '-inf', 'LIMIT', 0, 1)
  if last[1] then
    local sfx, endMs = string.match(last[1], '^(.+)|(%d+)$')
    if now < tonumber(endMs) then return {-10, sfx} end
  end
  local nxt = redis.call('ZRANGEBYSCORE', roundsKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not nxt[1] then return {-3} end
  if now < tonumber(ARGV[10]) then return {-2, nxt[2]} end
  return {-4, nxt[2]}
end

-- Limits (0 = unlimited); refusals change nothing.
local perRound, perDay, perTotal, perWins =
  tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])
-- The per-day, per-activity and win counters exist only for their limits:
-- an unlimited one (it cannot change once the activity started) is not kept.
local inRound = tonumber(redis.call('HGET', roundUsersKey, user) or 0)
if perRound > 0 and inRound >= perRound then return {-5} end
if perDay > 0 and tonumber(redis.call('HGET', dayKey, user) or 0) >= perDay then
  return {-6}
end
if perTotal > 0 and tonumber(redis.call('HGET', totalsKey, user) or 0) >= perTotal then
  return {-7}
end
if perWins > 0 and tonumber(redis.call('HGET', winsKey, user) or 0) >= perWins then
  return {-8}
end

-- The round's moving parts: draws so far, and per prize the next slice time,
-- units released and units won. Release the slices that are due.
local n = tonumber(ARGV[18])
local fields = {'draws'}
for i = 1, n do
  local si = tostring(i)
  fields[#fields + 1] = 't' .. si
  fields[#fields + 1] = 'r' .. si
  fields[#fields + 1] = 'w' .. si
end
local row = redis.call('HMGET', roundKey, unpack(fields))
if not row[1] then return {-11} end
local draws = tonumber(row[1])
local empty, released, won = {}, {}, {}
for i = 1, n do
  local b = 1 + (i - 1) * 3
  empty[i] = ARGV[19 + (i - 1) * 4 + 1] == '1'
  released[i] = tonumber(row[b + 2])
  won[i] = tonumber(row[b + 3])
  local nextAt = tonumber(row[b + 1])
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
if ARGV[13] == 'auto' then
  local avail, total = {}, 0
  for i = 1, n do
    local left = released[i] - won[i]
    if empty[i] or left < 0 then left = 0 end
    avail[i] = tonumber(ARGV[19 + (i - 1) * 4 + 3]) * left
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
    acc = acc + tonumber(ARGV[19 + (i - 1) * 4 + 2])
    if x < acc then pick = i break end
  end
end

-- A picked prize with no released stock left is a loss: never re-pick.
local isWin = 0
if pick > 0 and not empty[pick] and released[pick] - won[pick] > 0 then isWin = 1 end

redis.call('HINCRBY', roundUsersKey, user, 1)
local dayCount, totalCount = 0, 0
if perDay > 0 then dayCount = redis.call('HINCRBY', dayKey, user, 1) end
if perTotal > 0 then totalCount = redis.call('HINCRBY', totalsKey, user, 1) end
local seq = draws + 1
local prizeKey = ''
if isWin == 1 then
  -- Values read above in this same atomic call: one write for both counters.
  redis.call('HSET', roundKey, 'draws', seq, 'w' .. pick, won[pick] + 1)
  if perWins > 0 then redis.call('HINCRBY', winsKey, user, 1) end
  prizeKey = ARGV[19 + (pick - 1) * 4]
else
  redis.call('HSET', roundKey, 'draws', seq)
end
local atMs = string.format('%.0f', now)

redis.call('XADD', streamKey, '*',
  'd', ARGV[9] .. ':' .. guess .. ':' .. seq, 'u', user, 'n', nonce, 'c', clientSeed,
  'p', pick, 'k', prizeKey, 'w', isWin, 'x', random, 't', atMs)

local result = {1, guess, seq, pick, isWin, nonce, dayCount, totalCount, random, atMs, clientSeed}
if useIdem then
  redis.call('SET', idemKey, table.concat(result, ',', 2), 'EX', idemTtl)
end
return result

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
  KEYS[10] grant       hash  user, amount, used, draw of the grant this draw spends
  KEYS[11] userRate    string draws of this user in the current 1-second window
  KEYS[12] ipRate      string draws from this client IP in the current 1-second window
  KEYS[13] blockedUsers set  blacklisted user ids (mirrored from the database)
  KEYS[14] blockedIps   set  blacklisted client IPs

  ARGV[1]  config version the caller's static arguments come from
  ARGV[2]  guessed open round suffix "YYYYMMDD:i"
  ARGV[3]  user id
  ARGV[4]  user key: hex HMAC-SHA256(seed of the guessed round, "<user>:<client_seed>")
  ARGV[5]  client seed (may be empty)
  ARGV[6]  clock offset, ms
  ARGV[7]  "1" when KEYS[9] is a real Idempotency-Key, "" otherwise
  ARGV[8]  Idempotency-Key retention, seconds
  ARGV[9]  grant id ("" when the activity does not draw on grants)
  ARGV[10] client IP
  ARGV[11] draws per second allowed per user (0: no limit)
  ARGV[12] draws per second allowed per client IP (0: no limit)
  Static for that version (the caller compiled them from the same published
  configuration; the version check makes them authoritative), from S = 13:
  ARGV[S]    activity id           ARGV[S+1]  activity start, ms
  ARGV[S+2]  round start, ms       ARGV[S+3]  round end, ms
  ARGV[S+4]  odds mode ("manual" | "auto")
  ARGV[S+5..S+8] limits per_round, per_day, total, wins_total (0 = unlimited)
  ARGV[S+9]  kind ("time" | "count" | "amount")
  ARGV[S+10] "1": a count draw past the last level uses the last level
  ARGV[S+11] "1": the draw must spend the grant KEYS[10]
  ARGV[S+12] n, the prize count, then 4 values per prize i: key, empty ("1"|"0"),
             probability in parts per 10^9, weight
  then P, the pool count, then 5 values per pool: first and last prize number,
             nth (0: none), amount_min and amount_max (-1: none)

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
    {-13}           GRANT_NOT_FOUND     no such grant of this user
    {-14}           GRANT_USED          the grant was already spent
    {-15}           NO_MORE_LEVELS      a count draw past the last level
    {-16}           NO_POOL             no pool covers the grant's amount
    {-17, ms}       RATE_LIMITED        too many draws this second; retry after ms
    {-18}           BLACKLISTED         the user or the client IP is blacklisted

  A refusal changes nothing but the rate-limit counters (which expire within a
  second): they count every attempt, refused or not.
]]

-- @include release

local cfgKey, roundsKey, totalsKey, winsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local roundKey, roundUsersKey, dayKey, streamKey, idemKey, grantKey =
  KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local userRateKey, ipRateKey, blockedUsersKey, blockedIpsKey = KEYS[11], KEYS[12], KEYS[13], KEYS[14]
local S = 13
local kind = ARGV[S + 9]
local version, guess, user, userKey, clientSeed = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local useIdem, idemTtl = ARGV[7] == '1', ARGV[8]

local ver = redis.call('HGET', cfgKey, 'ver')
if not ver then return {-1} end
if ver ~= version then return {-9} end

if redis.call('SISMEMBER', blockedUsersKey, user) == 1
  or redis.call('SISMEMBER', blockedIpsKey, ARGV[10]) == 1 then
  return {-18}
end

-- One-second windows from a user's (an IP's) first draw in it.
local function overRate(key, perSecond)
  if perSecond <= 0 then return false end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, 1000) end
  return n > perSecond
end
for _, rate in ipairs({{userRateKey, tonumber(ARGV[11])}, {ipRateKey, tonumber(ARGV[12])}}) do
  if overRate(rate[1], rate[2]) then
    local wait = redis.call('PTTL', rate[1])
    if wait < 0 then wait = 1000 end
    return {-17, wait}
  end
end

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
if now < tonumber(ARGV[S + 2]) or now >= tonumber(ARGV[S + 3]) then
  local last = redis.call('ZREVRANGEBYSCORE', roundsKey, now, '-inf', 'LIMIT', 0, 1)
  if last[1] then
    local sfx, endMs = string.match(last[1], '^(.+)|(%d+)$')
    if now < tonumber(endMs) then return {-10, sfx} end
  end
  local nxt = redis.call('ZRANGEBYSCORE', roundsKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not nxt[1] then return {-3} end
  if now < tonumber(ARGV[S + 1]) then return {-2, nxt[2]} end
  return {-4, nxt[2]}
end

-- Limits (0 = unlimited); refusals change nothing.
local perRound, perDay, perTotal, perWins =
  tonumber(ARGV[S + 5]), tonumber(ARGV[S + 6]), tonumber(ARGV[S + 7]), tonumber(ARGV[S + 8])
-- The per-day, per-activity and win counters exist only for their limits
-- (and a count activity's levels): an unlimited one (it cannot change once
-- the activity started) is not kept.
local keepTotal = perTotal > 0 or kind == 'count'
local inRound = tonumber(redis.call('HGET', roundUsersKey, user) or 0)
if perRound > 0 and inRound >= perRound then return {-5} end
if perDay > 0 and tonumber(redis.call('HGET', dayKey, user) or 0) >= perDay then
  return {-6}
end
local inTotal = 0
if keepTotal then inTotal = tonumber(redis.call('HGET', totalsKey, user) or 0) end
if perTotal > 0 and inTotal >= perTotal then return {-7} end
if perWins > 0 and tonumber(redis.call('HGET', winsKey, user) or 0) >= perWins then
  return {-8}
end

-- A grant is spent only by its own user, once.
local grantAmount = 0
if ARGV[S + 11] == '1' then
  local g = redis.call('HMGET', grantKey, 'user', 'amount', 'used')
  if not g[1] or g[1] ~= user then return {-13} end
  if g[3] == '1' then return {-14} end
  grantAmount = tonumber(g[2])
end

-- The pool: the only one (time), the user's next level (count), or the band
-- holding the grant's amount (amount).
local n = tonumber(ARGV[S + 12])
local PZ = S + 13
local PB = PZ + 4 * n
local pool = 1
if kind == 'count' then
  local level, top, topPool = inTotal + 1, 0, 0
  pool = 0
  for j = 1, tonumber(ARGV[PB]) do
    local nth = tonumber(ARGV[PB + 1 + (j - 1) * 5 + 2])
    if nth == level then pool = j end
    if nth > top then top, topPool = nth, j end
  end
  if pool == 0 then
    if ARGV[S + 10] == '1' and level > top then pool = topPool else return {-15} end
  end
elseif kind == 'amount' then
  pool = 0
  for j = 1, tonumber(ARGV[PB]) do
    local lo = tonumber(ARGV[PB + 1 + (j - 1) * 5 + 3])
    local hi = tonumber(ARGV[PB + 1 + (j - 1) * 5 + 4])
    if grantAmount >= lo and (hi < 0 or grantAmount < hi) then pool = j break end
  end
  if pool == 0 then return {-16} end
end
local first = tonumber(ARGV[PB + 1 + (pool - 1) * 5])
local last = tonumber(ARGV[PB + 1 + (pool - 1) * 5 + 1])

-- The round's moving parts: draws so far, and per prize of the pool the next
-- slice time, units released and units won. Release the slices that are due.
local fields = {'draws'}
for i = first, last do
  local si = tostring(i)
  fields[#fields + 1] = 't' .. si
  fields[#fields + 1] = 'r' .. si
  fields[#fields + 1] = 'w' .. si
end
local row = redis.call('HMGET', roundKey, unpack(fields))
if not row[1] then return {-11} end
local draws = tonumber(row[1])
local empty, released, won = {}, {}, {}
for i = first, last do
  local b = 1 + (i - first) * 3
  empty[i] = ARGV[PZ + (i - 1) * 4 + 1] == '1'
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
if ARGV[S + 4] == 'auto' then
  local avail, total = {}, 0
  for i = first, last do
    local left = released[i] - won[i]
    if empty[i] or left < 0 then left = 0 end
    avail[i] = tonumber(ARGV[PZ + (i - 1) * 4 + 3]) * left
    total = total + avail[i]
  end
  if total > 0 then
    local x, acc = uniform(total), 0
    for i = first, last do
      acc = acc + avail[i]
      if x < acc then pick = i break end
    end
  end
else
  local x, acc = uniform(1000000000), 0
  for i = first, last do
    acc = acc + tonumber(ARGV[PZ + (i - 1) * 4 + 2])
    if x < acc then pick = i break end
  end
end

-- A picked prize with no released stock left is a loss: never re-pick.
local isWin = 0
if pick > 0 and not empty[pick] and released[pick] - won[pick] > 0 then isWin = 1 end

redis.call('HINCRBY', roundUsersKey, user, 1)
local dayCount, totalCount = 0, 0
if perDay > 0 then dayCount = redis.call('HINCRBY', dayKey, user, 1) end
if keepTotal then totalCount = redis.call('HINCRBY', totalsKey, user, 1) end
local seq = draws + 1
local prizeKey = ''
if isWin == 1 then
  -- Values read above in this same atomic call: one write for both counters.
  redis.call('HSET', roundKey, 'draws', seq, 'w' .. pick, won[pick] + 1)
  if perWins > 0 then redis.call('HINCRBY', winsKey, user, 1) end
  prizeKey = ARGV[PZ + (pick - 1) * 4]
else
  redis.call('HSET', roundKey, 'draws', seq)
end
local atMs = string.format('%.0f', now)
local drawId = ARGV[S] .. ':' .. guess .. ':' .. seq
if ARGV[S + 11] == '1' then
  redis.call('HSET', grantKey, 'used', 1, 'draw', drawId)
end

redis.call('XADD', streamKey, '*',
  'd', drawId, 'u', user, 'n', nonce, 'c', clientSeed, 'p', pick, 'k', prizeKey,
  'w', isWin, 'x', random, 't', atMs, 'o', pool, 'g', ARGV[9])

local result = {1, guess, seq, pick, isWin, nonce, dayCount, totalCount, random, atMs, clientSeed}
if useIdem then
  redis.call('SET', idemKey, table.concat(result, ',', 2), 'EX', idemTtl)
end
return result

--[[
  One draw, atomically: time window, user limits, even-award release, weighted
  pick, stock decrement, ledger append. See docs/architecture.md.

  All keys share the activity's hash tag {rd:<activity_id>} (one slot). The
  layout below is a contract: app/store/redis/draw.py builds the call from it
  and tests/store/redis/test_contracts.py fails if the two disagree.

  KEYS[1]  cfg           hash   ver: the published configuration's version;
                                paused: "1" while an operator has paused the activity
  KEYS[2]  rounds        zset   member "<sfx>|<end_ms>", score start_ms
  KEYS[3]  totals        hash   user -> draws in the activity
  KEYS[4]  wins          hash   user -> prizes won in the activity
  KEYS[5]  round         hash   the round the caller guessed is open (ARGV guess)
  KEYS[6]  roundUsers    hash   user -> draws in that round (the nonce counter)
  KEYS[7]  day           hash   user -> draws on that round's day
  KEYS[8]  stream        stream the round's ledger
  KEYS[9]  idem          string the stored result of an Idempotency-Key
  KEYS[10] grant         hash   user, amount, used, draw of the grant this draw spends
  KEYS[11] userRate      string draws of this user in the current 1-second window
  KEYS[12] ipRate        string draws from this client IP in the current 1-second window
  KEYS[13] blockedUsers  set    blacklisted user ids (mirrored from the database)
  KEYS[14] blockedIps    set    blacklisted client IPs
  KEYS[15] codes         hash   the round's redemption codes (SPEC §3): field "<pick>"
                                marks prize <pick> as coded, "<pick>:<n>" holds the code
                                of its n-th win in this round (bucket)

  Per call:
  ARGV[1]  version       config version the caller's static arguments come from
  ARGV[2]  guess         the round suffix "YYYYMMDD:i" the caller guessed is open
  ARGV[3]  user          user id
  ARGV[4]  userKey       hex HMAC-SHA256(seed of the guessed round, "<user>:<client_seed>")
  ARGV[5]  clientSeed    may be empty
  ARGV[6]  offset        clock offset, ms
  ARGV[7]  useIdem       "1" when KEYS idem is a real Idempotency-Key, "" otherwise
  ARGV[8]  idemTtl       Idempotency-Key retention, seconds
  ARGV[9]  idemBody      40 hex digits naming what the request asked for: a replay
                         of the key with another body is refused (IDEM_REUSED)
  ARGV[10] grantId       "" when the activity does not draw on grants
  ARGV[11] clientIp      the client's address
  ARGV[12] rateUser      draws per second allowed per user (0: no limit)
  ARGV[13] rateIp        draws per second allowed per client IP (0: no limit)
  ARGV[14] count         "": one draw, answered as below; "n" (1..10): a batch of up to
                         n draws in this one call, answered as BATCH below (SPEC §3)
  Static for that version (the caller compiled them from the same published
  configuration; the version check makes them authoritative):
  ARGV[15] activityId
  ARGV[16] activityStart ms
  ARGV[17] roundStart    ms
  ARGV[18] roundEnd      ms
  ARGV[19] mode          odds: "manual" | "auto"
  ARGV[20] perRound      limits, 0 = unlimited
  ARGV[21] perDay
  ARGV[22] perTotal
  ARGV[23] perWins
  ARGV[24] kind          "time" | "count" | "amount"
  ARGV[25] repeatLast    "1": a count draw past the last level uses the last level
  ARGV[26] needsGrant    "1": the draw must spend the grant KEYS grant (a draw naming
                         a grantId spends it either way: optional in a count activity)
  ARGV[27] stopSoldOut   "1": refuse (SOLD_OUT) once the pool has nothing left to win
  ARGV[28] bucket        b, 0..buckets-1: the bucket these keys hold (SPEC §9)
  ARGV[29] buckets       K: a draw's number in the round is (bucket's draws) × K + b + 1,
                         unique across the buckets (K = 1: the bucket's count + 1)
  ARGV[30] prizeCount    n, then n times:
  ARGV[..] prize = key, empty, ppb, weight   (empty "1"|"0", ppb: probability in parts per 10^9)
  ARGV[..] poolCount     P, then P times:
  ARGV[..] pool = first, last, nth, amountMin, amountMax   (prize numbers; nth 0, amounts -1: none)

  Returns, on a draw (1) or an Idempotency-Key replay (2):
  REPLY[1]  status       1 drawn, 2 replayed
  REPLY[2]  sfx          the round drawn in
  REPLY[3]  seq          the draw's number in the round (see ARGV buckets)
  REPLY[4]  pick         1-based prize picked (0: the empty remainder)
  REPLY[5]  won          1 only if that prize had released stock
  REPLY[6]  nonce        the user's draws in the round, this one included
  REPLY[7]  dayCount     0 when that limit is unlimited (the counter is not kept)
  REPLY[8]  totalCount   0 when that limit is unlimited and kind is not count
  REPLY[9]  random       40 hex digits
  REPLY[10] atMs         the Redis clock (+ offset) of the draw
  REPLY[11] clientSeed   as first given (a replay returns the first one)
  REPLY[12] code         the win's redemption code ("" when the prize has none)

  With ARGV count given, a batch drawn (3) or replayed (4): draws made in order until
  n are made or one cannot be; the refusal that stopped it is its stop:
  BATCH[1] status        3 drawn, 4 replayed
  BATCH[2] sfx           the round drawn in
  BATCH[3] clientSeed    as first given
  BATCH[4] stop          0: all n made; else the refusal code that stopped the batch
  BATCH[5] stopDetail    that refusal's detail ("" when it has none)
  BATCH[..] draw = seq, pick, won, nonce, dayCount, totalCount, random, atMs, code
                         one per draw made, as REPLY[3..10] and REPLY[12]

  An Idempotency-Key already used returns its stored result (status 2) before
  any other check: a replay is never refused by a limit or the rate limiter.
  Refusals change nothing but the rate-limit counters (which expire within a
  second: they count every attempt, refused or not; a batch of n counts n).
  A batch whose first draw cannot be made is refused as a single draw; a later
  draw's refusal stops it (only the limits, SOLD_OUT, NO_MORE_LEVELS and
  RATE_LIMITED can: the rest do not change between a batch's draws):
  ERROR -1  ACTIVITY_NOT_FOUND          not published
  ERROR -2  NOT_STARTED      {nextMs}
  ERROR -3  ENDED
  ERROR -4  ROUND_CLOSED     {nextMs}   between rounds
  ERROR -5  ROUND_LIMIT
  ERROR -6  DAY_LIMIT
  ERROR -7  TOTAL_LIMIT
  ERROR -8  WIN_LIMIT
  ERROR -9  STALE                       the caller's config version is old: reload
  ERROR -10 WRONG_ROUND      {sfx}      another round is open: retry with it
  ERROR -11 ROUND_MISSING               the round's state is not in Redis
  ERROR -13 GRANT_NOT_FOUND             no such grant of this user
  ERROR -14 GRANT_USED                  the grant was already spent
  ERROR -15 NO_MORE_LEVELS              a count draw past the last level
  ERROR -16 NO_POOL                     no pool covers the grant's amount
  ERROR -17 RATE_LIMITED     {waitMs}   too many draws this second
  ERROR -18 BLACKLISTED                 the user or the client IP is blacklisted
  ERROR -19 IDEM_REUSED                 the Idempotency-Key was used with another body
  ERROR -20 SOLD_OUT                    every prize of the pool is won and no slice is
                                        left to release (only with stopSoldOut; with
                                        buckets, once the round hash has so = 1)
  ERROR -21 PAUSED                      an operator paused the activity (emergency stop)

  Each draw appends one entry to KEYS stream (app/store/redis/ledger.py):
  FIELD d  drawId        FIELD u  user          FIELD n  nonce
  FIELD c  clientSeed    FIELD p  pick          FIELD k  prizeKey ("" on a loss)
  FIELD w  won           FIELD x  random        FIELD t  atMs
  FIELD o  pool          FIELD g  grantId ("" when none)
  FIELD q  code          (only on a win of a coded prize)

  A coded prize (KEYS codes has field "<pick>") is won only with a code: its
  n-th win takes "<pick>:<n>"; with no code left there, the draw is a loss
  (never a win without a code; publishing loads one code per unit).
]]

-- @include release

-- Cost: this runs once per draw, so it avoids what is dear in Redis' Lua
-- (measured with loadtest/lua_cost.py): a number passed to redis.call (an
-- snprintf each), a number turned into a string (a sprintf), tonumber (a C
-- call and two strtod; "s + 0" is one strtod), Lua pattern matching, tables
-- and closures. Limits, flags and counters stay strings until a number is
-- needed; numbers sent to Redis are formatted once.

local cfgKey = KEYS[1]
local roundsKey = KEYS[2]
local totalsKey = KEYS[3]
local winsKey = KEYS[4]
local roundKey = KEYS[5]
local roundUsersKey = KEYS[6]
local dayKey = KEYS[7]
local streamKey = KEYS[8]
local idemKey = KEYS[9]
local grantKey = KEYS[10]
local userRateKey = KEYS[11]
local ipRateKey = KEYS[12]
local blockedUsersKey = KEYS[13]
local blockedIpsKey = KEYS[14]
local codesKey = KEYS[15]

local version = ARGV[1]
local guess = ARGV[2]
local user = ARGV[3]
local userKey = ARGV[4]
local clientSeed = ARGV[5]
local offset = ARGV[6]
local useIdem = ARGV[7] == '1'
local idemTtl = ARGV[8]
local idemBody = ARGV[9]
local grantId = ARGV[10]
local clientIp = ARGV[11]
local rateUser = ARGV[12] + 0
local rateIp = ARGV[13] + 0

local count = ARGV[14]

local activityId = ARGV[15]
local activityStart = ARGV[16]
local roundStart = ARGV[17] + 0
local roundEnd = ARGV[18] + 0
local mode = ARGV[19]
local perRound = ARGV[20]
local perDay = ARGV[21]
local perTotal = ARGV[22]
local perWins = ARGV[23]
local kind = ARGV[24]
local repeatLast = ARGV[25] == '1'
local needsGrant = ARGV[26] == '1' or grantId ~= ''
local stopSoldOut = ARGV[27] == '1'
local bucket = ARGV[28]
local buckets = ARGV[29]
local prizeCount = ARGV[30] + 0

-- The variable tail, read where it is needed: prize i's key, empty, ppb and
-- weight at ARGV[PRIZE_AT + 4(i - 1) + 0..3]; pool j's first, last, nth,
-- amountMin and amountMax at ARGV[POOL_AT + 5(j - 1) + 0..4].
local PRIZE_AT = 31
local POOL_AT = PRIZE_AT + 4 * prizeCount + 1

-- A batch asks for n draws; a single draw is a batch of one answered as ever.
local batch = count ~= ''
local n = 1
if batch then n = count + 0 end

local state = redis.call('HMGET', cfgKey, 'ver', 'paused')
local ver = state[1]
if not ver then return {-1} end
if ver ~= version then return {-9} end

-- A replay answers first, whatever has changed since: "<body>|" then nine
-- comma-free fields, then the client seed (which may hold commas). Results
-- stored before the body was kept have no "<body>|" and replay as they are.
-- "<body>*": a batch, "stop,stopDetail,k,sfx," then nine fields per draw.
if useIdem then
  local stored = redis.call('GET', idemKey)
  if stored then
    local pos = 1
    local function field()
      local comma = string.find(stored, ',', pos, true)
      local v = string.sub(stored, pos, comma - 1)
      pos = comma + 1
      return v
    end
    -- "<body>#": a tenth field, the code, before the client seed.
    local fields, mark = 9, string.sub(stored, 41, 41)
    if mark == '|' or mark == '#' or mark == '*' then
      if string.sub(stored, 1, 40) ~= idemBody then return {-19} end
      pos = 42
      if mark == '#' then fields = 10 end
    end
    if mark == '*' then
      local stop, detail, k = field(), field(), field() + 0
      local out = {4, field(), '', stop, detail}
      for _ = 1, 9 * k do out[#out + 1] = field() end
      out[3] = string.sub(stored, pos)
      return out
    end
    local out = {2}
    for _ = 1, 9 do out[#out + 1] = field() end
    local code = ''
    if fields == 10 then code = field() end
    out[#out + 1] = string.sub(stored, pos)
    out[#out + 1] = code
    return out
  end
end

if state[2] == '1' then return {-21} end

if redis.call('SISMEMBER', blockedUsersKey, user) == 1
  or redis.call('SISMEMBER', blockedIpsKey, clientIp) == 1 then
  return {-18}
end

-- One-second windows from a user's (an IP's) first draw in it; a batch of n
-- counts n. How many of the n draws the window still allows (maybe none),
-- and, when not all, the milliseconds until it ends.
local function allowed(key, perSecond)
  local c
  if n == 1 then c = redis.call('INCR', key) else c = redis.call('INCRBY', key, count) end
  if c == n then redis.call('PEXPIRE', key, '1000') end
  if c <= perSecond then return n, nil end
  local wait = redis.call('PTTL', key)
  if wait < 0 then wait = 1000 end
  return perSecond - (c - n), wait
end
-- What stopped the batch before its n-th draw (0: nothing), and its detail.
local stop, stopDetail = 0, ''
local room, wait = n, nil
if rateUser > 0 then room, wait = allowed(userRateKey, rateUser) end
if room > 0 and rateIp > 0 then
  local ipRoom, ipWait = allowed(ipRateKey, rateIp)
  if ipRoom < room then room, wait = ipRoom, ipWait end
end
if room <= 0 then return {-17, wait} end
if room < n then n, stop, stopDetail = room, -17, wait end

local now = nowMs(offset)

-- Usually the guessed round is open; otherwise find out what is.
if now < roundStart or now >= roundEnd then
  local last = redis.call('ZREVRANGEBYSCORE', roundsKey, now, '-inf', 'LIMIT', 0, 1)
  if last[1] then
    local sfx, endMs = string.match(last[1], '^(.+)|(%d+)$')
    if now < tonumber(endMs) then return {-10, sfx} end
  end
  local nxt = redis.call('ZRANGEBYSCORE', roundsKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not nxt[1] then return {-3} end
  if now < activityStart + 0 then return {-2, nxt[2]} end
  return {-4, nxt[2]}
end

-- Limits (0 = unlimited). The per-day, per-activity and win counters exist
-- only for their limits (and a count activity's levels): an unlimited one
-- (it cannot change once the activity started) is not kept. Each is read
-- once; a batch counts on from it.
perRound = perRound == '0' and 0 or perRound + 0
perDay = perDay == '0' and 0 or perDay + 0
perTotal = perTotal == '0' and 0 or perTotal + 0
perWins = perWins == '0' and 0 or perWins + 0
local keepTotal = perTotal > 0 or kind == 'count'
-- The user's draws in the round are read here only for a limit: the
-- increment below, after the first draw's last refusal, gives the nonce.
local inRound, inDay, inTotal, winsBefore = 0, 0, 0, 0
if perRound > 0 then inRound = (redis.call('HGET', roundUsersKey, user) or 0) + 0 end
if perDay > 0 then inDay = (redis.call('HGET', dayKey, user) or 0) + 0 end
if keepTotal then inTotal = (redis.call('HGET', totalsKey, user) or 0) + 0 end
if perWins > 0 then winsBefore = (redis.call('HGET', winsKey, user) or 0) + 0 end

-- A small count as Redis gets it (the same digits a number would give).
local function digits(v)
  if v >= 0 and v < 10 then return string.char(48 + v) end
  return tostring(v)
end

-- The pool of a draw: the only one (time), the user's next level (count),
-- or the band holding the grant's amount (amount); nil and why not.
local grantAmount = 0
local function poolOf(level)
  if kind == 'count' then
    local found, top, topPool = 0, 0, 0
    local at = POOL_AT
    for j = 1, ARGV[POOL_AT - 1] + 0 do
      local nth = ARGV[at + 2] + 0
      if nth == level then found = j end
      if nth > top then top, topPool = nth, j end
      at = at + 5
    end
    if found > 0 then return found end
    if repeatLast and level > top then return topPool end
    return nil, -15
  elseif kind == 'amount' then
    local at = POOL_AT
    for j = 1, ARGV[POOL_AT - 1] + 0 do
      local lo, hi = ARGV[at + 3] + 0, ARGV[at + 4] + 0
      if grantAmount >= lo and (hi < 0 or grantAmount < hi) then return j end
      at = at + 5
    end
    return nil, -16
  end
  return 1
end

-- A pool's moving parts, read once per call: per prize the next slice time
-- (a number once due slices are released), units released and units won,
-- in one row: prize i at row[b], b = 2 + (i - first) * 3 (row[1]: the
-- round's draws as read). A prize's counts stay strings until needed.
local rows = {}
local function rowOf(pool)
  local row = rows[pool]
  if row then return row end
  local first = ARGV[POOL_AT + (pool - 1) * 5] + 0
  local last = ARGV[POOL_AT + (pool - 1) * 5 + 1] + 0
  if first == 1 and last >= 1 and last <= 3 then
    -- The pool of a time activity with up to three prizes: constant fields.
    if last == 1 then
      row = redis.call('HMGET', roundKey, 'draws', 't1', 'r1', 'w1')
    elseif last == 2 then
      row = redis.call('HMGET', roundKey, 'draws', 't1', 'r1', 'w1', 't2', 'r2', 'w2')
    else
      row = redis.call('HMGET', roundKey, 'draws', 't1', 'r1', 'w1', 't2', 'r2', 'w2',
        't3', 'r3', 'w3')
    end
  else
    local fields, f = {'draws'}, 1
    for i = first, last do
      local si = digits(i)
      fields[f + 1], fields[f + 2], fields[f + 3] = 't' .. si, 'r' .. si, 'w' .. si
      f = f + 3
    end
    row = redis.call('HMGET', roundKey, unpack(fields))
  end
  if not row[1] then return nil end
  -- Release the slices that are due (the clock does not move within a call).
  local b = 2
  for i = first, last do
    local nextAt = row[b]
    if nextAt == '-1' then
      nextAt = -1
    else
      nextAt = nextAt + 0
      if nextAt >= 0 and nextAt <= now then row[b + 1], nextAt = releaseDue(roundKey, i, now) end
    end
    row[b] = nextAt
    b = b + 3
  end
  row.first, row.last = first, last
  rows[pool] = row
  return row
end

-- Sold out: the pool has a real prize, none has stock left, none has a
-- slice to come. With buckets, this bucket being empty says nothing of the
-- others: the rebalancer marks every bucket 'so' once the whole round is.
local function soldOut(row)
  if not stopSoldOut then return false end
  local anyPrize, b = false, 2
  for i = row.first, row.last do
    if ARGV[PRIZE_AT + 4 * i - 3] ~= '1' then
      anyPrize = true
      if row[b] >= 0 or row[b + 1] - row[b + 2] > 0 then return false end
    end
    b = b + 3
  end
  return anyPrize and (buckets == '1' or redis.call('HGET', roundKey, 'so') == '1')
end

-- Uniform x on [0, total) from a draw's keyed random (app/domain/fairness.py).
local TWO52 = 4503599627370496
local function uniform(random, total)
  local limit = TWO52 - (TWO52 % total)
  local v = 0
  for j = 0, 2 do
    v = tonumber(string.sub(random, j * 13 + 1, j * 13 + 13), 16)
    if v < limit then break end
  end
  return v % total
end

-- The draws, in order: each is refused (the first) or stops the batch (a
-- later one) by the same checks a single draw passes, against the counters
-- as the draws before it in this call left them. Nothing is written until
-- all are made: then the counters, then one ledger entry per draw.
local made, wonHere = {}, 0
local lastPick, nonceTop, draws = 0, 0, nil
for k = 0, n - 1 do
  local why
  if perRound > 0 and inRound + k >= perRound then why = -5
  elseif perDay > 0 and inDay + k >= perDay then why = -6
  elseif perTotal > 0 and inTotal + k >= perTotal then why = -7
  elseif perWins > 0 and winsBefore + wonHere >= perWins then why = -8
  end
  -- A grant is spent only by its own user, once (grants are single draws).
  if not why and needsGrant and k == 0 then
    local g = redis.call('HMGET', grantKey, 'user', 'amount', 'used')
    if not g[1] or g[1] ~= user then return {-13} end
    if g[3] == '1' then return {-14} end
    grantAmount = tonumber(g[2])
  end
  local pool, row
  if not why then pool, why = poolOf(inTotal + k + 1) end
  if not why then
    row = rowOf(pool)
    if not row then return {-11} end
    if soldOut(row) then why = -20 end
  end
  if why then
    if k == 0 then return {why} end
    stop, stopDetail = why, ''
    break
  end
  if k == 0 then
    draws = row[1] + 0
    -- No refusal of the first draw comes after this point: reserve the
    -- nonces of every draw asked for (given back below if the batch stops).
    if n == 1 then
      nonceTop = redis.call('HINCRBY', roundUsersKey, user, '1')
    else
      nonceTop = redis.call('HINCRBY', roundUsersKey, user, tostring(n))
    end
  end
  local nonce = nonceTop - n + k + 1
  local nonceS = tostring(nonce)
  local random = redis.sha1hex(userKey .. ':' .. nonceS)
  local first, last = row.first, row.last

  local pick = 0
  if mode == 'auto' then
    local avail, total, b = {}, 0, 2
    for i = first, last do
      local left = row[b + 1] - row[b + 2]
      if ARGV[PRIZE_AT + 4 * i - 3] == '1' or left < 0 then left = 0 end
      avail[i] = ARGV[PRIZE_AT + 4 * i - 1] * left
      total = total + avail[i]
      b = b + 3
    end
    if total > 0 then
      local x, acc = uniform(random, total), 0
      for i = first, last do
        acc = acc + avail[i]
        if x < acc then pick = i break end
      end
    end
  else
    local x, acc = uniform(random, 1000000000), 0
    for i = first, last do
      acc = acc + ARGV[PRIZE_AT + 4 * i - 2]
      if x < acc then pick = i break end
    end
  end

  -- A picked prize with no released stock left is a loss: never re-pick.
  local isWin, wonBefore, b = 0, 0, 0
  if pick > 0 and ARGV[PRIZE_AT + 4 * pick - 3] ~= '1' then
    b = 2 + (pick - first) * 3
    wonBefore = row[b + 2] + 0
    if row[b + 1] - wonBefore > 0 then isWin = 1 end
  end
  local code = ''
  if isWin == 1 then
    local pickS = digits(pick)
    local c = redis.call('HMGET', codesKey, pickS, pickS .. ':' .. tostring(wonBefore + 1))
    if c[1] then
      if c[2] then code = c[2] else isWin = 0 end
    end
  end
  if isWin == 1 then
    row[b + 2] = wonBefore + 1
    wonHere = wonHere + 1
    lastPick = pick
  end
  local dayCount, totalCount = 0, 0
  if perDay > 0 then dayCount = inDay + k + 1 end
  if keepTotal then totalCount = inTotal + k + 1 end
  local seq = draws + k + 1
  if buckets ~= '1' then seq = (draws + k) * buckets + bucket + 1 end
  made[#made + 1] = {seq, pick, isWin, nonceS, dayCount, totalCount, random, code, pool}
end

-- The counters, then the ledger: a draw number is taken before its entry is
-- written, so an entry never reuses one.
local k = #made
local kS = digits(k)
if k < n then redis.call('HINCRBY', roundUsersKey, user, tostring(k - n)) end
if perDay > 0 then redis.call('HINCRBY', dayKey, user, kS) end
if keepTotal then redis.call('HINCRBY', totalsKey, user, kS) end
if perWins > 0 and wonHere > 0 then redis.call('HINCRBY', winsKey, user, digits(wonHere)) end
local drawsS = tostring(draws + k)
if wonHere == 0 then
  redis.call('HSET', roundKey, 'draws', drawsS)
elseif wonHere == 1 and k == 1 then
  -- Values read above in this same atomic call: one write for both counters.
  local row = rows[made[1][9]]
  redis.call('HSET', roundKey, 'draws', drawsS, 'w' .. digits(lastPick),
    tostring(row[2 + (lastPick - row.first) * 3 + 2]))
else
  local set = {'draws', drawsS}
  for _, row in pairs(rows) do
    local b = 2
    for i = row.first, row.last do
      if type(row[b + 2]) == 'number' then
        set[#set + 1], set[#set + 2] = 'w' .. digits(i), tostring(row[b + 2])
      end
      b = b + 3
    end
  end
  redis.call('HSET', roundKey, unpack(set))
end

local atMs = string.format('%.0f', now)
local out, stored = {}, {}
if batch then
  out = {3, guess, clientSeed, stop, stopDetail}
  stored = {idemBody .. '*' .. stop, stopDetail, kS, guess}
end
for _, d in ipairs(made) do
  local seq, pick, isWin, nonceS, dayCount, totalCount, random, code, pool =
    d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]
  local seqS = tostring(seq)
  local prizeKey, pickS, winS = '', '0', '0'
  if pick > 0 then pickS = digits(pick) end
  if isWin == 1 then
    prizeKey = ARGV[PRIZE_AT + 4 * pick - 4]
    winS = '1'
  end
  local drawId = activityId .. ':' .. guess .. ':' .. seqS
  if needsGrant then
    redis.call('HSET', grantKey, 'used', '1', 'draw', drawId)
  end
  local poolS = pool == 1 and '1' or digits(pool)
  if code == '' then
    redis.call('XADD', streamKey, '*',
      'd', drawId, 'u', user, 'n', nonceS, 'c', clientSeed, 'p', pickS, 'k', prizeKey,
      'w', winS, 'x', random, 't', atMs, 'o', poolS, 'g', grantId)
  else
    redis.call('XADD', streamKey, '*',
      'd', drawId, 'u', user, 'n', nonceS, 'c', clientSeed, 'p', pickS, 'k', prizeKey,
      'w', winS, 'x', random, 't', atMs, 'o', poolS, 'g', grantId, 'q', code)
  end
  if batch then
    local at = #out
    out[at + 1], out[at + 2], out[at + 3], out[at + 4], out[at + 5] =
      seq, pick, isWin, nonceS + 0, dayCount
    out[at + 6], out[at + 7], out[at + 8], out[at + 9] = totalCount, random, atMs, code
    at = #stored
    stored[at + 1], stored[at + 2], stored[at + 3], stored[at + 4], stored[at + 5] =
      seqS, pickS, winS, nonceS, dayCount
    stored[at + 6], stored[at + 7], stored[at + 8], stored[at + 9] = totalCount, random, atMs, code
  elseif useIdem then
    local head, tail = idemBody .. '|', ''
    if code ~= '' then head, tail = idemBody .. '#', code .. ',' end
    redis.call('SET', idemKey, head .. guess .. ',' .. seqS .. ',' .. pickS .. ','
      .. winS .. ',' .. nonceS .. ',' .. dayCount .. ',' .. totalCount .. ',' .. random .. ','
      .. atMs .. ',' .. tail .. clientSeed, 'EX', idemTtl)
  end
  if not batch then
    return {1, guess, seq, pick, isWin, nonceS + 0, dayCount, totalCount, random, atMs,
      clientSeed, code}
  end
end
if useIdem then
  stored[#stored + 1] = clientSeed
  redis.call('SET', idemKey, table.concat(stored, ','), 'EX', idemTtl)
end
return out

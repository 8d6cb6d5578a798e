--[[
  Reserve one password check for a console login, before the password is
  checked (SPEC §8): at most `limit` checks per `window` for one address and,
  unless the browser proved it signed in as that operator before, for one
  username, however many requests arrive at once. A check that succeeds is
  released afterwards (only failures count); one that fails stays until it
  ages out of the window. Time is the Redis clock, which every API process
  shares.

  KEYS[1] address       zset    attempt id -> Redis time (ms) of its reservation
  KEYS[2] username      zset    the same, for the username
  KEYS[3] addressMark   string  set once per throttled window (one audit entry)
  KEYS[4] usernameMark  string  likewise for the username

  ARGV[1] window      milliseconds a failure counts for
  ARGV[2] limit       checks per window
  ARGV[3] attempt     this attempt's id (unique)
  ARGV[4] perUser     1: count the username too; 0: only the address

  REPLY[1] allowed    1: reserved; 0: throttled, then:
  REPLY[2] scope      which limit: address or username
  REPLY[3] wait       milliseconds until the oldest counted attempt ages out
  REPLY[4] first      1 for the first refusal of this window (audit it once)
]]

local addressKey = KEYS[1]
local usernameKey = KEYS[2]
local addressMarkKey = KEYS[3]
local usernameMarkKey = KEYS[4]

local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local attempt = ARGV[3]
local perUser = ARGV[4]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function full(key, mark, scope)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then return nil end
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  local wait = math.max(1, oldest + window - now)
  local first = redis.call('SET', mark, '1', 'NX', 'PX', wait) and 1 or 0
  return {0, scope, wait, first}
end

local refused = full(addressKey, addressMarkKey, 'address')
if refused then return refused end
if perUser == '1' then
  refused = full(usernameKey, usernameMarkKey, 'username')
  if refused then return refused end
end

redis.call('ZADD', addressKey, now, attempt)
redis.call('PEXPIRE', addressKey, window)
if perUser == '1' then
  redis.call('ZADD', usernameKey, now, attempt)
  redis.call('PEXPIRE', usernameKey, window)
end
return {1}

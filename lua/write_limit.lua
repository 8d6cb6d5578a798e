--[[
  Count one request against a limit per window: at most `limit` requests are
  counted in a window of `windowMs` milliseconds, which starts with the first
  request counted in it (the key expires with the window). A refused request
  is not counted, so hammering does not extend the wait. One key: cluster-safe.

  KEYS[1] counter    string  requests counted in the current window

  ARGV[1] limit      requests allowed per window (> 0)
  ARGV[2] windowMs   the window's length, ms

  REPLY[1] allowed   1 when counted, 0 when refused
  REPLY[2] waitMs    when refused, ms until the window ends; 0 when counted
]]

local counterKey = KEYS[1]

local limit = tonumber(ARGV[1])
local windowMs = ARGV[2]

local n = tonumber(redis.call('GET', counterKey) or '0')
if n >= limit then
  local wait = redis.call('PTTL', counterKey)
  if wait < 0 then
    -- A counter without an expiry (never made here): start its window now.
    redis.call('PEXPIRE', counterKey, windowMs)
    wait = tonumber(windowMs)
  end
  return {0, wait}
end
if redis.call('INCR', counterKey) == 1 then redis.call('PEXPIRE', counterKey, windowMs) end
return {1, 0}

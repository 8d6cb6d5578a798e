-- Included by scripts that need a round's released stock to be current.
--
-- Round hash fields per prize i (1..n): t<i> time of the next unreleased slice
-- (-1 when none is left), x<i> index of that slice, ns<i> slice count,
-- s<i>.<k> "<at_ms>:<amount>", r<i> units released so far (top-ups included).
--
-- releaseDue(roundKey, i, now): adds every slice of prize i due by `now` to
-- r<i> and returns the new released total and the time of the next slice
-- (-1: none left). Idempotent; O(slices released).
local function releaseDue(roundKey, i, now)
  local si = tostring(i)
  local k = tonumber(redis.call('HGET', roundKey, 'x' .. si))
  local ns = tonumber(redis.call('HGET', roundKey, 'ns' .. si))
  local add = 0
  local nextAt = -1
  while k <= ns do
    local slice = redis.call('HGET', roundKey, 's' .. si .. '.' .. k)
    local at, amount = string.match(slice, '^(%d+):(%d+)$')
    at = tonumber(at)
    if at > now then
      nextAt = at
      break
    end
    add = add + tonumber(amount)
    k = k + 1
  end
  redis.call('HSET', roundKey, 'x' .. si, k, 't' .. si, string.format('%.0f', nextAt))
  return redis.call('HINCRBY', roundKey, 'r' .. si, add), nextAt
end

-- The Redis clock plus the operator's offset (ms), as an exact integer.
local function nowMs(offsetMs)
  local t = redis.call('TIME')
  -- Arithmetic on the strings: the same numbers as tonumber gives, cheaper.
  return t[1] * 1000 + math.floor(t[2] / 1000) + offsetMs
end

-- wrk script: POST a draw as one of many users, each request a different token.
-- Usage: wrk -s draw.lua <url> -- <tokens file> <activity id> [count]
-- With a count, every request asks for that many draws (SPEC §3 "count").
-- The tokens file has one player token per line. Requests are formatted once,
-- at start-up, so the load generator spends its CPU sending, not formatting.
local requests = {}
local idx = 0

init = function(args)
  local body = '{"activity_id": ' .. args[2] .. '}'
  if args[3] then
    body = '{"activity_id": ' .. args[2] .. ', "count": ' .. args[3] .. '}'
  end
  for token in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", nil, {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
    }, body)
  end
  -- threads start at different users
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  idx = math.random(#requests)
end

request = function()
  idx = idx % #requests + 1
  return requests[idx]
end

-- wrk script for the StableRing benchmarks: every request asks for a random room out of
-- the number given after "--" (default 1000), as /?room=N, so the proxies hash each request.
local rooms = 1000

function init(args)
  rooms = tonumber(args[1]) or rooms
end

function request()
  return wrk.format(nil, "/?room=" .. math.random(rooms))
end

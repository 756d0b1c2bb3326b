-- wrk sends DEPTH requests for PATH at once on each connection (HTTP/1.1 pipelining) and counts every
-- answer: wrk's cost per request drops about tenfold, so on a 2-core machine the server side, not the
-- load tool, decides the rate (how `--workers 2` against 1 is measured here). Usage: -s pipelined.lua URL -- DEPTH PATH
init = function(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format(nil, args[2])
  local all = {}
  for i = 1, depth do all[i] = one end
  batch = table.concat(all)
end

request = function()
  return batch
end

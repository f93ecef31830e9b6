-- wrk script: one DPoP-bound request per line of $PAIRS_FILE ("<token> <proof>"), each line
-- sent at most once: `Authorization: DPoP <token>` and `DPoP: <proof>`. A proof sent twice is a
-- replay (401), so the script never cycles: past the last pair it sends requests without
-- credentials, which the filter refuses (401, counted in wrk's non-2xx), and `done` prints how
-- many pairs were wanted, which bench-driver reads and fails on when it exceeds the pool.
-- Requests are formatted per request, as wrk-tokens.lua does, so wrk's own cost stays alike.
local creds = {}
for line in io.lines(os.getenv("PAIRS_FILE")) do
  local token, proof = line:match("^(%S+) (%S+)$")
  if token then
    creds[#creds + 1] = { ["Authorization"] = "DPoP " .. token, ["DPoP"] = proof }
  end
end
-- Globals, so `done` can read them from the thread's state.
pairs_total = #creds
pairs_wanted = 0

request = function()
  pairs_wanted = pairs_wanted + 1
  local h = creds[pairs_wanted]
  if h == nil then
    return wrk.format("GET", "/", {})
  end
  return wrk.format("GET", "/", h)
end

local threads = {}
setup = function(thread)
  threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
  local wanted = 0
  for _, t in ipairs(threads) do
    wanted = wanted + t:get("pairs_wanted")
  end
  -- Every thread reads the whole file, so only wrk -t1 sends each pair once.
  io.write(string.format("dpop pairs: %d wanted of %d, %d threads\n", wanted, pairs_total, #threads))
end

-- wrk script: one request per token of $TOKENS_FILE (one token per line), cycling.
-- A pool of one token is the "repeated token" case; the same script keeps wrk's own cost equal.
local tokens = {}
local path = os.getenv("TOKENS_FILE")
for line in io.lines(path) do
  if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
end
local n = #tokens
local i = 0

request = function()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("GET", "/", { ["Authorization"] = tokens[i] })
end

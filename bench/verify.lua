-- wrk script: POST /api/v1/verify with each token of $TOKENS in turn, threads starting apart.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local counter = 0
local offset = 0
local thread_count = 0

function setup(thread)
  thread:set("offset", thread_count * 7919)
  thread_count = thread_count + 1
end

function init(args)
  offset = tonumber(offset) or 0
end

request = function()
  counter = counter + 1
  local token = tokens[((counter + offset) % #tokens) + 1]
  return wrk.format("POST", "/api/v1/verify", {["Content-Type"] = "application/json"}, '{"token":"' .. token .. '"}')
end

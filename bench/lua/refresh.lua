-- Refreshes chains of sessions: every refresh token is presented exactly once. The file named by the
-- first argument holds one refresh token per line; each response's new refresh token goes back on
-- the stack for a later request.
local tokens = {}

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
end

function request()
  local token = table.remove(tokens) or "exhausted"
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    tokens[#tokens + 1] = token
  end
end

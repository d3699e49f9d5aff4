-- POSTs the same form body on every request. Arguments: body, then an optional bearer token.
function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if args[2] then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
end
